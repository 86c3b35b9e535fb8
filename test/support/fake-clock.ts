// The one fake Clock (api/clock.ts) for tests: time moves only when the test moves it, and due
// timers run in order (by due time, then by the order they were set), so a test about delays,
// backoff or leases neither waits for the wall clock nor depends on how fast the machine is.
import type { Clock, Timer } from "../../api/clock.js";

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

/** Lets promise chains started by a timer (or by the test) run before the test goes on. */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, Pending>();

  constructor(start = Date.parse("2026-11-23T10:00:00Z")) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): Timer {
    const seq = ++this.seq;
    this.timers.set(seq, { at: this.t + Math.max(0, ms), seq, fn });
    return { cancel: () => void this.timers.delete(seq) };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = this.setTimer(() => {
        signal?.removeEventListener("abort", abort);
        resolve();
      }, ms);
      const abort = () => {
        timer.cancel();
        resolve();
      };
      signal?.addEventListener("abort", abort, { once: true });
    });
  }

  /** Timers set and not yet run or cancelled. */
  get pending(): number {
    return this.timers.size;
  }

  /** How far ahead each pending timer is due, soonest first. */
  delays(): number[] {
    return this.ordered().map((p) => p.at - this.t);
  }

  /** Moves time forward by `ms`, running each timer due on the way at its own due time. */
  advance(ms: number): void {
    const target = this.t + ms;
    for (let due = this.nextDue(target); due; due = this.nextDue(target)) this.run(due);
    this.t = Math.max(this.t, target);
  }

  /**
   * As advance(), but lets the promise chains each timer starts run before the next timer is
   * due: for code that awaits between timers (a loop that sleeps, a retry after a failed call).
   */
  async tick(ms: number): Promise<void> {
    const target = this.t + ms;
    await settle();
    for (let due = this.nextDue(target); due; due = this.nextDue(target)) {
      this.run(due);
      await settle();
    }
    this.t = Math.max(this.t, target);
  }

  /**
   * Awaits `work`, moving time on to the next timer whenever one is pending: for code that waits
   * on the clock between real I/O (a client's waits between retries). The deadline is real time
   * and only turns a hang into a failure.
   */
  async drive<T>(work: Promise<T>, timeoutMs = 15_000): Promise<T> {
    let done = false;
    void work.then(
      () => (done = true),
      () => (done = true),
    );
    const end = Date.now() + timeoutMs;
    while (!done) {
      if (Date.now() > end) throw new Error("timed out driving the fake clock: the work neither finished nor waited");
      if (!this.fireNext()) await new Promise((resolve) => setTimeout(resolve, 5));
      else await settle();
    }
    return work;
  }

  /** Moves time to the earliest pending timer and runs every timer due then; false when none is pending. */
  fireNext(): boolean {
    const first = this.ordered()[0];
    if (!first) return false;
    for (let due = this.nextDue(first.at); due; due = this.nextDue(first.at)) this.run(due);
    return true;
  }

  private ordered(): Pending[] {
    return [...this.timers.values()].sort((a, b) => a.at - b.at || a.seq - b.seq);
  }

  private nextDue(target: number): Pending | undefined {
    const first = this.ordered()[0];
    return first && first.at <= target ? first : undefined;
  }

  private run(due: Pending): void {
    this.timers.delete(due.seq);
    this.t = Math.max(this.t, due.at);
    due.fn();
  }
}
