// reconciler/keyed-lock.ts: one holder per key, in arrival order; other keys never wait.
import { expect } from "chai";
import { KeyedLock } from "../../reconciler/keyed-lock.js";
import { FakeClock, settle } from "../support/fake-clock.js";

describe("KeyedLock (group members decide one at a time)", () => {
  it("a second holder of the same key waits until the first releases, then holders go in arrival order", async () => {
    const lock = new KeyedLock();
    const order: string[] = [];
    const releaseA = await lock.acquire("ns/ingester");
    const b = lock.acquire("ns/ingester").then((release) => {
      order.push("b");
      return release;
    });
    const c = lock.acquire("ns/ingester").then((release) => {
      order.push("c");
      release();
    });
    // b and c are queued: give every pending continuation a chance to run first.
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).to.deep.equal([]);
    order.push("a releases");
    releaseA();
    const releaseB = await b;
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).to.deep.equal(["a releases", "b"]);
    releaseB();
    await c;
    expect(order).to.deep.equal(["a releases", "b", "c"]);
    expect(lock.size).to.equal(0);
  });

  it("holders of different keys do not wait for each other", async () => {
    const lock = new KeyedLock();
    const releaseA = await lock.acquire("ns/ingester");
    const releaseB = await lock.acquire("ns/kafka");
    const releaseC = await lock.acquire("other/ingester");
    expect(lock.size).to.equal(3);
    releaseA();
    releaseB();
    releaseC();
    expect(lock.size).to.equal(0);
  });

  it("forgets a key once its last holder releases (the map does not grow with keys seen)", async () => {
    const lock = new KeyedLock();
    for (let i = 0; i < 1000; i++) (await lock.acquire(`ns/group-${i}`))();
    expect(lock.size).to.equal(0);
  });

  it("a release called twice does not let a later holder overlap another", async () => {
    const lock = new KeyedLock();
    const releaseA = await lock.acquire("k");
    releaseA();
    const releaseB = await lock.acquire("k");
    let cIn = false;
    const c = lock.acquire("k").then((release) => {
      cIn = true;
      return release;
    });
    releaseA(); // stale second release of A
    await new Promise((resolve) => setImmediate(resolve));
    expect(cIn).to.equal(false);
    releaseB();
    (await c)();
    expect(lock.size).to.equal(0);
  });

  it("with a wait limit: a caller behind a holder that never releases gives up, and later callers are not held by it", async () => {
    const clock = new FakeClock();
    const lock = new KeyedLock({ clock, waitLimitMs: 30_000 });
    const stuck = await lock.acquire("ns/ingester"); // a holder whose call never answers
    let failure: unknown;
    const waiting = lock.acquire("ns/ingester").catch((err: unknown) => (failure = err));
    await settle();
    await clock.tick(29_999);
    expect(failure).to.equal(undefined);
    await clock.tick(1);
    await waiting;
    expect(String(failure)).to.match(/ns\/ingester: waited 30000 ms for another decision of the same key; retrying/);
    // The stuck holder finally returns: the next caller gets the key at once, not after the one that gave up.
    stuck();
    const next = await lock.acquire("ns/ingester");
    next();
    await settle();
    expect(lock.size).to.equal(0);
  });

  it("with a wait limit: a caller whose turn comes in time holds the key, and the limit's timer is cancelled", async () => {
    const clock = new FakeClock();
    const lock = new KeyedLock({ clock, waitLimitMs: 30_000 });
    const first = await lock.acquire("k");
    const second = lock.acquire("k");
    await settle();
    await clock.tick(10_000);
    first();
    const release = await second;
    await clock.tick(60_000); // the limit passing later changes nothing
    let thirdIn = false;
    const third = lock.acquire("k").then((r) => {
      thirdIn = true;
      return r;
    });
    await settle();
    expect(thirdIn).to.equal(false);
    release();
    (await third)();
    expect(lock.size).to.equal(0);
  });
});
