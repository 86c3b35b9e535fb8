// Slack alerts from the webhook's alert Events, sent by the leader-elected reconciler only, so
// there is exactly one message per (pod, rollout, decision) and window however many webhook
// replicas saw the refusals (api/alert-events.ts says why). The Events of all replicas are
// grouped (groupAlerts); a group gets one message, posted at once and then updated in place
// with the summed attempt count at most every `updateDelayMs`. The message's ts is written
// onto the group's Events, so a new leader, reading them back, updates the same message.
//
// Slack work goes through a bounded send queue, never the reconcile pass. A group with no
// message whose last attempt is older than the window is not posted (a new leader replaying
// old Events must not alert about what is over).
import type { Logger } from "pino";
import type { AlertEventApi } from "../kube/alert-events.js";
import {
  ALERT_SLACK_ANNOTATION,
  ALERT_WINDOW_MS,
  type AlertEventObject,
  type AlertGroup,
  type AlertObservation,
  formatSlackRef,
  groupAlerts,
  leakAlertOf,
  parseAlertEvent,
} from "../../api/alert-events.js";
import type { Registry } from "prom-client";
import type { SlackClient, SlackMessage } from "./client.js";
import type { Clock, Timer } from "../../api/clock.js";
import { systemClock } from "../clock.js";
import { leakAlertMessage, pinFailureMessage, type SlackText } from "./leak-alert.js";
import { createSendQueue, type SendQueue } from "./queue.js";

export interface AlertNotifierOptions {
  client: SlackClient;
  /** Writes the message ref onto the Events. */
  alertEvents: AlertEventApi;
  /** The rollout's spec.channel, from the reconciler's cache (undefined: no Slack alert). */
  channelOf(namespace: string, rollout: string): string | undefined;
  logger: Logger;
  registry?: Registry;
  clock?: Clock;
  queue?: SendQueue;
  windowMs?: number;
  /** Least time between two updates of one message (default 30 s). */
  updateDelayMs?: number;
  /** Alert Events remembered (oldest forgotten beyond this; default 10,000). */
  maxObservations?: number;
}

export interface AlertNotifier {
  /** An alert Event as the informer saw it. Returns at once, never throws. */
  observe(event: AlertEventObject, change: "add" | "update" | "delete"): void;
  /** Resolves when nothing is queued (tests, shutdown). */
  idle(): Promise<void>;
  close(): void;
}

interface Sent {
  ref?: SlackMessage;
  /** Attempts the message shows. */
  attempts: number;
  lastSentAt: number;
  queued: boolean;
  timer?: Timer;
}

export function createAlertNotifier(options: AlertNotifierOptions): AlertNotifier {
  const clock = options.clock ?? systemClock;
  const windowMs = options.windowMs ?? ALERT_WINDOW_MS;
  const updateDelayMs = options.updateDelayMs ?? 30_000;
  const maxObservations = options.maxObservations ?? 10_000;
  const log = options.logger.child({ component: "slack-alerts" });
  const queue =
    options.queue ??
    createSendQueue({ logger: options.logger, ...(options.registry ? { registry: options.registry } : {}) });
  const observations = new Map<string, AlertObservation>();
  /** Per group id; bounded with the observations (a group without observations is dropped). */
  const sent = new Map<string, Sent>();
  /** The message of each Event known to be shown, so a group whose first Event went keeps its message. */
  const messageOf = new Map<string, SlackMessage>();

  function groupsOf(key: string): AlertGroup[] {
    return groupAlerts(
      [...observations.values()].filter((o) => o.key === key),
      windowMs,
    );
  }

  function refOf(group: AlertGroup): SlackMessage | undefined {
    const s = sent.get(group.id);
    if (s?.ref) return s.ref;
    if (group.slack) return group.slack;
    for (const id of group.observationIds) {
      const ref = messageOf.get(id);
      if (ref) return ref;
    }
    return undefined;
  }

  function stateOf(group: AlertGroup): Sent {
    let s = sent.get(group.id);
    if (!s) {
      s = { attempts: 0, lastSentAt: Number.NEGATIVE_INFINITY, queued: false };
      sent.set(group.id, s);
    }
    return s;
  }

  function consider(group: AlertGroup): void {
    const s = stateOf(group);
    const ref = refOf(group);
    if (s.queued) return; // the queued task reads the group when it runs
    if (ref && group.attempts === s.attempts) return;
    if (!ref && clock.now() - group.lastAt > windowMs) return;
    const wait = ref ? s.lastSentAt + updateDelayMs - clock.now() : 0;
    if (wait > 0) {
      s.timer ??= clock.setTimer(() => {
        s.timer = undefined;
        const fresh = groupsOf(group.key).find((g) => g.id === group.id);
        if (fresh) consider(fresh);
      }, wait);
      return;
    }
    s.queued = true;
    const accepted = queue.enqueue(`alert ${group.id}`, () => send(group.key, group.id, s));
    if (!accepted) s.queued = false;
  }

  async function send(key: string, id: string, s: Sent): Promise<void> {
    s.queued = false;
    const group = groupsOf(key).find((g) => g.id === id);
    if (!group) return;
    const attempts = group.attempts;
    const channel = options.channelOf(group.namespace, group.rollout);
    if (!channel) {
      // Nothing to send to; counted as shown so it is not retried on every Event update.
      s.attempts = attempts;
      log.info({ alert: id }, "rollout has no spec.channel; no Slack alert");
      return;
    }
    const message = render(group);
    const ref = refOf(group);
    const result = ref
      ? await options.client.update(ref.channel, ref.ts, message.text, message.blocks)
      : await options.client.post(channel, message.text, message.blocks);
    s.lastSentAt = clock.now();
    if (!result) {
      log.warn({ alert: id, channel }, "alert not delivered to Slack; retried on the next attempt");
      return;
    }
    s.ref = result;
    s.attempts = attempts;
    for (const obsId of group.observationIds) messageOf.set(obsId, result);
    // Later attempts may have arrived while this was sent.
    const latest = groupsOf(key).find((g) => g.id === id);
    if (latest && latest.attempts !== s.attempts) consider(latest);
    // Every Event of the group (other replicas' join later) names the message, for a new leader.
    const value = formatSlackRef(result);
    for (const obsId of group.observationIds) {
      const o = observations.get(obsId);
      if (o && !o.slack) await options.alertEvents.annotate(o.namespace, o.name, ALERT_SLACK_ANNOTATION, value);
    }
  }

  function forget(): void {
    for (const id of observations.keys()) {
      if (observations.size <= maxObservations) break;
      observations.delete(id);
      messageOf.delete(id);
    }
    const live = new Set([...observations.values()].map((o) => o.key));
    for (const [groupId, s] of sent) {
      if (!live.has(groupId.slice(0, groupId.lastIndexOf("@")))) {
        s.timer?.cancel();
        sent.delete(groupId);
      }
    }
  }

  return {
    observe(event, change) {
      try {
        const observation = parseAlertEvent(event);
        if (!observation) return;
        if (change === "delete") {
          observations.delete(observation.id);
          messageOf.delete(observation.id);
          forget();
          return;
        }
        observations.set(observation.id, observation);
        if (observations.size > maxObservations) forget();
        for (const group of groupsOf(observation.key))
          if (group.observationIds.includes(observation.id)) consider(group);
      } catch (err) {
        log.error({ err }, "alert notification failed");
      }
    },
    idle: () => queue.idle(),
    close() {
      for (const s of sent.values()) s.timer?.cancel();
      sent.clear();
    },
  };
}

function render(group: AlertGroup): SlackText {
  const leak = leakAlertOf(group);
  if (leak) return leakAlertMessage(leak);
  if (group.detail.kind !== "pin-failure") throw new Error(`unknown alert kind`);
  return pinFailureMessage({
    detail: group.detail,
    message: group.message,
    attempts: group.attempts,
    firstAt: new Date(group.firstAt),
    lastAt: new Date(group.lastAt),
  });
}
