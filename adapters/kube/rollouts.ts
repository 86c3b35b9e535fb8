// The reconciler's writes to the cluster, behind small interfaces so the loop is tested with
// fakes: rollout status (status subresource; a 409 goes back to the caller, which decides again),
// the StatefulSet, its PodDisruptionBudget, and evictions through the Eviction API (429 = the
// budget says wait).
import type * as k8s from "@kubernetes/client-node";
import type { DesiredPdb, StatefulSetChanges } from "../../api/desired.js";
import { API_VERSION, PLURAL } from "../../api/labels.js";
import {
  releasedMetadata,
  releasedRevisionHistoryLimit,
  type ReleaseMode,
  type RolloutMetaLike,
} from "../../api/lifecycle.js";
import type { RolloutStatus } from "../../api/rollout.js";
import { apiStatusCode, isConflict, isNotFound } from "./client.js";

const [GROUP, VERSION] = API_VERSION.split("/") as [string, string];

/** A StatefulsetRollout as read from the API (unparsed). */
export interface RawRollout {
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    generation?: number;
    uid?: string;
    deletionTimestamp?: unknown;
    finalizers?: string[];
  };
  status?: unknown;
  [key: string]: unknown;
}

/** The calls the status and finalizer writers need; kubeRolloutApi wraps CustomObjectsApi. */
export interface RolloutApi {
  get(namespace: string, name: string): Promise<RawRollout | undefined>;
  replaceStatus(namespace: string, name: string, body: RawRollout): Promise<RawRollout>;
  /** Replaces the object (resourceVersion precondition); used only to write metadata.finalizers. */
  replace(namespace: string, name: string, body: RawRollout): Promise<RawRollout>;
}

export function kubeRolloutApi(custom: k8s.CustomObjectsApi): RolloutApi {
  return {
    async get(namespace, name) {
      try {
        return (await custom.getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: PLURAL,
          name,
        })) as RawRollout;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async replaceStatus(namespace, name, body) {
      return (await custom.replaceNamespacedCustomObjectStatus({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
        body,
      })) as RawRollout;
    },
    async replace(namespace, name, body) {
      return (await custom.replaceNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
        body,
      })) as RawRollout;
    },
  };
}

/**
 * Writes metadata.finalizers on the rollout as read (its resourceVersion guards the write: a
 * 409 throws and the pass is retried on a fresh read). Only the finalizers change: the spec
 * sent back is the one read. "gone": the rollout no longer exists.
 */
export async function writeFinalizers(
  api: RolloutApi,
  read: RawRollout,
  finalizers: string[],
): Promise<"written" | "gone"> {
  const namespace = read.metadata?.namespace ?? "";
  const name = read.metadata?.name ?? "";
  try {
    await api.replace(namespace, name, { ...read, metadata: { ...read.metadata, finalizers } });
    return "written";
  } catch (err) {
    if (isNotFound(err)) return "gone";
    throw err;
  }
}

export type StatusWriteResult =
  | { outcome: "written"; rollout: RawRollout }
  /**
   * 409: another writer changed the rollout since it was read (a spec change, or another
   * reconciler's status). The decision was made on a stale object: re-read and decide again.
   */
  | { outcome: "conflict" }
  | { outcome: "gone" };

/**
 * Writes a decided status through the status subresource with the resourceVersion that was read.
 * It never retries by itself: re-applying a decision onto a fresher object would overwrite
 * another writer's update (a new leader's updatedOrdinals), so a conflict goes back to the caller.
 */
export async function writeStatus(
  api: RolloutApi,
  read: RawRollout,
  status: RolloutStatus,
): Promise<StatusWriteResult> {
  try {
    return {
      outcome: "written",
      rollout: await api.replaceStatus(read.metadata?.namespace ?? "", read.metadata?.name ?? "", { ...read, status }),
    };
  } catch (err) {
    if (isNotFound(err)) return { outcome: "gone" };
    if (isConflict(err)) return { outcome: "conflict" };
    throw err;
  }
}

/**
 * Records facts of a step that has just happened (a callback's outcome, a Slack message ref): only
 * `fields` are set, on the stored status. On a conflict it re-reads and sets them on the fresh
 * status, so every other field keeps what the other writer wrote.
 */
export async function writeStatusFields(
  api: RolloutApi,
  read: RawRollout,
  fields: Partial<RolloutStatus>,
  maxAttempts = 4,
): Promise<StatusWriteResult> {
  let base = read;
  for (let attempt = 1; ; attempt++) {
    const status = { ...((base.status as RolloutStatus | undefined) ?? {}), ...fields };
    const result = await writeStatus(api, base, status);
    if (result.outcome !== "conflict") return result;
    if (attempt >= maxAttempts) return result;
    const fresh = await api.get(read.metadata?.namespace ?? "", read.metadata?.name ?? "");
    if (!fresh) return { outcome: "gone" };
    base = fresh;
  }
}

export type EvictionResult = "evicted" | "blocked" | "gone";

/** released: our references and labels were removed; untouched: the object is not ours; gone: it does not exist. */
export type ReleaseResult = "released" | "untouched" | "gone";

/** Cluster writes of one reconcile step. */
export interface ClusterWriter {
  createStatefulSet(namespace: string, body: Record<string, unknown>): Promise<void>;
  updateStatefulSet(namespace: string, name: string, changes: StatefulSetChanges): Promise<void>;
  applyPdb(namespace: string, pdb: DesiredPdb): Promise<void>;
  /** Evicts the pod only if it is still the same pod (uid precondition): a recreated pod is never evicted by mistake. */
  evict(namespace: string, name: string, uid: string): Promise<EvictionResult>;
  /** Removes the rollout's ownerReferences and Bulkhead's labels from the StatefulSet as `mode` says (api/lifecycle.ts releasedMetadata). */
  releaseStatefulSet(
    namespace: string,
    name: string,
    rollout: RolloutMetaLike,
    mode: ReleaseMode,
  ): Promise<ReleaseResult>;
  /** The same for the PodDisruptionBudget. */
  releasePdb(namespace: string, name: string, rollout: RolloutMetaLike, mode: ReleaseMode): Promise<ReleaseResult>;
}

export function kubeClusterWriter(
  apps: k8s.AppsV1Api,
  policy: k8s.PolicyV1Api,
  core: k8s.CoreV1Api,
  conflictRetries = 3,
): ClusterWriter {
  return {
    async createStatefulSet(namespace, body) {
      try {
        await apps.createNamespacedStatefulSet({ namespace, body: body as k8s.V1StatefulSet });
      } catch (err) {
        // Already there (a stale read, or another writer): the next pass reads it and decides
        // by the one-owner rule (api/ownership.ts) whether it may touch it.
        if (apiStatusCode(err) !== 409) throw err;
      }
    },

    async updateStatefulSet(namespace, name, changes) {
      for (let attempt = 1; ; attempt++) {
        const live = await apps.readNamespacedStatefulSet({ name, namespace });
        const body = applyStatefulSetChanges(live, changes);
        try {
          await apps.replaceNamespacedStatefulSet({ name, namespace, body });
          return;
        } catch (err) {
          if (!isConflict(err) || attempt >= conflictRetries) throw err;
        }
      }
    },

    async applyPdb(namespace, pdb) {
      for (let attempt = 1; ; attempt++) {
        let live: k8s.V1PodDisruptionBudget | undefined;
        try {
          live = await policy.readNamespacedPodDisruptionBudget({ name: pdb.name, namespace });
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        try {
          if (!live) await policy.createNamespacedPodDisruptionBudget({ namespace, body: pdbBody(namespace, pdb) });
          else
            await policy.replaceNamespacedPodDisruptionBudget({ name: pdb.name, namespace, body: mergePdb(live, pdb) });
          return;
        } catch (err) {
          if (!isConflict(err) || attempt >= conflictRetries) throw err;
        }
      }
    },

    async evict(namespace, name, uid) {
      try {
        await core.createNamespacedPodEviction({
          name,
          namespace,
          body: {
            apiVersion: "policy/v1",
            kind: "Eviction",
            metadata: { name, namespace },
            deleteOptions: { preconditions: { uid } },
          },
        });
        return "evicted";
      } catch (err) {
        const code = apiStatusCode(err);
        if (code === 429) return "blocked";
        // 404: already gone; 409: the uid precondition failed — a new pod has this name.
        if (code === 404 || code === 409) return "gone";
        throw err;
      }
    },

    async releaseStatefulSet(namespace, name, rollout, mode) {
      return releaseWith(
        conflictRetries,
        () => apps.readNamespacedStatefulSet({ name, namespace }),
        (body) => apps.replaceNamespacedStatefulSet({ name, namespace, body }),
        rollout,
        mode,
        (live, body) => {
          const limit = releasedRevisionHistoryLimit(live.metadata?.annotations);
          if (limit !== undefined && body.spec) body.spec.revisionHistoryLimit = limit;
        },
      );
    },

    async releasePdb(namespace, name, rollout, mode) {
      return releaseWith(
        conflictRetries,
        () => policy.readNamespacedPodDisruptionBudget({ name, namespace }),
        (body) => policy.replaceNamespacedPodDisruptionBudget({ name, namespace, body }),
        rollout,
        mode,
      );
    },
  };
}

/** Read, strip (api/lifecycle.ts releasedMetadata), replace; a 409 re-reads. */
async function releaseWith<T extends { metadata?: k8s.V1ObjectMeta }>(
  conflictRetries: number,
  read: () => Promise<T>,
  replace: (body: T) => Promise<unknown>,
  rollout: RolloutMetaLike,
  mode: ReleaseMode,
  alsoChange: (live: T, body: T) => void = () => {},
): Promise<ReleaseResult> {
  for (let attempt = 1; ; attempt++) {
    let live: T;
    try {
      live = await read();
    } catch (err) {
      if (isNotFound(err)) return "gone";
      throw err;
    }
    const meta = live.metadata ?? {};
    const released = releasedMetadata(meta, rollout, mode);
    if (!released) return "untouched";
    const body = structuredClone(live);
    body.metadata = {
      ...meta,
      labels: released.labels ?? {},
      annotations: released.annotations ?? {},
      ownerReferences: (released.ownerReferences ?? []) as k8s.V1OwnerReference[],
    };
    alsoChange(live, body);
    try {
      await replace(body);
      return "released";
    } catch (err) {
      if (isNotFound(err)) return "gone";
      if (!isConflict(err) || attempt >= conflictRetries) throw err;
    }
  }
}

/**
 * Copies the fields the reconciler owns onto a clone of the live StatefulSet. Another
 * controller is never demoted: the decision refused such a StatefulSet (api/ownership.ts); if one
 * appeared since it was read, this throws and the next pass decides again.
 */
export function applyStatefulSetChanges(live: k8s.V1StatefulSet, changes: StatefulSetChanges): k8s.V1StatefulSet {
  const body = structuredClone(live);
  body.metadata = body.metadata ?? {};
  const owners = body.metadata.ownerReferences ?? [];
  const other = owners.find((o) => o.controller === true && o.uid !== changes.ownerReference.uid);
  if (other) {
    throw new Error(
      `StatefulSet ${body.metadata.namespace ?? ""}/${body.metadata.name ?? ""} is controlled by ${other.kind} ${other.name}; not touching it`,
    );
  }
  body.metadata.labels = { ...(body.metadata.labels ?? {}), ...changes.labels };
  body.metadata.annotations = { ...(body.metadata.annotations ?? {}), ...changes.annotations };
  for (const key of changes.removeAnnotations ?? []) delete body.metadata.annotations[key];
  if (!owners.some((o) => o.uid === changes.ownerReference.uid)) {
    body.metadata.ownerReferences = [...owners, changes.ownerReference];
  }
  body.spec = body.spec ?? ({} as k8s.V1StatefulSetSpec);
  body.spec.replicas = changes.replicas;
  body.spec.updateStrategy = { type: changes.updateStrategy.type };
  if (changes.revisionHistoryLimit !== undefined) body.spec.revisionHistoryLimit = changes.revisionHistoryLimit;
  if (changes.template) body.spec.template = changes.template as k8s.V1PodTemplateSpec;
  return body;
}

function pdbBody(namespace: string, pdb: DesiredPdb): k8s.V1PodDisruptionBudget {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name: pdb.name, namespace, labels: pdb.labels, ownerReferences: [pdb.ownerReference] },
    spec: {
      maxUnavailable: pdb.maxUnavailable as k8s.IntOrString,
      selector: { matchLabels: pdb.selector },
      unhealthyPodEvictionPolicy: pdb.unhealthyPodEvictionPolicy,
    },
  };
}

function mergePdb(live: k8s.V1PodDisruptionBudget, pdb: DesiredPdb): k8s.V1PodDisruptionBudget {
  const body = structuredClone(live);
  const fresh = pdbBody(body.metadata?.namespace ?? "", pdb);
  body.metadata = { ...body.metadata, labels: { ...(body.metadata?.labels ?? {}), ...pdb.labels } };
  if (!(body.metadata.ownerReferences ?? []).some((o) => o.uid === pdb.ownerReference.uid)) {
    body.metadata.ownerReferences = [
      ...(body.metadata.ownerReferences ?? []),
      { ...pdb.ownerReference, controller: !(body.metadata.ownerReferences ?? []).some((o) => o.controller) },
    ];
  }
  body.spec = fresh.spec;
  return body;
}
