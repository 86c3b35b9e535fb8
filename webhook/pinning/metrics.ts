// Prometheus counters of revision pinning. Get-or-create, so several handlers (and tests) can
// share one registry.
import type { Registry } from "prom-client";
import { sharedCounter } from "../../adapters/metrics.js";

/** What /mutate/pod did with a pod create. */
export type PinningOutcome =
  /** Rewritten to the old revision. */
  | "pinned"
  /** Already on the revision it should run: no patch. */
  | "unchanged"
  /** Nothing to pin: the ordinal should run the update revision, or no rollout governs the pod. */
  | "not-pinned"
  /** Should be pinned but could not be (old revision gone, pod shape unexpected): allowed unchanged. */
  | "pin-failed"
  /** Something the decision needs is missing (caches, StatefulSet, rollout): allowed unchanged. */
  | "fail-safe";

export interface PinningMetrics {
  outcome(outcome: PinningOutcome, reason: string): void;
  /** A create's live read of its rollout to confirm a cache answer (api/pinning.ts "confirm"); one read may answer several creates. */
  liveRead(result: "ok" | "failed"): void;
}

const NAME = "bulkhead_pod_pinning_total";
const LIVE_READS = "bulkhead_pod_pinning_live_reads_total";

export function podPinningMetrics(registry: Registry): PinningMetrics {
  const counter = sharedCounter(registry, {
    name: NAME,
    help: "Pod creates seen by revision pinning (/mutate/pod), by outcome and reason (dry runs excluded).",
    labelNames: ["outcome", "reason"],
  });
  const live = sharedCounter(registry, {
    name: LIVE_READS,
    help: "Pod creates whose pinning answer was confirmed with a live read of the StatefulsetRollout (creates that arrive together share one read), by result.",
    labelNames: ["result"],
  });
  return { outcome: (outcome, reason) => counter.inc({ outcome, reason }), liveRead: (result) => live.inc({ result }) };
}
