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
  return /^(0|[1-9][0-9]*)$/.test(rest) ? Number(rest) : undefined;
}

/** Pods on the new revision that `percent` asks for: ceil(replicas × percent / 100). */
export function targetUpdatedCount(replicas: number, percent: number): number {
  if (replicas <= 0 || percent <= 0) return 0;
  if (percent >= 100) return replicas;
  // Integer arithmetic: 1,000 × 7 / 100 must not become 70.00000000000001 and round up.
  return Math.ceil((replicas * percent) / 100);
}

export type DesiredRevision = "update" | "current";

/**
 * The revision an ordinal should run. An ordinal runs the update revision only once the
 * reconciler has moved it there (`status.updatedOrdinals`), or when there is nothing to pin
 * to (no rollout in flight, or the old revision is not known).
 */
export function desiredRevisionForOrdinal(rollout: StatefulsetRollout, ordinal: number): DesiredRevision {
  const status = rollout.status;
  if (!status?.currentRevision || !status.updateRevision) return "update";
  if (status.currentRevision === status.updateRevision) return "update";
  return status.updatedOrdinals?.includes(ordinal) ? "update" : "current";
}
