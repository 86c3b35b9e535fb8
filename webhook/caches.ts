// The informer caches the webhook answers from (adapters/kube/cache.ts), started together. While
// a watch is down (an apiserver restart), each keeps answering from its last-known data for
// cacheMaxStalenessMs; beyond that its isSynced() is false and the leak guard and pinning fail
// open (DESIGN.md §4). Readiness needs only the first load, so both replicas stay Ready through
// an apiserver outage instead of leaving the fail-closed hooks with no endpoints.
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Gauge, type Registry } from "prom-client";
import {
  controllerRevisionsCache,
  managedPodsCache,
  managedStatefulSetsCache,
  poddisruptionBudgetsCache,
  rolloutsCache,
  type CacheOptions,
  type WatchedCache,
} from "../adapters/kube/cache.js";
import type { WebhookCaches } from "./context.js";

export type WatchedWebhookCaches = { [K in keyof WebhookCaches]: WebhookCaches[K] & WatchedCache<unknown> };

export function startWebhookCaches(kc: k8s.KubeConfig, logger: Logger, maxStalenessMs: number): WatchedWebhookCaches {
  const options = (cache: string): CacheOptions => ({
    maxStalenessMs,
    onError: (err: unknown) =>
      logger.warn(
        { err, cache },
        "informer error; it reconnects by itself and answers from the last-known data meanwhile",
      ),
  });
  return {
    managedPods: managedPodsCache(kc, options("pods")),
    managedStatefulSets: managedStatefulSetsCache(kc, options("statefulsets")),
    rollouts: rolloutsCache(kc, options("rollouts")),
    controllerRevisions: controllerRevisionsCache(kc, options("controllerrevisions")),
    pdbs: poddisruptionBudgetsCache(kc, options("pdbs")),
  };
}

/** Empty when every cache has loaded once; else which have not. */
export function cachesNotLoaded(caches: WatchedWebhookCaches): string[] {
  return Object.entries(caches)
    .filter(([, cache]) => !(cache as WatchedCache<unknown>).hasLoaded())
    .map(([name]) => name);
}

/** bulkhead_webhook_cache_staleness_seconds{cache}: 0 while the watch is up, else its age. */
export function registerCacheStaleness(registry: Registry, caches: WatchedWebhookCaches): void {
  new Gauge({
    name: "bulkhead_webhook_cache_staleness_seconds",
    help: "Seconds since each informer cache's watch went down (0 while it is up). Beyond BULKHEAD_CACHE_MAX_STALENESS the leak guard and pinning fail open.",
    labelNames: ["cache"],
    registers: [registry],
    collect() {
      for (const [name, cache] of Object.entries(caches))
        this.set({ cache: name }, (cache as WatchedCache<unknown>).stalenessMs() / 1000);
    },
  });
}

export async function stopWebhookCaches(caches: WebhookCaches): Promise<void> {
  await Promise.allSettled(Object.values(caches).map((c: WebhookCaches[keyof WebhookCaches]) => c.stop()));
}
