// Fakes for the leak-guard component tests: an Event recorder that keeps
// what it was given, and in-memory ReadCaches.
import type { EventRecorder, EventType, ObjectRef } from "../../adapters/kube/events.js";
import type { ReadCache } from "../../adapters/kube/cache.js";

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
