import { expect } from "chai";
import { KeyedQueue } from "../../reconciler/queue.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("KeyedQueue", () => {
  it("runs one pass at a time per key; adds during a pass run it once more afterwards", async () => {
    let active = 0;
    let maxActive = 0;
    let passes = 0;
    const queue = new KeyedQueue(async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      passes++;
      await sleep(20);
      active--;
      return undefined;
    });
    queue.add("a");
    await sleep(5);
    for (let i = 0; i < 10; i++) queue.add("a");
    await sleep(80);
    await queue.idle();
    expect(maxActive).to.equal(1);
    expect(passes).to.equal(2);
    await queue.stop();
  });

  it("runs different keys concurrently up to the worker count", async () => {
    let active = 0;
    let maxActive = 0;
    const queue = new KeyedQueue(
      async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await sleep(20);
        active--;
        return undefined;
      },
      { workers: 2 },
    );
    ["a", "b", "c", "d"].forEach((k) => queue.add(k));
    await sleep(5);
    await queue.idle();
    expect(maxActive).to.equal(2);
    await queue.stop();
  });

  it("requeues after the delay the pass returned, and not at all after undefined", async () => {
    const times: number[] = [];
    const start = Date.now();
    const queue = new KeyedQueue(async () => {
      times.push(Date.now() - start);
      return times.length < 3 ? 60 : undefined;
    });
    queue.add("a");
    await sleep(300);
    expect(times).to.have.length(3);
    expect(times[1]! - times[0]!).to.be.within(55, 150);
    expect(times[2]! - times[1]!).to.be.within(55, 150);
    expect(queue.hasTimer("a")).to.equal(false);
    await queue.stop();
  });

  it("a later requeue replaces an earlier timer for the same key", async () => {
    let passes = 0;
    const queue = new KeyedQueue(async () => {
      passes++;
      return undefined;
    });
    queue.addAfter("a", 30);
    queue.addAfter("a", 200);
    await sleep(100);
    expect(passes).to.equal(0);
    await sleep(150);
    expect(passes).to.equal(1);
    await queue.stop();
  });

  it("backs off exponentially on errors and resets after a success", async () => {
    const times: number[] = [];
    const errors: number[] = [];
    const start = Date.now();
    const queue = new KeyedQueue(
      async () => {
        times.push(Date.now() - start);
        if (times.length <= 3) throw new Error("apiserver unavailable");
        return undefined;
      },
      { baseBackoffMs: 20, maxBackoffMs: 1000, onError: (_k, _e, retry) => errors.push(retry) },
    );
    queue.add("a");
    await sleep(250);
    expect(errors).to.deep.equal([20, 40, 80]);
    expect(times).to.have.length(4);
    expect(times[3]! - times[2]!).to.be.at.least(75);
    expect(queue.backoffMs("a")).to.equal(0);
    await queue.stop();
  });

  it("caps the backoff (timers injected)", async () => {
    const scheduled: Array<{ fn: () => void; ms: number }> = [];
    const timers = { setTimeout: (fn: () => void, ms: number) => scheduled.push({ fn, ms }), clearTimeout: () => {} };
    const queue = new KeyedQueue(
      async () => {
        throw new Error("down");
      },
      { baseBackoffMs: 500, maxBackoffMs: 2000, timers },
    );
    queue.add("x");
    for (let i = 0; i < 5; i++) {
      await queue.idle();
      await sleep(1);
      scheduled[scheduled.length - 1]!.fn();
    }
    await queue.idle();
    await sleep(1);
    expect(scheduled.map((s) => s.ms)).to.deep.equal([500, 1000, 2000, 2000, 2000, 2000]);
    await queue.stop();
  });

  it("stop waits for the pass in flight and drops timers", async () => {
    let finished = false;
    const queue = new KeyedQueue(async () => {
      await sleep(30);
      finished = true;
      return 10;
    });
    queue.add("a");
    await sleep(5);
    await queue.stop();
    expect(finished).to.equal(true);
    expect(queue.hasTimer("a")).to.equal(false);
  });
});
