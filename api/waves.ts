// Wave planning: which old-revision pods the next wave moves to the update revision.
// Pure and deterministic so a restarted reconciler plans exactly what the previous one would.
//
// Order (documented contract, DESIGN.md §2):
//   1. unready old pods first — replacing them costs no availability, and a rollback must get
//      rid of stuck (crash-looping, Pending) pods without waiting for them to become Ready;
//   2. then highest ordinal first — the StatefulSet's own convention (RollingUpdate and
//      partition both move the highest ordinals first), so ordinal 0 (often a leader or seed)
//      moves last.
// Size: min(pods still to move, maxParallel) where only *ready* pods consume the PDB's
// disruptionsAllowed. The PDB Bulkhead writes has unhealthyPodEvictionPolicy AlwaysAllow, so
// the Eviction API also lets unready pods go regardless of the budget.

import { keptOrdinals } from "./revisions.js";
import type { RolloutStatus, Wave } from "./rollout.js";

export interface WavePod {
  name: string;
  ordinal: number;
  revision?: string;
  ready: boolean;
  terminating: boolean;
}

export interface WaveInput {
  replicas: number;
  /** Pods that should run the update revision: targetUpdatedCount(replicas, percent). */
  target: number;
  /** Ordinals already moved, in move order (status.updatedOrdinals, plus pods found on the update revision). */
  updatedOrdinals: readonly number[];
  updateRevision: string;
  pods: readonly WavePod[];
  /** The PDB's live status.disruptionsAllowed. */
  disruptionsAllowed: number;
  maxParallel?: number;
}

export type WaveLimit = "remaining" | "budget" | "maxParallel" | "candidates";

export interface WavePlan {
  /** Pods to move, in eviction order. */
  pods: WavePod[];
  /** Pods still to move before this wave (target − updated, never negative). */
  remaining: number;
  /** What stopped the wave from being larger. */
  limitedBy: WaveLimit;
}

/** Old pods that a forward wave may move: on another revision, not yet moved, not going away. */
export function forwardCandidates(
  input: Pick<WaveInput, "replicas" | "updatedOrdinals" | "updateRevision" | "pods">,
): WavePod[] {
  const moved = new Set(input.updatedOrdinals);
  return input.pods
    .filter(
      (p) =>
        p.ordinal < input.replicas && !moved.has(p.ordinal) && !p.terminating && p.revision !== input.updateRevision,
    )
    .sort(compareForEviction);
}

/** Unready first, then highest ordinal first. */
export function compareForEviction(a: WavePod, b: WavePod): number {
  if (a.ready !== b.ready) return a.ready ? 1 : -1;
  return b.ordinal - a.ordinal;
}

export function countUpdated(updatedOrdinals: readonly number[], replicas: number): number {
  return new Set(updatedOrdinals.filter((o) => o < replicas)).size;
}

export function planWave(input: WaveInput): WavePlan {
  const remaining = Math.max(0, input.target - countUpdated(input.updatedOrdinals, input.replicas));
  const candidates = forwardCandidates(input);
  return takeWithinBudget(candidates, remaining, input);
}

/**
 * Takes candidates in order up to min(remaining, maxParallel); an unready pod costs no budget
 * (its eviction removes nothing that is serving), a Ready one costs one disruption.
 */
function takeWithinBudget(
  candidates: readonly WavePod[],
  remaining: number,
  input: Pick<WaveInput, "disruptionsAllowed" | "maxParallel">,
): WavePlan {
  const cap = Math.min(remaining, input.maxParallel ?? Number.POSITIVE_INFINITY);
  let budget = Math.max(0, input.disruptionsAllowed);
  const chosen: WavePod[] = [];
  let limitedBy: WaveLimit = remaining === 0 ? "remaining" : "candidates";
  for (const pod of candidates) {
    if (chosen.length >= cap) break;
    if (pod.ready) {
      if (budget === 0) {
        limitedBy = "budget";
        break;
      }
      budget -= 1;
    }
    chosen.push(pod);
  }
  if (chosen.length === cap && chosen.length > 0) limitedBy = cap < remaining ? "maxParallel" : "remaining";
  return { pods: chosen, remaining, limitedBy };
}

/** Appends ordinals not yet present, keeping the order in which they were moved. */
export function appendOrdinals(list: readonly number[], add: readonly number[]): number[] {
  const out = [...new Set(list)];
  const seen = new Set(out);
  for (const o of add) {
    if (!seen.has(o)) {
      out.push(o);
      seen.add(o);
    }
  }
  return out;
}

/**
 * A wave that moves pods back to the current revision after percent was lowered: the moved
 * ordinals beyond the target, most recently moved first (unready ones first, free of budget).
 * Their ordinals leave status.updatedOrdinals before eviction, so pinning recreates them old.
 */
export function planBackWave(input: WaveInput): WavePlan {
  const kept = new Set(keptOrdinals(input.updatedOrdinals, input.replicas, input.target));
  const excess = [...new Set(input.updatedOrdinals)].filter((o) => o < input.replicas && !kept.has(o)).reverse();
  const byOrdinal = new Map(input.pods.map((p) => [p.ordinal, p]));
  const candidates = excess
    .map((o) => byOrdinal.get(o))
    .filter((p): p is WavePod => p !== undefined && !p.terminating && p.revision === input.updateRevision);
  // Stable sort keeps "most recently moved first" within each readiness group.
  candidates.sort((a, b) => (a.ready === b.ready ? 0 : a.ready ? 1 : -1));
  return takeWithinBudget(candidates, excess.length, input);
}

/**
 * The waves recorded and not yet completed, oldest first. A status written before waves were a
 * pipeline has only currentWave; it is the one wave in flight.
 */
export function wavesInFlight(status: RolloutStatus): Wave[] {
  if (status.wavesInFlight) return status.wavesInFlight;
  const wave = status.currentWave;
  return wave && !wave.completedAt ? [wave] : [];
}
