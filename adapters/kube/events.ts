// Records Kubernetes Events (events.k8s.io/v1) on objects. Best effort: a failed Event write is
// reported to the caller's logger, never thrown, so it cannot fail an admission or a reconcile.
import * as k8s from "@kubernetes/client-node";
import type { Clock } from "../../api/clock.js";
import { systemClock } from "../clock.js";

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

export type EventType = "Normal" | "Warning";

export interface EventRecorder {
  record(regarding: ObjectRef, type: EventType, reason: string, note: string, action?: string): Promise<void>;
}

export function kubeEventRecorder(
  events: k8s.EventsV1Api,
  reportingController: string,
  reportingInstance: string,
  onError: (err: unknown) => void,
): EventRecorder {
  return {
    async record(regarding, type, reason, note, action = reason) {
      const now = new Date();
      try {
        await events.createNamespacedEvent({
          namespace: regarding.namespace,
          body: {
            // generateName must end in a DNS-label character; "." is refused with 422.
            metadata: { generateName: `${regarding.name}-`, namespace: regarding.namespace },
            // The apiserver wants microsecond precision; V1MicroTime serialises with 6 digits.
            eventTime: new k8s.V1MicroTime(now),
            type,
            reason,
            action,
            // The API limits a note to 1 KiB.
            note: note.length > 1024 ? `${note.slice(0, 1021)}...` : note,
            regarding,
            reportingController,
            reportingInstance,
          },
        });
      } catch (err) {
        onError(err);
      }
    },
  };
}

export interface EventRateLimit {
  /** One Event per object and reason within this window. */
  windowMs: number;
  /** At most this many (object, reason) keys remembered; while full, new keys are dropped. */
  maxKeys: number;
  clock?: Clock;
  /** Called for each Event not written (for a counter). */
  onSuppressed?: (reason: string) => void;
}

/**
 * Bounds the Events a flood of (forged or repeated) reviews can write: one per regarding object
 * and reason per window, and at most maxKeys distinct ones per window. A full map drops new keys
 * instead of evicting old ones, so cycling through names cannot write more than maxKeys Events
 * per window.
 */
export function rateLimitedEventRecorder(inner: EventRecorder, limit: EventRateLimit): EventRecorder {
  const clock = limit.clock ?? systemClock;
  const lastWritten = new Map<string, number>();
  const forget = (t: number) => {
    for (const [key, at] of lastWritten) if (t - at >= limit.windowMs) lastWritten.delete(key);
  };
  return {
    async record(regarding, type, reason, note, action) {
      const t = clock.now();
      const key = `${regarding.kind}/${regarding.namespace}/${regarding.name}/${regarding.uid ?? ""}/${reason}`;
      const last = lastWritten.get(key);
      if (last !== undefined && t - last < limit.windowMs) {
        limit.onSuppressed?.(reason);
        return;
      }
      if (last === undefined && lastWritten.size >= limit.maxKeys) {
        forget(t);
        if (lastWritten.size >= limit.maxKeys) {
          limit.onSuppressed?.(reason);
          return;
        }
      }
      lastWritten.set(key, t);
      await inner.record(regarding, type, reason, note, action);
    },
  };
}
