// Rollout groups (issue 16): StatefulsetRollouts in one namespace that name the same
// spec.group.name roll one member at a time, in (order, name) order. Pure decisions, called by
// the reconciler (the wave gate and status.group) and read by the CLI:
//   - groupMembers: who is in the group, sorted;
//   - activeMember: the member allowed to move now;
//   - groupGate: may this member start a wave now, and if not, what it waits for;
//   - groupStatusOf: the status.group value to write.
// A member is judged from its own status (phase for its current spec) and from its pods as the
// zone-aware disruption guard judges them (api/group-disruption.ts: which pods are unavailable
// or missing, and whether another member is degraded); that rule is not re-derived here.
import {
  compareMembers as compareDisruptionMembers,
  describeDegradation,
  memberDegradation,
  otherDegradedMember,
  type GroupMemberView as DisruptionMember,
} from "./group-disruption.js";
import {
  GROUP_MEMBERS_MAX,
  type GroupStatus,
  type RolloutPhase,
  type RolloutStatus,
  type StatefulsetRollout,
} from "./rollout.js";

/** One member as the gate sees it. */
export interface GroupMemberView {
  name: string;
  order: number;
  statefulset?: string;
  phase?: RolloutPhase;
  reason?: string;
  /**
   * The member's status was decided on its current spec: status.observedGeneration equals
   * metadata.generation and the rolloutIdentity matches. A phase decided on an older spec says
   * nothing about the new template (a just-edited member that still reads RolloutDone is not done).
   */
  current: boolean;
  /** A wave is recorded and not completed: its pods are being (or about to be) taken down. */
  waveInFlight: boolean;
  /** Its StatefulSet's pods and budget, as the disruption guard sees them. */
  disruption: DisruptionMember;
}

/** A group as one pass sees it: every member, sorted; may hold more than GROUP_MEMBERS_MAX. */
export interface GroupView {
  name: string;
  members: GroupMemberView[];
}

export type GroupGate =
  | { go: true }
  | {
      go: false;
      /** Status reason code for the wait: GroupTooLarge, GroupStopped, WaitingForGroup. */
      code: "GroupTooLarge" | "GroupStopped" | "WaitingForGroup";
      waitingFor: string;
    };

export const CONDITION_GROUP_TOO_LARGE = "GroupTooLarge";
const WAITING_FOR_MAX = 300;

/** The group a rollout names, if any. */
export function groupNameOf(rollout: { spec?: { group?: { name?: string } } }): string | undefined {
  return rollout.spec?.group?.name;
}

/** Group order (api/group-disruption.ts compareMembers: spec.group.order, then rollout name). */
export function compareMembers(a: GroupMemberView, b: GroupMemberView): number {
  return compareDisruptionMembers(a.disruption, b.disruption);
}

/** Pods of a member that are unavailable: not Ready, terminating, or not created yet. */
export function unavailableOf(m: GroupMemberView): number {
  const d = memberDegradation(m.disruption);
  return d ? d.unavailable.length + d.missing : 0;
}

/** The rollouts of `namespace` that name `group`, in group order. Not bounded: see groupTooLarge. */
export function groupRollouts<R extends Pick<StatefulsetRollout, "metadata" | "spec">>(
  rollouts: readonly R[],
  namespace: string,
  group: string,
): R[] {
  const key = (r: R): DisruptionMember => ({
    rollout: r.metadata.name,
    order: r.spec.group?.order ?? 0,
    statefulSet: "",
    replicas: 0,
    maxUnavailable: 0,
    pods: [],
  });
  return rollouts
    .filter((r) => (r.metadata.namespace ?? "") === namespace && r.spec.group?.name === group)
    .sort((a, b) => compareDisruptionMembers(key(a), key(b)));
}

/** Whether a status was decided on the rollout's current spec (generation and identity). */
export function statusIsCurrent(
  rollout: Pick<StatefulsetRollout, "metadata" | "spec">,
  status: RolloutStatus,
): boolean {
  return (
    status.observedGeneration === (rollout.metadata.generation ?? 0) &&
    (status.rolloutIdentity ?? "") === (rollout.spec.rolloutIdentity ?? "")
  );
}

/** A wave is recorded and not completed: its pods are being (or about to be) taken down. */
export function waveInFlightOf(status: RolloutStatus): boolean {
  return status.currentWave !== undefined && status.currentWave.completedAt === undefined;
}

/** The gate's view of one member, from its rollout (and status) and its pods as the guard sees them. */
export function memberViewOf(
  rollout: Pick<StatefulsetRollout, "metadata" | "spec">,
  status: RolloutStatus | undefined,
  disruption: DisruptionMember,
): GroupMemberView {
  const s = status ?? {};
  const view: GroupMemberView = {
    name: rollout.metadata.name,
    order: rollout.spec.group?.order ?? 0,
    current: statusIsCurrent(rollout, s),
    waveInFlight: waveInFlightOf(s),
    disruption,
  };
  const sts = s.statefulsetName ?? rollout.spec.statefulset.metadata?.name;
  if (sts) view.statefulset = sts;
  if (s.phase) view.phase = s.phase;
  if (s.reason) view.reason = s.reason;
  return view;
}

/** The view with one member replaced (the member deciding now knows its own state best). */
export function withMember(view: GroupView, member: GroupMemberView): GroupView {
  const members = view.members.filter((m) => m.name !== member.name);
  members.push(member);
  return { name: view.name, members: members.sort(compareMembers) };
}

export function groupTooLarge(view: GroupView): boolean {
  return view.members.length > GROUP_MEMBERS_MAX;
}

/** Reached its target on its current spec, with every pod Ready: a later member may start. */
export function memberSettled(m: GroupMemberView): boolean {
  return m.current && m.phase === "RolloutDone" && !m.waveInFlight && memberDegradation(m.disruption) === undefined;
}

export function memberFailed(m: GroupMemberView): boolean {
  return m.current && m.phase === "RolloutFailed";
}

/**
 * The member allowed to move now: the first (by order, name) that has not settled. None while
 * every member has settled, while a member has failed (the group is stopped) or while the
 * group is too large to be judged.
 */
export function activeMember(view: GroupView): string | undefined {
  if (groupTooLarge(view) || view.members.some(memberFailed)) return undefined;
  return view.members.find((m) => !memberSettled(m))?.name;
}

/**
 * May member `self` start a wave now? Only when the group is small enough to judge, no member
 * has failed, every earlier member has settled (at target, every pod Ready), and no other
 * member has a wave in flight or unavailable pods. A wave already in flight is not stopped by
 * this gate (its pods were allowed down when it was recorded).
 */
export function groupGate(view: GroupView, self: string): GroupGate {
  const wait = (code: "GroupTooLarge" | "GroupStopped" | "WaitingForGroup", text: string): GroupGate => ({
    go: false,
    code,
    waitingFor: cut(text),
  });
  if (groupTooLarge(view)) return wait("GroupTooLarge", tooLargeMessage(view));
  const others = view.members.filter((m) => m.name !== self);
  const failed = others.find(memberFailed);
  if (failed)
    return wait(
      "GroupStopped",
      `group ${view.name} is stopped: member ${failed.name} failed${failed.reason ? ` (${failed.reason})` : ""}; retry or roll back the group (kubectl sroll rollback --group ${view.name})`,
    );
  const index = view.members.findIndex((m) => m.name === self);
  const earlier = index < 0 ? [] : view.members.slice(0, index);
  const unsettled = earlier.find((m) => !memberSettled(m));
  if (unsettled) return wait("WaitingForGroup", `${describeMember(unsettled)} to finish: ${memberState(unsettled)}`);
  const moving = others.find((m) => m.waveInFlight);
  if (moving) return wait("WaitingForGroup", `${describeMember(moving)} to finish its wave in flight`);
  // The disruption guard's rule (the webhook refuses such an eviction anyway): no member takes
  // pods down while another member is degraded.
  const degraded = otherDegradedMember(
    view.members.map((m) => m.disruption),
    self,
  );
  if (degraded) {
    const member = view.members.find((m) => m.name === degraded.member.rollout);
    return wait(
      "WaitingForGroup",
      `${member ? describeMember(member) : degraded.member.rollout} to have every pod Ready: ${describeDegradation(degraded)}`,
    );
  }
  return { go: true };
}

/**
 * status.group for member `self`: the members (at most GROUP_MEMBERS_MAX, in order), the active
 * one, and what `self` waits for — nothing once it has settled or failed itself, or while it
 * may move.
 */
export function groupStatusOf(view: GroupView, self: string): GroupStatus {
  const status: GroupStatus = {
    name: view.name,
    members: view.members.slice(0, GROUP_MEMBERS_MAX).map((m) => {
      const entry: GroupStatus["members"][number] = { name: m.name, order: m.order, unavailable: unavailableOf(m) };
      if (m.statefulset) entry.statefulset = m.statefulset;
      if (m.phase) entry.phase = m.phase;
      return entry;
    }),
  };
  const active = activeMember(view);
  if (active) status.active = active;
  const me = view.members.find((m) => m.name === self);
  if (me && (memberSettled(me) || memberFailed(me))) return status;
  const gate = groupGate(view, self);
  if (!gate.go) status.waitingFor = gate.waitingFor;
  return status;
}

/** The GroupTooLarge condition's message. */
export function tooLargeMessage(view: GroupView): string {
  return `group ${view.name} has ${view.members.length} members, more than ${GROUP_MEMBERS_MAX}: no member starts a wave; give some of them another spec.group.name`;
}

/** "zone-a (order 1)". */
function describeMember(m: GroupMemberView): string {
  return `${m.name} (order ${m.order})`;
}

function memberState(m: GroupMemberView): string {
  if (!m.current) return "its spec changed and it has not started on it yet";
  if (m.phase === "RolloutDone") {
    if (m.waveInFlight) return "a wave is in flight";
    const d = memberDegradation(m.disruption);
    return d ? describeDegradation(d) : "settled";
  }
  // The phase only: the member's own reason changes every pass, and would rewrite every waiting
  // member's status with it.
  return m.phase ?? "Pending";
}

function cut(text: string): string {
  return text.length <= WAITING_FOR_MAX ? text : `${text.slice(0, WAITING_FOR_MAX - 1)}…`;
}

/**
 * What the other members of a group judge this one by, as a string that changes when their
 * decision may change: its place, whether its phase is for its current spec, its wave in flight,
 * and whether all its pods are Ready (status.readyReplicas; the counts themselves are left out, so
 * the other members are not re-queued, and their status rewritten, on every pod of a wave).
 */
export function groupSignalOf(rollout: StatefulsetRollout): string {
  const s = rollout.status;
  return JSON.stringify({
    group: rollout.spec.group?.name,
    order: rollout.spec.group?.order,
    current: statusIsCurrent(rollout, s ?? {}),
    phase: s?.phase,
    waveInFlight: waveInFlightOf(s ?? {}),
    whole: (s?.readyReplicas ?? 0) >= (rollout.spec.statefulset.spec.replicas ?? 1),
  });
}
