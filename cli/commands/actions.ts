// pause, resume, promote, rollback, retry: read the rollout, let cli/actions-plan.ts decide,
// send its merge patch (which carries the resourceVersion it was decided on), and on a 409
// read again and decide again: the refusal or the change is always about the current object.
import type { Command } from "commander";
import { Option } from "commander";
import { isConflict } from "../../adapters/kube/client.js";
import {
  groupReport,
  memberOutcome,
  parsePercent,
  pausePlan,
  promotePlan,
  resumePlan,
  retryPlan,
  rollbackPlan,
} from "../actions-plan.js";
import type { ActionPlan, ActionResult, MemberOutcome } from "../actions-plan.js";
import { groupRollouts } from "../../api/groups.js";
import type { StatefulsetRollout } from "../../api/rollout.js";
import { apiError, CliError, rolloutRef, usageError } from "../errors.js";
import type { Cluster } from "../deps.js";
import { formatObject, toLoaded } from "../session.js";
import type { ObjectFormat, Session } from "../session.js";

const ATTEMPTS = 3;

interface ActionOptions {
  output?: ObjectFormat;
  group?: string;
}

export type AppliedAction = { ok: true; plan: ActionPlan; updated: unknown } | { ok: false; error: string };

/**
 * Reads the rollout, lets `decide` (cli/actions-plan.ts) decide on it and sends its patch; on a
 * 409 reads and decides again. A refusal comes back as { ok: false }; API failures throw.
 * The CLI actions and the dashboard's buttons both go through here.
 */
export async function decideAndPatch(
  cluster: Cluster,
  namespace: string,
  name: string,
  decide: (rollout: StatefulsetRollout) => ActionResult,
): Promise<AppliedAction> {
  const what = rolloutRef(namespace, name);
  for (let attempt = 1; ; attempt++) {
    let raw: unknown;
    try {
      raw = await cluster.rollouts.get(namespace, name);
    } catch (err) {
      throw apiError(err, { what, ...(cluster.server ? { server: cluster.server } : {}) });
    }
    const decision = decide(toLoaded(raw, what).rollout);
    if (!decision.ok) return decision;
    try {
      const updated = await cluster.rollouts.patch(namespace, name, decision.plan.patch);
      return { ok: true, plan: decision.plan, updated };
    } catch (err) {
      if (isConflict(err) && attempt < ATTEMPTS) continue;
      throw apiError(err, { what });
    }
  }
}

/** Decides on the current object and patches; `verb` is the past tense for the message. */
export async function runAction(
  session: Session,
  name: string,
  verb: string,
  decide: (rollout: StatefulsetRollout) => ActionResult,
  options: ActionOptions,
): Promise<void> {
  const result = await decideAndPatch(session.cluster(), session.namespace(), name, decide);
  if (!result.ok) throw new CliError(result.error);
  if (options.output) {
    session.out(formatObject(result.updated, options.output));
    return;
  }
  const lines = [`statefulsetrollout.bulkhead.dev/${name} ${verb}`, ...result.plan.changes.map((c) => `  ${c}`)];
  session.out(lines.join("\n") + "\n");
  for (const note of result.plan.notes) session.err(`note: ${note}\n`);
}

/**
 * The action on every member of a rollout group (api/groups.ts groupMembers), in group order:
 * one plan per member, each decided on that member as read now (decideAndPatch). A member that
 * is refused or cannot be written does not stop the others; the report names every member and
 * the command fails (exit 1) if any was refused or failed.
 */
export async function runGroupAction(
  session: Session,
  group: string,
  verb: string,
  decide: (rollout: StatefulsetRollout) => ActionResult,
): Promise<void> {
  const namespace = session.namespace();
  const items = await session.call(rolloutRef(namespace), (c) => c.rollouts.list(namespace));
  const loaded = items.map((raw, i) => toLoaded(raw, `item ${i} of the list`).rollout);
  const members = groupRollouts(loaded, namespace, group);
  if (members.length === 0)
    throw new CliError(
      `no StatefulsetRollout in namespace ${namespace} names group ${group} (spec.group.name); list them with: kubectl sroll list -n ${namespace}`,
    );
  const outcomes: MemberOutcome[] = [];
  for (const member of members) {
    const name = member.metadata.name;
    try {
      outcomes.push(memberOutcome(name, await decideAndPatch(session.cluster(), namespace, name, decide)));
    } catch (err) {
      outcomes.push({ name, outcome: "error", reason: err instanceof Error ? err.message : String(err) });
    }
  }
  const report = groupReport(group, verb, outcomes);
  session.out(report.lines.join("\n") + "\n");
  for (const note of report.notes) session.err(`note: ${note}\n`);
  if (report.failed) throw new CliError(`group ${group}: not every member was ${verb} (see above)`);
}

/** NAME or --group GROUP, exactly one; a group action prints its report, not objects. */
function target(name: string | undefined, options: ActionOptions): { name: string } | { group: string } {
  if (name !== undefined && options.group !== undefined)
    throw usageError(`give a rollout name or --group ${options.group}, not both`);
  if (options.group !== undefined) {
    if (options.output) throw usageError("--output prints one object; it cannot be combined with --group");
    return { group: options.group };
  }
  if (name === undefined) throw usageError("give the StatefulsetRollout's name, or --group GROUP for every member");
  return { name };
}

/** Runs the action on one rollout or on every member of a group. */
function runTargeted(
  session: Session,
  name: string | undefined,
  verb: string,
  decide: (rollout: StatefulsetRollout) => ActionResult,
  options: ActionOptions,
): Promise<void> {
  const t = target(name, options);
  return "group" in t
    ? runGroupAction(session, t.group, verb, decide)
    : runAction(session, t.name, verb, decide, options);
}

const groupOption = () =>
  new Option("--group <group>", "act on every rollout of this group (spec.group.name) in the namespace, in order");

const outputOption = () => new Option("-o, --output <format>", "print the updated object").choices(["yaml", "json"]);

export function registerActions(program: Command, session: () => Session): void {
  program
    .command("pause")
    .description("Pause a rollout after its current wave (spec.pauseRequested: true)")
    .argument("[name]", "the StatefulsetRollout")
    .addOption(groupOption())
    .addOption(outputOption())
    .addHelpText(
      "after",
      `
Leak protection keeps the split stable while the rollout is paused: old pods that are
evicted or deleted come back on the old revision.

Examples:
  kubectl sroll pause web-dev
  kubectl sroll pause web-dev -n payments
  kubectl sroll pause --group ingester    # every member: nothing moves in any zone`,
    )
    .action((name: string | undefined, options: ActionOptions) =>
      runTargeted(session(), name, "paused", pausePlan, options),
    );

  program
    .command("resume")
    .description("Resume a paused rollout (spec.pauseRequested: false)")
    .argument("[name]", "the StatefulsetRollout")
    .addOption(groupOption())
    .addOption(outputOption())
    .addHelpText(
      "after",
      "\nExamples:\n  kubectl sroll resume web-dev\n  kubectl sroll resume web-dev && kubectl sroll status web-dev -w\n  kubectl sroll resume --group ingester",
    )
    .action((name: string | undefined, options: ActionOptions) =>
      runTargeted(session(), name, "resumed", resumePlan, options),
    );

  program
    .command("promote")
    .description("Move a rollout to its next phase (spec.phases), or to the given percent")
    .argument("[name]", "the StatefulsetRollout")
    .argument("[percent]", "the new spec.percent (0-100); default: the next of spec.phases")
    .addOption(groupOption())
    .addOption(outputOption())
    .addHelpText(
      "after",
      `
A failed rollout is not promoted: retry it or roll it back first. Promote only moves forward.

Examples:
  kubectl sroll promote web-dev        # phases [1, 50, 100] at 1% → 50%
  kubectl sroll promote web-dev 100    # straight to every pod
  kubectl sroll promote --group ingester 100   # every member (they still roll one at a time)`,
    )
    .action(async (first: string | undefined, second: string | undefined, options: ActionOptions) => {
      // With --group the only argument is the percent.
      const name = options.group !== undefined && second === undefined ? undefined : first;
      const percentText = options.group !== undefined && second === undefined ? first : second;
      let percent: number | undefined;
      if (percentText !== undefined) {
        const parsed = parsePercent(percentText);
        if (!parsed.ok) throw usageError(parsed.error);
        percent = parsed.value;
      }
      await runTargeted(session(), name, "promoted", (r) => promotePlan(r, percent), options);
    });

  program
    .command("rollback")
    .description("Roll back to the previous template the rollout's status remembers, on every pod")
    .argument("[name]", "the StatefulsetRollout")
    .addOption(groupOption())
    .addOption(outputOption())
    .addHelpText(
      "after",
      `
Applies status.previousTemplate as spec.statefulset.spec.template, sets percent 100, clears a
pause and gives the rollout a new identity. Pods stuck on the bad version (CrashLoopBackOff,
Pending) are replaced without waiting for them to become Ready.

Examples:
  kubectl sroll rollback web-dev
  kubectl sroll rollback web-dev && kubectl sroll status web-dev -w
  kubectl sroll rollback --group ingester   # every member, one new identity for all`,
    )
    .action((name: string | undefined, options: ActionOptions) => {
      const s = session();
      const identity = s.deps.randomIdentity();
      return runTargeted(s, name, "rolled back", (r) => rollbackPlan(r, identity), options);
    });

  program
    .command("retry")
    .description("Retry a failed rollout: the same spec with a new random rolloutIdentity")
    .argument("<name>", "the StatefulsetRollout")
    .addOption(outputOption())
    .addHelpText(
      "after",
      "\nExamples:\n  kubectl sroll retry web-dev\n  kubectl sroll retry web-dev && kubectl sroll status web-dev -w",
    )
    .action((name: string, options: ActionOptions) => {
      const s = session();
      const identity = s.deps.randomIdentity();
      return runAction(s, name, "retried", (r) => retryPlan(r, identity), options);
    });
}
