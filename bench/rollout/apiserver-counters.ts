// The apiserver's own counters of pod creations, evictions and deletes (apiserver_request_total,
// read before and after a run): evictions per run, and a cross-check of the pod watch's count of
// pods created (bench/support/pod-churn.ts decides whether a run is valid). Cluster-wide, so the
// runs that read them must not overlap with anything else creating pods.
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";

export interface PodCounts {
  /** Pods created (POST pods answered 201), cluster-wide, since the apiserver started. */
  created: number;
  /** Pod evictions admitted (POST pods/eviction answered 201). */
  evicted: number;
  /** Pod deletes answered 200 (a graceful delete and KWOK's final delete are two). */
  deleted: number;
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
export class ApiserverPodCounters {
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

  /** keep: also write the whole /metrics text there (latency histograms, read offline). */
  async counts(keep?: string): Promise<PodCounts> {
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
    if (keep) writeFileSync(keep, text);
    const pods = { group: "", resource: "pods", dry_run: "" };
    return {
      created: sumRequests(text, { ...pods, subresource: "", verb: "POST", code: "201" }),
      evicted: sumRequests(text, { ...pods, subresource: "eviction", verb: "POST", code: "201" }),
      deleted: sumRequests(text, { ...pods, subresource: "", verb: "DELETE", code: "200" }),
    };
  }
}
