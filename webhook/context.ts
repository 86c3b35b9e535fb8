// What every admission handler may use, bundled once in main.ts. Handlers read only caches (never
// a list call per request). A handler that throws is a bug: the admission kernel
// (admission-route.ts) answers HTTP 500 so the apiserver applies the hook's failurePolicy.
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { AdmissionRequest, AdmissionDecision } from "../api/admission.js";
import type { ReadCache } from "../adapters/kube/cache.js";
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

export interface WebhookCaches {
  managedPods: ReadCache<k8s.V1Pod>;
  managedStatefulSets: ReadCache<k8s.V1StatefulSet>;
  /** Raw StatefulsetRollout objects; parse with api/rollout.ts parseRollout. */
  rollouts: ReadCache<k8s.KubernetesObject>;
  controllerRevisions: ReadCache<k8s.V1ControllerRevision>;
  pdbs: ReadCache<k8s.V1PodDisruptionBudget>;
}

export interface WebhookContext {
  config: WebhookConfig;
  caches: WebhookCaches;
  logger: Logger;
  /** Handlers may register their own metrics on metrics.registry. */
  metrics: WebhookMetrics;
}
