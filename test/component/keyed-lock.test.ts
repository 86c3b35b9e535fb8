// reconciler/keyed-lock.ts: one holder per key, in arrival order; other keys never wait.
import { expect } from "chai";
import { KeyedLock } from "../../reconciler/keyed-lock.js";

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
});
