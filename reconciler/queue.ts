// A keyed work queue: informer events add keys, a pass returns when to run again.
// - one pass at a time per key (a key added while its pass runs is marked dirty and runs once after);
// - duplicate adds collapse; up to `workers` different keys run concurrently;
// - a pass's requeue replaces any timer for the key (undefined: no timer, e.g. terminal phases);
// - a pass that throws is retried with exponential backoff, reset by the next success.

import { systemClock } from "../adapters/clock.js";
import type { Clock, Timer } from "../api/clock.js";

export type PassResult = number | undefined;
export type Handler = (key: string) => Promise<PassResult>;

export interface QueueOptions {
  workers?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  clock?: Clock;
  onError?: (key: string, err: unknown, retryInMs: number) => void;
}

export class KeyedQueue {
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, Timer>();
  private readonly failures = new Map<string, number>();
  private readonly idleWaiters: Array<() => void> = [];
  private stopped = false;
  private readonly workers: number;
  private readonly baseBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly clock: Clock;

  constructor(
    private readonly handler: Handler,
    private readonly options: QueueOptions = {},
  ) {
    this.workers = options.workers ?? 4;
    this.baseBackoffMs = options.baseBackoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 60_000;
    this.clock = options.clock ?? systemClock;
  }

  /** Runs a pass for `key` as soon as a worker is free (after its current pass, if one runs). */
  add(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.ready.push(key);
    this.pump();
  }

  /** Schedules a pass in `ms`, replacing any timer for the key. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    this.cancelTimer(key);
    if (ms <= 0) {
      this.add(key);
      return;
    }
    this.timers.set(
      key,
      this.clock.setTimer(() => {
        this.timers.delete(key);
        this.add(key);
      }, ms),
    );
  }

  /** Drops timers and pending work for a key (the object was deleted). */
  forget(key: string): void {
    this.cancelTimer(key);
    this.failures.delete(key);
    this.dirty.delete(key);
    if (this.queued.delete(key)) this.ready.splice(this.ready.indexOf(key), 1);
  }

  backoffMs(key: string): number {
    const n = this.failures.get(key) ?? 0;
    return n === 0 ? 0 : Math.min(this.maxBackoffMs, this.baseBackoffMs * 2 ** (n - 1));
  }

  hasTimer(key: string): boolean {
    return this.timers.has(key);
  }

  isRunning(key: string): boolean {
    return this.running.has(key);
  }

  /** Stops taking work; resolves when the passes in flight have finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const key of [...this.timers.keys()]) this.cancelTimer(key);
    this.ready.length = 0;
    this.queued.clear();
    await this.idle();
  }

  /** Resolves when no pass runs and none is ready to run (timers may still be pending). */
  idle(): Promise<void> {
    if (this.running.size === 0 && this.ready.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private cancelTimer(key: string): void {
    this.timers.get(key)?.cancel();
    this.timers.delete(key);
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.workers && this.ready.length > 0) {
      const key = this.ready.shift()!;
      this.queued.delete(key);
      this.running.add(key);
      void this.runPass(key);
    }
    if (this.running.size === 0 && this.ready.length === 0) this.idleWaiters.splice(0).forEach((r) => r());
  }

  private async runPass(key: string): Promise<void> {
    let next: PassResult;
    let failed = false;
    try {
      next = await this.handler(key);
      this.failures.delete(key);
    } catch (err) {
      failed = true;
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      next = this.backoffMs(key);
      this.options.onError?.(key, err, next);
    }
    this.running.delete(key);
    if (!this.stopped) {
      if (next === undefined) this.cancelTimer(key);
      else this.addAfter(key, next);
      // After a failure the backoff timer runs the next pass, not the events that came meanwhile.
      if (this.dirty.delete(key) && !failed) this.add(key);
    }
    this.pump();
  }
}
