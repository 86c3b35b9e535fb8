// What every admission handler may use, bundled once in main.ts. Handlers read the cluster only
// through the one read-only view over the informer caches (never a list call per request). A
// handler that throws is a bug: the admission kernel (admission-route.ts) answers HTTP 500 so the
// apiserver applies the hook's failurePolicy.
import type { Logger } from "pino";
import type { AdmissionRequest, AdmissionDecision } from "../api/admission.js";
import type { ClusterView } from "../adapters/kube/cluster-view.js";
import type { WebhookConfig } from "./config.js";
import type { WebhookMetrics } from "./metrics.js";

export type AdmissionHandler = (request: AdmissionRequest) => Promise<AdmissionDecision>;

/** One admission path as the server serves it (webhook/routes.ts declares the full rules). */
export interface ServedRoute {
  /** URL path, e.g. "/validate/eviction". */
  path: string;
  /** Bodies over this are answered 413 before they are parsed (decompressed size for gzip). */
  maxBodyBytes: number;
  handler: AdmissionHandler;
}

export type RouteTable = readonly ServedRoute[];

export interface WebhookContext {
  config: WebhookConfig;
  /** The cluster as the caches see it (adapters/kube/cluster-view.ts); read-only. */
  view: ClusterView;
  logger: Logger;
  /** Handlers may register their own metrics on metrics.registry. */
  metrics: WebhookMetrics;
}
