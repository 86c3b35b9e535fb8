// /validate/statefulsetrollout (DESIGN.md §2): the pure parts of admitting a StatefulsetRollout.
// The webhook adds what needs I/O: the one-owner rule (api/ownership.ts) on a StatefulSet read
// from the cache and confirmed live, and the apiserver's own dry-run of the embedded StatefulSet.
import { checkBudget } from "./budget.js";
import { MAX_UNAVAILABLE_ANNOTATION } from "./labels.js";
import type { RolloutSpec } from "./rollout.js";

/**
 * The phases/percent rule. `phases` is a plan of percents to pass through; `percent` is where
 * the rollout stops (the reconciler caps each phase at percent and ends at the first phase that
 * reaches it: api/reconcile.ts effectivePercent). So phases must be strictly increasing, and the
 * last phase must be at least `percent` — otherwise the plan ends below percent and the rollout
 * would report RolloutDone with fewer pods moved than percent asks. Phases above percent are
 * allowed (lowering percent to hold or go back never has to rewrite the plan).
 * Returns what is wrong, or undefined.
 */
export function phasesProblem(percent: number, phases: readonly number[] | undefined): string | undefined {
  if (!phases || phases.length === 0) return undefined;
  for (let i = 1; i < phases.length; i++) {
    if (phases[i]! <= phases[i - 1]!) {
      return (
        `spec.phases must be strictly increasing, but [${phases.join(", ")}] has ${phases[i]} after ${phases[i - 1]}: ` +
        `list the percents in the order the rollout passes through them, e.g. [1, 50, 100]`
      );
    }
  }
  const last = phases[phases.length - 1]!;
  if (last < percent) {
    return (
      `spec.phases [${phases.join(", ")}] ends at ${last}% but spec.percent is ${percent}%: the rollout would stop at ${last}% ` +
      `and report done. Add ${percent} as the last phase, or set spec.percent to ${last}`
    );
  }
  return undefined;
}

/** How an install treats a serviceDiscovery health gate it cannot check (no Consul configured). */
export const UNCHECKED_HEALTH_GATE_MODES = ["refuse", "report"] as const;
export type UncheckedHealthGateMode = (typeof UNCHECKED_HEALTH_GATE_MODES)[number];

export interface HealthGateInstall {
  /** The reconciler has a Consul address (chart value consul.address). */
  consulConfigured: boolean;
  /** Chart value consul.uncheckedServiceDiscovery. */
  unchecked: UncheckedHealthGateMode;
}

/** The condition type the reconciler writes while a health gate the rollout asks for is not checked. */
export const HEALTH_GATE_UNCHECKED_CONDITION = "HealthGateUnchecked";

export type HealthGateVerdict =
  /** No serviceDiscovery, or Consul is configured: the gate is what the spec says. */
  | { verdict: "checked" }
  /** serviceDiscovery is set but nothing will check it. */
  | { verdict: "unchecked"; mode: UncheckedHealthGateMode; message: string };

/** One rule for the webhook (refuse or warn) and the reconciler (the HealthGateUnchecked condition). */
export function healthGateOf(
  spec: Pick<RolloutSpec, "serviceDiscovery">,
  install: HealthGateInstall,
): HealthGateVerdict {
  const sd = spec.serviceDiscovery;
  if (!sd || install.consulConfigured) return { verdict: "checked" };
  return {
    verdict: "unchecked",
    mode: install.unchecked,
    message:
      `spec.serviceDiscovery asks for a Consul health gate (dc ${sd.dc}, services ${sd.serviceNames.join(", ")}), but this Bulkhead ` +
      `install has no Consul configured, so waves would not wait for Consul health. Remove spec.serviceDiscovery, or ask the ` +
      `cluster admins to set the chart value consul.address` +
      (install.unchecked === "report"
        ? "; this install only reports it (consul.uncheckedServiceDiscovery: report)"
        : ""),
  };
}

/** Every budget a rollout can carry, checked with the one budget rule (api/budget.ts). */
export function budgetProblems(spec: Pick<RolloutSpec, "disruptionPolicy" | "statefulset">): string[] {
  const problems: string[] = [];
  if (spec.disruptionPolicy) {
    const verdict = checkBudget(spec.disruptionPolicy.maxUnavailable);
    if (!verdict.ok) problems.push(`spec.disruptionPolicy.maxUnavailable: ${verdict.problem}`);
  }
  const annotation = spec.statefulset.metadata?.annotations?.[MAX_UNAVAILABLE_ANNOTATION];
  if (annotation !== undefined) {
    const verdict = checkBudget(annotation);
    if (!verdict.ok)
      problems.push(`spec.statefulset.metadata.annotations["${MAX_UNAVAILABLE_ANNOTATION}"]: ${verdict.problem}`);
  }
  return problems;
}

export interface SpecVerdict {
  problems: string[];
  warnings: string[];
}

/**
 * The pure checks of a rollout spec. On UPDATE only what changed is judged again (`old` given),
 * so an edit such as pauseRequested: true is never refused for a rule added after the rollout
 * was stored.
 */
export function checkRolloutSpec(
  spec: RolloutSpec,
  old: RolloutSpec | undefined,
  install: HealthGateInstall,
): SpecVerdict {
  const problems: string[] = [];
  const warnings: string[] = [];
  const changed = (pick: (s: RolloutSpec) => unknown): boolean =>
    !old || JSON.stringify(pick(old)) !== JSON.stringify(pick(spec));

  if (changed((s) => [s.percent, s.phases])) {
    const problem = phasesProblem(spec.percent, spec.phases);
    if (problem) problems.push(problem);
  }
  if (changed((s) => [s.disruptionPolicy, s.statefulset.metadata?.annotations?.[MAX_UNAVAILABLE_ANNOTATION]])) {
    problems.push(...budgetProblems(spec));
  }
  if (changed((s) => s.serviceDiscovery)) {
    const gate = healthGateOf(spec, install);
    if (gate.verdict === "unchecked") (gate.mode === "refuse" ? problems : warnings).push(gate.message);
  }
  return { problems, warnings };
}

const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789";

/**
 * The name the embedded StatefulSet is dry-run under. A dry-run create under its own name would
 * fail with AlreadyExists whenever the StatefulSet exists (every update of a rollout), and a
 * dry-run update would be refused by /validate/statefulset (a template change by someone other
 * than the reconciler). So the webhook dry-runs a create under a name that exists nowhere.
 * The apiserver's checks that depend on the name look at its characters, its length and its
 * dot-separated labels (DNS-1123 subdomain; pod names and hostnames are derived from it): the
 * generated name keeps every '-' and '.' in place and replaces each letter or digit with a
 * random one, so it passes or fails those checks exactly as the real name does. A name that is
 * not a valid DNS subdomain is used as it is, so the apiserver reports it (it cannot exist).
 * `random` returns numbers in [0, 1).
 */
export function dryRunName(name: string, random: () => number): string {
  if (!DNS_SUBDOMAIN.test(name)) return name;
  return name.replace(/[a-z0-9]/g, () => ALNUM[Math.floor(random() * ALNUM.length)]!);
}
