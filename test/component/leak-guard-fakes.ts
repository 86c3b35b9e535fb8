// Fakes for the leak-guard component tests: a hand-moved clock, an Event recorder that keeps
// what it was given, and in-memory ReadCaches.
import type { EventRecorder, EventType, ObjectRef } from "../../adapters/kube/events.js";
import type { ReadCache } from "../../adapters/kube/cache.js";
import type { Clock, Timer } from "../../webhook/leak-guard/index.js";

export class FakeClock implements Clock {
  t = Date.parse("2026-11-23T10:00:00Z");
  private timers: Array<{ at: number; fn: () => void; cancelled: boolean }> = [];
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): Timer {
    const timer = { at: this.t + ms, fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }
  /** Moves time forward, running due timers in order. */
  advance(ms: number): void {
    const target = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => !x.cancelled && x.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = target;
  }
}

export interface RecordedEvent {
  regarding: ObjectRef;
  type: EventType;
  reason: string;
  note: string;
  action?: string;
}

export function fakeEvents(): EventRecorder & { recorded: RecordedEvent[] } {
  const recorded: RecordedEvent[] = [];
  return {
    recorded,
    async record(regarding, type, reason, note, action) {
      recorded.push({ regarding, type, reason, note, ...(action ? { action } : {}) });
    },
  };
}

/** A ReadCache over a fixed list of objects. */
export function fakeCache<T extends { metadata?: { name?: string; namespace?: string } }>(
  items: T[],
  synced = true,
): ReadCache<T> {
  return {
    get: (namespace, name) =>
      items.find((i) => i.metadata?.name === name && (i.metadata?.namespace ?? "") === namespace),
    list: (namespace) => (namespace === undefined ? items : items.filter((i) => i.metadata?.namespace === namespace)),
    synced: synced ? Promise.resolve() : new Promise<void>(() => {}),
    isSynced: () => synced,
    onChange: () => {},
    stop: async () => {},
  };
}
