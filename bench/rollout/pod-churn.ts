// Pods created ≈ pods replaced: the check every benchmark run must pass (issue #15).
//
// KWOK v0.8.0 retries its per-pod jobs by name, so a retried delete can remove the *next* pod of
// the same name and the StatefulSet controller recreates it, in a loop: a run that looks slow may
// be creating tens of thousands of pods. The count comes from the apiserver's own counter of
// successful pod creations (apiserver_request_total, POST pods, 201), read before and after a
// run: it misses nothing a watch could miss across reconnects, and costs two requests. It counts
// the whole cluster, so the runs that use it must not overlap with anything else creating pods.
//
// Kept behind this small interface so that a shared check (helper h3's, for e2e and bench) can
// replace the implementation without touching the call sites.
import { readFileSync } from "node:fs";
import { request } from "node:https";

export interface PodCounts {
  /** Pods created (POST pods answered 201), cluster-wide, since the apiserver started. */
  created: number;
  /** Pod evictions admitted (POST pods/eviction answered 201). */
  evicted: number;
  /** Pod deletes answered 200 (a graceful delete and KWOK's final delete are two). */
  deleted: number;
}

export interface PodChurnCounter {
  counts(): Promise<PodCounts>;
}

export interface ChurnVerdict {
  ok: boolean;
  created: number;
  replaced: number;
  text: string;
}

/**
 * A run that replaced `replaced` pods should have created about as many: a few more are fine
 * (a pod may be recreated once by a retried delete), a loop is not.
 */
export function churnVerdict(created: number, replaced: number): ChurnVerdict {
  const allowed = Math.ceil(replaced * 1.05) + 2;
  const ok = created <= allowed;
  const text = ok
    ? `${created} created / ${replaced} replaced`
    : `INVALID: ${created} pods created for ${replaced} replaced (more than ${allowed}: the simulator's retry loop?)`;
  return { ok, created, replaced, text };
}

export function sumRequests(metricsText: string, match: Record<string, string>): number {
  let total = 0;
  for (const line of metricsText.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const close = line.lastIndexOf("}");
    const labels = new Map<string, string>();
    for (const m of line.slice("apiserver_request_total{".length, close).matchAll(/(\w+)="([^"]*)"/g))
      labels.set(m[1]!, m[2]!);
    if (Object.entries(match).every(([k, v]) => (labels.get(k) ?? "") === v)) total += Number(line.slice(close + 1));
  }
  return total;
}

/** Reads the counters from the local control plane's /metrics with the admin certificate (DIR/env). */
export class ApiserverPodChurnCounter implements PodChurnCounter {
  private readonly url: URL;
  private readonly tls: { ca: Buffer; cert: Buffer; key: Buffer };

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const need = (k: string) => {
      const v = env[k];
      if (!v) throw new Error(`${k} is not set: source the cluster's env file (hack/cluster-up.sh writes it)`);
      return v;
    };
    this.url = new URL("/metrics", need("BULKHEAD_APISERVER"));
    this.tls = {
      ca: readFileSync(need("BULKHEAD_CA_CERT")),
      cert: readFileSync(need("BULKHEAD_ADMIN_CERT")),
      key: readFileSync(need("BULKHEAD_ADMIN_KEY")),
    };
  }

  async counts(): Promise<PodCounts> {
    const text = await new Promise<string>((resolve, reject) => {
      const req = request(this.url, { ...this.tls, timeout: 30_000 }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () =>
          res.statusCode === 200 ? resolve(body) : reject(new Error(`apiserver /metrics: HTTP ${res.statusCode}`)),
        );
      });
      req.on("timeout", () => req.destroy(new Error("apiserver /metrics: timed out")));
      req.on("error", reject);
      req.end();
    });
    const pods = { group: "", resource: "pods", dry_run: "" };
    return {
      created: sumRequests(text, { ...pods, subresource: "", verb: "POST", code: "201" }),
      evicted: sumRequests(text, { ...pods, subresource: "eviction", verb: "POST", code: "201" }),
      deleted: sumRequests(text, { ...pods, subresource: "", verb: "DELETE", code: "200" }),
    };
  }
}
