// webhook/pinning/live-reads.ts: concurrent live reads of a rollout share reads, and every caller
// is answered by a read sent after it asked (what makes a live read live).
import { expect } from "chai";
import { CoalescedLiveReads } from "../../webhook/pinning/live-reads.js";
import { FakeClock } from "../support/fake-clock.js";

/** A read the test answers by hand; the log orders calls and sends. */
function harness(timeoutMs = 2000, gatherMs = 0) {
  const log: string[] = [];
  const sent: Array<{ key: string; resolve: (v: unknown) => void; reject: (e: Error) => void }> = [];
  const clock = new FakeClock(0);
  const reads = new CoalescedLiveReads(
    (ns, name) =>
      new Promise((resolve, reject) => {
        log.push(`send ${sent.length}`);
        sent.push({ key: `${ns}/${name}`, resolve, reject });
      }),
    timeoutMs,
    clock,
    gatherMs,
  );
  /** Calls get() and records which read answered it (the value is the read's index). */
  const ask = (caller: string, ns = "shop", name = "web") => {
    log.push(`call ${caller}`);
    const outcome: { value?: unknown; error?: string } = {};
    const done = reads.get(ns, name).then(
      (v) => void (outcome.value = v),
      (e: Error) => void (outcome.error = e.message),
    );
    return { outcome, done };
  };
  return { log, sent, clock, reads, ask };
}

const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

describe("pinning: coalesced live reads", () => {
  it("a burst shares reads, and each caller is answered by a read sent after its call", async () => {
    const { log, sent, reads, ask } = harness();
    const first = ask("a");
    await settle();
    const burst = ["b", "c", "d", "e"].map((c) => ask(c));
    await settle();
    expect(sent, "one read in flight, the burst waits for the next").to.have.length(1);
    sent[0]!.resolve(0);
    await settle();
    expect(sent, "one read for the whole burst").to.have.length(2);
    const late = ask("f");
    await settle();
    sent[1]!.resolve(1);
    await settle();
    sent[2]!.resolve(2);
    await Promise.all([first.done, late.done, ...burst.map((b) => b.done)]);
    expect(first.outcome.value).to.equal(0);
    expect(burst.map((b) => b.outcome.value)).to.deep.equal([1, 1, 1, 1]);
    expect(late.outcome.value, "came while read 1 was under way: read 2").to.equal(2);
    // Every caller's read was sent after its call.
    const answeredBy: Record<string, number> = { a: 0, b: 1, c: 1, d: 1, e: 1, f: 2 };
    for (const [caller, read] of Object.entries(answeredBy))
      expect(log.indexOf(`send ${read}`), `${caller} answered by read ${read}`).to.be.greaterThan(
        log.indexOf(`call ${caller}`),
      );
    expect(reads.inFlight, "nothing held once the reads are done").to.equal(0);
  });

  it("callers one after another each get their own read", async () => {
    const { sent, ask } = harness();
    for (let i = 0; i < 3; i++) {
      const r = ask(`c${i}`);
      await settle();
      sent[i]!.resolve(i);
      await r.done;
      expect(r.outcome.value).to.equal(i);
    }
    expect(sent).to.have.length(3);
  });

  it("different rollouts do not share reads", async () => {
    const { sent, ask } = harness();
    const web = ask("a", "shop", "web");
    const db = ask("b", "shop", "db");
    const other = ask("c", "other", "web");
    await settle();
    expect(sent.map((s) => s.key)).to.deep.equal(["shop/web", "shop/db", "other/web"]);
    sent.forEach((s, i) => s.resolve(i));
    await Promise.all([web.done, db.done, other.done]);
    expect([web.outcome.value, db.outcome.value, other.outcome.value]).to.deep.equal([0, 1, 2]);
  });

  it("a failed read fails only the callers it answers; the queued ones get the next read", async () => {
    const { sent, ask, reads } = harness();
    const first = ask("a");
    await settle();
    const queued = ask("b");
    await settle();
    sent[0]!.reject(new Error("apiserver unavailable"));
    await settle();
    sent[1]!.resolve("fresh");
    await Promise.all([first.done, queued.done]);
    expect(first.outcome.error).to.equal("apiserver unavailable");
    expect(queued.outcome.value).to.equal("fresh");
    expect(reads.inFlight).to.equal(0);
  });

  it("a read that never answers is cut at the bound, and the next read is sent", async () => {
    const { sent, ask, clock, reads } = harness(2000);
    const hung = ask("a");
    await settle();
    const queued = ask("b");
    await settle();
    clock.advance(1999);
    await settle();
    expect(hung.outcome, "not yet at the bound").to.deep.equal({});
    clock.advance(1);
    await settle();
    expect(hung.outcome.error).to.equal("no answer within 2000 ms");
    expect(sent, "the queued callers' read went out").to.have.length(2);
    sent[1]!.resolve("fresh");
    await queued.done;
    expect(queued.outcome.value).to.equal("fresh");
    expect(reads.inFlight).to.equal(0);
    expect(clock.pending, "no timer left behind").to.equal(0);
  });

  it("a read that throws at once fails its callers, never the caller's code", async () => {
    const clock = new FakeClock(0);
    const reads = new CoalescedLiveReads(
      () => {
        throw new Error("bad request");
      },
      2000,
      clock,
    );
    let error = "";
    await reads.get("shop", "web").catch((e: Error) => (error = e.message));
    expect(error).to.equal("bad request");
    expect(reads.inFlight).to.equal(0);
  });

  it("with a gathering window, the callers inside it share one read, sent when it closes", async () => {
    const { log, sent, clock, reads, ask } = harness(2000, 10);
    const a = ask("a");
    await settle();
    clock.advance(9);
    const b = ask("b");
    await settle();
    expect(sent, "nothing sent while the window is open").to.have.length(0);
    clock.advance(1);
    await settle();
    expect(sent).to.have.length(1);
    sent[0]!.resolve(0);
    await Promise.all([a.done, b.done]);
    expect([a.outcome.value, b.outcome.value]).to.deep.equal([0, 0]);
    expect(log).to.deep.equal(["call a", "call b", "send 0"]);
    expect(reads.inFlight).to.equal(0);
    expect(clock.pending, "no timer left behind").to.equal(0);
  });

  it("with a gathering window, a caller after the read went out queues for the next read, sent as the first ends", async () => {
    const { log, sent, clock, ask } = harness(2000, 10);
    const a = ask("a");
    clock.advance(10);
    await settle();
    const b = ask("b");
    await settle();
    expect(sent, "b cannot use the read already sent").to.have.length(1);
    sent[0]!.resolve(0);
    await settle();
    expect(sent, "the next read goes out when the first ends, with no second window").to.have.length(2);
    sent[1]!.resolve(1);
    await Promise.all([a.done, b.done]);
    expect([a.outcome.value, b.outcome.value]).to.deep.equal([0, 1]);
    expect(log).to.deep.equal(["call a", "send 0", "call b", "send 1"]);
  });

  it("refuses a gathering window that is negative or not a number", () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => new CoalescedLiveReads(async () => undefined, 2000, new FakeClock(0), bad), String(bad)).to.throw(
        /gathering window must be a number of ms >= 0/,
      );
  });

  it("refuses a bound that is not a positive number", () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => new CoalescedLiveReads(async () => undefined, bad, new FakeClock(0)), String(bad)).to.throw(
        /positive number of ms/,
      );
  });
});
