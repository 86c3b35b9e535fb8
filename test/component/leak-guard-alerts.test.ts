// Alert de-duplication (one Slack message per pod and rollout per window, updated in place with
// the attempt count) against a local Slack, with a hand-moved clock.
import { expect } from "chai";
import { pino } from "pino";
import type { LeakContext } from "../../api/leak-guard.js";
import { createSlackClient } from "../../adapters/slack/client.js";
import { type LeakAlerter, createLeakAlerter } from "../../webhook/leak-guard/index.js";
import { FakeSlack } from "../support/fake-slack.js";
import { FakeClock, fakeEvents } from "./leak-guard-fakes.js";

const logger = pino({ level: "silent" });

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

describe("leak alerts: Events and de-duplicated Slack messages", function () {
  this.timeout(15_000);
  let slack: FakeSlack;
  let clock: FakeClock;
  let events: ReturnType<typeof fakeEvents>;
  let alerter: LeakAlerter;

  beforeEach(async () => {
    slack = await new FakeSlack().start();
    clock = new FakeClock();
    events = fakeEvents();
    alerter = createLeakAlerter({
      events,
      slack: createSlackClient({ token: slack.token, apiUrl: slack.apiUrl, logger, retryDelayMs: 20 }),
      logger,
      clock,
      windowMs: 5 * 60_000,
      updateDelayMs: 30_000,
    });
  });
  afterEach(async () => {
    alerter.close();
    await slack.stop();
  });

  it("a drain retrying every 5 s for 5 minutes gives one message that ends up counting every attempt", async () => {
    for (let i = 0; i < 60; i++) {
      alerter.report(leak(), "denied", "refused: the message");
      await alerter.idle();
      clock.advance(5_000);
    }
    // 300 s have passed: the window is over; let the last pending update run.
    clock.advance(30_000);
    await alerter.idle();
    expect(slack.callsOf("chat.postMessage")).to.have.length(1);
    const updates = slack.callsOf("chat.update").length;
    expect(updates).to.be.within(1, 11);
    expect(slack.messages).to.have.length(1);
    expect(slack.messages[0]?.text).to.contain("60 attempts");
    expect(JSON.stringify(slack.messages[0]?.blocks)).to.contain("60 attempts").and.to.contain("refused: the message");
    // Events once per window, on the pod and on the rollout.
    expect(events.recorded.map((e) => `${e.regarding.kind}/${e.regarding.name} ${e.type} ${e.reason} ${e.action}`)).to.deep.equal([
      "Pod/web-4 Warning LeakGuardDenied Evict",
      "StatefulsetRollout/web Warning LeakGuardDenied Evict",
    ]);
    expect(events.recorded[0]?.regarding).to.deep.include({ apiVersion: "v1", uid: "uid-web-4", namespace: "shop" });
    expect(events.recorded[1]?.regarding).to.deep.include({ apiVersion: "bulkhead.dev/v1alpha1", uid: "uid-rollout" });
    expect(events.recorded[0]?.note).to.contain("refused: the message").and.to.contain("alice");
  });

  it("starts a new message after the window", async () => {
    alerter.report(leak(), "denied", "m");
    await alerter.idle();
    clock.advance(5 * 60_000);
    alerter.report(leak(), "denied", "m");
    await alerter.idle();
    expect(slack.callsOf("chat.postMessage")).to.have.length(2);
    expect(slack.messages[1]?.text).to.contain("1 attempt");
    expect(events.recorded).to.have.length(4);
  });

  it("keeps pods apart, and a flagged removal is reported as flagged", async () => {
    alerter.report(leak("web-3"), "denied", "m3");
    alerter.report(leak("web-4", { mode: "flag" }), "flagged", "m4");
    await alerter.idle();
    expect(slack.messages.map((m) => m.text)).to.have.length(2);
    expect(slack.messages[1]?.text).to.contain("web-4").and.to.contain("allowed (flagged)");
    expect(events.recorded.map((e) => e.reason)).to.deep.equal(["LeakGuardDenied", "LeakGuardDenied", "LeakGuardFlagged", "LeakGuardFlagged"]);
  });

  it("a refusal and a later flagged removal of the same pod are separate messages", async () => {
    alerter.report(leak(), "denied", "refused");
    await alerter.idle();
    alerter.report(leak("web-4", { mode: "flag" }), "flagged", "flagged");
    await alerter.idle();
    expect(slack.callsOf("chat.postMessage")).to.have.length(2);
    expect(slack.messages[0]?.text).to.contain("refused");
    expect(slack.messages[1]?.text).to.contain("allowed (flagged)");
  });

  it("records Events but no Slack message when the rollout has no channel", async () => {
    const { channel: _channel, ...noChannel } = leak();
    alerter.report(noChannel, "denied", "m");
    await alerter.idle();
    expect(slack.calls).to.have.length(0);
    expect(events.recorded).to.have.length(2);
  });

  it("report() returns at once while Slack rate-limits; the message arrives after Retry-After", async () => {
    slack.rateLimitNext(1, 1);
    const started = Date.now();
    alerter.report(leak(), "denied", "m");
    expect(Date.now() - started).to.be.below(20);
    await alerter.idle();
    expect(Date.now() - started).to.be.at.least(950);
    expect(slack.messages).to.have.length(1);
  });

  it("when the first post is lost, the next update posts the message with the count so far", async () => {
    slack.platformErrorNext("internal_error");
    alerter.report(leak(), "denied", "m");
    await alerter.idle();
    expect(slack.messages).to.have.length(0);
    alerter.report(leak(), "denied", "m");
    alerter.report(leak(), "denied", "m");
    clock.advance(30_000);
    await alerter.idle();
    expect(slack.messages).to.have.length(1);
    expect(slack.messages[0]?.text).to.contain("3 attempts");
  });

  it("an update is not sent when nothing changed since the last one", async () => {
    alerter.report(leak(), "denied", "m");
    await alerter.idle();
    clock.advance(60_000);
    await alerter.idle();
    expect(slack.callsOf("chat.update")).to.have.length(0);
  });
});
