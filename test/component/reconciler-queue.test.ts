// The keyed work queue on a fake clock: passes are held open by the test (a gate it releases)
// instead of sleeping, and requeue timers and backoff run only when the test moves time.
import { expect } from "chai";
import { KeyedQueue } from "../../reconciler/queue.js";
import { FakeClock, settle } from "../support/fake-clock.js";

/** Passes that stay open until the test releases them, in the order they started. */
function gatedPasses() {
  const open: Array<() => void> = [];
  let active = 0;
  const stats = { passes: 0, maxActive: 0, active: () => active };
  const pass = async (): Promise<undefined> => {
    stats.passes++;
    stats.maxActive = Math.max(stats.maxActive, ++active);
    await new Promise<void>((release) => open.push(release));
    active--;
    return undefined;
  };
  /** Releases the oldest open pass and lets what follows from it run. */
  const releaseOne = async (): Promise<boolean> => {
    const release = open.shift();
    release?.();
    await settle();
    return release !== undefined;
  };
  return { pass, releaseOne, open, stats };
}

describe("KeyedQueue", () => {
  let clock: FakeClock;
  beforeEach(() => (clock = new FakeClock()));

  it("runs one pass at a time per key; adds during a pass run it once more afterwards", async () => {
    const gate = gatedPasses();
    const queue = new KeyedQueue(gate.pass, { clock });
    queue.add("a");
    expect(queue.isRunning("a")).to.equal(true);
    for (let i = 0; i < 10; i++) queue.add("a");
    while (await gate.releaseOne());
    await queue.idle();
    expect(gate.stats.maxActive).to.equal(1);
    expect(gate.stats.passes).to.equal(2);
    await queue.stop();
  });

  it("runs different keys concurrently up to the worker count", async () => {
    const gate = gatedPasses();
    const queue = new KeyedQueue(gate.pass, { workers: 2, clock });
    ["a", "b", "c", "d"].forEach((k) => queue.add(k));
    expect(gate.stats.active()).to.equal(2);
    while (await gate.releaseOne());
    await queue.idle();
    expect(gate.stats.passes).to.equal(4);
    expect(gate.stats.maxActive).to.equal(2);
    await queue.stop();
  });

  it("requeues after the delay the pass returned, and not at all after undefined", async () => {
    const times: number[] = [];
    const queue = new KeyedQueue(
      async () => {
        times.push(clock.now());
        return times.length < 3 ? 60 : undefined;
      },
      { clock },
    );
    queue.add("a");
    await clock.tick(1_000);
    expect(times).to.have.length(3);
    expect([times[1]! - times[0]!, times[2]! - times[1]!]).to.deep.equal([60, 60]);
    expect(queue.hasTimer("a")).to.equal(false);
    expect(clock.pending).to.equal(0);
    await queue.stop();
  });

  it("a later requeue replaces an earlier timer for the same key", async () => {
    let passes = 0;
    const queue = new KeyedQueue(
      async () => {
        passes++;
        return undefined;
      },
      { clock },
    );
    queue.addAfter("a", 30);
    queue.addAfter("a", 200);
    expect(clock.delays()).to.deep.equal([200]);
    await clock.tick(199);
    expect(passes).to.equal(0);
    await clock.tick(1);
    expect(passes).to.equal(1);
    await queue.stop();
  });

  it("backs off exponentially on errors and resets after a success", async () => {
    const times: number[] = [];
    const errors: number[] = [];
    const queue = new KeyedQueue(
      async () => {
        times.push(clock.now());
        if (times.length <= 3) throw new Error("apiserver unavailable");
        return undefined;
      },
      { baseBackoffMs: 20, maxBackoffMs: 1000, clock, onError: (_k, _e, retry) => errors.push(retry) },
    );
    queue.add("a");
    await clock.tick(1_000);
    expect(errors).to.deep.equal([20, 40, 80]);
    expect(times.slice(1).map((t, i) => t - times[i]!)).to.deep.equal([20, 40, 80]);
    expect(queue.backoffMs("a")).to.equal(0);
    await queue.stop();
  });

  it("caps the backoff", async () => {
    const scheduled: number[] = [];
    const queue = new KeyedQueue(
      async () => {
        throw new Error("down");
      },
      { baseBackoffMs: 500, maxBackoffMs: 2000, clock },
    );
    queue.add("x");
    for (let i = 0; i < 6; i++) {
      await queue.idle();
      await settle();
      scheduled.push(...clock.delays());
      clock.fireNext();
    }
    expect(scheduled).to.deep.equal([500, 1000, 2000, 2000, 2000, 2000]);
    await queue.stop();
  });

  it("stop waits for the pass in flight and drops timers", async () => {
    let release!: () => void;
    let finished = false;
    const queue = new KeyedQueue(
      async () => {
        await new Promise<void>((r) => (release = r));
        finished = true;
        return 10;
      },
      { clock },
    );
    queue.add("a");
    let stopped = false;
    const stopping = queue.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).to.equal(false);
    release();
    await stopping;
    expect(finished).to.equal(true);
    expect(queue.hasTimer("a")).to.equal(false);
    expect(clock.pending).to.equal(0);
  });
});
