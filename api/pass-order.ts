// The order in which a reconciler that has just started (or just became leader) gives every
// rollout its first pass. List order is alphabetical: a reconciler restarted more often than it
// gets through all rollouts (a crash loop) would serve the same ones every time and starve the
// rest. Rollouts with work to do come first, the one whose status was written longest ago first,
// so each restart starts with those that have waited longest.
import { isTerminal, type RolloutPhase } from "./rollout.js";

/** The fields read, as a rollout comes from the cache (not yet parsed). */
export interface RolloutForOrder {
  metadata?: { namespace?: string; name?: string; generation?: number };
  status?: { phase?: RolloutPhase; observedGeneration?: number; lastUpdated?: string };
}

/** Idle: a finished rollout whose spec has not changed since. */
function idle(r: RolloutForOrder): boolean {
  return isTerminal(r.status?.phase) && r.status?.observedGeneration === r.metadata?.generation;
}

/** Milliseconds since the epoch of status.lastUpdated; never written (or unreadable) counts as oldest. */
function lastWritten(r: RolloutForOrder): number {
  const at = Date.parse(r.status?.lastUpdated ?? "");
  return Number.isNaN(at) ? -Infinity : at;
}

/** "namespace/name" keys: rollouts with work first, each group by status last written, oldest first. */
export function startupPassOrder(rollouts: readonly RolloutForOrder[]): string[] {
  return rollouts
    .map((r) => ({
      key: `${r.metadata?.namespace ?? ""}/${r.metadata?.name ?? ""}`,
      idle: idle(r),
      at: lastWritten(r),
    }))
    .sort((a, b) => Number(a.idle) - Number(b.idle) || a.at - b.at || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((r) => r.key);
}
