// Time, as every process and adapter sees it: the one clock seam. Processes wire the real clock
// (adapters/clock.ts) in their main.ts; tests move a fake one by hand (test/support/fake-clock.ts),
// so no test waits for the wall clock or depends on how fast the machine is.

/** A scheduled call that has not run yet; cancelling one that ran or was cancelled does nothing. */
export interface Timer {
  cancel(): void;
}

/**
 * Neither timers nor sleeps keep a process alive: the two processes are kept alive by their
 * servers and watches, and stop their loops through abort signals on shutdown.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `ms`. */
  setTimer(fn: () => void, ms: number): Timer;
  /** Resolves after `ms`, or at once when `signal` aborts (it never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * `promise`, or a rejection "`what` within `ms` ms" after `ms` on `clock` if it has not settled by
 * then. The promise itself is not cancelled; its late answer is ignored.
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  clock: Pick<Clock, "setTimer">,
  what = "no answer",
): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = clock.setTimer(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => timer?.cancel());
}
