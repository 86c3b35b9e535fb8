// The Slack notifier against a local server speaking the Web API (test/support/fake-slack.ts).
// Waits between retries run on a fake clock: the tests move it, and never measure the wall clock.
import { expect } from "chai";
import { pino } from "pino";
import { Registry } from "prom-client";
import { createSlackClient, type SlackClient } from "../../adapters/slack/client.js";
import { createSendQueue } from "../../adapters/slack/queue.js";
import { FakeClock } from "../support/fake-clock.js";
import { FakeSlack } from "../support/fake-slack.js";
import { until } from "../support/until.js";

const logger = pino({ level: "silent" });

async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  const match = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return match?.value ?? 0;
}

describe("Slack client (chat.postMessage, chat.update) against a local Slack", function () {
  this.timeout(15_000);
  let slack: FakeSlack;
  let registry: Registry;
  let client: SlackClient;
  let clock: FakeClock;

  beforeEach(async () => {
    slack = await new FakeSlack().start();
    registry = new Registry();
    clock = new FakeClock();
    client = createSlackClient({
      token: slack.token,
      apiUrl: slack.apiUrl,
      logger,
      registry,
      retryDelayMs: 50,
      timeoutMs: 3_000,
      clock,
    });
  });
  afterEach(() => slack.stop());

  it("posts Block Kit, then updates the message in place using the channel ID Slack returned", async () => {
    const blocks = [{ type: "section", text: { type: "mrkdwn", text: "*one*" } }];
    const posted = await client.post("#deploys", "one", blocks);
    expect(posted?.channel).to.equal(slack.channelId("#deploys"));
    const updated = await client.update(posted!.channel, posted!.ts, "two", [
      { type: "section", text: { type: "mrkdwn", text: "*two*" } },
    ]);
    expect(updated).to.deep.equal(posted);
    expect(slack.messages).to.have.length(1);
    expect(slack.messages[0]).to.deep.include({ text: "two", updates: 1 });
    expect(slack.messages[0]?.blocks).to.deep.equal([{ type: "section", text: { type: "mrkdwn", text: "*two*" } }]);
    expect(
      await metricValue(registry, "bulkhead_slack_requests_total", { method: "chat.update", outcome: "ok" }),
    ).to.equal(1);
  });

  it("replies in a thread", async () => {
    const parent = await client.post("#deploys", "parent");
    const reply = await client.reply(parent!.channel, parent!.ts, "child");
    expect(reply).to.not.equal(undefined);
    expect(slack.messages[1]).to.deep.include({ text: "child", threadTs: parent!.ts });
  });

  it("honours 429 Retry-After, then succeeds", async () => {
    slack.rateLimitNext(1, 1);
    const posting = client.post("#deploys", "after a rate limit");
    await until("the client waits out Retry-After", () => clock.pending > 0);
    expect(clock.delays()).to.deep.equal([1_000]);
    clock.advance(999);
    expect(slack.callsOf("chat.postMessage")).to.have.length(1);
    clock.advance(1);
    const posted = await posting;
    expect(posted).to.not.equal(undefined);
    expect(slack.callsOf("chat.postMessage").map((c) => c.status)).to.deep.equal([429, 200]);
    expect(
      await metricValue(registry, "bulkhead_slack_requests_total", {
        method: "chat.postMessage",
        outcome: "rate_limited",
      }),
    ).to.equal(1);
  });

  it("gives up after a bounded number of attempts and never throws", async () => {
    slack.rateLimitNext(10, 0);
    const posted = await clock.drive(client.post("#deploys", "never delivered"));
    expect(posted).to.equal(undefined);
    expect(slack.callsOf("chat.postMessage")).to.have.length(3);
    expect(await metricValue(registry, "bulkhead_slack_requests_total", { outcome: "gave_up" })).to.equal(1);
  });

  it("does not wait for a Retry-After longer than the bound", async () => {
    const patient = createSlackClient({
      token: slack.token,
      apiUrl: slack.apiUrl,
      logger,
      maxRetryAfterMs: 2_000,
      clock,
    });
    slack.rateLimitNext(1, 120);
    expect(await patient.post("#deploys", "too long to wait")).to.equal(undefined);
    // Given up at once: no wait was ever started.
    expect(clock.pending).to.equal(0);
    expect(clock.now()).to.equal(new FakeClock().now());
    expect(slack.callsOf("chat.postMessage")).to.have.length(1);
  });

  it("retries a 5xx, not a platform error", async () => {
    slack.failNext(1, 503);
    expect(await clock.drive(client.post("#deploys", "after a 503"))).to.not.equal(undefined);
    expect(slack.callsOf("chat.postMessage").map((c) => c.status)).to.deep.equal([503, 200]);
    slack.platformErrorNext("channel_not_found");
    expect(await client.post("#nowhere", "lost")).to.equal(undefined);
    expect(slack.callsOf("chat.postMessage")).to.have.length(3);
  });

  it("reports a bad token or an unreachable Slack as undefined", async () => {
    const wrong = createSlackClient({ token: "xoxb-wrong", apiUrl: slack.apiUrl, logger, maxAttempts: 1 });
    expect(await wrong.post("#deploys", "x")).to.equal(undefined);
    const apiUrl = slack.apiUrl;
    await slack.stop();
    const unreachable = createSlackClient({ token: "t", apiUrl, logger, retryDelayMs: 10, clock });
    expect(await clock.drive(unreachable.post("#deploys", "x"))).to.equal(undefined);
  });

  it("updating an unknown message fails without throwing", async () => {
    const posted = await client.post("#deploys", "one");
    expect(await client.update(posted!.channel, "1.000000", "two")).to.equal(undefined);
  });
});

describe("Slack send queue", function () {
  this.timeout(15_000);
  let slack: FakeSlack;
  beforeEach(async () => (slack = await new FakeSlack().start()));
  afterEach(() => slack.stop());

  it("returns to the caller at once while Slack is rate-limiting, and sends in order", async () => {
    const clock = new FakeClock();
    const client = createSlackClient({ token: slack.token, apiUrl: slack.apiUrl, logger, clock });
    const queue = createSendQueue({ logger });
    slack.rateLimitNext(1, 1);
    for (const text of ["a", "b", "c"])
      expect(queue.enqueue(text, async () => void (await client.post("#deploys", text)))).to.equal(true);
    let idle = false;
    void queue.idle().then(() => (idle = true));
    // The callers went on while the first message waits out Retry-After on the clock.
    await until("the first message waits out Retry-After", () => clock.pending > 0);
    expect(idle).to.equal(false);
    expect(slack.messages).to.have.length(0);
    clock.advance(1_000);
    await queue.idle();
    expect(slack.messages.map((m) => m.text)).to.deep.equal(["a", "b", "c"]);
  });

  it("drops and counts what does not fit, and survives a task that throws", async () => {
    const registry = new Registry();
    const queue = createSendQueue({ logger, maxPending: 2, registry });
    const ran: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    expect(queue.enqueue("first", () => gate.then(() => void ran.push("first")))).to.equal(true);
    expect(queue.enqueue("boom", () => Promise.reject(new Error("boom")))).to.equal(true);
    expect(queue.enqueue("third", async () => void ran.push("third"))).to.equal(true);
    expect(queue.enqueue("fourth", async () => void ran.push("fourth"))).to.equal(false);
    release();
    await queue.idle();
    expect(ran).to.deep.equal(["first", "third"]);
    expect(await metricValue(registry, "bulkhead_slack_queue_dropped_total")).to.equal(1);
  });
});
