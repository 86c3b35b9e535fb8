// The reconciler's Prometheus metrics, in one registry served on /metrics.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { ROLLOUT_PHASES, type RolloutPhase } from "../api/rollout.js";

export interface ReconcilerMetrics {
  registry: Registry;
  podsEvicted: Counter<"namespace" | "rollout">;
  evictionsBlocked: Counter<"namespace" | "rollout">;
  waveDuration: Histogram<"namespace" | "rollout">;
  reconcileDuration: Histogram<"outcome">;
  reconcileErrors: Counter<"namespace" | "rollout">;
  statusWrites: Counter<"outcome">;
  eventsSuppressed: Counter<"reason">;
  leader: Gauge;
}

/** `phases()` counts rollouts by phase at scrape time (from the informer cache). */
export function createMetrics(
  phases: () => Iterable<RolloutPhase | undefined>,
  withDefaults = true,
): ReconcilerMetrics {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: "bulkhead_reconciler_" });
  new Gauge({
    name: "bulkhead_rollouts",
    help: "StatefulsetRollouts by status.phase (Unknown: no status yet).",
    labelNames: ["phase"],
    registers: [registry],
    collect() {
      const counts = new Map<string, number>([...ROLLOUT_PHASES, "Unknown"].map((p) => [p, 0]));
      for (const phase of phases()) counts.set(phase ?? "Unknown", (counts.get(phase ?? "Unknown") ?? 0) + 1);
      for (const [phase, n] of counts) this.set({ phase }, n);
    },
  });
  return {
    registry,
    podsEvicted: new Counter({
      name: "bulkhead_pods_evicted_total",
      help: "Pods evicted by rollout waves.",
      labelNames: ["namespace", "rollout"],
      registers: [registry],
    }),
    evictionsBlocked: new Counter({
      name: "bulkhead_evictions_blocked_total",
      help: "Evictions refused with 429 (PodDisruptionBudget or leak guard): the wave waits.",
      labelNames: ["namespace", "rollout"],
      registers: [registry],
    }),
    waveDuration: new Histogram({
      name: "bulkhead_wave_duration_seconds",
      help: "From recording a wave to all its pods Ready on the goal revision.",
      labelNames: ["namespace", "rollout"],
      buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800],
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: "bulkhead_reconcile_duration_seconds",
      help: "Duration of one reconcile pass, by outcome (ok, error).",
      labelNames: ["outcome"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: "bulkhead_reconcile_errors_total",
      help: "Reconcile passes that failed (retried with backoff).",
      labelNames: ["namespace", "rollout"],
      registers: [registry],
    }),
    statusWrites: new Counter({
      name: "bulkhead_status_writes_total",
      help: "Rollout status writes by outcome (written, conflict: decided again on the fresh rollout, gone).",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    eventsSuppressed: new Counter({
      name: "bulkhead_reconciler_events_suppressed_total",
      help: "Events not written because the same rollout had one with the same reason within the window (EvictionBlocked: one per rollout per 5 minutes).",
      labelNames: ["reason"],
      registers: [registry],
    }),
    leader: new Gauge({
      name: "bulkhead_reconciler_leader",
      help: "1 while this replica holds the leader Lease.",
      registers: [registry],
    }),
  };
}
