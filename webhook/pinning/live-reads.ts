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
//
// The StatefulSet controller creates a StatefulSet's missing pods in batches, all of a batch at
// once, and starts the next batch when the last create returns. With no read under way, the
// first create of a batch would send a read at once and the rest of the batch, a moment later,
// would wait for that read *and* the next one. A short gathering window (gatherMs) before a
// read that nothing is waiting behind lets the whole batch share one read: each create waits
// the window plus one read instead of up to two reads. The window is a cost, never a
// correctness matter: every create is still answered by a read sent after it arrived.

import { withTimeout, type Clock } from "../../api/clock.js";

/** Reads one object live; undefined: it does not exist. Throws when it cannot be read. */
export type LiveRead = (namespace: string, name: string) => Promise<unknown>;

interface Slot {
  /** The read under way (none while the first read's gathering window is open). */
  current?: Promise<unknown>;
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
    /** How long a read with no read under way waits for more callers before it is sent (0: at once). */
    private readonly gatherMs = 0,
  ) {
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new Error(`live read timeout must be a positive number of ms, got ${timeoutMs}`);
    if (!Number.isFinite(gatherMs) || gatherMs < 0)
      throw new Error(`live read gathering window must be a number of ms >= 0, got ${gatherMs}`);
  }

  get(namespace: string, name: string): Promise<unknown> {
    const key = `${namespace}/${name}`;
    const slot = this.slots.get(key);
    if (!slot) {
      if (this.gatherMs === 0) return this.send(key, namespace, name);
      const next = new Promise<unknown>((resolve) => {
        this.clock.setTimer(() => resolve(this.send(key, namespace, name)), this.gatherMs);
      });
      this.slots.set(key, { next });
      return next;
    }
    const current = slot.current;
    // The first read's window is still open (nothing sent yet): join it.
    if (!current) return slot.next!;
    slot.next ??= current.then(noop, noop).then(() => this.send(key, namespace, name));
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
