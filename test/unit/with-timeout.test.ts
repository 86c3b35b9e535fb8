// api/clock.ts withTimeout: a bounded wait on the clock seam (pinning's and the rollout hook's
// live reads). The bound is fake time, so no case waits for the wall clock.
import { expect } from "chai";
import { withTimeout } from "../../api/clock.js";
import { FakeClock, settle } from "../support/fake-clock.js";

type Outcome = { value?: unknown; error?: string };

function track(promise: Promise<unknown>): Outcome & { done: boolean } {
  const o: Outcome & { done: boolean } = { done: false };
  promise.then(
    (value) => Object.assign(o, { value, done: true }),
    (err: Error) => Object.assign(o, { error: err.message, done: true }),
  );
  return o;
}

describe("withTimeout (api/clock.ts)", () => {
  const cases: Array<{
    name: string;
    settleAt?: number; // ms after the call the promise settles; undefined: never
    fails?: boolean;
    what?: string;
    expected: Outcome;
  }> = [
    { name: "answered before the bound: its value", settleAt: 999, expected: { value: "answer" } },
    { name: "failed before the bound: its own error", settleAt: 10, fails: true, expected: { error: "read failed" } },
    { name: "no answer: rejected at the bound", expected: { error: "no answer within 1000 ms" } },
    {
      name: "named wait: the name in the error",
      what: "no answer from the apiserver",
      expected: { error: "no answer from the apiserver within 1000 ms" },
    },
    {
      name: "answered after the bound: the timeout stands",
      settleAt: 1500,
      expected: { error: "no answer within 1000 ms" },
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const clock = new FakeClock(0);
      let resolve!: (v: unknown) => void;
      let reject!: (e: Error) => void;
      const inner = new Promise((res, rej) => ((resolve = res), (reject = rej)));
      const outcome = track(withTimeout(inner, 1000, clock, c.what));
      if (c.settleAt !== undefined && c.settleAt < 1000) {
        await clock.tick(c.settleAt);
        if (c.fails) reject(new Error("read failed"));
        else resolve("answer");
        await settle();
      } else {
        await clock.tick(1000);
        if (c.settleAt !== undefined) resolve("late answer");
        await settle();
      }
      expect(outcome.done).to.equal(true);
      expect({ value: outcome.value, error: outcome.error }).to.deep.equal({
        value: undefined,
        error: undefined,
        ...c.expected,
      });
      expect(clock.pending, "the bound's timer is cancelled once settled").to.equal(0);
    });
  }
});
