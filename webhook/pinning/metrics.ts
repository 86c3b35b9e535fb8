// Prometheus counters of revision pinning. Get-or-create, so several handlers (and tests) can
// share one registry.
import type { Registry } from "prom-client";
import { sharedCounter, sharedHistogram } from "../../adapters/metrics.js";

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
  /**
   * A create's live read of its rollout to confirm a cache answer (api/pinning.ts "confirm"); one
   * read may answer several creates. `waitedMs`: how long this create waited for it (a shared read
   * sent after it arrived: the gathering window and one read, or up to two reads when one was
   * already under way), on the handler's clock.
   */
  liveRead(result: "ok" | "failed", waitedMs: number): void;
}

const NAME = "bulkhead_pod_pinning_total";
const LIVE_READS = "bulkhead_pod_pinning_live_reads_total";
const LIVE_READ_WAIT = "bulkhead_pod_pinning_live_read_wait_seconds";

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
  const wait = sharedHistogram(registry, {
    name: LIVE_READ_WAIT,
    help: "How long a pod create waited for the live read that confirmed its pinning answer (part of /mutate/pod's latency; the read is bounded at 2 s).",
    // Up to the 2 s bound of a live read.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  return {
    outcome: (outcome, reason) => counter.inc({ outcome, reason }),
    liveRead: (result, waitedMs) => {
      live.inc({ result });
      wait.observe(Math.max(0, waitedMs) / 1000);
    },
  };
}
