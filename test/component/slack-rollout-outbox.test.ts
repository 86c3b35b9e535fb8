// Slack outside the reconcile pass (adapters/slack/rollout-outbox.ts): coalescing per rollout,
// per-channel rate limiting, bounds, and the message ref reaching status.slackMessage — then a
// 20-pod rollout driven pass by pass on the fake cluster with fake time, with no Slack, a Slack
// that holds its answers and a Slack that answers 429 + Retry-After 30: the same passes, in the
// same order, over the same fake time, all finished while Slack still owed its first answer (so
// no pass waited for one; a pass that did would never finish and the test would time out).
import { expect } from "chai";
import { pino } from "pino";
import { Registry } from "prom-client";
import type { EventRecorder } from "../../adapters/kube/events.js";
import { createSlackClient } from "../../adapters/slack/client.js";
import { createRolloutOutbox, type RolloutOutbox } from "../../adapters/slack/rollout-outbox.js";
import { slackRolloutNotifier, type RolloutPublisher } from "../../adapters/slack/rollout-notifier.js";
import { parseRollout, type StatefulsetRollout } from "../../api/rollout.js";
import { rolloutRunOf, type SlackMessageRef } from "../../adapters/slack/rollout-blocks.js";
import { Reconciler } from "../../reconciler/controller.js";
import { createMetrics } from "../../reconciler/metrics.js";
import { FakeSlack } from "../support/fake-slack.js";
import { FakeClock } from "../support/fake-clock.js";
import { FakeCluster, rolloutObject } from "./reconciler.fake-cluster.js";
import { until as waitUntil } from "../support/until.js";

const logger = pino({ level: "silent" });
const KEY = "ns/web";

const until = (what: string, cond: () => boolean): Promise<void> => waitUntil(what, cond, 15_000, 2);

/** A publisher whose publishes wait until the test releases them. */
class HeldPublisher implements RolloutPublisher {
  calls: Array<{
    rollout: StatefulsetRollout;
    known: SlackMessageRef | undefined;
    release: (ref?: SlackMessageRef) => void;
  }> = [];
  publish(rollout: StatefulsetRollout, known: SlackMessageRef | undefined): Promise<SlackMessageRef | undefined> {
    return new Promise((resolve) => this.calls.push({ rollout, known, release: resolve }));
  }
  publishGroup(owner: StatefulsetRollout, _members: readonly StatefulsetRollout[], known: SlackMessageRef | undefined) {
    return this.publish(owner, known);
  }
  close(): void {}
  /** Answers call `i` with a message ref for that state's rollout. */
  answer(i: number, ts = "1.000001"): SlackMessageRef {
    const call = this.calls[i]!;
    const ref = { channel: "C0001", ts, rollout: rolloutRunOf(call.rollout) };
    call.release(ref);
    return ref;
  }
}

function parsed(raw: unknown): StatefulsetRollout {
  const r = parseRollout(raw);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

/** The rollout as a pass would hand it over, with a marker in status.reason. */
function state(cluster: FakeCluster, reason: string, key = KEY): StatefulsetRollout {
  const r = parsed(cluster.rollouts.get(key));
  return { ...r, status: { ...r.status, reason } };
}

describe("Slack rollout outbox", function () {
  this.timeout(20_000);
  let cluster: FakeCluster;
  let clock: FakeClock;
  let publisher: HeldPublisher;
  let outbox: RolloutOutbox;
  let registry: Registry;
  let statusWrites: number;

  beforeEach(() => {
    cluster = new FakeCluster();
    cluster.putRollout(rolloutObject({ channel: "#deploys", notifyLevel: "debug" }));
    clock = new FakeClock();
    publisher = new HeldPublisher();
    registry = new Registry();
    statusWrites = 0;
    const replaceStatus = cluster.replaceStatus.bind(cluster);
    const rollouts = {
      get: cluster.get.bind(cluster),
      replaceStatus: (namespace: string, name: string, body: Parameters<FakeCluster["replaceStatus"]>[2]) => {
        statusWrites++;
        return replaceStatus(namespace, name, body);
      },
    };
    outbox = createRolloutOutbox({
      publisher,
      rollouts,
      namespaceRollouts: (namespace) =>
        [...cluster.rollouts.values()].filter((r) => r.metadata?.namespace === namespace),
      logger,
      registry,
      clock,
      minChannelIntervalMs: 1_000,
      maxPending: 3,
    });
  });
  afterEach(() => {
    outbox.close();
    cluster.stop();
  });

  it("notify returns at once; states that arrive while one is sent are coalesced to the newest", async () => {
    outbox.notify(state(cluster, "pass 1"));
    expect(publisher.calls).to.have.length(1);
    for (let i = 2; i <= 5; i++) outbox.notify(state(cluster, `pass ${i}`));
    expect(outbox.pending).to.equal(1);
    publisher.answer(0);
    // The channel rests for minChannelIntervalMs before the next publish.
    await until("first publish recorded", () => outbox.pending === 1 && statusWrites === 1);
    expect(publisher.calls).to.have.length(1);
    clock.advance(1_000);
    expect(publisher.calls.map((c) => c.rollout.status?.reason)).to.deep.equal(["pass 1", "pass 5"]);
    // The second publish is given the message the first posted.
    expect(publisher.calls[1]?.known?.ts).to.equal("1.000001");
    publisher.answer(1);
    await outbox.idle();
  });

  it("one publish at a time per channel, spaced by the channel's interval; other channels go in parallel", async () => {
    for (const name of ["a", "b"])
      cluster.putRollout({
        ...rolloutObject({ channel: "#deploys", notifyLevel: "debug" }),
        metadata: { name, namespace: "ns" },
      });
    cluster.putRollout({
      ...rolloutObject({ channel: "#other", notifyLevel: "debug" }),
      metadata: { name: "c", namespace: "ns" },
    });
    outbox.notify(state(cluster, "a", "ns/a"));
    outbox.notify(state(cluster, "b", "ns/b"));
    outbox.notify(state(cluster, "c", "ns/c"));
    expect(publisher.calls.map((c) => c.rollout.metadata.name)).to.deep.equal(["a", "c"]);
    publisher.answer(0);
    await until("a recorded", () => statusWrites === 1);
    clock.advance(999);
    expect(publisher.calls).to.have.length(2);
    clock.advance(1);
    expect(publisher.calls.map((c) => c.rollout.metadata.name)).to.deep.equal(["a", "c", "b"]);
    publisher.answer(1);
    publisher.answer(2);
    await outbox.idle();
  });

  it("is bounded: rollouts beyond maxPending are dropped and counted", async () => {
    for (const name of ["a", "b", "c", "d", "e"]) {
      cluster.putRollout({
        ...rolloutObject({ channel: "#deploys", notifyLevel: "debug" }),
        metadata: { name, namespace: "ns" },
      });
      outbox.notify(state(cluster, name, `ns/${name}`));
    }
    // a is in flight, b-d wait, e is dropped.
    expect(outbox.pending).to.equal(3);
    expect(await registry.getSingleMetricAsString("bulkhead_slack_rollout_outbox_dropped_total")).to.match(/ 1$/m);
  });

  it("writes the ref to status once (re-reading on a conflict), and not again while status has it", async () => {
    cluster.conflictsToInject = 1;
    outbox.notify(state(cluster, "pass 1"));
    const ref = publisher.answer(0);
    await outbox.idle();
    expect(cluster.status().slackMessage).to.deep.equal(ref);
    expect(statusWrites).to.equal(2);
    outbox.notify(parsed(cluster.rollouts.get(KEY)));
    clock.advance(1_000);
    publisher.answer(1);
    await outbox.idle();
    expect(statusWrites).to.equal(2);
  });

  it("a pass that overwrote status.slackMessage does not make a second message: the ref kept here is used and written back", async () => {
    outbox.notify(state(cluster, "pass 1"));
    const ref = publisher.answer(0);
    await outbox.idle();
    // A pass that read before the ref was written writes its own status over it.
    const live = cluster.rollouts.get(KEY)!;
    const { slackMessage: _dropped, ...rest } = parsed(live).status ?? {};
    await cluster.replaceStatus("ns", "web", { ...live, status: rest });
    clock.advance(1_000);
    outbox.notify(state(cluster, "pass 2"));
    expect(publisher.calls[1]?.known).to.deep.equal(ref);
    publisher.answer(1);
    await outbox.idle();
    expect(cluster.status().slackMessage).to.deep.equal(ref);
  });

  it("at notifyLevel info a state with nothing to send is skipped, but one whose status lost the ref still writes it back", async () => {
    cluster.putRollout(rolloutObject({ channel: "#deploys", notifyLevel: "info" }));
    const progressing = (reason: string) => {
      const r = state(cluster, reason);
      return { ...r, status: { ...r.status, phase: "Progressing" as const } };
    };
    outbox.notify(progressing("start"));
    const ref = publisher.answer(0);
    await outbox.idle();
    clock.advance(1_000);
    outbox.notify(progressing("mid-way"));
    expect(publisher.calls).to.have.length(1);
    const live = cluster.rollouts.get(KEY)!;
    const { slackMessage: _dropped, ...rest } = parsed(live).status ?? {};
    await cluster.replaceStatus("ns", "web", { ...live, status: rest });
    outbox.notify(progressing("mid-way, ref lost"));
    expect(publisher.calls).to.have.length(2);
    publisher.calls[1]!.release(publisher.calls[1]!.known);
    await outbox.idle();
    expect(cluster.status().slackMessage).to.deep.equal(ref);
  });

  it("a ref for an earlier rollout is not written once the spec moved on (its message is that rollout's record)", async () => {
    outbox.notify(state(cluster, "generation 1"));
    cluster.putRollout(rolloutObject({ channel: "#deploys", notifyLevel: "debug" }, 4, "app:v2"));
    publisher.answer(0);
    await outbox.idle();
    expect(cluster.status().slackMessage).to.equal(undefined);
    // The new rollout's first state is given the old message only as an earlier rollout's (to
    // mark it superseded); planMessage has it post a new one.
    clock.advance(1_000);
    outbox.notify(state(cluster, "generation 2"));
    expect(publisher.calls[1]?.known?.rollout).to.equal("1/");
    publisher.answer(1, "2.000002");
    await outbox.idle();
    expect(cluster.status().slackMessage).to.deep.include({ ts: "2.000002", rollout: "2/" });
  });
});

type SlackMode = "none" | "slow" | "rate-limited" | "fast";

interface DriveResult {
  passes: string[];
  fakeMs: number;
  evictions: string[];
  cluster: FakeCluster;
}

/**
 * Creates a 20-pod rollout, then rolls v2 out, one pass at a time: each pass is followed by the
 * fake time it asked for, and the next starts once every pod is back and Ready (a condition, so
 * every pass sees the same world whatever Slack does meanwhile).
 */
async function drive(
  slack: FakeSlack | undefined,
  clock: FakeClock,
): Promise<DriveResult & { outbox?: RolloutOutbox }> {
  const cluster = new FakeCluster({ readyDelayMs: 1 });
  const start = Date.parse("2026-11-30T10:00:00Z");
  // The passes' own time (requeue delays), apart from the outbox's clock, which this test moves by hand.
  const passClock = new FakeClock(start);
  const noEvents: EventRecorder = { record: async () => {} };
  let outbox: RolloutOutbox | undefined;
  if (slack) {
    // Retry-After is waited out on the fake clock, which this test never moves: a retry waits forever.
    // No client timeout within the test: a pass that waited for Slack would wait for good.
    const client = createSlackClient({ token: slack.token, apiUrl: slack.apiUrl, logger, clock, timeoutMs: 3_600_000 });
    outbox = createRolloutOutbox({
      publisher: slackRolloutNotifier({ client, logger, clock }),
      rollouts: cluster,
      namespaceRollouts: () => [],
      logger,
      clock,
    });
  }
  const reconciler = new Reconciler({
    rollouts: cluster,
    world: cluster,
    writer: cluster,
    events: noEvents,
    // This rollout has no bapi stage: a callback here would be a bug.
    callbacks: {
      submit: () => {
        throw new Error("no callback is due in this test");
      },
    },
    metrics: createMetrics(() => [], false),
    log: logger,
    clock: passClock,
    ...(outbox ? { notifier: outbox } : {}),
  });
  const spec = { channel: "#deploys", notifyLevel: "debug", disruptionPolicy: { maxUnavailable: 4 } };
  const passes: string[] = [];
  // Before the StatefulSet exists (the first pass only adds the finalizer) there is nothing to settle.
  const settled = () =>
    cluster.sts === undefined || (cluster.podMap.size === 20 && [...cluster.podMap.values()].every((p) => p.ready));
  for (const image of ["app:v1", "app:v2"]) {
    cluster.putRollout(rolloutObject(spec, 20, image));
    for (let i = 0; ; i++) {
      if (i > 200) throw new Error("the rollout did not finish in 200 passes");
      const requeue = await reconciler.reconcile(KEY);
      const s = cluster.status();
      passes.push(`${s.phase} · ${s.reason}`);
      if (requeue === undefined) break;
      passClock.advance(requeue);
      await until("pods settled", settled);
    }
  }
  return {
    passes,
    fakeMs: passClock.now() - start,
    evictions: cluster.evictions.map((e) => e.pod),
    cluster,
    ...(outbox ? { outbox } : {}),
  };
}

describe("Slack never delays a pass: a 20-pod rollout with and without Slack", function () {
  this.timeout(60_000);
  let baseline: DriveResult;
  const slacks: FakeSlack[] = [];
  const cleanups: Array<() => void> = [];

  before(async () => {
    baseline = await drive(undefined, new FakeClock());
    baseline.cluster.stop();
    expect(baseline.cluster.status().phase).to.equal("RolloutDone");
    expect(baseline.evictions).to.have.length(20);
  });
  after(async () => {
    cleanups.forEach((c) => c());
    await Promise.all(slacks.map((s) => s.stop()));
  });

  const modes: Array<[Exclude<SlackMode, "none">, string, (s: FakeSlack) => void]> = [
    // Slower than 10 s: it answers nothing until the rollout is over.
    ["slow", "holds every answer", (s) => s.setDelay(Number.POSITIVE_INFINITY)],
    ["rate-limited", "answers every call with 429 + Retry-After: 30", (s) => s.rateLimitAlways(30)],
    ["fast", "answers at once", () => {}],
  ];
  for (const [mode, what, configure] of modes) {
    it(`a Slack that ${what}: the same passes, in the same order, over the same fake time`, async () => {
      const slack = await new FakeSlack().start();
      slacks.push(slack);
      configure(slack);
      const clock = new FakeClock();
      const run = await drive(slack, clock);
      cleanups.push(() => {
        run.outbox?.close();
        run.cluster.stop();
      });
      expect(run.passes).to.deep.equal(baseline.passes);
      expect(run.fakeMs).to.equal(baseline.fakeMs);
      expect(run.evictions).to.deep.equal(baseline.evictions);
      // Slack was asked during the rollout and had not (successfully) answered by its end.
      expect(slack.received).to.be.above(0);
      if (mode === "slow") {
        expect(slack.calls).to.have.length(0);
        slack.releaseHeld();
      }
      // At most the first 429 is answered: its Retry-After is waited out on fake time that stands still.
      if (mode === "rate-limited")
        expect(slack.calls.length <= 1 && slack.calls.every((c) => c.status === 429)).to.equal(true);
      if (mode === "fast") {
        // Let the outbox finish on fake time: each channel rests a second between publishes.
        let drained = false;
        void run.outbox!.idle().then(() => (drained = true));
        await until("outbox drained", () => {
          clock.advance(1_000);
          return drained;
        });
        // Two rollouts (creation, then v2): two top-level messages, the second one's ref in status.
        const top = slack.messages.filter((m) => !m.threadTs);
        expect(top).to.have.length(2);
        expect(top[1]?.text).to.match(/RolloutDone/);
        expect(run.cluster.status().slackMessage).to.deep.include({ ts: top[1]?.ts, rollout: "2/" });
      }
    });
  }
});
