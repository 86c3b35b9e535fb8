// The leak guard's read-only view of the informer caches (api/leak-guard.ts GuardWorld).
import type * as k8s from "@kubernetes/client-node";
import type { GuardWorld, NodeState } from "../../api/leak-guard.js";
import type { ReadCache } from "../../adapters/kube/cache.js";

export interface LeakGuardCaches {
  /** Managed pods. */
  pods: ReadCache<k8s.V1Pod>;
  /** Managed StatefulSets. */
  statefulSets: ReadCache<k8s.V1StatefulSet>;
  /** StatefulsetRollouts, unparsed. */
  rollouts: ReadCache<k8s.KubernetesObject>;
  /** Optional: lets the guard see that a pod's node is gone or NotReady. */
  nodes?: ReadCache<k8s.V1Node>;
}

export function cacheWorld(caches: LeakGuardCaches): GuardWorld {
  return {
    get synced() {
      return caches.pods.isSynced() && caches.statefulSets.isSynced() && caches.rollouts.isSynced();
    },
    pod: (namespace, name) => caches.pods.get(namespace, name),
    statefulSet: (namespace, name) => caches.statefulSets.get(namespace, name),
    pods: (namespace) => caches.pods.list(namespace),
    rollout: (namespace, name) => caches.rollouts.get(namespace, name),
    nodeState: (name) => nodeState(caches.nodes, name),
  };
}

function nodeState(nodes: ReadCache<k8s.V1Node> | undefined, name: string): NodeState {
  if (!nodes?.isSynced()) return "unknown";
  // Nodes are cluster-scoped: the informer keys them without a namespace.
  const node = nodes.get("", name);
  if (!node) return "missing";
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  if (!ready) return "unknown";
  return ready.status === "True" ? "ready" : "notReady";
}
