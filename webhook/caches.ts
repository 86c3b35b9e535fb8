// The informer caches the webhook answers from (adapters/kube/cache.ts), started together.
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import {
  controllerRevisionsCache,
  managedPodsCache,
  managedStatefulSetsCache,
  poddisruptionBudgetsCache,
  rolloutsCache,
} from "../adapters/kube/cache.js";
import type { WebhookCaches } from "./context.js";

export function startWebhookCaches(kc: k8s.KubeConfig, logger: Logger): WebhookCaches {
  const onError = (cache: string) => (err: unknown) => logger.warn({ err, cache }, "informer error; it reconnects by itself");
  return {
    managedPods: managedPodsCache(kc, onError("pods")),
    managedStatefulSets: managedStatefulSetsCache(kc, onError("statefulsets")),
    rollouts: rolloutsCache(kc, onError("rollouts")),
    controllerRevisions: controllerRevisionsCache(kc, onError("controllerrevisions")),
    pdbs: poddisruptionBudgetsCache(kc, onError("pdbs")),
  };
}

export async function stopWebhookCaches(caches: WebhookCaches): Promise<void> {
  await Promise.allSettled(Object.values(caches).map((c: WebhookCaches[keyof WebhookCaches]) => c.stop()));
}
