// One Slack message per group rollout (api/group-notify.ts): who owns it, when a run starts and
// ends, and the phase it shows, as tables.
import { expect } from "chai";
import {
  groupMessageOwner,
  groupOfRunKey,
  groupPhase,
  groupRunKey,
  groupRunStep,
  memberRolling,
  type GroupRunStep,
} from "../../api/group-notify.js";
import { parseRollout, type RolloutPhase, type RolloutStatus, type StatefulsetRollout } from "../../api/rollout.js";

/** A member at spec generation 2; `state` says what its status shows. */
type State = "done" | "edited" | "pending" | "progressing" | "paused" | "failed" | "failed-old" | "wave" | "new";

function member(name: string, order: number, state: State, channel?: string): StatefulsetRollout {
  const current = { observedGeneration: 2 };
  const statuses: Record<State, RolloutStatus | undefined> = {
    done: { ...current, phase: "RolloutDone" },
    // Edited: the status still says done, for the generation before.
    edited: { observedGeneration: 1, phase: "RolloutDone" },
    pending: { ...current, phase: "Pending" },
    progressing: { ...current, phase: "Progressing" },
    paused: { ...current, phase: "Paused", paused: true },
    failed: { ...current, phase: "RolloutFailed", reason: "pod zone-b-0 crash-looping" },
    // Failed on the spec before; its new spec (a rollback) has not been picked up yet.
    "failed-old": { observedGeneration: 1, phase: "RolloutFailed" },
    wave: { ...current, phase: "RolloutDone", currentWave: { number: 3, pods: ["x-0"], startedAt: "t" } },
    new: undefined,
  };
  const parsed = parseRollout({
    metadata: { name, namespace: "ns", generation: 2 },
    spec: {
      statefulset: { spec: { selector: { matchLabels: { app: name } }, template: {} } },
      group: { name: "ingester", order },
      ...(channel ? { channel } : {}),
    },
    ...(statuses[state] ? { status: statuses[state] } : {}),
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

/** Three zones in group order, in the given states. */
const zones = (a: State, b: State, c: State) => [
  member("zone-a", 1, a, "#deploys"),
  member("zone-b", 2, b, "#deploys"),
  member("zone-c", 3, c, "#deploys"),
];

describe("group messages: memberRolling", () => {
  const cases: Array<[State, boolean, string]> = [
    ["done", false, "done on its current spec"],
    ["edited", true, "a spec edited and not picked up yet, though status still says done"],
    ["new", true, "no status yet (just created)"],
    ["pending", true, "pending"],
    ["progressing", true, "progressing"],
    ["paused", true, "paused"],
    ["failed", true, "failed"],
    ["wave", true, "done but a wave still in flight"],
  ];
  for (const [state, want, what] of cases)
    it(`${what}: ${want ? "rolling" : "not rolling"}`, () => {
      expect(memberRolling(member("zone-a", 1, state))).to.equal(want);
    });
});

describe("group messages: the owner", () => {
  const cases: Array<{ name: string; members: StatefulsetRollout[]; want: string | undefined }> = [
    { name: "the first member in group order", members: zones("done", "done", "done"), want: "zone-a" },
    {
      name: "the first with a channel (an earlier member without one is shown, but posts nothing)",
      members: [member("zone-a", 1, "done"), member("zone-b", 2, "done", "#b"), member("zone-c", 3, "done", "#c")],
      want: "zone-b",
    },
    {
      name: "equal orders: by rollout name (the caller's group order)",
      members: [member("east", 1, "done", "#x"), member("west", 1, "done", "#x")],
      want: "east",
    },
    { name: "no member has a channel: no message", members: [member("zone-a", 1, "done")], want: undefined },
    { name: "a group of one owns its own group message", members: [member("solo", 0, "done", "#x")], want: "solo" },
  ];
  for (const c of cases)
    it(c.name, () => {
      expect(groupMessageOwner(c.members)?.metadata.name).to.equal(c.want);
    });
});

describe("group messages: the run (one message per group run)", () => {
  const open = { rollout: groupRunKey("ingester") };
  const ended = { rollout: groupRunKey("ingester", true) };
  const cases: Array<{
    name: string;
    members: StatefulsetRollout[];
    known?: { rollout?: string };
    want: GroupRunStep;
  }> = [
    { name: "nothing open, all done: nothing to say", members: zones("done", "done", "done"), want: "none" },
    {
      name: "the last run ended, all done: nothing to say",
      members: zones("done", "done", "done"),
      known: ended,
      want: "none",
    },
    {
      name: "a member's template is edited while all were settled: a run starts",
      members: zones("edited", "done", "done"),
      want: "start",
    },
    {
      name: "after an ended run, an edit starts a new run (a new message)",
      members: zones("done", "edited", "done"),
      known: ended,
      want: "start",
    },
    {
      name: "a newly created group: its members' first rollouts are a run",
      members: zones("new", "new", "new"),
      want: "start",
    },
    {
      name: "another member's template changes seconds later: it joins the open run",
      members: zones("progressing", "edited", "done"),
      known: open,
      want: "continue",
    },
    {
      name: "the first member done, the next waits its turn: the run goes on",
      members: zones("done", "pending", "edited"),
      known: open,
      want: "continue",
    },
    {
      name: "a member failed: the run stays open until the group is retried or rolled back",
      members: zones("done", "failed", "pending"),
      known: open,
      want: "continue",
    },
    {
      name: "paused: the run goes on",
      members: zones("done", "paused", "pending"),
      known: open,
      want: "continue",
    },
    {
      name: "the last member's wave still in flight",
      members: zones("done", "done", "wave"),
      known: open,
      want: "continue",
    },
    { name: "every member done: the run ends", members: zones("done", "done", "done"), known: open, want: "end" },
    {
      name: "a ref for the owner's own rollout (before it joined the group) is no open run",
      members: zones("progressing", "done", "done"),
      known: { rollout: "4/r-7" },
      want: "start",
    },
    {
      name: "a ref for another group's run is no open run of this one",
      members: zones("progressing", "done", "done"),
      known: { rollout: groupRunKey("store") },
      want: "start",
    },
    {
      name: "a ref from before refs were stamped is no open run",
      members: zones("progressing", "done", "done"),
      known: {},
      want: "start",
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      expect(groupRunStep("ingester", c.members, c.known)).to.equal(c.want);
    });

  it("run stamps name their group and never look like a rollout's own stamp (generation/identity)", () => {
    expect(groupOfRunKey(groupRunKey("ingester"))).to.equal("ingester");
    expect(groupOfRunKey(groupRunKey("ingester", true))).to.equal("ingester");
    expect(groupOfRunKey("3/r-1")).to.equal(undefined);
    expect(groupOfRunKey(undefined)).to.equal(undefined);
  });
});

describe("group messages: the group's phase", () => {
  const cases: Array<[State, State, State, RolloutPhase, string]> = [
    ["done", "done", "done", "RolloutDone", "every member done"],
    ["progressing", "edited", "edited", "Progressing", "the first member moving"],
    ["edited", "edited", "done", "Pending", "edited, nothing picked up yet"],
    ["done", "pending", "edited", "Pending", "the next member not started yet"],
    ["done", "paused", "pending", "Paused", "a rolling member paused"],
    ["done", "failed", "pending", "RolloutFailed", "a member failed: the group is stopped"],
    ["done", "failed-old", "done", "Pending", "a failure on a spec since replaced (a rollback picked up next)"],
    ["done", "done", "wave", "Pending", "done but a wave in flight"],
  ];
  for (const [a, b, c, want, what] of cases)
    it(`${what}: ${want}`, () => {
      expect(groupPhase(zones(a, b, c))).to.equal(want);
    });
});
