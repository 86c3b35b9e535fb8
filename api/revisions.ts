// Which revision a pod runs and which it should run. The webhook (revision pinning, leak
// guard) and the reconciler (waves) both read these, so they cannot disagree (DESIGN.md §4).
import { REVISION_LABEL } from "./labels.js";
import type { StatefulsetRollout } from "./rollout.js";

export interface PodLike {
  metadata?: { name?: string; labels?: Record<string, string> };
}

export function podRevision(pod: PodLike): string | undefined {
  return pod.metadata?.labels?.[REVISION_LABEL];
}

/** The ordinal of a StatefulSet pod ("web-12" of "web" is 12), or undefined if the name does not fit. */
export function podOrdinal(podName: string, statefulSetName: string): number | undefined {
  const prefix = `${statefulSetName}-`;
  if (!podName.startsWith(prefix)) return undefined;
  const rest = podName.slice(prefix.length);
  if (!/^(0|[1-9][0-9]{0,9})$/.test(rest)) return undefined;
  const ordinal = Number(rest);
  return ordinal <= ORDINAL_MAX ? ordinal : undefined;
}

/**
 * The largest ordinal a StatefulSet's pod can have (spec.ordinals.start and replicas are int32);
 * a pod named beyond it is no StatefulSet's pod.
 */
export const ORDINAL_MAX = 2 * 2_147_483_647;

/** Pods on the new revision that `percent` asks for: ceil(replicas × percent / 100). */
export function targetUpdatedCount(replicas: number, percent: number): number {
  if (replicas <= 0 || percent <= 0) return 0;
  if (percent >= 100) return replicas;
  // Integer arithmetic: 1,000 × 7 / 100 must not become 70.00000000000001 and round up.
  return Math.ceil((replicas * percent) / 100);
}

export type DesiredRevision = "update" | "current";

/** Why an ordinal should run the revision it should; logged and shown in Events. */
export type RevisionReason =
  /** No rollout in flight (or not yet recorded): nothing to pin to. */
  | "no-split"
  /** The rollout finished at 100%: every ordinal, including new ones from a scale-up, is new. */
  | "rollout-done"
  /**
   * A rollback to 100% (status.rollback): the revision being left is the bad one, so a lost pod
   * may come back on the good revision at once; the reconciler counts it as moved.
   */
  | "rollback"
  /** The old ControllerRevision is gone (status.revisionMissing): pinning cannot rebuild the old pod. */
  | "current-revision-missing"
  /** The reconciler moved this ordinal in a wave, and the target still wants it there. */
  | "moved"
  /** Moved earlier, but `percent` was lowered below it: it goes back to the old revision. */
  | "above-target"
  /** Not moved by any wave: it stays on the old revision (rollout partial, paused or failed). */
  | "not-moved";

export interface RevisionDecision {
  revision: DesiredRevision;
  reason: RevisionReason;
}

/**
 * How many moved ordinals the spec still allows on the update revision, or undefined for "no
 * cap". It follows `spec.percent` at once, so that lowering the percent pins the excess pods
 * even before the reconciler writes status. With `spec.phases` the reconciler owns the current
 * step, so no cap is derived here and `status.updatedOrdinals` alone decides.
 */
export function updatedOrdinalCap(rollout: StatefulsetRollout): number | undefined {
  const spec = rollout.spec as Partial<StatefulsetRollout["spec"]> | undefined;
  if (spec?.phases && spec.phases.length > 0) return undefined;
  return targetUpdatedCount(specReplicas(rollout), spec?.percent ?? 100);
}

function specReplicas(rollout: StatefulsetRollout): number {
  return (rollout.spec as Partial<StatefulsetRollout["spec"]> | undefined)?.statefulset?.spec?.replicas ?? 1;
}

/**
 * The moved ordinals that stay on the update revision: the first `cap` of `updatedOrdinals` in the
 * order they were moved, below `replicas` (a scale-down's removed ordinals neither count nor move
 * back); no cap keeps them all. When the percent is lowered the most recently moved go back
 * first, undoing the last waves first. The one rule for both the pinning webhook (with the cap
 * updatedOrdinalCap gives) and the reconciler's waves (with the target it works towards).
 */
export function keptOrdinals(updatedOrdinals: readonly number[], replicas: number, cap?: number): number[] {
  const moved = [...new Set(updatedOrdinals)].filter((o) => o < replicas);
  return cap === undefined ? moved : moved.slice(0, Math.max(0, cap));
}

/** Whether there is an old revision to pin to: both revisions known and different. */
export function isSplitRecorded(rollout: StatefulsetRollout): boolean {
  const status = rollout.status;
  return Boolean(status?.currentRevision && status.updateRevision && status.currentRevision !== status.updateRevision);
}

/**
 * The revision an ordinal should run, and why. An ordinal runs the update revision only once
 * the reconciler has moved it there (`status.updatedOrdinals`) and the spec's target still
 * allows it, or when there is nothing to pin to. A failed or paused rollout changes nothing
 * here: moved ordinals stay moved, the others stay pinned, until a resume or a rollback (a new
 * rollout whose update revision is the previous template) says otherwise.
 */
export function decideRevisionForOrdinal(rollout: StatefulsetRollout, ordinal: number): RevisionDecision {
  const status = rollout.status;
  if (!status || !isSplitRecorded(rollout)) return { revision: "update", reason: "no-split" };
  if (status.revisionMissing !== undefined && status.revisionMissing === status.currentRevision) {
    return { revision: "update", reason: "current-revision-missing" };
  }
  const fullTarget = (rollout.spec?.percent ?? 100) >= 100;
  if (status.phase === "RolloutDone" && fullTarget) return { revision: "update", reason: "rollout-done" };
  if (status.rollback === true && fullTarget) return { revision: "update", reason: "rollback" };
  if (!(status.updatedOrdinals ?? []).includes(ordinal)) return { revision: "current", reason: "not-moved" };
  const kept = keptOrdinals(status.updatedOrdinals ?? [], specReplicas(rollout), updatedOrdinalCap(rollout));
  return kept.includes(ordinal)
    ? { revision: "update", reason: "moved" }
    : { revision: "current", reason: "above-target" };
}

/** The revision an ordinal should run (see decideRevisionForOrdinal for the rules). */
export function desiredRevisionForOrdinal(rollout: StatefulsetRollout, ordinal: number): DesiredRevision {
  return decideRevisionForOrdinal(rollout, ordinal).revision;
}

/**
 * On the StatefulSet while a rollout is split: its revisionHistoryLimit before Bulkhead raised
 * it, restored when the split ends.
 */
export const REVISION_HISTORY_ANNOTATION = "bulkhead.dev/revision-history-limit";
/** Kubernetes' default revisionHistoryLimit for apps/v1 StatefulSets. */
export const DEFAULT_REVISION_HISTORY_LIMIT = 10;
/** While split: keep every revision (int32 max; the API refuses a negative "unlimited"). */
export const SPLIT_REVISION_HISTORY_LIMIT = 2_147_483_647;

export interface RevisionHistoryChange {
  revisionHistoryLimit: number;
  /** The annotation's new value; null: remove it. */
  keepAnnotation: string | null;
}

/**
 * The StatefulSet controller's history truncation (truncateHistory in Kubernetes'
 * pkg/controller/statefulset) keeps as "live" only the revisions named by its own
 * status.currentRevision and status.updateRevision and those of pods that exist at that moment;
 * it deletes the oldest others beyond spec.revisionHistoryLimit. The rollout's old revision is
 * none of these once no pod runs it — the one old pod being recreated (pinning needs the
 * revision right then), or every old pod moved and `percent` lowered (a back wave needs it) —
 * and under OnDelete the controller's status.currentRevision stays on the first revision ever,
 * not the rollout's. So while a rollout is split its limit is raised to keep every revision,
 * and the previous value is restored when the split ends. Undefined: nothing to change.
 */
export function revisionHistoryChange(
  split: boolean,
  live: { revisionHistoryLimit?: number; annotations: Record<string, string> },
): RevisionHistoryChange | undefined {
  const saved = live.annotations[REVISION_HISTORY_ANNOTATION];
  if (split) {
    if (live.revisionHistoryLimit === SPLIT_REVISION_HISTORY_LIMIT) return undefined;
    return {
      revisionHistoryLimit: SPLIT_REVISION_HISTORY_LIMIT,
      keepAnnotation: saved ?? String(live.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT),
    };
  }
  if (saved === undefined) return undefined;
  const restored =
    /^(0|[1-9][0-9]{0,9})$/.test(saved) && Number(saved) <= SPLIT_REVISION_HISTORY_LIMIT
      ? Number(saved)
      : DEFAULT_REVISION_HISTORY_LIMIT;
  return { revisionHistoryLimit: restored, keepAnnotation: null };
}
