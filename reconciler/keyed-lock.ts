// One holder per key at a time, in arrival order. The reconciler serialises the members of a
// rollout group with it: a member reads the others live, decides and records a wave while holding
// its group's key, so two members can never both read "nobody is moving" and both start a wave.
// Only the leader reconciles, so one process-local lock is enough. Entries go when the last
// holder of a key releases it: the map holds at most one entry per group being decided.
import type { Clock } from "../api/clock.js";

export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * `waitLimitMs` bounds how long a caller waits: a holder stuck on a call that never answers
   * must not take a worker from every other member of its group. A caller that gives up throws
   * (its pass is retried with backoff) and never holds the key.
   */
  constructor(private readonly options: { clock?: Clock; waitLimitMs?: number } = {}) {}

  /** Resolves once every earlier holder of `key` has released it; call the result to release. */
  async acquire(key: string): Promise<() => void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    const done = () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
    const { clock, waitLimitMs } = this.options;
    if (!clock || waitLimitMs === undefined) {
      await previous;
      return done;
    }
    let state: "waiting" | "held" | "gave-up" = "waiting";
    const turn = previous.then(() => {
      // A caller that gave up passes its turn on at once, so later callers are not held by it.
      if (state === "gave-up") done();
      else state = "held";
    });
    let timer: { cancel(): void } | undefined;
    const expired = new Promise<"expired">((resolve) => {
      timer = clock.setTimer(() => resolve("expired"), waitLimitMs);
    });
    await Promise.race([turn, expired]);
    timer?.cancel();
    if (state === "waiting") {
      state = "gave-up";
      throw new Error(`${key}: waited ${waitLimitMs} ms for another decision of the same key; retrying`);
    }
    return done;
  }

  /** Keys held or waited for. */
  get size(): number {
    return this.tails.size;
  }
}
