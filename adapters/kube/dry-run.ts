// A server-side dry-run create (dryRun=All) of a raw object, so the apiserver itself validates it
// — decoding, defaulting, field validation and admission — and nothing is persisted. The body is
// sent as the JSON given: client-node's typed serializer would throw on, or silently drop, the
// very mistakes the dry-run is there to report (a map where a list belongs, an unknown field).
import type * as k8s from "@kubernetes/client-node";
import { request as httpRequest } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";

export type DryRunOutcome =
  /** The apiserver would accept it. */
  | { outcome: "valid" }
  /** The apiserver refused the object itself (400 decode error, 422 invalid, 403 admission denial): the user's to fix. */
  | { outcome: "invalid"; code: number; message: string }
  /** An object of that name exists. */
  | { outcome: "exists" }
  /** The dry-run could not say (unreachable, timeout, 5xx, 429, our own permissions, a webhook without dry-run support). */
  | { outcome: "unchecked"; message: string };

export type DryRunCreate = (path: string, body: unknown) => Promise<DryRunOutcome>;

/** Response size kept from the apiserver: a Status is small; anything bigger is cut. */
const MAX_RESPONSE_BYTES = 256 * 1024;

interface Status {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
}

/** What a dry-run answer means; exported for its table test. */
export function classifyDryRun(code: number, status: Status | undefined): DryRunOutcome {
  if (code >= 200 && code < 300) return { outcome: "valid" };
  const message = status?.message ?? `HTTP ${code}`;
  if (code === 409 && status?.reason === "AlreadyExists") return { outcome: "exists" };
  // A webhook with side effects cannot take part in a dry-run: not the object's fault.
  if (code === 400 && /does not support dry run/.test(message)) return { outcome: "unchecked", message };
  // RBAC refusing the webhook's own ServiceAccount: an install problem, not the object's.
  if (code === 403 && / cannot create resource /.test(message)) return { outcome: "unchecked", message };
  if (code === 400 || code === 403 || code === 422) return { outcome: "invalid", code, message };
  return { outcome: "unchecked", message: `${message} (HTTP ${code})` };
}

/**
 * Dry-run creates through the cluster of `kc` (its credentials and CA). The apiserver is asked to
 * give up after `timeoutMs` (?timeout=, which also bounds the admission webhooks it calls), and
 * the socket is abandoned a second later.
 */
export function kubeDryRunCreate(kc: k8s.KubeConfig, timeoutMs: number): DryRunCreate {
  return async (path, body) => {
    const cluster = kc.getCurrentCluster();
    if (!cluster) return { outcome: "unchecked", message: "no cluster in the kubeconfig" };
    const url = new URL(cluster.server.replace(/\/$/, "") + path);
    url.searchParams.set("dryRun", "All");
    url.searchParams.set("timeout", `${Math.max(1, Math.floor(timeoutMs / 1000))}s`);
    url.searchParams.set("fieldManager", "bulkhead-webhook-dry-run");
    const options: RequestOptions = { method: "POST", headers: {} };
    await kc.applyToHTTPSOptions(options);
    const payload = JSON.stringify(body);
    options.headers = {
      ...options.headers,
      "Content-Type": "application/json",
      Accept: "application/json",
      "Content-Length": Buffer.byteLength(payload),
    };
    options.signal = AbortSignal.timeout(timeoutMs + 1000);
    return new Promise<DryRunOutcome>((resolve) => {
      const send = url.protocol === "http:" ? httpRequest : httpsRequest;
      const req = send(url, options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk);
        });
        res.on("end", () => {
          let status: Status | undefined;
          try {
            status = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Status;
          } catch {
            status = undefined;
          }
          resolve(classifyDryRun(res.statusCode ?? 0, status));
        });
        res.on("error", (err) => resolve({ outcome: "unchecked", message: err.message }));
      });
      req.on("error", (err) =>
        resolve({ outcome: "unchecked", message: `the apiserver could not be asked: ${err.message}` }),
      );
      req.end(payload);
    });
  };
}
