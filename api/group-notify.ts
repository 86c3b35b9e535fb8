// One Slack message per group rollout (issue 16), as pure rules: which member owns the group's
// message, when a group run starts and ends, and the group's phase. adapters/slack (the outbox and
// the publisher) call them; a rollout that names no group keeps its own message per rollout.
//
// - Owner: the first member in group order (spec.group.order, then rollout name) that names a
//   spec.channel. The group's message goes to its channel at its notifyLevel, and its ref lives in
//   the owner's status.slackMessage (status is the memory: a restarted reconciler updates it).
//   The other members post no summary message of their own.
// - Run: a member is *rolling* while its status is not RolloutDone on its current spec (a spec
//   just edited counts, before its first pass), or it has a wave in flight. A run starts when a
//   member is rolling and no run is open, and ends when no member is rolling: members whose
//   templates change seconds apart (or one after another while the group rolls) join the same
//   run and the same message. Pods that go not Ready outside a rollout (a drain) start no run.
// - The ref's `rollout` stamp says which run it is for: `group:NAME` while the run is open,
//   `group:NAME:ended` once its last update (the end) was sent. Generation keys
//   (`generation/identity`, adapters/slack/rollout-blocks.ts rolloutRunOf) start with a digit, and
//   group names are DNS labels, so the stamps never collide.
import { statusIsCurrent, waveInFlightOf } from "./groups.js";
import type { RolloutPhase, StatefulsetRollout } from "./rollout.js";

type Member = Pick<StatefulsetRollout, "metadata" | "spec" | "status">;
type RefStamp = { rollout?: string | undefined } | undefined;

const PREFIX = "group:";
const ENDED = ":ended";

/** The ref stamp of group `group`'s run: open, or ended (its last update sent). */
export function groupRunKey(group: string, ended = false): string {
  return `${PREFIX}${group}${ended ? ENDED : ""}`;
}

/** The group a ref stamp is for (open or ended), if it is a group run's stamp. */
export function groupOfRunKey(stamp: string | undefined): string | undefined {
  if (!stamp?.startsWith(PREFIX)) return undefined;
  const rest = stamp.slice(PREFIX.length);
  return rest.endsWith(ENDED) ? rest.slice(0, -ENDED.length) : rest;
}

/** The member is in a rollout: not RolloutDone on its current spec, or a wave is in flight. */
export function memberRolling(member: Member): boolean {
  const status = member.status ?? {};
  return !statusIsCurrent(member, status) || status.phase !== "RolloutDone" || waveInFlightOf(status);
}

/** The member has failed on its current spec (it stops the group: api/groups.ts). */
export function memberFailedByStatus(member: Member): boolean {
  const status = member.status ?? {};
  return statusIsCurrent(member, status) && status.phase === "RolloutFailed";
}

/** The member that owns the group's message: the first, in group order, with a channel. */
export function groupMessageOwner<M extends Member>(membersInOrder: readonly M[]): M | undefined {
  return membersInOrder.find((m) => m.spec.channel);
}

/**
 * The group's phase as its message shows it: failed when a member failed; done when no member is
 * rolling; paused when a rolling member is paused; progressing when one progresses; else pending
 * (edited members not picked up yet, or waiting their turn).
 */
export function groupPhase(members: readonly Member[]): RolloutPhase {
  if (members.some(memberFailedByStatus)) return "RolloutFailed";
  const rolling = members.filter(memberRolling);
  if (rolling.length === 0) return "RolloutDone";
  const current = rolling.filter((m) => statusIsCurrent(m, m.status ?? {}));
  if (current.some((m) => m.status?.phase === "Paused" || m.status?.paused === true)) return "Paused";
  if (current.some((m) => m.status?.phase === "Progressing")) return "Progressing";
  return "Pending";
}

/**
 * What the group's run does with the message the owner's status (or the outbox) knows:
 * - none: no run open and no member rolling: nothing to say;
 * - start: a member is rolling and no run of this group is open: a new message;
 * - continue: the open run goes on: update its message;
 * - end: the open run's members have all finished: one last update, then the run is ended.
 * A ref for another group, an ended run or a rollout of its own is not an open run of this group.
 */
export type GroupRunStep = "none" | "start" | "continue" | "end";

export function groupRunStep(group: string, members: readonly Member[], known: RefStamp): GroupRunStep {
  const open = known?.rollout === groupRunKey(group);
  const rolling = members.some(memberRolling);
  if (open) return rolling ? "continue" : "end";
  return rolling ? "start" : "none";
}
