// Rollout notification content and level decisions (api/slack-rollout-blocks.ts), table-driven.
import { expect } from "chai";
import { notifyAction, pageCount, podPages, rolloutSummary, type NotifyAction } from "../../api/slack-rollout-blocks.js";
import { parseRollout, type NotifyLevel, type RolloutPhase, type RolloutStatus, type StatefulsetRollout } from "../../api/rollout.js";

function rollout(replicas: number | undefined, status: RolloutStatus = {}): StatefulsetRollout {
  const parsed = parseRollout({
    metadata: { name: "db", namespace: "data" },
    spec: { statefulset: { spec: { ...(replicas === undefined ? {} : { replicas }), selector: {}, template: {} } }, channel: "#x", percent: 50 },
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
    it(`${level}, ${phase ?? "no phase"}, ${has ? "posted" : "not posted"} -> ${want}`, () => expect(notifyAction(level, phase, has)).to.equal(want));
  }
});

describe("podPages", () => {
  const cases: Array<[number, number]> = [
    [0, 0],
    [1, 1],
    [50, 1],
    [51, 2],
    [1000, 20],
  ];
  for (const [replicas, pages] of cases) it(`${replicas} pods -> ${pages} pages`, () => expect(pageCount(replicas)).to.equal(pages));

  it("covers every ordinal once, at most 50 per page, in fixed ordinal ranges", () => {
    const pages = podPages(rollout(120));
    expect(pages.map((p) => [p.first, p.last])).to.deep.equal([[0, 49], [50, 99], [100, 119]]);
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
});

describe("rolloutSummary", () => {
  it("defaults to one replica and escapes user text", () => {
    const summary = rolloutSummary(rollout(undefined, { phase: "RolloutFailed", reason: "pod <db-0> & more", buildMetadata: { note: "a<b" } }));
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
