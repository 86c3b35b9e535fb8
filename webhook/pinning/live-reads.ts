// Live reads of a rollout, shared between the pod creates that can use the same read.
//
// A live read is there to see what the cache may not show yet: every status write that landed
// before the pod create was admitted (api/pinning.ts). A read the apiserver receives after a
// create arrived sees all of those, so one read can answer every create that arrived before it
// was sent. A create that arrives while a read is already under way cannot use that one (it may
// have been answered before the write the create follows); it waits for the next read, which is
// sent when the current one ends. So a burst of creates for one rollout (a wave, or a StatefulSet
// created with Parallel pods) costs one read in flight and one queued, not one read per pod: at
// 1,000 pods the per-pod reads timed out by the hundred (bench/RESULTS.md) and held each create
// for the whole timeout.
//
// Each read is bounded (timeoutMs): one that does not answer fails for every create waiting on
// it (the cache's answer stands, as for any failed read) and the next read is sent.

import { withTimeout, type Clock } from "../../api/clock.js";

/** Reads one object live; undefined: it does not exist. Throws when it cannot be read. */
export type LiveRead = (namespace: string, name: string) => Promise<unknown>;

interface Slot {
  /** The read under way. */
  current: Promise<unknown>;
  /** The read that will be sent when `current` ends, shared by every caller that came meanwhile. */
  next?: Promise<unknown>;
}

const noop = (): void => {};

/**
 * Concurrent reads of one object share reads, each caller answered by a read sent after its
 * call. At most one read in flight and one queued per object; an object with no read under way
 * holds nothing here.
 */
export class CoalescedLiveReads {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly read: LiveRead,
    private readonly timeoutMs: number,
    private readonly clock: Pick<Clock, "setTimer">,
  ) {
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new Error(`live read timeout must be a positive number of ms, got ${timeoutMs}`);
  }

  get(namespace: string, name: string): Promise<unknown> {
    const key = `${namespace}/${name}`;
    const slot = this.slots.get(key);
    if (!slot) return this.send(key, namespace, name);
    slot.next ??= slot.current.then(noop, noop).then(() => this.send(key, namespace, name));
    return slot.next;
  }

  /** Objects with a read under way (bounded by the requests in flight). */
  get inFlight(): number {
    return this.slots.size;
  }

  private send(key: string, namespace: string, name: string): Promise<unknown> {
    const sent = withTimeout(
      Promise.resolve().then(() => this.read(namespace, name)),
      this.timeoutMs,
      this.clock,
    );
    const slot = this.slots.get(key);
    if (slot) {
      slot.current = sent;
      slot.next = undefined;
    } else this.slots.set(key, { current: sent });
    void sent.then(noop, noop).then(() => {
      const s = this.slots.get(key);
      if (s && s.current === sent && s.next === undefined) this.slots.delete(key);
    });
    return sent;
  }
}
