// Live reads of a rollout, shared between the pod creates that can use the same read.
//
// A live read is there to see what the cache may not show yet: every status write that landed
// before the pod create was admitted (api/pinning.ts). A read the apiserver receives after a
// create arrived sees all of those, so one read can answer every create that arrived before it
// was sent. A create that arrives while a read is already under way cannot use that one (it may
// have been answered before the write the create follows); it needs a read sent after it came.
// So a burst of creates for one rollout (a wave, or a StatefulSet created with Parallel pods)
// costs a few reads, not one read per pod: at 1,000 pods the per-pod reads timed out by the
// hundred (bench/RESULTS.md) and held each create for the whole timeout.
//
// Reads of one object run side by side up to maxInFlight. A create that finds a read under way
// gets a new one (after the gathering window) instead of waiting for the read under way to end
// and then for its own: at 1,000 pods a create waited about four apiserver GET times, most of it
// queued behind a read it could not use (bench/RESULTS.md, session 7 run 7). Past maxInFlight the
// callers share one queued read, sent when one under way ends.
//
// Each read is bounded (timeoutMs): one that does not answer fails for every create waiting on
// it (the cache's answer stands, as for any failed read).
//
// The StatefulSet controller creates a StatefulSet's missing pods in batches, all of a batch at
// once, and starts the next batch when the last create returns. Sent at once, the first create's
// read would leave the rest of the batch, a moment later, to another read each. A short gathering
// window (gatherMs) before a read lets the whole batch share one. The window is a cost, never a
// correctness matter: every create is still answered by a read sent after it arrived.

import { withTimeout, type Clock } from "../../api/clock.js";

/** Reads one object live; undefined: it does not exist. Throws when it cannot be read. */
export type LiveRead = (namespace: string, name: string) => Promise<unknown>;

interface Slot {
  /** Reads of this object sent and not yet ended. */
  inFlight: number;
  /**
   * The read new callers join, not sent yet: its gathering window is open, or (`queued`) all
   * maxInFlight reads are under way and it goes when one ends.
   */
  pending?: { read: Promise<unknown>; queued: boolean; send: () => void };
}

const noop = (): void => {};

/**
 * Concurrent reads of one object share reads, each caller answered by a read sent after its
 * call. At most maxInFlight reads in flight and one waiting per object; an object with no read
 * under way holds nothing here.
 */
export class CoalescedLiveReads {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly read: LiveRead,
    private readonly timeoutMs: number,
    private readonly clock: Pick<Clock, "setTimer">,
    /** How long a read waits for more callers before it is sent (0: at once). */
    private readonly gatherMs = 0,
    /** Reads of one object under way at once; past it callers share one queued read. */
    private readonly maxInFlight = 1,
  ) {
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new Error(`live read timeout must be a positive number of ms, got ${timeoutMs}`);
    if (!Number.isFinite(gatherMs) || gatherMs < 0)
      throw new Error(`live read gathering window must be a number of ms >= 0, got ${gatherMs}`);
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1)
      throw new Error(`live reads in flight per object must be an integer >= 1, got ${maxInFlight}`);
  }

  get(namespace: string, name: string): Promise<unknown> {
    const key = `${namespace}/${name}`;
    let slot = this.slots.get(key);
    if (!slot) {
      slot = { inFlight: 0 };
      this.slots.set(key, slot);
    }
    if (slot.pending) return slot.pending.read;
    const room = slot.inFlight < this.maxInFlight;
    if (room && this.gatherMs === 0) return this.send(key, slot, namespace, name);
    const target = slot;
    let send = noop;
    const read = new Promise<unknown>((resolve) => {
      send = () => {
        if (target.pending?.read !== read) return;
        target.pending = undefined;
        resolve(this.send(key, target, namespace, name));
      };
    });
    slot.pending = { read, queued: !room, send };
    if (room) this.clock.setTimer(send, this.gatherMs);
    return read;
  }

  /** Objects with a read under way or waiting (bounded by the requests in flight). */
  get inFlight(): number {
    return this.slots.size;
  }

  private send(key: string, slot: Slot, namespace: string, name: string): Promise<unknown> {
    slot.inFlight++;
    const sent = withTimeout(
      Promise.resolve().then(() => this.read(namespace, name)),
      this.timeoutMs,
      this.clock,
    );
    void sent.then(noop, noop).then(() => {
      slot.inFlight--;
      if (slot.pending?.queued) slot.pending.send();
      else if (!slot.pending && slot.inFlight === 0) this.slots.delete(key);
    });
    return sent;
  }
}
