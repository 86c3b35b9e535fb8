// Apiserver requests by client, from the apiserver's audit log (hack/cluster-up.sh with
// BULKHEAD_AUDIT_POLICY=bench/rollout/audit-policy.yaml: every request at Metadata level).
//
// Why the audit log: apiserver_request_total has no client label, and the clients' own metrics
// differ (client-go's rest_client_requests_total has no verb or resource; Bulkhead's processes
// count none). The audit log is one record per request written by the server for every client
// alike, naming the user (each controller of kube-controller-manager has its own
// ServiceAccount, Bulkhead's webhook and reconciler each theirs) and the response code, so it
// also counts conflicts (409) and throttling (429). It costs the apiserver a write per request,
// the same for every client.
import { createReadStream, statSync } from "node:fs";
import { createInterface } from "node:readline";

export interface ClientRequests {
  client: string;
  requests: number;
  byVerb: Record<string, number>;
  conflicts: number;
  tooManyRequests: number;
}

interface AuditEvent {
  auditID?: string;
  stage?: string;
  verb?: string;
  user?: { username?: string };
  userAgent?: string;
  responseStatus?: { code?: number };
}

/** A readable name for the identity a request came with. */
export function clientOf(e: AuditEvent): string {
  const user = e.user?.username ?? "?";
  const sa = /^system:serviceaccount:([^:]+):(.+)$/.exec(user);
  if (sa) return sa[1] === "kube-system" ? `kube-controller-manager/${sa[2]}` : `${sa[1]}/${sa[2]}`;
  if (user === "system:kube-controller-manager") return "kube-controller-manager";
  if (user === "system:kube-scheduler") return "kube-scheduler";
  if (user === "kwok-controller") return "kwok";
  if (user === "system:apiserver") return "kube-apiserver (loopback)";
  if (user === "bulkhead-admin") return `admin (${(e.userAgent ?? "?").split(/[/ ]/)[0]})`;
  return user;
}

export function auditLogSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * Counts the requests logged from byte `from` on. A request is counted once (by auditID) at
 * its last stage seen; a watch still open at the end is counted from its ResponseStarted.
 */
export async function requestsByClient(path: string, from = 0): Promise<ClientRequests[]> {
  const seen = new Set<string>();
  const byClient = new Map<string, ClientRequests>();
  const lines = createInterface({ input: createReadStream(path, { start: from }), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.startsWith("{")) continue;
    let e: AuditEvent;
    try {
      e = JSON.parse(line) as AuditEvent;
    } catch {
      continue;
    }
    const id = e.auditID ?? "";
    const client = clientOf(e);
    let c = byClient.get(client);
    if (!c) byClient.set(client, (c = { client, requests: 0, byVerb: {}, conflicts: 0, tooManyRequests: 0 }));
    if (!seen.has(id)) {
      seen.add(id);
      c.requests += 1;
      const verb = e.verb ?? "?";
      c.byVerb[verb] = (c.byVerb[verb] ?? 0) + 1;
    }
    if (e.stage === "ResponseComplete") {
      if (e.responseStatus?.code === 409) c.conflicts += 1;
      if (e.responseStatus?.code === 429) c.tooManyRequests += 1;
    }
  }
  return [...byClient.values()].filter((c) => c.requests > 0).sort((a, b) => b.requests - a.requests);
}
