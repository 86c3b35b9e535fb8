// The leak guard's and the group guard's read-only view of the informer caches (api/leak-guard.ts
// GuardWorld, api/group-disruption.ts GroupGuardWorld).
import type * as k8s from "@kubernetes/client-node";
import type { GroupGuardWorld } from "../../api/group-disruption.js";
import type { ReadCache } from "../../adapters/kube/cache.js";

export interface LeakGuardCaches {
  /** Managed pods. */
  pods: ReadCache<k8s.V1Pod>;
  /** Managed StatefulSets. */
  statefulSets: ReadCache<k8s.V1StatefulSet>;
  /** StatefulsetRollouts, unparsed. */
  rollouts: ReadCache<k8s.KubernetesObject>;
}

export function cacheWorld(caches: LeakGuardCaches): GroupGuardWorld {
  return {
    get synced() {
      return caches.pods.isSynced() && caches.statefulSets.isSynced() && caches.rollouts.isSynced();
    },
    pod: (namespace, name) => caches.pods.get(namespace, name),
    statefulSet: (namespace, name) => caches.statefulSets.get(namespace, name),
    pods: (namespace) => caches.pods.list(namespace),
    rollout: (namespace, name) => caches.rollouts.get(namespace, name),
    rolloutsIn: (namespace) => caches.rollouts.list(namespace),
  };
}
