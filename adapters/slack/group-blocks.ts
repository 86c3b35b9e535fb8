// What the Slack message of a group rollout says (issue 16), as pure functions. Which member owns
// the message and when a group run starts and ends is api/group-notify.ts; this file applies the
// owner's notifyLevel to it (planGroupMessage) and renders the one summary message: the group's
// phase and totals, then one line per member (at most GROUP_MEMBERS_MAX), in group order. Members'
// figures come from their status counts (phase, updatedReplicas, targetReplicas, readyReplicas,
// status.group), not from the per-pod list: a group message has no pod pages in its thread.
import { groupPhase, groupRunKey, groupRunStep, memberFailedByStatus, memberRolling } from "../../api/group-notify.js";
import { statusIsCurrent } from "../../api/groups.js";
import { GROUP_MEMBERS_MAX, type RolloutPhase, type StatefulsetRollout } from "../../api/rollout.js";
import {
  clip,
  escapeMrkdwn,
  notifyAction,
  PHASE_ICON,
  replicasOf,
  triggerOf,
  versionOf,
  type Block,
  type NotifyAction,
  type SlackMessageRef,
  type SlackText,
} from "./rollout-blocks.js";

export interface GroupMessagePlan {
  action: NotifyAction;
  /** The message to update; undefined when the action posts a new one (or skips). */
  existing: SlackMessageRef | undefined;
  /** The stamp of the ref once this publish is sent: the open run, or the ended one. */
  run: string;
  /** This update is the run's last (every member has finished): it is sent whatever the level. */
  ends: boolean;
  phase: RolloutPhase;
}

/**
 * What to do with the group's message for this state of its members (in group order), at the
 * owner's notifyLevel: a run that starts posts (if the level wants it), an open run is updated
 * (as the level wants), and the end of a run is always sent — the message's last word must not
 * read as still in progress, and only a sent end closes the run (the next edit posts anew).
 */
export function planGroupMessage(
  group: string,
  owner: StatefulsetRollout,
  membersInOrder: readonly StatefulsetRollout[],
  known: SlackMessageRef | undefined,
): GroupMessagePlan {
  const phase = groupPhase(membersInOrder);
  const open = groupRunKey(group);
  const level = owner.spec.notifyLevel;
  const channel = owner.spec.channel !== undefined;
  switch (groupRunStep(group, membersInOrder, known)) {
    case "none":
      return { action: "skip", existing: undefined, run: open, ends: false, phase };
    case "start":
      return {
        action: channel ? notifyAction(level, phase, false) : "skip",
        existing: undefined,
        run: open,
        ends: false,
        phase,
      };
    case "continue":
      return {
        action: channel ? notifyAction(level, phase, true) : "skip",
        existing: known,
        run: open,
        ends: false,
        phase,
      };
    case "end":
      return { action: channel ? "update" : "skip", existing: known, run: groupRunKey(group, true), ends: true, phase };
  }
}

const MEMBER_ICON = {
  failed: ":red_circle:",
  done: ":large_green_circle:",
  paused: ":double_vertical_bar:",
  moving: ":arrows_counterclockwise:",
  waiting: ":white_circle:",
};

/** One member's line: zone, StatefulSet, phase, pods moved / target, Ready, version; active, waits for, failure. */
function memberSection(m: StatefulsetRollout): Block {
  const s = m.status ?? {};
  const current = statusIsCurrent(m, s);
  const failed = memberFailedByStatus(m);
  const phase = s.phase ?? "Pending";
  const paused = current && (phase === "Paused" || s.paused === true);
  const icon = failed
    ? MEMBER_ICON.failed
    : !memberRolling(m)
      ? MEMBER_ICON.done
      : paused
        ? MEMBER_ICON.paused
        : current && phase === "Progressing"
          ? MEMBER_ICON.moving
          : MEMBER_ICON.waiting;
  const sts = s.statefulsetName ?? m.spec.statefulset.metadata?.name ?? m.metadata.name;
  const replicas = replicasOf(m);
  const parts = [
    `${icon} *${escapeMrkdwn(clip(m.metadata.name, 100))}* (order ${m.spec.group?.order ?? 0})`,
    `StatefulSet \`${escapeMrkdwn(clip(sts, 100))}\``,
    current ? `${phase}${s.paused && phase !== "Paused" ? " (paused)" : ""}` : "spec changed, not picked up yet",
    `${s.updatedReplicas ?? 0}/${s.targetReplicas ?? replicas} pods moved`,
    `${s.readyReplicas ?? 0}/${replicas} Ready`,
    `\`${escapeMrkdwn(clip(versionOf(m), 60))}\``,
  ];
  if (s.group?.active === m.metadata.name) parts.push(":point_right: *active*");
  const lines = [parts.join(" · ")];
  if (failed) lines.push(`>*Failed*: ${escapeMrkdwn(clip(s.reason ?? "no reason recorded", 600))}`);
  if (s.group?.waitingFor && !failed && memberRolling(m))
    lines.push(`>waits for ${escapeMrkdwn(clip(s.group.waitingFor, 300))}`);
  return { type: "section", text: { type: "mrkdwn", text: lines.join("\n") } };
}

/**
 * The group's one summary message: posted once per group run, updated in place. `membersInOrder`
 * may hold more than GROUP_MEMBERS_MAX members (such a group does not roll: GroupTooLarge); the
 * first GROUP_MEMBERS_MAX are listed and the rest counted, which keeps the message within Slack's
 * 50 blocks (header, totals, ≤ 16 member sections, ≤ 2 context lines) and each section well
 * under 3,000 characters.
 */
export function groupSummary(
  group: string,
  namespace: string,
  membersInOrder: readonly StatefulsetRollout[],
  phase: RolloutPhase,
): SlackText {
  const key = `${namespace || "default"}/${group}`;
  const total = membersInOrder.length;
  const done = membersInOrder.filter((m) => !memberRolling(m)).length;
  const moved = membersInOrder.reduce((n, m) => n + (m.status?.updatedReplicas ?? 0), 0);
  const target = membersInOrder.reduce((n, m) => n + (m.status?.targetReplicas ?? replicasOf(m)), 0);
  const ready = membersInOrder.reduce((n, m) => n + (m.status?.readyReplicas ?? 0), 0);
  const pods = membersInOrder.reduce((n, m) => n + replicasOf(m), 0);
  const active = membersInOrder.filter((m) => m.status?.group?.active === m.metadata.name).map((m) => m.metadata.name);
  const rolling = membersInOrder.filter(memberRolling);
  const versions = [...new Set((rolling.length > 0 ? rolling : membersInOrder).map(versionOf))];
  const title =
    phase === "RolloutFailed"
      ? "Group rollout failed"
      : phase === "RolloutDone"
        ? "Group rollout done"
        : "Group rollout";
  const text = `${title} ${key}: ${phase}, ${done}/${total} members done, ${moved}/${target} pods moved`;
  const first = rolling[0] ?? membersInOrder[0];
  const fields = [
    `*Group*\n\`${escapeMrkdwn(clip(group, 63))}\` in \`${escapeMrkdwn(clip(namespace || "default", 63))}\`, ${total} member${total === 1 ? "" : "s"}`,
    `*Phase*\n${PHASE_ICON[phase]} ${phase}`,
    `*Members done*\n${done} / ${total}`,
    `*Pods moved / target*\n${moved} / ${target}`,
    `*Pods ready / total*\n${ready} / ${pods}`,
    `*Active*\n${active.length > 0 ? escapeMrkdwn(clip(active.join(", "), 200)) : "none"}`,
    `*Version*\n${versions
      .slice(0, 3)
      .map((v) => `\`${escapeMrkdwn(clip(v, 60))}\``)
      .join(", ")}${versions.length > 3 ? ` and ${versions.length - 3} more` : ""}`,
  ];
  if (first) fields.push(`*Triggered by*\n${escapeMrkdwn(clip(triggerOf(first), 120))}`);
  const blocks: Block[] = [
    { type: "header", text: { type: "plain_text", text: clip(`${title}: ${key}`, 150) } },
    { type: "section", fields: fields.slice(0, 10).map((t) => ({ type: "mrkdwn", text: t })) },
    ...membersInOrder.slice(0, GROUP_MEMBERS_MAX).map(memberSection),
  ];
  if (total > GROUP_MEMBERS_MAX)
    blocks.push({
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: `${total - GROUP_MEMBERS_MAX} more members not shown: a group of more than ${GROUP_MEMBERS_MAX} members does not roll (GroupTooLarge); give some of them another spec.group.name.`,
        },
      ],
    });
  blocks.push({
    type: "context",
    elements: [
      {
        type: "mrkdwn",
        text: `One message for the group's rollout, members in group order; they roll one at a time. Pods of a member: \`kubectl sroll status MEMBER -n ${escapeMrkdwn(clip(namespace || "default", 63))}\`.`,
      },
    ],
  });
  return { text, blocks };
}
