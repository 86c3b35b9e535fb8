// The wall clock behind the Clock seam (api/clock.ts), wired by each process's main.ts.
import type { Clock } from "../api/clock.js";

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const handle = setTimeout(fn, ms);
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
  sleep(ms, signal) {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(handle);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const handle = setTimeout(done, ms);
      handle.unref();
      signal?.addEventListener("abort", done, { once: true });
    });
  },
};
