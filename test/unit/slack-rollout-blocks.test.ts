// Rollout notification content and level decisions (adapters/slack/rollout-blocks.ts), table-driven.
import { expect } from "chai";
import {
  durationText,
  formatDuration,
  notifyAction,
  pageCount,
  planMessage,
  podPages,
  rolloutRunOf,
  rolloutSummary,
  type NotifyAction,
  type SlackMessageRef,
} from "../../adapters/slack/rollout-blocks.js";
import {
  parseRollout,
  type NotifyLevel,
  type RolloutPhase,
  type RolloutStatus,
  type StatefulsetRollout,
} from "../../api/rollout.js";

function rollout(replicas: number | undefined, status: RolloutStatus = {}): StatefulsetRollout {
  const parsed = parseRollout({
    metadata: { name: "db", namespace: "data" },
    spec: {
      statefulset: { spec: { ...(replicas === undefined ? {} : { replicas }), selector: {}, template: {} } },
      channel: "#x",
      percent: 50,
    },
    status,
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

describe("notifyAction", () => {
  const cases: Array<[NotifyLevel, RolloutPhase | undefined, boolean, NotifyAction]> = [
    ["debug", "Pending", false, "post"],
    ["debug", "Progressing", true, "update"],
    ["debug", "RolloutDone", true, "update"],
    ["info", "Progressing", false, "post"],
    ["info", "Progressing", true, "skip"],
    ["info", "Paused", true, "skip"],
    ["info", "RolloutDone", true, "update"],
    ["info", "RolloutFailed", true, "update"],
    ["info", "RolloutDone", false, "post"],
    ["error", "Progressing", false, "skip"],
    ["error", "RolloutDone", false, "skip"],
    ["error", "RolloutFailed", false, "post"],
    ["error", "RolloutFailed", true, "update"],
    ["error", undefined, false, "skip"],
  ];
  for (const [level, phase, has, want] of cases) {
    it(`${level}, ${phase ?? "no phase"}, ${has ? "posted" : "not posted"} -> ${want}`, () =>
      expect(notifyAction(level, phase, has)).to.equal(want));
  }
});

describe("planMessage: which message a state of the rollout goes to", () => {
  function at(
    generation: number,
    identity: string | undefined,
    level: NotifyLevel,
    phase: RolloutPhase,
    slackMessage?: SlackMessageRef,
    channel: string | undefined = "#deploys",
  ): StatefulsetRollout {
    const parsed = parseRollout({
      metadata: { name: "db", namespace: "data", generation },
      spec: {
        statefulset: { spec: { selector: {}, template: {} } },
        ...(channel ? { channel } : {}),
        notifyLevel: level,
        ...(identity ? { rolloutIdentity: identity } : {}),
      },
      status: { phase, ...(slackMessage ? { slackMessage } : {}) },
    });
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.value;
  }
  const ref = (rollout?: string): SlackMessageRef => ({
    channel: "C1",
    ts: "1.1",
    ...(rollout !== undefined ? { rollout } : {}),
  });
  const cases: Array<{
    name: string;
    rollout: StatefulsetRollout;
    known?: SlackMessageRef;
    action: NotifyAction;
    existing: boolean;
  }> = [
    { name: "first rollout, info: post", rollout: at(1, "r1", "info", "Progressing"), action: "post", existing: false },
    {
      name: "same rollout, info, in progress: skip",
      rollout: at(1, "r1", "info", "Progressing"),
      known: ref("1/r1"),
      action: "skip",
      existing: true,
    },
    {
      name: "same rollout, info, done: update it",
      rollout: at(1, "r1", "info", "RolloutDone"),
      known: ref("1/r1"),
      action: "update",
      existing: true,
    },
    {
      name: "new spec generation, info: post a new message (the old one is the record)",
      rollout: at(2, "r1", "info", "Progressing"),
      known: ref("1/r1"),
      action: "post",
      existing: false,
    },
    {
      name: "new rolloutIdentity, same spec, info: post",
      rollout: at(1, "r2", "info", "Progressing"),
      known: ref("1/r1"),
      action: "post",
      existing: false,
    },
    {
      name: "new rollout that is already done (a fast one), info: post its own",
      rollout: at(3, "", "info", "RolloutDone"),
      known: ref("2/"),
      action: "post",
      existing: false,
    },
    {
      name: "new rollout, debug: post",
      rollout: at(2, "r1", "debug", "Pending"),
      known: ref("1/r1"),
      action: "post",
      existing: false,
    },
    {
      name: "same rollout, debug: update",
      rollout: at(2, "r1", "debug", "Progressing"),
      known: ref("2/r1"),
      action: "update",
      existing: true,
    },
    {
      name: "new rollout, error, progressing: skip (nothing to update either)",
      rollout: at(2, "r1", "error", "Progressing"),
      known: ref("1/r1"),
      action: "skip",
      existing: false,
    },
    {
      name: "new rollout, error, failed: post",
      rollout: at(2, "r1", "error", "RolloutFailed"),
      known: ref("1/r1"),
      action: "post",
      existing: false,
    },
    {
      name: "a ref without a rollout (kept before refs were keyed): not this rollout's",
      rollout: at(1, "r1", "debug", "Progressing"),
      known: ref(),
      action: "post",
      existing: false,
    },
    {
      name: "no channel: skip",
      rollout: at(1, "r1", "debug", "Progressing", undefined, ""),
      action: "skip",
      existing: false,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planMessage(c.rollout, c.known);
      expect(plan.action).to.equal(c.action);
      expect(plan.existing !== undefined).to.equal(c.existing);
      expect(plan.run).to.equal(rolloutRunOf(c.rollout));
    });
  }
  it("the rollout is its spec generation and rollout identity", () => {
    expect(rolloutRunOf(at(4, "r9", "info", "Pending"))).to.equal("4/r9");
    expect(rolloutRunOf(at(4, undefined, "info", "Pending"))).to.equal("4/");
  });
});

describe("duration in the summary", () => {
  const cases: Array<[number, string]> = [
    [0, "0s"],
    [59_400, "59s"],
    [61_000, "1m 1s"],
    [3_723_000, "1h 2m 3s"],
  ];
  for (const [ms, want] of cases) it(`${ms} ms -> ${want}`, () => expect(formatDuration(ms)).to.equal(want));

  it("a finished rollout: start to the Complete transition", () => {
    const text = durationText({
      phase: "RolloutDone",
      attemptStartedAt: "2026-11-30T10:00:00.000Z",
      conditions: [{ type: "Complete", status: "True", lastTransitionTime: "2026-11-30T10:04:30.000Z" }],
    });
    expect(text).to.equal("4m 30s (done at 2026-11-30T10:04:30.000Z)");
  });
  it("a failed rollout: start to the Failed transition", () => {
    const text = durationText({
      phase: "RolloutFailed",
      attemptStartedAt: "2026-11-30T10:00:00.000Z",
      conditions: [{ type: "Failed", status: "True", lastTransitionTime: "2026-11-30T10:00:09.000Z" }],
    });
    expect(text).to.equal("9s (failed at 2026-11-30T10:00:09.000Z)");
  });
  it("a running rollout: since when, as a Slack date", () => {
    expect(durationText({ phase: "Progressing", attemptStartedAt: "2026-11-30T10:00:00.000Z" })).to.match(
      new RegExp(`^running since <!date\\^${Date.parse("2026-11-30T10:00:00.000Z") / 1000}\\^`),
    );
  });
  it("unknown start: no duration", () => expect(durationText({ phase: "Progressing" })).to.equal(undefined));
  it("the final message shows phase, percent, pods moved, trigger and duration", () => {
    const done = rollout(4, {
      phase: "RolloutDone",
      percentDeployed: 50,
      updatedReplicas: 2,
      targetReplicas: 2,
      attemptStartedAt: "2026-11-30T10:00:00.000Z",
      conditions: [{ type: "Complete", status: "True", lastTransitionTime: "2026-11-30T10:01:00.000Z" }],
      buildMetadata: { version: "v1.2.3", branch: "master", commit: "0123456789abcdef", origin: "git@x:y.git" },
    });
    const blocks = JSON.stringify(rolloutSummary(done).blocks);
    for (const want of [
      "RolloutDone",
      "50% deployed of 50%",
      "Pods updated / target*\\n2 / 2",
      "Triggered by",
      "1m 0s",
      "`v1.2.3`",
      "`master`",
      "`0123456789ab`",
      "git@x:y.git",
    ]) {
      expect(blocks).to.include(want);
    }
  });
});

describe("a superseded rollout's last message", () => {
  it("says it was superseded, by which rollout, in the text, header, phase and a section", () => {
    const summary = rolloutSummary(rollout(4, { phase: "Progressing", percentDeployed: 25 }), "5/r-9");
    expect(summary.text).to.match(/^Rollout superseded data\/db: Progressing/);
    const blocks = JSON.stringify(summary.blocks);
    expect(blocks).to.contain("Rollout superseded: data/db").and.to.contain("superseded at Progressing");
    expect(blocks).to.contain("Superseded before it ended by a newer rollout (spec generation 5, rolloutIdentity r-9)");
  });
  it("without an identity, only the generation", () => {
    expect(JSON.stringify(rolloutSummary(rollout(4, { phase: "Paused" }), "7/").blocks)).to.contain(
      "(spec generation 7)",
    );
  });
});

describe("podPages", () => {
  const cases: Array<[number, number]> = [
    [0, 0],
    [1, 1],
    [50, 1],
    [51, 2],
    [1000, 20],
  ];
  for (const [replicas, pages] of cases)
    it(`${replicas} pods -> ${pages} pages`, () => expect(pageCount(replicas)).to.equal(pages));

  it("covers every ordinal once, at most 50 per page, in fixed ordinal ranges", () => {
    const pages = podPages(rollout(120));
    expect(pages.map((p) => [p.first, p.last])).to.deep.equal([
      [0, 49],
      [50, 99],
      [100, 119],
    ]);
    const names = pages.flatMap((p) => [...JSON.stringify(p.message.blocks).matchAll(/`(db-\d+)`/g)].map((m) => m[1]));
    expect(names).to.have.length(120);
    expect(new Set(names).size).to.equal(120);
  });

  it("shows a page only once one of its pods moved, is new, not Ready or stuck", () => {
    const pods = Array.from({ length: 120 }, (_, i) => ({ name: `db-${i}`, ordinal: i, revision: "old", ready: true }));
    pods[10]!.ready = false;
    const pages = podPages(rollout(120, { updateRevision: "new", updatedOrdinals: [119], pods }));
    expect(pages.map((p) => p.shown)).to.deep.equal([true, false, true]);
    const text = JSON.stringify(pages[2]!.message.blocks);
    expect(text).to.include("`db-119` moving · Ready");
    expect(JSON.stringify(pages[0]!.message.blocks)).to.include("`db-10` old · not Ready");
  });

  it("marks new, stuck and Consul states", () => {
    const status: RolloutStatus = {
      updateRevision: "new",
      updatedOrdinals: [0, 1, 2],
      pods: [
        { name: "db-0", ordinal: 0, revision: "new", ready: true, consulPassing: true },
        { name: "db-1", ordinal: 1, revision: "new", ready: true, consulPassing: false },
        { name: "db-2", ordinal: 2, revision: "new", ready: false, stuck: "CrashLoopBackOff" },
      ],
    };
    const text = JSON.stringify(podPages(rollout(4, status))[0]!.message.blocks);
    expect(text).to.include(":large_green_circle: `db-0` new · Ready · Consul passing");
    expect(text).to.include(":large_yellow_circle: `db-1` new · Ready · Consul not passing");
    expect(text).to.include(":red_circle: `db-2` new · stuck: CrashLoopBackOff");
    expect(text).to.include("`db-3` not created");
  });

  it("reads the compact status the reconciler writes (status.podSummary) the same way", () => {
    const status: RolloutStatus = {
      updateRevision: "new",
      updatedOrdinals: [0, 1, 2],
      podSummary: {
        revisions: [{ revision: "new", ordinals: "0-2" }],
        notReady: "2",
        consulChecked: true,
        consulNotPassing: "1-2",
        stuck: [{ ordinal: 2, reason: "CrashLoopBackOff" }],
      },
    };
    const text = JSON.stringify(podPages(rollout(4, status))[0]!.message.blocks);
    expect(text).to.include(":large_green_circle: `db-0` new · Ready · Consul passing");
    expect(text).to.include(":large_yellow_circle: `db-1` new · Ready · Consul not passing");
    expect(text).to.include(":red_circle: `db-2` new · stuck: CrashLoopBackOff");
    expect(text).to.include("`db-3` not created");
  });
});

describe("rolloutSummary", () => {
  it("defaults to one replica and escapes user text", () => {
    const summary = rolloutSummary(
      rollout(undefined, { phase: "RolloutFailed", reason: "pod <db-0> & more", buildMetadata: { note: "a<b" } }),
    );
    expect(summary.text).to.equal("Rollout failed data/db: RolloutFailed, 0% of 50% deployed, 0/1 pods updated");
    const blocks = JSON.stringify(summary.blocks);
    expect(blocks).to.include("pod &lt;db-0&gt; &amp; more");
    expect(blocks).to.include("*note*: a&lt;b");
    expect(blocks).to.include("0 / 1");
  });
  it("keeps a section to at most 10 fields and the header to 150 characters", () => {
    const long = rollout(3, { phase: "Progressing" });
    long.metadata.name = "x".repeat(300);
    long.spec.serviceDiscovery = { dc: "dc1", serviceNames: ["a"] };
    const blocks = rolloutSummary(long).blocks as Array<{ type: string; fields?: unknown[]; text?: { text: string } }>;
    expect(blocks[0]!.text!.text.length).to.be.at.most(150);
    expect(blocks[1]!.fields!.length).to.be.at.most(10);
  });
});
