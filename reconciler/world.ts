// Where a pass reads the world from: the StatefulSet live (an adopted one may not be in the
// managed cache yet, and a just-written template must be seen), pods and PDBs from caches.
import type * as k8s from "@kubernetes/client-node";
import { isNotFound } from "../adapters/kube/client.js";
import type { ReadCache } from "../adapters/kube/cache.js";
import type { GroupGuardWorld } from "../api/group-disruption.js";
import type { PdbObject, PodObject, StatefulSetObject } from "../api/observe.js";
import { podOrdinal } from "../api/revisions.js";

export interface WorldSource {
  statefulSet(namespace: string, name: string): Promise<StatefulSetObject | undefined>;
  pods(namespace: string, statefulSetName: string): readonly PodObject[];
  pdb(namespace: string, name: string): PdbObject | undefined;
  /**
   * The caches as the zone-aware group guard reads them (api/group-disruption.ts groupMembers):
   * rollout groups build their members' views here, the same way the webhook does.
   */
  groupGuard?: GroupGuardWorld;
  /** Whether a ControllerRevision of that name exists (a live read, asked only while a rollout is split). */
  revisionExists(namespace: string, name: string): Promise<boolean>;
}

export function cachedWorld(
  apps: k8s.AppsV1Api,
  pods: ReadCache<k8s.V1Pod>,
  pdbs: ReadCache<k8s.V1PodDisruptionBudget>,
  rollouts: ReadCache<k8s.KubernetesObject>,
  statefulSets: ReadCache<k8s.V1StatefulSet>,
): WorldSource {
  return {
    groupGuard: {
      get synced() {
        return pods.isSynced() && statefulSets.isSynced() && rollouts.isSynced();
      },
      pod: (namespace, name) => pods.get(namespace, name),
      statefulSet: (namespace, name) => statefulSets.get(namespace, name),
      pods: (namespace) => pods.list(namespace),
      rollout: (namespace, name) => rollouts.get(namespace, name),
      rolloutsIn: (namespace) => rollouts.list(namespace),
    },
    async statefulSet(namespace, name) {
      try {
        return await apps.readNamespacedStatefulSet({ name, namespace });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    pods: (namespace, stsName) =>
      pods.list(namespace).filter((p) => podOrdinal(p.metadata?.name ?? "", stsName) !== undefined),
    pdb: (namespace, name) => pdbs.get(namespace, name),
    async revisionExists(namespace, name) {
      try {
        await apps.readNamespacedControllerRevision({ name, namespace });
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
  };
}
