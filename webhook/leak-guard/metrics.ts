// Prometheus counters of the leak guard and the zone-aware group guard. Get-or-create, so the
// eviction and pod-delete handlers (and tests) can share one registry.
import type { Counter, Registry } from "prom-client";
import { type CounterSpec, sharedCounter } from "../../adapters/metrics.js";
import type { GroupGuardDecision } from "../../api/group-disruption.js";
import type { LeakGuardDecision } from "../../api/leak-guard.js";

export interface LeakGuardMetrics {
  /** One per real (non-dry-run) decision. */
  decision(namespace: string, rollout: string, decision: LeakGuardDecision): void;
}

type NameAndHelp = Omit<CounterSpec<never>, "labelNames">;

/**
 * A guard's two counters: its decisions by the subject's labels and `decision`, and its fail-safe
 * allows by `reason`, counted for every fail-safe allow whatever else the guard counts.
 */
function guardCounters<L extends string>(
  registry: Registry,
  subjectLabels: L[],
  spec: { decisions: NameAndHelp; failSafe: NameAndHelp },
): {
  decisions: Counter<L | "decision">;
  /** Reasons come from the guard's closed table (api/), never from the request: a bounded label set. */
  countFailSafe(
    decision: { verdict: "deny" | "flag" } | { verdict: "allow"; failSafe?: boolean; reason: string },
  ): void;
} {
  const decisions = sharedCounter(registry, { ...spec.decisions, labelNames: [...subjectLabels, "decision" as const] });
  const failSafe = sharedCounter(registry, { ...spec.failSafe, labelNames: ["reason"] });
  return {
    decisions,
    countFailSafe(decision) {
      if (decision.verdict === "allow" && decision.failSafe) failSafe.inc({ reason: decision.reason });
    },
  };
}

/** The `decision` label: denied, flagged, pinned (pin mode let an old pod go) or allowed. */
export function decisionLabel(decision: LeakGuardDecision): "denied" | "flagged" | "pinned" | "allowed" {
  if (decision.verdict === "deny") return "denied";
  if (decision.verdict === "flag") return "flagged";
  return decision.reason === "mode-pin" ? "pinned" : "allowed";
}

export function leakGuardMetrics(registry: Registry): LeakGuardMetrics {
  const { decisions, countFailSafe } = guardCounters(registry, ["namespace", "rollout"], {
    decisions: {
      name: "bulkhead_leak_guard_decisions_total",
      help: "Leak-guard decisions on evictions and pod deletes (dry runs excluded).",
    },
    failSafe: {
      name: "bulkhead_leak_guard_fail_safe_total",
      help: "Evictions and deletes allowed because the leak guard lacked what it needs (caches not synced, StatefulSet or rollout not found).",
    },
  });
  return {
    decision(namespace, rollout, decision) {
      decisions.inc({ namespace, rollout, decision: decisionLabel(decision) });
      countFailSafe(decision);
    },
  };
}

export interface GroupGuardMetrics {
  /** One per real (non-dry-run) decision on a pod of a group member. */
  decision(decision: GroupGuardDecision): void;
}

export function groupGuardMetrics(registry: Registry): GroupGuardMetrics {
  const { decisions, countFailSafe } = guardCounters(registry, ["namespace", "group"], {
    decisions: {
      name: "bulkhead_group_guard_decisions_total",
      help: "Zone-aware group guard decisions on evictions and deletes of pods of group members (dry runs excluded).",
    },
    failSafe: {
      name: "bulkhead_group_guard_fail_safe_total",
      help: "Evictions and deletes the group guard allowed because it lacked what it needs (caches not synced, StatefulSet, rollout or member not found).",
    },
  });
  return {
    decision(decision) {
      countFailSafe(decision);
      // Labels only from a rollout found in the cache that names a group: request fields are input.
      if (!decision.subject) return;
      decisions.inc({
        namespace: decision.subject.namespace,
        group: decision.subject.group,
        decision: decision.verdict === "deny" ? "denied" : "allowed",
      });
    },
  };
}
