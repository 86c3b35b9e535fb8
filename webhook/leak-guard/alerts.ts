// Alerts for denied and flagged removals: an Event on the pod and on the rollout, and a Slack
// message to the rollout's channel. A drain retries a refused eviction every 5 s for as long as
// it runs, so alerts are de-duplicated per (pod, rollout, decision) over a window: the first attempt posts
// and records Events, repeats only raise a count that the message shows, updated in place with
// chat.update at most once per `updateDelayMs`. After the window, the next attempt starts a new
// message. Nothing here is awaited by the admission path: report() returns at once.
import { API_VERSION, KIND } from "../../api/labels.js";
import { type LeakAlert, type LeakContext } from "../../api/leak-guard.js";
import type { EventRecorder } from "../../adapters/kube/events.js";
import type { SlackClient, SlackMessage } from "../../adapters/slack/client.js";
import { leakAlertMessage } from "../../adapters/slack/leak-alert.js";
import { type SendQueue, createSendQueue } from "../../adapters/slack/queue.js";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { type Clock, type Timer, systemClock } from "../../adapters/slack/clock.js";

export type AlertDecision = "denied" | "flagged";

export interface LeakAlertSink {
  /** Records one real (non-dry-run) denied or flagged request. Returns at once, never throws. */
  report(leak: LeakContext, decision: AlertDecision, message: string): void;
}

export interface LeakAlerter extends LeakAlertSink {
  /** Resolves when queued Slack messages and pending Events are done (tests, shutdown). */
  idle(): Promise<void>;
  /** Cancels pending message updates. */
  close(): void;
}

export interface LeakAlerterOptions {
  events: EventRecorder;
  /** Undefined when Slack is not configured: Events only. */
  slack?: SlackClient;
  logger: Logger;
  registry?: Registry;
  /** Shared with other Slack senders if given; otherwise one is made. */
  queue?: SendQueue;
  clock?: Clock;
  /** One message per (pod, rollout) per window (default 5 minutes). */
  windowMs?: number;
  /** Least time between two updates of one message (default 30 s). */
  updateDelayMs?: number;
  /** Windows tracked at once; the oldest are forgotten beyond this (default 10,000). */
  maxEntries?: number;
}

interface Entry {
  windowStart: number;
  alert: LeakAlert;
  callers: Set<string>;
  /** The posted message; undefined until posted (or when posting failed). */
  message?: SlackMessage;
  /** Attempts the posted message shows. */
  shownAttempts: number;
  updateTimer?: Timer;
}

export function createLeakAlerter(options: LeakAlerterOptions): LeakAlerter {
  const clock = options.clock ?? systemClock;
  const windowMs = options.windowMs ?? 5 * 60_000;
  const updateDelayMs = options.updateDelayMs ?? 30_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const log = options.logger.child({ component: "leak-alerts" });
  const queue = options.queue ?? createSendQueue({ logger: options.logger, ...(options.registry ? { registry: options.registry } : {}) });
  const entries = new Map<string, Entry>();
  const pendingEvents = new Set<Promise<void>>();

  // A refusal and a flagged removal are different facts (the mode changed): separate messages.
  const keyOf = (leak: LeakContext, decision: AlertDecision): string => `${leak.namespace}/${leak.pod}\u0000${leak.rollout}\u0000${decision}`;

  function forgetExpired(now: number): void {
    for (const [key, entry] of entries) {
      // A pending update still fires, so the expired message shows its final count.
      if (now - entry.windowStart >= windowMs) entries.delete(key);
    }
    // Map order is insertion order: the oldest windows go first.
    for (const [key, entry] of entries) {
      if (entries.size <= maxEntries) break;
      entry.updateTimer?.cancel();
      entries.delete(key);
    }
  }

  function recordEvents(alert: LeakAlert): void {
    const { leak } = alert;
    const reason = alert.decision === "denied" ? "LeakGuardDenied" : "LeakGuardFlagged";
    const action = leak.via === "eviction" ? "Evict" : "Delete";
    const note = `${alert.message} (by ${leak.caller || "unknown"})`;
    const writes = [
      options.events.record(
        { apiVersion: "v1", kind: "Pod", name: leak.pod, namespace: leak.namespace, ...(leak.podUid ? { uid: leak.podUid } : {}) },
        "Warning",
        reason,
        note,
        action,
      ),
      options.events.record(
        { apiVersion: API_VERSION, kind: KIND, name: leak.rollout, namespace: leak.namespace, ...(leak.rolloutUid ? { uid: leak.rolloutUid } : {}) },
        "Warning",
        reason,
        note,
        action,
      ),
    ];
    const done: Promise<void> = Promise.allSettled(writes).then(() => {
      pendingEvents.delete(done);
    });
    pendingEvents.add(done);
  }

  function post(entry: Entry): void {
    const slack = options.slack;
    const channel = entry.alert.leak.channel;
    if (!slack || !channel) return;
    const key = `${entry.alert.leak.namespace}/${entry.alert.leak.pod}`;
    queue.enqueue(`leak alert ${key}`, async () => {
      // Read the entry when the task runs: repeats that arrived meanwhile are included.
      const attempts = entry.alert.attempts;
      const { text, blocks } = leakAlertMessage(snapshot(entry));
      const sent = entry.message
        ? await slack.update(entry.message.channel, entry.message.ts, text, blocks)
        : await slack.post(channel, text, blocks);
      if (sent) {
        entry.message = sent;
        entry.shownAttempts = attempts;
      } else {
        log.warn({ pod: key, rollout: entry.alert.leak.rollout, channel }, "leak alert not delivered to Slack");
      }
    });
  }

  function scheduleUpdate(entry: Entry): void {
    if (entry.updateTimer) return;
    entry.updateTimer = clock.setTimer(() => {
      entry.updateTimer = undefined;
      if (entry.alert.attempts !== entry.shownAttempts) post(entry);
    }, updateDelayMs);
  }

  return {
    report(leak, decision, message) {
      try {
        const now = clock.now();
        forgetExpired(now);
        const key = keyOf(leak, decision);
        const entry = entries.get(key);
        if (entry) {
          entry.alert.attempts += 1;
          entry.alert.lastAt = new Date(now);
          entry.alert.message = message;
          entry.alert.leak = leak;
          if (leak.caller) entry.callers.add(leak.caller);
          scheduleUpdate(entry);
          return;
        }
        const fresh: Entry = {
          windowStart: now,
          alert: { leak, decision, message, attempts: 1, firstAt: new Date(now), lastAt: new Date(now), callers: [] },
          callers: new Set(leak.caller ? [leak.caller] : []),
          shownAttempts: 0,
        };
        entries.set(key, fresh);
        recordEvents(fresh.alert);
        post(fresh);
        if (!leak.channel) log.info({ pod: `${leak.namespace}/${leak.pod}`, rollout: leak.rollout }, "rollout has no spec.channel; no Slack alert");
      } catch (err) {
        log.error({ err }, "leak alert failed");
      }
    },
    async idle() {
      await Promise.allSettled([...pendingEvents]);
      await queue.idle();
    },
    close() {
      for (const entry of entries.values()) entry.updateTimer?.cancel();
      entries.clear();
    },
  };
}

function snapshot(entry: Entry): LeakAlert {
  return { ...entry.alert, callers: [...entry.callers] };
}
