// Alerts for denied and flagged removals and for pods that could not be pinned. This replica
// writes them as alert Events (api/alert-events.ts says why Events, and how the leader-elected
// reconciler turns the Events of every replica into exactly one Slack message per alert).
//
// A drain retries a refused eviction every 5 s for as long as it runs, so per (pod, rollout,
// decision) and window this replica writes one alert Event (on the pod, related to the
// rollout) and one plain Event on the rollout (for `kubectl describe`); repeats only raise a
// count, written to the alert Event's series at most once per `updateDelayMs`. After the
// window, the next attempt starts a new alert. Nothing here is awaited by the admission path:
// report() returns at once.
import type { AlertEventApi } from "../../adapters/kube/alert-events.js";
import type { EventRecorder, ObjectRef } from "../../adapters/kube/events.js";
import { systemClock } from "../../adapters/clock.js";
import type { Clock, Timer } from "../../api/clock.js";
import { ALERT_WINDOW_MS, type AlertDetail, alertKey, encodeAlertDetail } from "../../api/alert-events.js";
import { API_VERSION, KIND } from "../../api/labels.js";
import type { LeakContext } from "../../api/leak-guard.js";
import type { Logger } from "pino";
import type { PinningAlert } from "../pinning/handler.js";

export type AlertDecision = "denied" | "flagged";

export interface LeakAlertSink {
  /** Records one real (non-dry-run) denied or flagged request. Returns at once, never throws. */
  report(leak: LeakContext, decision: AlertDecision, message: string): void;
}

export interface LeakAlerter extends LeakAlertSink {
  /** A pod that could not be pinned (the pinning handler's PinningAlertSink). Never throws. */
  alert(alert: PinningAlert): void;
  /** Resolves when pending Event writes are done (tests, shutdown). */
  idle(): Promise<void>;
  /** Cancels pending count updates. */
  close(): void;
}

export interface LeakAlerterOptions {
  /** Plain Events on the rollout, for people reading `kubectl describe`. */
  events: EventRecorder;
  /** The alert Events the reconciler reads; absent: plain Events only (no Slack alerts). */
  alertEvents?: AlertEventApi;
  logger: Logger;
  clock?: Clock;
  /** One alert per (pod, rollout, decision) per window (default 5 minutes). */
  windowMs?: number;
  /** Least time between two count updates of one alert Event (default 30 s). */
  updateDelayMs?: number;
  /** Windows tracked at once; the oldest are forgotten beyond this (default 10,000). */
  maxEntries?: number;
}

interface Entry {
  windowStart: number;
  detail: AlertDetail;
  attempts: number;
  lastAt: number;
  /** The alert Event: a promise of its name (undefined when the write failed). */
  eventName: Promise<string | undefined>;
  /** Attempts the Event shows. */
  written: number;
  updateTimer?: Timer;
}

const MAX_CALLERS = 20;

export function createLeakAlerter(options: LeakAlerterOptions): LeakAlerter {
  const clock = options.clock ?? systemClock;
  const windowMs = options.windowMs ?? ALERT_WINDOW_MS;
  const updateDelayMs = options.updateDelayMs ?? 30_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const log = options.logger.child({ component: "leak-alerts" });
  const entries = new Map<string, Entry>();
  const pending = new Set<Promise<unknown>>();

  function track<T>(work: Promise<T>): Promise<T> {
    const done = work.finally(() => pending.delete(done));
    pending.add(done);
    return work;
  }

  function forgetExpired(now: number): void {
    for (const [key, entry] of entries) {
      // A pending update still runs, so the expired alert shows its final count.
      if (now - entry.windowStart >= windowMs) entries.delete(key);
    }
    // Map order is insertion order: the oldest windows go first.
    for (const [key, entry] of entries) {
      if (entries.size <= maxEntries) break;
      entry.updateTimer?.cancel();
      entries.delete(key);
    }
  }

  function flush(entry: Entry, namespace: string): void {
    if (entry.attempts === entry.written) return;
    const attempts = entry.attempts;
    const lastAt = entry.lastAt;
    const detail = encodeAlertDetail(entry.detail);
    void track(
      entry.eventName.then(async (name) => {
        if (!name || !options.alertEvents) return;
        await options.alertEvents.update(namespace, name, {
          count: attempts,
          lastObservedAt: new Date(lastAt),
          detail,
        });
        entry.written = Math.max(entry.written, attempts);
      }),
    );
  }

  function scheduleUpdate(entry: Entry, namespace: string): void {
    if (entry.updateTimer) return;
    entry.updateTimer = clock.setTimer(() => {
      entry.updateTimer = undefined;
      flush(entry, namespace);
    }, updateDelayMs);
  }

  /** Counts one occurrence; the first of a window writes the Events. */
  function occurrence(
    detail: AlertDetail,
    namespace: string,
    first: () => {
      regarding: ObjectRef;
      related: ObjectRef;
      reason: string;
      action: string;
      note: string;
      rolloutEvent: boolean;
    },
  ): void {
    const now = clock.now();
    forgetExpired(now);
    const key = alertKey(detail);
    const entry = entries.get(key);
    if (entry) {
      entry.attempts += 1;
      entry.lastAt = now;
      if (detail.kind === "leak" && entry.detail.kind === "leak") {
        const callers = entry.detail.callers;
        const caller = detail.leak.caller;
        if (caller && !callers.includes(caller) && callers.length < MAX_CALLERS) callers.push(caller);
        entry.detail = { ...detail, callers };
      }
      scheduleUpdate(entry, namespace);
      return;
    }
    const e = first();
    const alertEvents = options.alertEvents;
    const eventName = alertEvents
      ? track(
          alertEvents.create({
            kind: detail.kind,
            regarding: e.regarding,
            related: e.related,
            type: "Warning",
            reason: e.reason,
            action: e.action,
            note: e.note,
            detail: encodeAlertDetail(detail),
            at: new Date(now),
          }),
        )
      : Promise.resolve(undefined);
    entries.set(key, { windowStart: now, detail, attempts: 1, lastAt: now, eventName, written: 1 });
    // Without alert Events, the pod still gets a plain one.
    if (!alertEvents) void track(options.events.record(e.regarding, "Warning", e.reason, e.note, e.action));
    if (e.rolloutEvent) void track(options.events.record(e.related, "Warning", e.reason, e.note, e.action));
  }

  const rolloutRef = (namespace: string, name: string, uid?: string): ObjectRef => ({
    apiVersion: API_VERSION,
    kind: KIND,
    name,
    namespace,
    ...(uid ? { uid } : {}),
  });

  return {
    report(leak, decision, message) {
      try {
        const { channel: _channel, podUid, rolloutUid, ...context } = leak;
        const detail: AlertDetail = {
          kind: "leak",
          decision,
          leak: context,
          callers: leak.caller ? [leak.caller] : [],
        };
        occurrence(detail, leak.namespace, () => ({
          regarding: {
            apiVersion: "v1",
            kind: "Pod",
            name: leak.pod,
            namespace: leak.namespace,
            ...(podUid ? { uid: podUid } : {}),
          },
          related: rolloutRef(leak.namespace, leak.rollout, rolloutUid),
          reason: decision === "denied" ? "LeakGuardDenied" : "LeakGuardFlagged",
          action: leak.via === "eviction" ? "Evict" : "Delete",
          note: `${message} (by ${leak.caller || "unknown"})`,
          rolloutEvent: true,
        }));
      } catch (err) {
        log.error({ err }, "leak alert failed");
      }
    },
    alert(alert) {
      try {
        const detail: AlertDetail = {
          kind: "pin-failure",
          reason: alert.reason,
          namespace: alert.namespace,
          pod: alert.pod,
          rollout: alert.rollout,
          statefulSet: alert.statefulSet,
          wantedRevision: alert.wantedRevision,
          actualRevision: alert.actualRevision,
        };
        occurrence(detail, alert.namespace, () => ({
          // The pod is being created: it has a name but no uid yet.
          regarding: { apiVersion: "v1", kind: "Pod", name: alert.pod, namespace: alert.namespace },
          related: rolloutRef(alert.namespace, alert.rollout),
          reason: alert.reason === "revision-missing" ? "RevisionMissing" : "PinningFailed",
          action: "Pin",
          note: alert.message,
          // The pinning handler records every failure on the rollout itself.
          rolloutEvent: false,
        }));
      } catch (err) {
        log.error({ err }, "pinning alert failed");
      }
    },
    async idle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    close() {
      for (const entry of entries.values()) entry.updateTimer?.cancel();
      entries.clear();
    },
  };
}
