// What every admission handler may use, bundled once in main.ts. Handlers read only caches (never
// a list call per request) and never throw: the route wrapper turns a throw into errored().
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { AdmissionRequest, AdmissionResponse } from "../api/admission.js";
import type { ReadCache } from "../adapters/kube/cache.js";
import type { WebhookConfig } from "./config.js";
import type { WebhookMetrics } from "./metrics.js";

export type AdmissionHandler = (request: AdmissionRequest) => Promise<AdmissionResponse>;

/** URL path (e.g. "/validate/eviction") → handler. */
export type RouteTable = Readonly<Record<string, AdmissionHandler>>;

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

export function allCachesSynced(caches: WebhookCaches): boolean {
  return Object.values(caches).every((cache: ReadCache<unknown>) => cache.isSynced());
}
