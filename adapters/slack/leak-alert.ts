// Block Kit for a leak alert (DESIGN.md §4): what was refused or flagged, how many attempts the
// message covers, and the same text the caller saw in the denial or warning; and for a pod that
// could not be pinned. Sent by alert-notifier.ts, once across webhook replicas.
import type { PinAlertDetail } from "../../api/alert-events.js";
import type { LeakAlert } from "../../api/leak-guard.js";
import type { SlackBlock } from "./client.js";

/** Slack mrkdwn needs &, < and > escaped; everything else is literal. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export interface SlackText {
  text: string;
  blocks: SlackBlock[];
}

/** When the attempts an alert covers were made: one instant, or the first and the last. */
function attemptWindow(alert: { attempts: number; firstAt: Date; lastAt: Date }): string {
  return alert.attempts === 1
    ? `at ${alert.firstAt.toISOString()}`
    : `from ${alert.firstAt.toISOString()} to ${alert.lastAt.toISOString()}`;
}

/** The text the caller saw, as a section (section text is limited to 3,000 characters). */
function callerMessage(message: string): SlackBlock {
  return { type: "section", text: { type: "mrkdwn", text: escapeMrkdwn(message).slice(0, 2_900) } };
}

export function leakAlertMessage(alert: LeakAlert): SlackText {
  const { leak } = alert;
  const action = leak.via === "eviction" ? "Eviction" : "Deletion";
  const verdict = alert.decision === "denied" ? "refused" : "allowed (flagged)";
  const icon = alert.decision === "denied" ? ":no_entry:" : ":warning:";
  const podKey = `${leak.namespace}/${leak.pod}`;
  const attempts = alert.attempts === 1 ? "1 attempt" : `${alert.attempts} attempts`;
  const headline = `${action} of pod ${podKey} ${verdict} by leak protection: rollout ${leak.rollout} is split at ${leak.percent}% (${attempts})`;
  const callers =
    alert.callers
      .slice(0, 5)
      .map((c) => `\`${escapeMrkdwn(c)}\``)
      .join(", ") + (alert.callers.length > 5 ? ", …" : "");
  const window = attemptWindow(alert);
  const blocks: SlackBlock[] = [
    {
      type: "section",
      text: {
        type: "mrkdwn",
        text: `${icon} *${action} of pod \`${escapeMrkdwn(podKey)}\` ${verdict}* — rollout \`${escapeMrkdwn(leak.rollout)}\` (mode \`${leak.mode}\`)`,
      },
    },
    {
      type: "section",
      fields: [
        { type: "mrkdwn", text: `*Pod revision*\n\`${escapeMrkdwn(leak.podRevision)}\` (old)` },
        { type: "mrkdwn", text: `*Update revision*\n\`${escapeMrkdwn(leak.updateRevision)}\`` },
        {
          type: "mrkdwn",
          text: `*Rollout*\n${leak.percent}%${leak.paused ? ", paused" : ""}${leak.failed ? ", failed" : ""}`,
        },
        { type: "mrkdwn", text: `*Pods*\n${leak.newPods} new, ${leak.oldPods} old` },
      ],
    },
    callerMessage(alert.message),
    {
      type: "context",
      elements: [{ type: "mrkdwn", text: `${attempts} ${window} by ${callers || "unknown"}` }],
    },
  ];
  return { text: headline, blocks };
}

export interface PinFailureAlert {
  detail: PinAlertDetail;
  message: string;
  attempts: number;
  firstAt: Date;
  lastAt: Date;
}

/** A pod that could not be pinned to the old revision: the leak is open for it. */
export function pinFailureMessage(alert: PinFailureAlert): SlackText {
  const { detail } = alert;
  const podKey = `${detail.namespace}/${detail.pod}`;
  const attempts = alert.attempts === 1 ? "1 time" : `${alert.attempts} times`;
  const headline = `Pod ${podKey} could not be pinned to revision ${detail.wantedRevision} (${detail.reason}); it runs ${detail.actualRevision} — rollout ${detail.rollout} (${attempts})`;
  const window = attemptWindow(alert);
  const blocks: SlackBlock[] = [
    {
      type: "section",
      text: {
        type: "mrkdwn",
        text: `:rotating_light: *Pod \`${escapeMrkdwn(podKey)}\` could not be pinned* — rollout \`${escapeMrkdwn(detail.rollout)}\` (\`${detail.reason}\`)`,
      },
    },
    {
      type: "section",
      fields: [
        { type: "mrkdwn", text: `*Wanted revision*\n\`${escapeMrkdwn(detail.wantedRevision)}\` (old)` },
        { type: "mrkdwn", text: `*Created on*\n\`${escapeMrkdwn(detail.actualRevision)}\`` },
        { type: "mrkdwn", text: `*StatefulSet*\n\`${escapeMrkdwn(detail.statefulSet)}\`` },
      ],
    },
    callerMessage(alert.message),
    { type: "context", elements: [{ type: "mrkdwn", text: `${attempts} ${window}` }] },
  ];
  return { text: headline, blocks };
}
