// What deleting a rollout does to its workload (DESIGN.md §2 "Lifecycle"), as pure decisions.
//
// Every rollout carries the finalizer ROLLOUT_FINALIZER from the reconciler's first pass, before
// it creates or adopts anything. Deleting the rollout then waits for the reconciler, which
// releases the StatefulSet and its PDB and only then removes the finalizer:
//   - deletionPolicy Orphan (the default): Bulkhead's ownerReferences and labels are removed, so
//     the garbage collector has nothing to cascade to and the webhooks stop guarding the pods.
//     The pod template keeps the bulkhead.dev/managed label and the StatefulSet keeps
//     updateStrategy OnDelete: changing either would create a new revision or, with
//     RollingUpdate, restart every pod of a split StatefulSet at once — the opposite of what a
//     careful operator wants from "stop managing it". The operator changes them when ready.
//   - deletionPolicy Delete: nothing is stripped; removing the finalizer lets the garbage
//     collector cascade through the ownerReference (background: the StatefulSet, then its pods,
//     and the PDB). The reconciler itself never deletes anything, so it needs no delete verb.
//   - `kubectl delete --cascade=orphan` (the "orphan" finalizer) always orphans: the user said
//     so explicitly, and the garbage collector strips the ownerReferences itself.
// ownerReferences carry blockOwnerDeletion: false. It only matters for a foreground deletion of
// the rollout, where it would make the rollout wait for its StatefulSet to be gone; the
// garbage collector deletes foreground dependents whatever the flag says, so it protects
// nothing, and asking for it needs an extra permission on clusters with the
// OwnerReferencesPermissionEnforcement plugin.
import { TEMPLATE_HASH_ANNOTATION } from "./desired.js";
import { MANAGED_LABEL, ROLLOUT_LABEL } from "./labels.js";
import { REVISION_HISTORY_ANNOTATION, revisionHistoryChange } from "./revisions.js";
import type { OwnerReferenceLike } from "./ownership.js";
import type { DeletionPolicy } from "./rollout.js";

/** On every StatefulsetRollout: the reconciler releases the workload before the rollout goes. */
export const ROLLOUT_FINALIZER = "bulkhead.dev/release-workload";
/** Kubernetes' own finalizers for `--cascade=orphan` and `--cascade=foreground`. */
export const ORPHAN_FINALIZER = "orphan";
export const FOREGROUND_FINALIZER = "foregroundDeletion";

export interface RolloutMetaLike {
  name: string;
  uid?: string;
  finalizers?: readonly string[] | null;
  deletionTimestamp?: unknown;
}

export function hasRolloutFinalizer(meta: RolloutMetaLike): boolean {
  return (meta.finalizers ?? []).includes(ROLLOUT_FINALIZER);
}

export function isBeingDeleted(meta: RolloutMetaLike): boolean {
  return meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null;
}

/** The finalizers with ours added (undefined when it is already there). */
export function withRolloutFinalizer(finalizers: readonly string[] | null | undefined): string[] | undefined {
  const list = finalizers ?? [];
  return list.includes(ROLLOUT_FINALIZER) ? undefined : [...list, ROLLOUT_FINALIZER];
}

/** The finalizers with ours removed (undefined when it is not there). */
export function withoutRolloutFinalizer(finalizers: readonly string[] | null | undefined): string[] | undefined {
  const list = finalizers ?? [];
  return list.includes(ROLLOUT_FINALIZER) ? list.filter((f) => f !== ROLLOUT_FINALIZER) : undefined;
}

export type ReleaseMode = "orphan" | "cascade";

/** What deleting this rollout does to what it owns. */
export function releaseMode(policy: DeletionPolicy | undefined, meta: RolloutMetaLike): ReleaseMode {
  if ((meta.finalizers ?? []).includes(ORPHAN_FINALIZER)) return "orphan";
  return policy === "Delete" ? "cascade" : "orphan";
}

export interface ReleasableMeta {
  labels?: Record<string, string> | null;
  annotations?: Record<string, string> | null;
  ownerReferences?: OwnerReferenceLike[] | null;
}

/** True when a reference points at this rollout (by uid; by name only when it has no uid). */
function refersTo(ref: OwnerReferenceLike, rollout: RolloutMetaLike): boolean {
  if (ref.kind !== "StatefulsetRollout") return false;
  if (ref.uid && rollout.uid) return ref.uid === rollout.uid;
  return ref.name === rollout.name;
}

/** Whether this rollout is among the object's owners (controller or not). */
export function isReleasable(meta: ReleasableMeta | undefined, rollout: RolloutMetaLike): boolean {
  return (meta?.ownerReferences ?? []).some((ref) => ref !== null && typeof ref === "object" && refersTo(ref, rollout));
}

/**
 * The metadata of a StatefulSet or PDB once this rollout lets go of it, or undefined when it is
 * left as it is. It is this rollout's when an ownerReference points at the rollout, or — after
 * the garbage collector has already removed that reference (`--cascade=orphan`) — when its
 * bulkhead.dev/rollout label names the rollout. An object that never was this rollout's (a
 * refused StatefulSet, say) is never touched.
 *   - orphan: the references to the rollout, the managed and rollout labels, the template hash
 *     and the saved revisionHistoryLimit are removed; everything else is kept.
 *   - cascade: an object still referencing the rollout is left for the garbage collector; one
 *     already orphaned by it is stripped as for orphan.
 */
export function releasedMetadata(
  meta: ReleasableMeta,
  rollout: RolloutMetaLike,
  mode: ReleaseMode = "orphan",
): Required<ReleasableMeta> | undefined {
  const before = meta.ownerReferences ?? [];
  const owners = before.filter((ref) => !(ref !== null && typeof ref === "object" && refersTo(ref, rollout)));
  const referenced = owners.length !== before.length;
  const labels = { ...(meta.labels ?? {}) };
  if (!referenced && labels[ROLLOUT_LABEL] !== rollout.name) return undefined;
  if (referenced && mode === "cascade") return undefined;
  const annotations = { ...(meta.annotations ?? {}) };
  let changed = referenced;
  // Labels naming another rollout are that rollout's business.
  const labelsOurs = labels[ROLLOUT_LABEL] === undefined || labels[ROLLOUT_LABEL] === rollout.name;
  for (const key of labelsOurs ? [MANAGED_LABEL, ROLLOUT_LABEL] : []) {
    if (key in labels) {
      delete labels[key];
      changed = true;
    }
  }
  for (const key of [TEMPLATE_HASH_ANNOTATION, REVISION_HISTORY_ANNOTATION]) {
    if (key in annotations) {
      delete annotations[key];
      changed = true;
    }
  }
  return changed ? { labels, annotations, ownerReferences: owners } : undefined;
}

/**
 * The revisionHistoryLimit a released StatefulSet gets back: the one saved when a split raised
 * it (api/revisions.ts), since nothing keeps the split's history for Bulkhead any more.
 * Undefined: leave it as it is.
 */
export function releasedRevisionHistoryLimit(
  annotations: Record<string, string> | null | undefined,
): number | undefined {
  return revisionHistoryChange(false, { annotations: annotations ?? {} })?.revisionHistoryLimit;
}
