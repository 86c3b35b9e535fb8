// The group rollout's Slack message (adapters/slack/group-blocks.ts): what the owner's notifyLevel
// sends for each step of a group run, and the message within Slack's block limits however large
// the group and however long its members' reasons.
import { expect } from "chai";
import { groupSummary, planGroupMessage } from "../../adapters/slack/group-blocks.js";
import type { NotifyAction } from "../../adapters/slack/rollout-blocks.js";
import { groupRunKey } from "../../api/group-notify.js";
import { GROUP_MEMBERS_MAX, parseRollout, type NotifyLevel, type StatefulsetRollout } from "../../api/rollout.js";

type State = "done" | "progressing" | "failed" | "edited";

function member(name: string, order: number, state: State, level: NotifyLevel = "debug"): StatefulsetRollout {
  const status = {
    done: { observedGeneration: 2, phase: "RolloutDone" },
    progressing: { observedGeneration: 2, phase: "Progressing" },
    failed: { observedGeneration: 2, phase: "RolloutFailed", reason: `${name} failed: ${"x".repeat(5_000)}` },
    edited: { observedGeneration: 1, phase: "RolloutDone" },
  }[state];
  const parsed = parseRollout({
    metadata: { name, namespace: "ns", generation: 2 },
    spec: {
      statefulset: { spec: { replicas: 3, selector: { matchLabels: { app: name } }, template: {} } },
      group: { name: "ingester", order },
      channel: "#deploys",
      notifyLevel: level,
    },
    status: { ...status, group: { name: "ingester", members: [], waitingFor: "w".repeat(300) } },
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

describe("planGroupMessage: the owner's notifyLevel over the group run", () => {
  const open = { channel: "C1", ts: "1.1", rollout: groupRunKey("ingester") };
  const ended = { channel: "C1", ts: "1.1", rollout: groupRunKey("ingester", true) };
  const rolling = (level: NotifyLevel) => [member("a", 1, "done", level), member("b", 2, "progressing", level)];
  const failed = (level: NotifyLevel) => [member("a", 1, "done", level), member("b", 2, "failed", level)];
  const done = (level: NotifyLevel) => [member("a", 1, "done", level), member("b", 2, "done", level)];
  const cases: Array<{
    name: string;
    members: (level: NotifyLevel) => StatefulsetRollout[];
    known?: typeof open;
    want: Record<NotifyLevel, NotifyAction>;
    run?: string;
  }> = [
    {
      name: "a run starts",
      members: rolling,
      known: ended,
      want: { debug: "post", info: "post", error: "skip" },
    },
    { name: "the run goes on", members: rolling, known: open, want: { debug: "update", info: "skip", error: "skip" } },
    { name: "a member failed, no message yet", members: failed, want: { debug: "post", info: "post", error: "post" } },
    {
      name: "a member failed, the run's message open",
      members: failed,
      known: open,
      want: { debug: "update", info: "update", error: "update" },
    },
    {
      name: "the run ends: its last update is sent at every level",
      members: done,
      known: open,
      want: { debug: "update", info: "update", error: "update" },
      run: groupRunKey("ingester", true),
    },
    {
      name: "nothing rolling, run ended",
      members: done,
      known: ended,
      want: { debug: "skip", info: "skip", error: "skip" },
    },
  ];
  for (const c of cases)
    for (const level of ["debug", "info", "error"] as const)
      it(`${c.name}, at ${level}: ${c.want[level]}`, () => {
        const members = c.members(level);
        const plan = planGroupMessage("ingester", members[0]!, members, c.known);
        expect(plan.action).to.equal(c.want[level]);
        if (plan.action === "update") expect(plan.existing).to.equal(c.known);
        if (plan.action === "post") expect(plan.existing).to.equal(undefined);
        expect(plan.run).to.equal(c.run ?? groupRunKey("ingester"));
      });
});

describe("groupSummary within Slack's limits", () => {
  it(`more than ${GROUP_MEMBERS_MAX} members with long reasons: ${GROUP_MEMBERS_MAX} listed, the rest counted, every limit kept`, () => {
    const members = Array.from({ length: GROUP_MEMBERS_MAX + 4 }, (_, i) =>
      member(`zone-${String(i).padStart(2, "0")}-${"n".repeat(200)}`, i, i % 2 === 0 ? "failed" : "edited"),
    );
    const { text, blocks } = groupSummary("ingester", "ns", members, "RolloutFailed");
    expect(text.length).to.be.below(40_000);
    expect(blocks.length).to.be.at.most(50);
    const sections = blocks.filter((b) => b.type === "section" && b.text);
    expect(sections).to.have.length(GROUP_MEMBERS_MAX);
    for (const b of sections) expect((b.text as { text: string }).text.length).to.be.at.most(3_000);
    const header = blocks[0] as unknown as { text: { text: string } };
    expect(header.text.text.length).to.be.at.most(150);
    const fields = (blocks[1] as unknown as { fields: Array<{ text: string }> }).fields;
    expect(fields.length).to.be.at.most(10);
    for (const f of fields) expect(f.text.length).to.be.at.most(2_000);
    expect(JSON.stringify(blocks)).to.include("4 more members not shown");
  });
});
