// The reconciler's writes to the cluster, behind small interfaces so the loop is tested with
// fakes: rollout status (status subresource; a 409 goes back to the caller, which decides again),
// the StatefulSet, its PodDisruptionBudget, and taking a wave's pods down (api/take-down.ts: one
// PDB reservation per batch, then deletes with preconditions).
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
import { planTakeDown, type LivePdb, type LivePod, type TakeDownRequest } from "../../api/take-down.js";
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

/** evicted: deleted (its disruption reserved if it was Ready); blocked: the budget says wait; gone: nothing to do. */
export type EvictionResult = "evicted" | "blocked" | "gone";

export interface TakeDownOutcome {
  name: string;
  result: EvictionResult;
  /** Why it was blocked or skipped, for the log and Events. */
  why?: string;
}

/** released: our references and labels were removed; untouched: the object is not ours; gone: it does not exist. */
export type ReleaseResult = "released" | "untouched" | "gone";

/** Cluster writes of one reconcile step. */
export interface ClusterWriter {
  createStatefulSet(namespace: string, body: Record<string, unknown>): Promise<void>;
  updateStatefulSet(namespace: string, name: string, changes: StatefulSetChanges): Promise<void>;
  applyPdb(namespace: string, pdb: DesiredPdb): Promise<void>;
  /**
   * Takes pods down the way the Eviction API would, as one batch (api/take-down.ts): reads them
   * and the namespace's PDBs live, reserves the Ready ones' disruptions in one PDB status write,
   * then deletes them. Only the same pod (uid precondition) is ever deleted. With `recorded`, the
   * reads start at once but nothing is written before it resolves true (the status naming these
   * pods is written; false: it was not, nothing is written and the result is empty).
   */
  takeDown(
    namespace: string,
    pods: readonly TakeDownRequest[],
    recorded?: Promise<boolean>,
  ): Promise<TakeDownOutcome[]>;
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

    async takeDown(namespace, requests, recorded) {
      const live = new Map<string, LivePod>();
      const listPdbs = async () => (await policy.listNamespacedPodDisruptionBudget({ namespace })).items;
      // The pods and the PDBs are read at once (one round trip before the reservation, not two);
      // the PDBs' resourceVersion still guards the reservation written from both.
      const [, firstPdbs] = await Promise.all([
        forEachLimited(requests, TAKE_DOWN_CONCURRENCY, async (request) => {
          const pod = await readPod(core, namespace, request.name);
          if (pod) live.set(request.name, pod);
        }),
        listPdbs(),
      ]);
      // The reads overlap the status write that records the pods (a round trip less before the
      // first delete); the writes below are guarded by what was read, so reading early is safe.
      if (recorded && !(await recorded)) return [];
      for (let attempt = 1; ; attempt++) {
        const pdbs = attempt === 1 ? firstPdbs : await listPdbs();
        const plan = planTakeDown(requests, live, pdbs.map(livePdb), new Date().toISOString());
        if (plan.reserve) {
          const read = pdbs.find((p) => p.metadata?.name === plan.reserve!.pdb)!;
          try {
            await policy.replaceNamespacedPodDisruptionBudgetStatus({
              name: plan.reserve.pdb,
              namespace,
              body: reservedPdb(read, plan.reserve.disruptionsAllowed, plan.reserve.disruptedPods),
            });
          } catch (err) {
            // Another writer (a drain's eviction, the disruption controller) changed the PDB since
            // it was read: read it again and decide again, as the Eviction API does.
            if (isConflict(err) && attempt < RESERVE_ATTEMPTS) continue;
            if (isConflict(err))
              return requests.map((r) => ({ name: r.name, result: "blocked" as const, why: "PDB kept conflicting" }));
            throw err;
          }
        }
        const outcomes: TakeDownOutcome[] = [];
        await forEachLimited(plan.verdicts, TAKE_DOWN_CONCURRENCY, async (verdict) => {
          if (verdict.action === "skip") outcomes.push({ name: verdict.name, result: "gone", why: verdict.why });
          else if (verdict.action === "wait")
            outcomes.push({ name: verdict.name, result: "blocked", why: verdict.why });
          else
            outcomes.push({
              name: verdict.name,
              result: await deletePod(core, namespace, verdict.name, verdict.uid, verdict.resourceVersion),
            });
        });
        return outcomes;
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

/** Pods read, reservations retried and pods deleted at once by one takeDown. */
const TAKE_DOWN_CONCURRENCY = 10;
/** PDB reservations tried per takeDown when other writers keep changing the PDB. */
const RESERVE_ATTEMPTS = 5;

async function readPod(core: k8s.CoreV1Api, namespace: string, name: string): Promise<LivePod | undefined> {
  try {
    const pod = await core.readNamespacedPod({ name, namespace });
    return {
      name,
      uid: pod.metadata?.uid ?? "",
      resourceVersion: pod.metadata?.resourceVersion ?? "",
      labels: pod.metadata?.labels ?? {},
      ready: pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
      terminating: pod.metadata?.deletionTimestamp !== undefined && pod.metadata?.deletionTimestamp !== null,
      finished: pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed",
    };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

function livePdb(pdb: k8s.V1PodDisruptionBudget): LivePdb {
  const disrupted: Record<string, string> = {};
  for (const [pod, at] of Object.entries(pdb.status?.disruptedPods ?? {})) disrupted[pod] = new Date(at).toISOString();
  return {
    name: pdb.metadata?.name ?? "",
    generation: pdb.metadata?.generation ?? 0,
    selector: pdb.spec?.selector as LivePdb["selector"],
    status: {
      observedGeneration: pdb.status?.observedGeneration ?? 0,
      disruptionsAllowed: pdb.status?.disruptionsAllowed ?? 0,
      disruptedPods: disrupted,
    },
  };
}

/** The PDB as read (its resourceVersion guards the write) with the reservation in its status. */
function reservedPdb(
  read: k8s.V1PodDisruptionBudget,
  disruptionsAllowed: number,
  disruptedPods: Record<string, string>,
): k8s.V1PodDisruptionBudget {
  const body = structuredClone(read);
  const status =
    body.status ?? ({ currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 } as k8s.V1PodDisruptionBudgetStatus);
  status.disruptionsAllowed = disruptionsAllowed;
  const times: Record<string, Date> = {};
  for (const [pod, at] of Object.entries(disruptedPods)) times[pod] = new Date(at);
  status.disruptedPods = times;
  if (disruptionsAllowed === 0) {
    // As the Eviction API does when it takes the last disruption.
    const others = (status.conditions ?? []).filter((c) => c.type !== "DisruptionAllowed");
    const before = (status.conditions ?? []).find((c) => c.type === "DisruptionAllowed");
    status.conditions = [
      ...others,
      {
        type: "DisruptionAllowed",
        status: "False",
        reason: "InsufficientPods",
        message: "",
        observedGeneration: status.observedGeneration,
        lastTransitionTime: before?.status === "False" ? before.lastTransitionTime : new Date(),
      },
    ];
  }
  body.status = status;
  return body;
}

/** Deletes the pod if it is still the same pod (and, when given, unchanged since read). */
async function deletePod(
  core: k8s.CoreV1Api,
  namespace: string,
  name: string,
  uid: string,
  resourceVersion: string | undefined,
): Promise<EvictionResult> {
  try {
    await core.deleteNamespacedPod({
      name,
      namespace,
      body: { preconditions: resourceVersion ? { uid, resourceVersion } : { uid } },
    });
    return "evicted";
  } catch (err) {
    // 404: already gone. 409: another pod has the name now, or (unready pod) it changed since
    // read, perhaps became Ready: the next pass decides again.
    if (isNotFound(err)) return "gone";
    if (isConflict(err)) return resourceVersion ? "blocked" : "gone";
    throw err;
  }
}

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects with the first error. */
async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
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
