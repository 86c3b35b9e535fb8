// The informer caches the webhook answers from (adapters/kube/cache.ts), started together; the
// handlers read them through one view (adapters/kube/cluster-view.ts). While a watch is down (an
// apiserver restart), each keeps answering from its last-known data for cacheMaxStalenessMs;
// beyond that the view is not synced and the leak guard and pinning fail open (DESIGN.md §4).
// Readiness needs only the first load, so both replicas stay Ready through an apiserver outage
// instead of leaving the fail-closed hooks with no endpoints.
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Gauge, type Registry } from "prom-client";
import {
  managedControllerRevisionsCache,
  managedPodsCache,
  managedStatefulSetsCache,
  rolloutsCache,
  type CacheOptions,
  type WatchedCache,
} from "../adapters/kube/cache.js";
import type { ClusterCaches } from "../adapters/kube/cluster-view.js";

/** The view's caches, with their health (readiness, staleness gauge). */
export type WebhookCaches = { [K in keyof ClusterCaches]: ClusterCaches[K] & WatchedCache<unknown> };

export function startWebhookCaches(kc: k8s.KubeConfig, logger: Logger, maxStalenessMs: number): WebhookCaches {
  const options = (cache: string): CacheOptions => ({
    maxStalenessMs,
    onError: (err: unknown) =>
      logger.warn(
        { err, cache },
        "informer error; it reconnects by itself and answers from the last-known data meanwhile",
      ),
  });
  return {
    pods: managedPodsCache(kc, options("pods")),
    statefulSets: managedStatefulSetsCache(kc, options("statefulsets")),
    rollouts: rolloutsCache(kc, options("rollouts")),
    controllerRevisions: managedControllerRevisionsCache(kc, options("controllerrevisions")),
  };
}

/** Empty when every cache has loaded once; else which have not. */
export function cachesNotLoaded(caches: WebhookCaches): string[] {
  return Object.entries(caches)
    .filter(([, cache]) => !(cache as WatchedCache<unknown>).hasLoaded())
    .map(([name]) => name);
}

/** bulkhead_webhook_cache_staleness_seconds{cache}: 0 while the watch is up, else its age. */
export function registerCacheStaleness(registry: Registry, caches: WebhookCaches): void {
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

/** Resolves once every cache has loaded its first list. */
export async function cachesSynced(caches: WebhookCaches): Promise<void> {
  await Promise.all(Object.values(caches).map((c: WatchedCache<unknown>) => c.synced));
}

export async function stopWebhookCaches(caches: WebhookCaches): Promise<void> {
  await Promise.allSettled(Object.values(caches).map((c: WatchedCache<unknown>) => c.stop()));
}
