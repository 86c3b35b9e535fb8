// What each `kubectl sroll` action changes on a StatefulsetRollout, and when it refuses. Pure:
// a parsed rollout in, a JSON merge patch (RFC 7386) or a message out. The CLI sends the patch
// as application/merge-patch+json; the patch carries the resourceVersion the decision was made
// on, so the apiserver refuses it (409) if the rollout changed in between, and the CLI decides again.
import { phasePlan } from "../api/reconcile.js";
import { templateImages } from "../api/history.js";
import { isTerminal } from "../api/rollout.js";
import type { StatefulsetRollout } from "../api/rollout.js";

export type JsonObject = { [key: string]: unknown };

export interface ActionPlan {
  patch: JsonObject;
  /** What changes, one line each, e.g. "spec.pauseRequested: false → true". */
  changes: string[];
  /** Something the user should know that is not a refusal. */
  notes: string[];
}

/** A refusal; `unchanged`: the rollout is already as asked (nothing to do, not a failure of a group action). */
export type ActionResult = { ok: true; plan: ActionPlan } | { ok: false; error: string; unchanged?: boolean };

const refuse = (error: string): ActionResult => ({ ok: false, error });
const alreadySo = (error: string): ActionResult => ({ ok: false, error, unchanged: true });

function describe(rollout: StatefulsetRollout): string {
  return `statefulsetrollout ${rollout.metadata.name}`;
}

function phaseOf(rollout: StatefulsetRollout): string {
  return rollout.status?.phase ?? "Pending";
}

/** Wraps a spec patch with the resourceVersion precondition. */
function specPatch(rollout: StatefulsetRollout, spec: JsonObject): JsonObject {
  const patch: JsonObject = { spec };
  if (rollout.metadata.resourceVersion) patch.metadata = { resourceVersion: rollout.metadata.resourceVersion };
  return patch;
}

const show = (value: unknown): string => (value === undefined ? "(unset)" : JSON.stringify(value));

export function pausePlan(rollout: StatefulsetRollout): ActionResult {
  if (rollout.spec.pauseRequested)
    return alreadySo(
      `${describe(rollout)} is already paused (spec.pauseRequested is true); resume it with: kubectl sroll resume ${rollout.metadata.name}`,
    );
  const phase = phaseOf(rollout);
  const percent = rollout.spec.percent;
  if (phase === "RolloutDone" && percent >= 100)
    return alreadySo(`${describe(rollout)} is RolloutDone at 100%: there is nothing to pause`);
  if (phase === "RolloutFailed")
    return refuse(
      `${describe(rollout)} has failed, so nothing is rolling: retry it (kubectl sroll retry) or roll it back (kubectl sroll rollback)`,
    );
  // Done at a phase below 100%: pausing holds the split, so a promote waits for resume.
  const note =
    phase === "RolloutDone"
      ? `the rollout stays at ${percent}%: a promote waits until it is resumed; leak protection keeps the split`
      : "the rollout stops after the current wave; leak protection keeps the split while it is paused";
  return {
    ok: true,
    plan: {
      patch: specPatch(rollout, { pauseRequested: true }),
      changes: ["spec.pauseRequested: false → true"],
      notes: [note],
    },
  };
}

export function resumePlan(rollout: StatefulsetRollout): ActionResult {
  if (!rollout.spec.pauseRequested) {
    const still = rollout.status?.paused ? " (status.paused is still true: the reconciler has not caught up yet)" : "";
    return alreadySo(`${describe(rollout)} is not paused: spec.pauseRequested is false${still}`);
  }
  return {
    ok: true,
    plan: {
      patch: specPatch(rollout, { pauseRequested: false }),
      changes: ["spec.pauseRequested: true → false"],
      notes: [],
    },
  };
}

/** Parses a PERCENT argument: a whole number 0-100, with or without a trailing %. */
export function parsePercent(text: string): { ok: true; value: number } | { ok: false; error: string } {
  const match = /^(\d{1,3})%?$/.exec(text.trim());
  const value = match ? Number(match[1]) : NaN;
  if (!Number.isInteger(value) || value < 0 || value > 100) {
    return { ok: false, error: `"${text}" is not a percent: give a whole number from 0 to 100, e.g. 50` };
  }
  return { ok: true, value };
}

/** The next percent of spec.phases above the current one, if any. */
export function nextPhase(rollout: StatefulsetRollout): number | undefined {
  return rollout.spec.phases?.find((p) => p > rollout.spec.percent);
}

export function promotePlan(rollout: StatefulsetRollout, target?: number): ActionResult {
  const name = rollout.metadata.name;
  const current = rollout.spec.percent;
  if (phaseOf(rollout) === "RolloutFailed") {
    return refuse(
      `${describe(rollout)} has failed (${rollout.status?.reason ?? "no reason recorded"}): promoting it would roll the failing version further; retry it (kubectl sroll retry ${name}) or roll it back (kubectl sroll rollback ${name})`,
    );
  }
  let percent = target;
  if (percent === undefined) {
    if (!rollout.spec.phases || rollout.spec.phases.length === 0) {
      return refuse(
        `${describe(rollout)} has no spec.phases, so there is no next phase: give the percent, e.g. kubectl sroll promote ${name} 100`,
      );
    }
    percent = nextPhase(rollout);
    if (percent === undefined) {
      // The reconciler walks spec.phases up to spec.percent by itself (status.phaseIndex).
      // status.phaseIndex indexes the reconciler's plan (api/reconcile.ts phasePlan), not spec.phases.
      const plan = phasePlan(rollout.spec);
      const index = rollout.status?.phaseIndex;
      const at = index === undefined ? undefined : plan[Math.min(index, plan.length - 1)];
      if (at !== undefined && at < current && !isTerminal(rollout.status?.phase)) {
        const wait =
          rollout.spec.autoPromoteSeconds === undefined
            ? ""
            : ` after autoPromoteSeconds (${rollout.spec.autoPromoteSeconds}s) at each`;
        return refuse(
          `${describe(rollout)} already heads for ${current}% and moves through its phases by itself${wait}; it is at phase ${Math.min(index as number, plan.length - 1) + 1} of ${plan.length} (${at}%)`,
        );
      }
      return refuse(
        `${describe(rollout)} is already at its last phase (${current}% of phases ${rollout.spec.phases.join(", ")})`,
      );
    }
  }
  if (percent === current) return alreadySo(`${describe(rollout)} is already at ${current}%`);
  if (percent < current) {
    return refuse(
      `promote only moves forward: ${describe(rollout)} is at ${current}%, ${percent}% is lower (to undo the rollout, use kubectl sroll rollback ${name})`,
    );
  }
  const notes: string[] = [];
  if (rollout.spec.pauseRequested)
    notes.push(`the rollout is paused; it moves towards ${percent}% once resumed (kubectl sroll resume ${name})`);
  return {
    ok: true,
    plan: { patch: specPatch(rollout, { percent }), changes: [`spec.percent: ${current} → ${percent}`], notes },
  };
}

/**
 * The JSON merge patch that turns `from` into `to`: keys missing from `to` become null, objects
 * recurse, anything else (arrays included) is replaced whole. RFC 7386 cannot set a value to
 * null, which Kubernetes objects never need.
 */
export function mergePatchBetween(from: unknown, to: unknown): unknown {
  if (!isObject(from) || !isObject(to)) return structuredClone(to);
  const patch: JsonObject = {};
  for (const key of Object.keys(from)) if (!(key in to)) patch[key] = null;
  for (const [key, value] of Object.entries(to)) {
    if (deepEqual(from[key], value)) continue;
    patch[key] = mergePatchBetween(from[key], value);
  }
  return patch;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  }
  if (!isObject(a) || !isObject(b)) return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => k in b && deepEqual(a[k], b[k]));
}

/** Dotted paths where two values differ (arrays compared whole), for "what changed" lines. */
export function changedPaths(from: unknown, to: unknown, prefix = ""): string[] {
  if (deepEqual(from, to)) return [];
  if (!isObject(from) || !isObject(to)) return [prefix || "(whole object)"];
  const keys = [...new Set([...Object.keys(from), ...Object.keys(to)])];
  return keys.flatMap((k) => changedPaths(from[k], to[k], prefix ? `${prefix}.${k}` : k));
}

/** The container images of a pod template, for messages: "app=registry/app:1.2". */
export function rollbackPlan(rollout: StatefulsetRollout, newIdentity: string): ActionResult {
  const previous = rollout.status?.previousTemplate;
  if (!previous || Object.keys(previous).length === 0) {
    return refuse(
      `${describe(rollout)} has no previous template to roll back to (status.previousTemplate is empty: the template has not changed since the rollout was created)`,
    );
  }
  const current = rollout.spec.statefulset.spec.template;
  if (deepEqual(previous, current)) {
    return refuse(
      `${describe(rollout)} already runs its previous template (${templateImages(current)}): nothing to roll back`,
    );
  }
  const spec: JsonObject = {
    statefulset: { spec: { template: mergePatchBetween(current, previous) } },
    rolloutIdentity: newIdentity,
  };
  const changes = [`spec.statefulset.spec.template: ${templateImages(current)} → ${templateImages(previous)}`];
  // A rollback replaces every pod: a split or paused rollout would keep the bad version running.
  if (rollout.spec.percent !== 100) {
    spec.percent = 100;
    changes.push(`spec.percent: ${rollout.spec.percent} → 100`);
  }
  if (rollout.spec.pauseRequested) {
    spec.pauseRequested = false;
    changes.push("spec.pauseRequested: true → false");
  }
  changes.push(`spec.rolloutIdentity: ${show(rollout.spec.rolloutIdentity)} → ${JSON.stringify(newIdentity)}`);
  return { ok: true, plan: { patch: specPatch(rollout, spec), changes, notes: [] } };
}

export function retryPlan(rollout: StatefulsetRollout, newIdentity: string): ActionResult {
  const phase = phaseOf(rollout);
  if (phase !== "RolloutFailed") {
    return refuse(
      `${describe(rollout)} is ${phase}, not RolloutFailed: retry restarts a failed rollout${phase === "Paused" ? ` (to continue a paused one: kubectl sroll resume ${rollout.metadata.name})` : ""}`,
    );
  }
  if (newIdentity === rollout.spec.rolloutIdentity)
    return refuse(`the new rollout identity must differ from the current one (${newIdentity})`);
  return {
    ok: true,
    plan: {
      patch: specPatch(rollout, { rolloutIdentity: newIdentity }),
      changes: [`spec.rolloutIdentity: ${show(rollout.spec.rolloutIdentity)} → ${JSON.stringify(newIdentity)}`],
      notes: [],
    },
  };
}

/** How `apply` writes a rendered rollout over what is in the cluster. */
export type ApplyPlan =
  | { action: "create"; object: JsonObject }
  | { action: "update"; object: JsonObject; changes: string[]; newRollout: boolean }
  | { action: "unchanged" };

/**
 * A new StatefulSet spec is a new rollout: it starts at the rendered percent, unpaused, with a
 * new identity. The same StatefulSet spec only changes settings (channel, phases, ...), so the
 * rollout's progress, pause and identity are kept: re-applying a config never restarts it.
 * `specDefaults` fills the schema's defaults so that API-side defaults do not count as changes.
 */
export function applyPlan(
  existing: StatefulsetRollout | undefined,
  rendered: JsonObject & { spec: JsonObject; metadata: JsonObject },
  newIdentity: string,
  specDefaults: (spec: JsonObject) => JsonObject,
): ApplyPlan {
  if (!existing) {
    const object = structuredClone(rendered);
    object.spec.rolloutIdentity ??= newIdentity;
    return { action: "create", object };
  }
  const spec = structuredClone(rendered.spec);
  const newRollout = !deepEqual(specDefaults(spec).statefulset, specDefaults(existing.spec as JsonObject).statefulset);
  if (newRollout) {
    spec.rolloutIdentity ??= newIdentity;
  } else {
    spec.percent = existing.spec.percent;
    spec.pauseRequested = existing.spec.pauseRequested;
    if (existing.spec.rolloutIdentity !== undefined && rendered.spec.rolloutIdentity === undefined)
      spec.rolloutIdentity = existing.spec.rolloutIdentity;
  }
  const before = specDefaults(existing.spec as JsonObject);
  const after = specDefaults(spec);
  if (deepEqual(before, after)) return { action: "unchanged" };
  // Only what a PUT needs: the precondition, and labels/annotations others may have added.
  const metadata: JsonObject = {
    name: existing.metadata.name,
    ...(existing.metadata.namespace ? { namespace: existing.metadata.namespace } : {}),
    ...(existing.metadata.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}),
    labels: {
      ...(existing.metadata.labels ?? {}),
      ...((rendered.metadata.labels as Record<string, string> | undefined) ?? {}),
    },
    ...(existing.metadata.annotations ? { annotations: { ...existing.metadata.annotations } } : {}),
  };
  const object: JsonObject = { ...structuredClone(rendered), metadata, spec };
  return { action: "update", object, changes: changedPaths(before, after, "spec"), newRollout };
}

// --- rollout groups (issue 16): one plan per member ---------------------------------------------

/** What a group action did to one member. */
export type MemberOutcome =
  | { name: string; outcome: "changed"; plan: ActionPlan }
  /** Already as asked (e.g. already paused): nothing to do. */
  | { name: string; outcome: "unchanged"; reason: string }
  /** The action does not apply to this member as it is (e.g. promote of a failed rollout). */
  | { name: string; outcome: "refused"; reason: string }
  /** The API failed for this member; whatever was changed on the others stays changed. */
  | { name: string; outcome: "error"; reason: string };

export function memberOutcome(name: string, result: ActionResult): MemberOutcome {
  if (result.ok) return { name, outcome: "changed", plan: result.plan };
  return { name, outcome: result.unchanged ? "unchanged" : "refused", reason: result.error };
}

/**
 * The report of a group action, member by member in group order, and whether it failed: it
 * fails when a member was refused or could not be written, and says which members were changed
 * regardless, so that nothing is half-applied silently.
 */
export function groupReport(
  group: string,
  verb: string,
  outcomes: readonly MemberOutcome[],
): { lines: string[]; notes: string[]; failed: boolean } {
  const lines: string[] = [];
  const notes: string[] = [];
  for (const o of outcomes) {
    if (o.outcome === "changed") {
      lines.push(`statefulsetrollout.bulkhead.dev/${o.name} ${verb}`, ...o.plan.changes.map((c) => `  ${c}`));
      notes.push(...o.plan.notes.map((n) => `${o.name}: ${n}`));
    } else if (o.outcome === "unchanged") {
      lines.push(`statefulsetrollout.bulkhead.dev/${o.name} unchanged: ${o.reason}`);
    } else {
      lines.push(`statefulsetrollout.bulkhead.dev/${o.name} NOT ${verb}: ${o.reason}`);
    }
  }
  const changed = outcomes.filter((o) => o.outcome === "changed").map((o) => o.name);
  const bad = outcomes.filter((o) => o.outcome === "refused" || o.outcome === "error").map((o) => o.name);
  const failed = bad.length > 0;
  if (failed)
    lines.push(
      `group ${group}: ${changed.length} of ${outcomes.length} member(s) ${verb}` +
        `${changed.length > 0 ? ` (${changed.join(", ")}; they stay ${verb})` : ""}; not ${verb}: ${bad.join(", ")}`,
    );
  else
    lines.push(
      `group ${group}: ${changed.length} of ${outcomes.length} member(s) ${verb}${changed.length < outcomes.length ? "; the others needed nothing" : ""}`,
    );
  return { lines, notes, failed };
}
