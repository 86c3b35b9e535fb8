// Slack rollout notifications (adapters/slack/rollout-notifier.ts) through the real Slack client
// against the local fake Slack (test/support/fake-slack.ts), on a fake clock (the notifier's
// throttle, budget and trailing refreshes, and the client's retry waits): a 1,000-pod rollout, 100 pods per wave, published on every pass.
import { expect } from "chai";
import { pino } from "pino";
import { Registry } from "prom-client";
import { createSlackClient, type SlackClient } from "../../adapters/slack/client.js";
import { slackRolloutNotifier, type RolloutPublisher } from "../../adapters/slack/rollout-notifier.js";
import type { SlackMessageRef } from "../../adapters/slack/rollout-blocks.js";
import {
  parseRollout,
  type NotifyLevel,
  type PodStatus,
  type RolloutStatus,
  type StatefulsetRollout,
} from "../../api/rollout.js";
import { FakeClock, settle } from "../support/fake-clock.js";
import { FakeSlack, type FakeSlackMessage } from "../support/fake-slack.js";
import { until } from "../support/until.js";

const logger = pino({ level: "silent" });
const OLD = "web-6f9c7d";
const NEW = "web-85b4c2";

function baseRollout(replicas: number, level: NotifyLevel): StatefulsetRollout {
  const parsed = parseRollout({
    metadata: { name: "web", namespace: "shop" },
    spec: {
      statefulset: {
        metadata: { name: "web" },
        spec: {
          replicas,
          selector: { matchLabels: { app: "web" } },
          template: { spec: { containers: [{ name: "app", image: "registry.local/shop/web:v2.3.1" }] } },
        },
      },
      percent: 100,
      channel: "#deploys",
      notifyLevel: level,
      rolloutIdentity: "r-7",
    },
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

/**
 * A rollout as the reconciler would report it, pass by pass: waves of 100 pods from the highest
 * ordinal down; evicted pods come back on the new revision not Ready, then become Ready over
 * ~20 s; the next wave starts 8 s after the last one completed. One snapshot per 2 s pass.
 */
function* simulateRollout(
  replicas: number,
  perWave: number,
  level: NotifyLevel,
  pace = { readySteps: 10, gapSeconds: 8 },
): Generator<{ t: number; rollout: StatefulsetRollout }> {
  const base = baseRollout(replicas, level);
  const pods: PodStatus[] = Array.from({ length: replicas }, (_, i) => ({
    name: `web-${i}`,
    ordinal: i,
    revision: OLD,
    ready: true,
  }));
  const updatedOrdinals: number[] = [];
  let t = 0;
  let wavesCompleted = 0;
  const snapshot = (extra: Partial<RolloutStatus>): { t: number; rollout: StatefulsetRollout } => {
    const updated = pods.filter((p) => p.revision === NEW).length;
    const status: RolloutStatus = {
      phase: "Progressing",
      percentDeployed: Math.floor((updated * 100) / replicas),
      readyReplicas: pods.filter((p) => p.ready).length,
      updatedReplicas: updated,
      targetReplicas: replicas,
      updateRevision: NEW,
      currentRevision: OLD,
      statefulsetName: "web",
      updatedOrdinals: [...updatedOrdinals],
      wavesCompleted,
      pods: pods.map((p) => ({ ...p })),
      buildMetadata: { commit: "3f2a9c1", buildUrl: "https://ci.local/builds/812", triggeredBy: "alice" },
      ...extra,
    };
    return { t, rollout: { ...base, status } };
  };
  yield snapshot({ phase: "Pending" });
  t += 2;
  for (let wave = 1; wave * perWave <= replicas; wave++) {
    const ordinals = Array.from({ length: perWave }, (_, i) => replicas - (wave - 1) * perWave - 1 - i);
    const startedAt = new Date(t * 1000).toISOString();
    updatedOrdinals.push(...ordinals);
    const currentWave = { number: wave, pods: ordinals.map((o) => `web-${o}`), startedAt };
    yield snapshot({ currentWave });
    t += 2;
    for (const o of ordinals) Object.assign(pods[o]!, { revision: NEW, ready: false });
    // Readiness arrives over readySteps passes (20 s by default), in equal parts.
    const part = Math.ceil(perWave / pace.readySteps);
    for (let step = 0; step < pace.readySteps; step++) {
      yield snapshot({ currentWave });
      t += 2;
      for (const o of ordinals.slice(step * part, (step + 1) * part)) pods[o]!.ready = true;
    }
    wavesCompleted++;
    const done = { ...currentWave, completedAt: new Date(t * 1000).toISOString() };
    yield snapshot({ currentWave: done });
    t += pace.gapSeconds;
  }
  yield snapshot({ phase: "RolloutDone", percentDeployed: 100, reason: "all pods updated and Ready" });
}

interface Run {
  callTimes: number[];
  ref: SlackMessageRef | undefined;
}

async function runSimulation(
  slack: FakeSlack,
  notifier: RolloutPublisher,
  clock: FakeClock,
  sim: Iterable<{ t: number; rollout: StatefulsetRollout }>,
): Promise<Run> {
  const callTimes: number[] = [];
  let ref: SlackMessageRef | undefined;
  for (const { t, rollout } of sim) {
    clock.advance(t * 1000 - clock.now());
    const before = slack.calls.length;
    // As the reconciler does: keep the returned ref (in status.slackMessage) when there is one.
    ref =
      (await notifier.publish(
        { ...rollout, status: { ...rollout.status, ...(ref ? { slackMessage: ref } : {}) } },
        ref,
      )) ?? ref;
    for (let i = before; i < slack.calls.length; i++) callTimes.push(clock.now());
  }
  return { callTimes, ref };
}

function maxPerMinute(times: number[]): number {
  let max = 0;
  for (let i = 0; i < times.length; i++) {
    const end = times[i]! + 60_000;
    let n = 0;
    for (let j = i; j < times.length && times[j]! < end; j++) n++;
    max = Math.max(max, n);
  }
  return max;
}

function podNames(message: FakeSlackMessage): string[] {
  const text = JSON.stringify(message.blocks ?? []);
  return [...text.matchAll(/`(web-\d+)`/g)].map((m) => m[1]!);
}

describe("Slack rollout notifications (fake Slack)", function () {
  this.timeout(60_000);
  let slack: FakeSlack;
  let client: SlackClient;
  let clock: FakeClock;

  beforeEach(async () => {
    slack = await new FakeSlack().start();
    // Simulated rollouts start at t = 0 s.
    clock = new FakeClock(0);
    client = createSlackClient({
      token: slack.token,
      apiUrl: slack.apiUrl,
      logger,
      retryDelayMs: 50,
      timeoutMs: 3_000,
      clock,
    });
  });
  afterEach(() => slack.stop());

  it("a 1,000-pod rollout, 100 pods per wave: ≤ 25 calls a minute, one message updated in place, every pod on exactly one page", async () => {
    const notifier = slackRolloutNotifier({ client, clock, trailingRefresh: false });
    const { callTimes, ref } = await runSimulation(slack, notifier, clock, simulateRollout(1000, 100, "debug"));

    const perMinute = maxPerMinute(callTimes);
    console.log(
      `      ${slack.calls.length} Slack calls over ${Math.round(clock.now() / 1000)} s (simulated); busiest minute: ${perMinute} calls`,
    );
    expect(perMinute).to.be.at.most(25);
    expect(slack.calls.every((c) => c.status === 200 && !c.error)).to.equal(true);

    const top = slack.messages.filter((m) => !m.threadTs);
    expect(top).to.have.length(1);
    const main = top[0]!;
    expect(main.updates).to.be.greaterThan(5);
    expect(main.text).to.match(/RolloutDone/);
    expect(ref).to.deep.include({ channel: main.channel, ts: main.ts });

    const pages = slack.messages.filter((m) => m.threadTs === main.ts);
    expect(pages).to.have.length(20);
    expect(ref?.pageTs).to.have.length(20);
    expect(new Set(ref?.pageTs)).to.deep.equal(new Set(pages.map((p) => p.ts)));
    const seen = new Map<string, number>();
    for (const page of pages) {
      const names = podNames(page);
      expect(names.length).to.be.at.most(50);
      for (const n of names) seen.set(n, (seen.get(n) ?? 0) + 1);
      // The last refresh brought every page up to date: all pods new and Ready.
      expect(JSON.stringify(page.blocks)).to.not.match(/not Ready|old ·/);
    }
    expect(seen.size).to.equal(1000);
    expect([...seen.values()].every((n) => n === 1)).to.equal(true);
    // Pages are edited in place, never re-posted.
    expect(slack.callsOf("chat.postMessage")).to.have.length(21);
  });

  it("stays within budget when waves go as fast as the passes (a wave every 4 s)", async () => {
    const notifier = slackRolloutNotifier({ client, clock, trailingRefresh: false });
    const { callTimes } = await runSimulation(
      slack,
      notifier,
      clock,
      simulateRollout(1000, 100, "debug", { readySteps: 1, gapSeconds: 0 }),
    );
    const perMinute = maxPerMinute(callTimes);
    console.log(
      `      ${slack.calls.length} Slack calls over ${Math.round(clock.now() / 1000)} s (simulated); busiest minute: ${perMinute} calls`,
    );
    // At most 4 throttled refreshes of at most 6 calls a minute; the terminal refresh then sends
    // whatever is left at once (here, the pages deferred by the per-refresh cap).
    const end = callTimes.at(-1);
    const beforeEnd = callTimes.filter((t) => t !== end);
    console.log(
      `      before the terminal refresh: busiest minute ${maxPerMinute(beforeEnd)}; the terminal refresh: ${callTimes.length - beforeEnd.length} calls`,
    );
    expect(maxPerMinute(beforeEnd)).to.be.at.most(24);
    const pages = slack.messages.filter((m) => m.threadTs);
    expect(new Set(pages.flatMap(podNames)).size).to.equal(1000);
    expect(pages.flatMap(podNames)).to.have.length(1000);
    for (const page of pages) expect(JSON.stringify(page.blocks)).to.not.match(/not Ready|old ·/);
  });

  it("the summary carries version, percent, phase, waves, pods ready/total, trigger and build links", async () => {
    const notifier = slackRolloutNotifier({ client, clock, trailingRefresh: false });
    const sim = [...simulateRollout(200, 100, "debug")];
    const midWave = sim.find(
      (s) => s.rollout.status?.wavesCompleted === 1 && s.rollout.status.currentWave?.number === 2,
    )!;
    await notifier.publish(midWave.rollout, undefined);
    const blocks = JSON.stringify(slack.messages[0]?.blocks);
    expect(blocks).to.include("Rollout: shop/web");
    expect(blocks).to.include("web:v2.3.1");
    expect(blocks).to.include("Progressing");
    expect(blocks).to.match(/Waves done\*\\n1 \(wave 2: 100 pods in flight\)/);
    expect(blocks).to.match(/Pods ready \/ total\*\\n\d+ \/ 200/);
    expect(blocks).to.include("alice");
    expect(blocks).to.include("<https://ci.local/builds/812|buildUrl>");
    // The commit is shown under the version, not again among the links.
    expect(blocks).to.match(/Version\*\\n`web:v2.3.1`\\n`3f2a9c1`/);
    expect(blocks).to.not.include("*commit*");
  });

  it("notifyLevel info: posts at the start and updates at the end, nothing in between", async () => {
    const notifier = slackRolloutNotifier({ client, clock, trailingRefresh: false });
    const sim = [...simulateRollout(1000, 100, "info")];
    const { callTimes } = await runSimulation(slack, notifier, clock, sim);
    const lastT = sim.at(-1)!.t * 1000;
    expect(callTimes.filter((t) => t === 0)).to.have.length(1);
    expect(callTimes.filter((t) => t > 0 && t < lastT)).to.have.length(0);
    // The end: one summary update and the 20 pages, each posted once.
    expect(callTimes.filter((t) => t === lastT)).to.have.length(21);
    expect(slack.messages.filter((m) => !m.threadTs)[0]?.text).to.match(/RolloutDone/);
  });

  it("notifyLevel error: silent until the rollout fails, then one message with the failing pods", async () => {
    const notifier = slackRolloutNotifier({ client, clock, trailingRefresh: false });
    const sim = [...simulateRollout(100, 50, "error")];
    let ref: SlackMessageRef | undefined;
    for (const s of sim.slice(0, -1)) ref = (await notifier.publish(s.rollout, ref)) ?? ref;
    expect(slack.calls).to.have.length(0);
    const last = sim.at(-2)!.rollout;
    const pods = (last.status?.pods ?? []).map((p) =>
      p.ordinal === 99 ? { ...p, ready: false, stuck: "CrashLoopBackOff" } : p,
    );
    const failed = {
      ...last,
      status: { ...last.status, pods, phase: "RolloutFailed" as const, reason: "pod web-99 is crash-looping" },
    };
    ref = await notifier.publish(failed, ref);
    const top = slack.messages.filter((m) => !m.threadTs);
    expect(top).to.have.length(1);
    expect(top[0]?.text).to.match(/Rollout failed shop\/web/);
    expect(JSON.stringify(top[0]?.blocks)).to.include("crash-looping");
    expect(JSON.stringify(slack.messages.filter((m) => m.threadTs).map((m) => m.blocks))).to.include(
      "stuck: CrashLoopBackOff",
    );
    expect(ref?.ts).to.equal(top[0]?.ts);
  });

  it("honours 429 + Retry-After and still posts", async () => {
    const notifier = slackRolloutNotifier({ client, clock, trailingRefresh: false });
    slack.rateLimitNext(1, 1);
    const publishing = notifier.publish([...simulateRollout(10, 5, "debug")][0]!.rollout, undefined);
    await until("the client waits out Retry-After", () => clock.pending > 0);
    expect(clock.delays()).to.deep.equal([1_000]);
    clock.advance(999);
    expect(slack.callsOf("chat.postMessage")).to.have.length(1);
    clock.advance(1);
    const ref = await publishing;
    expect(ref).to.not.equal(undefined);
    expect(slack.callsOf("chat.postMessage").map((c) => c.status)).to.deep.equal([429, 200]);
  });

  it("a restarted reconciler updates the same messages from the stored ref instead of posting new ones", async () => {
    const sim = [...simulateRollout(200, 100, "debug")];
    const first = slackRolloutNotifier({ client, clock, trailingRefresh: false });
    const half = sim.findIndex((s) => s.rollout.status?.wavesCompleted === 1);
    let ref: SlackMessageRef | undefined;
    for (const s of sim.slice(0, half + 1)) {
      clock.advance(s.t * 1000 - clock.now());
      ref = (await first.publish(s.rollout, ref)) ?? ref;
    }
    expect(ref?.pageTs?.filter(Boolean)).to.have.length(2);
    const postsBefore = slack.callsOf("chat.postMessage").length;
    // A new process: no memory but status.slackMessage.
    const second = slackRolloutNotifier({ client, clock, trailingRefresh: false });
    for (const s of sim.slice(half + 1)) {
      clock.advance(s.t * 1000 - clock.now());
      ref = (await second.publish(s.rollout, ref)) ?? ref;
    }
    expect(slack.messages.filter((m) => !m.threadTs)).to.have.length(1);
    // Only the two pages of the second wave (ordinals 0-99) are new posts.
    expect(slack.callsOf("chat.postMessage").length - postsBefore).to.equal(2);
    expect(slack.messages.filter((m) => !m.threadTs)[0]?.text).to.match(/RolloutDone/);
  });

  it("a Slack outage never throws, costs one failed call, then backs off; it recovers after", async () => {
    const registry = new Registry();
    const dead = new FakeSlack();
    await dead.start();
    const deadClient = createSlackClient({
      token: dead.token,
      apiUrl: dead.apiUrl,
      logger,
      retryDelayMs: 20,
      maxAttempts: 2,
      timeoutMs: 500,
      clock,
    });
    await dead.stop();
    const notifier = slackRolloutNotifier({
      client: deadClient,
      clock,
      registry,
      failureBackoffMs: 30_000,
      trailingRefresh: false,
    });
    const rollout = [...simulateRollout(10, 5, "debug")][0]!.rollout;
    const failing = notifier.publish(rollout, undefined);
    // One retry after retryDelayMs, then the message is given up.
    await until("the client waits to retry", () => clock.pending > 0);
    expect(clock.delays()).to.deep.equal([20]);
    clock.advance(20);
    expect(await failing).to.equal(undefined);
    // Backing off: no call, so nothing to wait for.
    expect(await notifier.publish(rollout, undefined)).to.equal(undefined);
    expect(clock.pending).to.equal(0);
    const metric = await registry.getSingleMetric("bulkhead_slack_rollout_publishes_total")?.get();
    expect(Object.fromEntries((metric?.values ?? []).map((v) => [v.labels.result, v.value]))).to.deep.equal({
      failed: 1,
      backing_off: 1,
    });

    // An update that fails keeps the stored ref (so the message is not posted twice).
    const live = slackRolloutNotifier({ client, clock, trailingRefresh: false });
    const ref = await live.publish(rollout, undefined);
    slack.failNext(3, 503);
    clock.advance(60_000);
    const progressed = { ...rollout, status: { ...rollout.status, phase: "Progressing" as const } };
    expect(await clock.drive(live.publish(progressed, ref))).to.deep.equal(ref);
    clock.advance(60_000);
    expect(await clock.drive(live.publish(progressed, ref))).to.deep.equal(ref);
    expect(slack.messages[0]?.text).to.match(/Progressing/);
  });

  it("a throttled publish is not lost: a trailing refresh sends it when the interval is over", async () => {
    const notifier = slackRolloutNotifier({ client, clock, minRefreshIntervalMs: 300 });
    try {
      const sim = [...simulateRollout(100, 50, "debug")];
      const recorded = sim.findIndex((s) => s.rollout.status?.currentWave?.number === 1);
      let ref = await notifier.publish(sim[recorded]!.rollout, undefined);
      expect(ref?.pageTs?.filter(Boolean)).to.have.length(1);
      // Same phase, inside the interval, wave 2 recorded: throttled, nothing sent yet.
      const later = sim.find((s) => s.rollout.status?.currentWave?.number === 2)!.rollout;
      const callsBefore = slack.calls.length;
      ref = (await notifier.publish(later, ref)) ?? ref;
      expect(slack.calls.length).to.equal(callsBefore);
      expect(clock.delays()).to.deep.equal([300]);
      clock.advance(300);
      await until(
        "the trailing refresh has posted wave 2's page",
        () => slack.messages.filter((m) => m.threadTs).length === 2,
      );
      const main = slack.messages.find((m) => !m.threadTs)!;
      expect(main.text).to.equal(
        `Rollout shop/web: Progressing, ${later.status?.percentDeployed}% of 100% deployed, ${later.status?.updatedReplicas}/100 pods updated`,
      );
      // The trailing refresh posted wave 2's page; the next publish hands its ts to the reconciler.
      const pages = slack.messages.filter((m) => m.threadTs === main.ts);
      expect(pages).to.have.length(2);
      ref = (await notifier.publish(later, ref)) ?? ref;
      expect(new Set(ref?.pageTs)).to.deep.equal(new Set(pages.map((p) => p.ts)));
      expect(slack.messages.filter((m) => m.threadTs)).to.have.length(2);
    } finally {
      notifier.close();
    }
  });

  it("keeps a publish within its time budget against a slow Slack; a trailing refresh sends the rest", async () => {
    const notifier = slackRolloutNotifier({ client, clock, minRefreshIntervalMs: 100, maxPublishMs: 250 });
    try {
      const sim = [...simulateRollout(500, 250, "info")];
      // Every call takes 100 ms of fake time.
      slack.onCall = () => clock.advance(100);
      const started = clock.now();
      // info level, final state: the summary and 10 pages are due at once.
      const ref = await notifier.publish(sim.at(-1)!.rollout, undefined);
      // No call starts once 250 ms have gone: the summary and two pages.
      expect(clock.now() - started).to.equal(300);
      const posted = slack.messages.filter((m) => m.threadTs).length;
      expect(posted).to.equal(2);
      expect(ref?.pageTs?.filter(Boolean)).to.have.length(posted);
      const pagesPosted = () => slack.messages.filter((m) => m.threadTs).length;
      // Each trailing refresh sends what fits in the budget and schedules the next for the rest.
      while (pagesPosted() < 10) {
        await until("a trailing refresh is due", () => clock.pending > 0 || pagesPosted() === 10);
        clock.fireNext();
        await settle();
      }
      const pages = slack.messages.filter((m) => m.threadTs);
      expect(pages).to.have.length(10);
      expect(new Set(pages.flatMap(podNames)).size).to.equal(500);
    } finally {
      notifier.close();
      slack.onCall = undefined;
    }
  });

  it("a new rollout posts its own message; the previous one, left mid-way, is marked superseded, a finished one is left as it was", async () => {
    const notifier = slackRolloutNotifier({ client, clock, trailingRefresh: false });
    const sim = [...simulateRollout(100, 50, "debug")];
    const gen = (s: StatefulsetRollout, generation: number): StatefulsetRollout => ({
      ...s,
      metadata: { ...s.metadata, generation },
    });
    let ref: SlackMessageRef | undefined;
    // Generation 1 is replaced mid-way (a new spec) by generation 2, which finishes.
    for (const s of sim.slice(0, 4)) ref = (await notifier.publish(gen(s.rollout, 1), ref)) ?? ref;
    clock.advance(60_000);
    for (const s of sim) {
      clock.advance(20_000);
      ref = (await notifier.publish(gen(s.rollout, 2), ref)) ?? ref;
    }
    let top = slack.messages.filter((m) => !m.threadTs);
    expect(top).to.have.length(2);
    expect(top[0]?.text).to.match(/^Rollout superseded shop\/web: Progressing/);
    expect(JSON.stringify(top[0]?.blocks)).to.contain(
      "Superseded before it ended by a newer rollout (spec generation 2, rolloutIdentity r-7)",
    );
    expect(top[1]?.text).to.match(/RolloutDone/);
    expect(ref).to.deep.include({ ts: top[1]?.ts, rollout: "2/r-7" });
    // Generation 3 after 2 finished: 2's message keeps its final state.
    const doneText = top[1]?.text;
    ref = await notifier.publish(gen(sim[0]!.rollout, 3), ref);
    top = slack.messages.filter((m) => !m.threadTs);
    expect(top).to.have.length(3);
    expect(top[1]?.text).to.equal(doneText);
  });

  it("makes no call without a channel", async () => {
    const notifier = slackRolloutNotifier({ client, clock, trailingRefresh: false });
    const rollout = [...simulateRollout(10, 5, "debug")][0]!.rollout;
    const { channel: _none, ...spec } = rollout.spec;
    expect(await notifier.publish({ ...rollout, spec }, undefined)).to.equal(undefined);
    expect(slack.calls).to.have.length(0);
  });
});
