// Leak and pin-failure alerts across webhook replicas: each replica's alerter writes alert Events
// (webhook/leak-guard/alerts.ts) into an in-memory Event store that, like an informer, hands
// every change to the reconciler's alert notifier (adapters/slack/alert-notifier.ts), which
// talks to a local Slack. One hand-moved clock for all.
import { expect } from "chai";
import { pino } from "pino";
import type { AlertEventApi, NewAlertEvent } from "../../adapters/kube/alert-events.js";
import { createAlertNotifier, type AlertNotifier } from "../../adapters/slack/alert-notifier.js";
import { createSlackClient } from "../../adapters/slack/client.js";
import { ALERT_DETAIL_ANNOTATION, ALERT_LABEL, type AlertEventObject } from "../../api/alert-events.js";
import type { LeakContext } from "../../api/leak-guard.js";
import { type LeakAlerter, createLeakAlerter } from "../../webhook/leak-guard/index.js";
import type { PinningAlert } from "../../webhook/pinning/handler.js";
import { FakeSlack } from "../support/fake-slack.js";
import { FakeClock } from "../support/fake-clock.js";
import { until } from "../support/until.js";
import { fakeEvents } from "./leak-guard-fakes.js";

const logger = pino({ level: "silent" });

/** The apiserver's Event store, as far as alert Events go; every change goes to `watchers`. */
class EventStore implements AlertEventApi {
  readonly events = new Map<string, AlertEventObject & { reportingInstance: string }>();
  watchers: Array<(event: AlertEventObject, change: "add" | "update" | "delete") => void> = [];
  private seq = 0;
  constructor(private readonly instance = "") {}

  /** The same store as seen by another writer (a webhook replica or the reconciler). */
  as(instance: string): AlertEventApi {
    return {
      create: (e) => this.createAs(instance, e),
      update: (ns, name, repeats) => this.update(ns, name, repeats),
      annotate: (ns, name, key, value) => this.annotate(ns, name, key, value),
    };
  }

  create(e: NewAlertEvent): Promise<string | undefined> {
    return this.createAs(this.instance, e);
  }

  async createAs(instance: string, e: NewAlertEvent): Promise<string | undefined> {
    const name = `${e.regarding.name}-${++this.seq}`;
    const event = {
      metadata: {
        uid: `uid-${name}`,
        name,
        namespace: e.regarding.namespace,
        labels: { [ALERT_LABEL]: e.kind },
        annotations: { [ALERT_DETAIL_ANNOTATION]: e.detail },
      },
      eventTime: e.at.toISOString(),
      note: e.note,
      reportingInstance: instance,
    };
    this.events.set(name, event);
    this.emit(event, "add");
    return name;
  }

  async update(
    _namespace: string,
    name: string,
    repeats: { count: number; lastObservedAt: Date; detail: string },
  ): Promise<void> {
    const event = this.events.get(name);
    if (!event) return;
    if (repeats.count >= 2)
      event.series = { count: repeats.count, lastObservedTime: repeats.lastObservedAt.toISOString() };
    event.metadata!.annotations![ALERT_DETAIL_ANNOTATION] = repeats.detail;
    this.emit(event, "update");
  }

  async annotate(_namespace: string, name: string, key: string, value: string): Promise<void> {
    const event = this.events.get(name);
    if (!event) return;
    event.metadata!.annotations![key] = value;
    this.emit(event, "update");
  }

  private emit(event: AlertEventObject, change: "add" | "update" | "delete"): void {
    const copy = structuredClone(event);
    for (const w of this.watchers) w(copy, change);
  }
}

function leak(pod = "web-4", extra: Partial<LeakContext> = {}): LeakContext {
  return {
    via: "eviction",
    namespace: "shop",
    pod,
    podUid: `uid-${pod}`,
    podRevision: "web-old",
    updateRevision: "web-new",
    statefulSet: "web",
    rollout: "web",
    rolloutUid: "uid-rollout",
    channel: "#deploys",
    mode: "enforce",
    percent: 50,
    paused: true,
    failed: false,
    oldPods: 3,
    newPods: 3,
    caller: "alice",
    ...extra,
  };
}

function pinFailure(pod = "web-1"): PinningAlert {
  return {
    namespace: "shop",
    rollout: "web",
    pod,
    statefulSet: "web",
    wantedRevision: "web-old",
    actualRevision: "web-new",
    reason: "revision-missing",
    message: `Pod shop/${pod} should run the old revision web-old but is created on web-new: ControllerRevision web-old not found.`,
  };
}

describe("alerts across webhook replicas: one Slack message per pod, rollout and decision per window", function () {
  this.timeout(15_000);
  let slack: FakeSlack;
  let clock: FakeClock;
  let store: EventStore;
  let plainEvents: ReturnType<typeof fakeEvents>;
  let replicas: LeakAlerter[];
  let channels: Record<string, string | undefined>;
  let notifier: AlertNotifier;

  function leader(): AlertNotifier {
    const client = createSlackClient({ token: slack.token, apiUrl: slack.apiUrl, logger, retryDelayMs: 20, clock });
    return createAlertNotifier({
      client,
      alertEvents: store.as("reconciler"),
      channelOf: (ns, name) => channels[`${ns}/${name}`],
      logger,
      clock,
      updateDelayMs: 30_000,
    });
  }

  beforeEach(async () => {
    slack = await new FakeSlack().start();
    clock = new FakeClock();
    store = new EventStore();
    plainEvents = fakeEvents();
    channels = { "shop/web": "#deploys" };
    replicas = ["webhook-a", "webhook-b"].map((instance) =>
      createLeakAlerter({
        events: plainEvents,
        alertEvents: store.as(instance),
        logger,
        clock,
        windowMs: 5 * 60_000,
        updateDelayMs: 30_000,
      }),
    );
    notifier = leader();
    store.watchers.push((e, c) => notifier.observe(e, c));
  });
  afterEach(async () => {
    replicas.forEach((r) => r.close());
    notifier.close();
    await slack.stop();
  });

  async function settle(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      await Promise.all(replicas.map((r) => r.idle()));
      await notifier.idle();
    }
  }

  it("a drain retrying every 5 s for 5 minutes against two replicas: one message, updated in place, counting every attempt", async () => {
    for (let i = 0; i < 60; i++) {
      // The apiserver spreads calls over the replicas.
      replicas[i % 2]!.report(leak(), "denied", "refused: the message");
      await settle();
      clock.advance(5_000);
    }
    // Let the last count updates (30 s later) reach the Events and the message.
    clock.advance(30_000);
    await settle();
    clock.advance(30_000);
    await settle();
    expect(slack.callsOf("chat.postMessage")).to.have.length(1);
    expect(slack.callsOf("chat.update").length).to.be.within(1, 12);
    expect(slack.messages).to.have.length(1);
    expect(slack.messages[0]?.text).to.contain("60 attempts");
    expect(JSON.stringify(slack.messages[0]?.blocks)).to.contain("60 attempts").and.to.contain("refused: the message");
    // One alert Event per replica (on the pod), one plain Event per replica (on the rollout).
    expect([...store.events.values()].map((e) => e.reportingInstance).sort()).to.deep.equal(["webhook-a", "webhook-b"]);
    expect(plainEvents.recorded.map((e) => `${e.regarding.kind}/${e.regarding.name} ${e.reason}`)).to.deep.equal([
      "StatefulsetRollout/web LeakGuardDenied",
      "StatefulsetRollout/web LeakGuardDenied",
    ]);
    // Both Events point at the one message.
    const refs = [...store.events.values()].map((e) => e.metadata?.annotations?.["bulkhead.dev/slack-message"]);
    expect(new Set(refs).size).to.equal(1);
    expect(refs[0]).to.equal(`${slack.messages[0]?.channel}/${slack.messages[0]?.ts}`);
  });

  it("starts a new message after the window", async () => {
    replicas[0]!.report(leak(), "denied", "m");
    await settle();
    clock.advance(5 * 60_000);
    replicas[1]!.report(leak(), "denied", "m");
    await settle();
    clock.advance(60_000);
    replicas[0]!.report(leak(), "denied", "m");
    await settle();
    // The second window: replica b's first attempt and replica a's, in a window of its own since.
    expect(slack.callsOf("chat.postMessage")).to.have.length(2);
    expect(slack.messages[0]?.text).to.contain("(1 attempt)");
    expect(slack.messages[1]?.text).to.contain("(2 attempts)");
  });

  it("keeps pods apart, and a refusal and a flagged removal of the same pod are separate messages", async () => {
    replicas[0]!.report(leak("web-3"), "denied", "m3");
    replicas[1]!.report(leak("web-4"), "denied", "refused");
    replicas[0]!.report(leak("web-4", { mode: "flag" }), "flagged", "flagged");
    await settle();
    expect(slack.messages.map((m) => m.text)).to.have.length(3);
    expect(slack.messages[2]?.text).to.contain("web-4").and.to.contain("allowed (flagged)");
  });

  it("a new leader updates the message the old one posted, instead of posting another", async () => {
    replicas[0]!.report(leak(), "denied", "m");
    await settle();
    notifier.close();
    for (let i = 0; i < 3; i++) replicas[1]!.report(leak(), "denied", "m");
    clock.advance(30_000);
    await Promise.all(replicas.map((r) => r.idle()));
    // The new leader replays the Events it finds.
    notifier = leader();
    store.watchers = [(e, c) => notifier.observe(e, c)];
    for (const e of store.events.values()) notifier.observe(structuredClone(e), "add");
    await settle();
    expect(slack.callsOf("chat.postMessage")).to.have.length(1);
    expect(slack.messages[0]?.text).to.contain("4 attempts");
  });

  it("a new leader does not post alerts that are over (older than the window, never posted)", async () => {
    channels = {};
    replicas[0]!.report(leak(), "denied", "m");
    await settle();
    expect(slack.calls).to.have.length(0);
    channels = { "shop/web": "#deploys" };
    clock.advance(6 * 60_000);
    notifier = leader();
    for (const e of store.events.values()) notifier.observe(structuredClone(e), "add");
    await settle();
    expect(slack.calls).to.have.length(0);
  });

  it("records Events but sends no Slack message when the rollout has no channel", async () => {
    channels = {};
    replicas[0]!.report(leak(), "denied", "m");
    await settle();
    expect(slack.calls).to.have.length(0);
    expect(store.events.size).to.equal(1);
    expect(plainEvents.recorded).to.have.length(1);
  });

  it("when the first post is lost, the next count update posts the message with the count so far", async () => {
    slack.platformErrorNext("internal_error");
    replicas[0]!.report(leak(), "denied", "m");
    await settle();
    expect(slack.messages).to.have.length(0);
    replicas[0]!.report(leak(), "denied", "m");
    replicas[0]!.report(leak(), "denied", "m");
    clock.advance(30_000);
    await settle();
    expect(slack.messages).to.have.length(1);
    expect(slack.messages[0]?.text).to.contain("3 attempts");
  });

  it("report() and alert() do not wait for Slack; nothing is sent again when nothing changed", async () => {
    slack.setDelay(Number.POSITIVE_INFINITY);
    replicas[0]!.report(leak(), "denied", "m");
    replicas[0]!.alert(pinFailure());
    await Promise.all(replicas.map((r) => r.idle()));
    // The Events are written and Slack is asked, but has answered nothing yet.
    expect(store.events.size).to.equal(2);
    await until("Slack is asked", () => slack.received === 1);
    expect(slack.calls).to.have.length(0);
    slack.setDelay(0);
    slack.releaseHeld();
    await settle();
    expect(slack.messages).to.have.length(2);
    clock.advance(60_000);
    await settle();
    expect(slack.callsOf("chat.update")).to.have.length(0);
  });

  it("pin failures are de-duplicated the same way: one message per pod across replicas, with the count", async () => {
    for (let i = 0; i < 4; i++) replicas[i % 2]!.alert(pinFailure());
    replicas[0]!.alert(pinFailure("web-2"));
    await settle();
    clock.advance(30_000);
    await settle();
    clock.advance(30_000);
    await settle();
    expect(slack.callsOf("chat.postMessage")).to.have.length(2);
    const web1 = slack.messages.find((m) => m.text.includes("shop/web-1"));
    expect(web1?.text).to.contain("could not be pinned").and.to.contain("(4 times)");
    expect(JSON.stringify(web1?.blocks)).to.contain("ControllerRevision web-old not found");
    // The pinning handler records each failure on the rollout itself: no plain Event here.
    expect(plainEvents.recorded).to.have.length(0);
  });
});
