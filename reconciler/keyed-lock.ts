// One holder per key at a time, in arrival order. The reconciler serialises the members of a
// rollout group with it: a member reads the others live, decides and records a wave while holding
// its group's key, so two members can never both read "nobody is moving" and both start a wave.
// Only the leader reconciles, so one process-local lock is enough. Entries go when the last
// holder of a key releases it: the map holds at most one entry per group being decided.
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  /** Resolves once every earlier holder of `key` has released it; call the result to release. */
  async acquire(key: string): Promise<() => void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    return () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }

  /** Keys held or waited for. */
  get size(): number {
    return this.tails.size;
  }
}
