// Prometheus counters of the leak guard and the zone-aware group guard. Get-or-create, so the
// eviction and pod-delete handlers (and tests) can share one registry.
import { Counter, type Registry } from "prom-client";
import type { GroupGuardDecision } from "../../api/group-disruption.js";
import type { AllowReason, LeakGuardDecision } from "../../api/leak-guard.js";

export interface LeakGuardMetrics {
  /** One per real (non-dry-run) decision. */
  decision(namespace: string, rollout: string, decision: LeakGuardDecision): void;
}

const DECISIONS = "bulkhead_leak_guard_decisions_total";
const FAIL_SAFE = "bulkhead_leak_guard_fail_safe_total";

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** The `decision` label: denied, flagged, pinned (pin mode let an old pod go) or allowed. */
export function decisionLabel(decision: LeakGuardDecision): "denied" | "flagged" | "pinned" | "allowed" {
  if (decision.verdict === "deny") return "denied";
  if (decision.verdict === "flag") return "flagged";
  return decision.reason === "mode-pin" ? "pinned" : "allowed";
}

export function leakGuardMetrics(registry: Registry): LeakGuardMetrics {
  const decisions = counter(
    registry,
    DECISIONS,
    "Leak-guard decisions on evictions and pod deletes (dry runs excluded).",
    ["namespace", "rollout", "decision"],
  );
  const failSafe = counter(
    registry,
    FAIL_SAFE,
    "Evictions and deletes allowed because the leak guard lacked what it needs (caches not synced, StatefulSet or rollout not found).",
    ["reason"],
  );
  return {
    decision(namespace, rollout, decision) {
      decisions.inc({ namespace, rollout, decision: decisionLabel(decision) });
      if (decision.verdict === "allow" && decision.failSafe)
        failSafe.inc({ reason: decision.reason satisfies AllowReason });
    },
  };
}

const GROUP_DECISIONS = "bulkhead_group_guard_decisions_total";
const GROUP_FAIL_SAFE = "bulkhead_group_guard_fail_safe_total";

export interface GroupGuardMetrics {
  /** One per real (non-dry-run) decision on a pod of a group member. */
  decision(decision: GroupGuardDecision): void;
}

export function groupGuardMetrics(registry: Registry): GroupGuardMetrics {
  const decisions = counter(
    registry,
    GROUP_DECISIONS,
    "Zone-aware group guard decisions on evictions and deletes of pods of group members (dry runs excluded).",
    ["namespace", "group", "decision"],
  );
  const failSafe = counter(
    registry,
    GROUP_FAIL_SAFE,
    "Evictions and deletes the group guard allowed because it lacked what it needs (caches not synced, StatefulSet, rollout or member not found).",
    ["reason"],
  );
  return {
    decision(decision) {
      if (decision.verdict === "allow" && decision.failSafe) failSafe.inc({ reason: decision.reason });
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
