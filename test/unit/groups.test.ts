import { expect } from "chai";
import {
  activeMember,
  groupGate,
  groupRollouts,
  groupSignalOf,
  groupStatusOf,
  memberViewOf,
  unavailableOf,
  withMember,
  type GroupMemberView,
  type GroupView,
} from "../../api/groups.js";
import { decide } from "../../api/reconcile.js";
import { GROUP_MEMBERS_MAX, parseRollout, type StatefulsetRollout } from "../../api/rollout.js";
import { makePods, makeRollout, NEW, NOW, rollingStatus, world } from "./reconcile.fixtures.js";

/** A member that has settled: done on its current spec, its 3 pods Ready; `unavailable` of them not Ready. */
function member(
  name: string,
  order: number,
  over: Partial<GroupMemberView> & { unavailable?: number } = {},
): GroupMemberView {
  const { unavailable = 0, ...rest } = over;
  const pods = Array.from({ length: 3 }, (_, i) => ({
    name: `${name}-${i}`,
    ready: i >= unavailable,
    terminating: false,
  }));
  return {
    name,
    order,
    phase: "RolloutDone",
    current: true,
    waveInFlight: false,
    disruption: { rollout: name, order, statefulSet: name, replicas: 3, maxUnavailable: 1, pods },
    ...rest,
  };
}

const group = (...members: GroupMemberView[]): GroupView => ({ name: "ingester", members });

/** A member's pods when the group is first created: none of its 3 exists yet. */
function creating(name: string, order: number): Pick<GroupMemberView, "disruption"> {
  return { disruption: { ...member(name, order).disruption, pods: [] } };
}

/** A member with `unavailable` of its 3 pods not Ready and its own budget. */
function budget(
  name: string,
  order: number,
  { unavailable, maxUnavailable }: { unavailable: number; maxUnavailable: number },
): Pick<GroupMemberView, "disruption"> {
  return { disruption: { ...member(name, order, { unavailable }).disruption, maxUnavailable } };
}

describe("groupRollouts", () => {
  const rollout = (name: string, namespace: string, group?: { name: string; order: number }): StatefulsetRollout => {
    const parsed = parseRollout({
      metadata: { name, namespace },
      spec: {
        statefulset: { spec: { selector: { matchLabels: { app: name } }, template: {} } },
        ...(group ? { group } : {}),
      },
    });
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.value;
  };
  const all = [
    rollout("zone-c", "ns", { name: "ingester", order: 2 }),
    rollout("zone-b", "ns", { name: "ingester", order: 1 }),
    rollout("zone-a", "ns", { name: "ingester", order: 1 }),
    rollout("other", "ns", { name: "store", order: 0 }),
    rollout("alone", "ns"),
    rollout("zone-x", "elsewhere", { name: "ingester", order: 0 }),
  ];
  const cases: Array<{ name: string; namespace: string; group: string; want: string[] }> = [
    {
      name: "same namespace and group name, by order then name",
      namespace: "ns",
      group: "ingester",
      want: ["zone-a", "zone-b", "zone-c"],
    },
    { name: "another group name is another group", namespace: "ns", group: "store", want: ["other"] },
    { name: "another namespace is another group", namespace: "elsewhere", group: "ingester", want: ["zone-x"] },
    { name: "no member", namespace: "ns", group: "none", want: [] },
  ];
  for (const c of cases)
    it(c.name, () => {
      expect(groupRollouts(all, c.namespace, c.group).map((r) => r.metadata.name)).to.deep.equal(c.want);
    });
});

describe("groupGate, activeMember and waitingFor", () => {
  const tooMany = Array.from({ length: GROUP_MEMBERS_MAX + 1 }, (_, i) => member(`m-${String(i).padStart(2, "0")}`, i));
  const cases: Array<{
    name: string;
    view: GroupView;
    self: string;
    go: boolean;
    code?: string;
    waiting?: RegExp;
    active: string | undefined;
  }> = [
    {
      name: "the first member moves when nothing else is degraded",
      view: group(member("zone-a", 1, { phase: "Progressing" }), member("zone-b", 2, { current: false })),
      self: "zone-a",
      go: true,
      active: "zone-a",
    },
    {
      name: "a later member waits while an earlier one is progressing",
      view: group(member("zone-a", 1, { phase: "Progressing", reason: "wave 2" }), member("zone-b", 2)),
      self: "zone-b",
      go: false,
      code: "WaitingForGroup",
      waiting: /^zone-a \(order 1\) to finish: Progressing$/,
      active: "zone-a",
    },
    {
      name: "an earlier member still reading RolloutDone for an older spec is not done",
      view: group(member("zone-a", 1, { current: false }), member("zone-b", 2, { phase: "Progressing" })),
      self: "zone-b",
      go: false,
      code: "WaitingForGroup",
      waiting: /zone-a \(order 1\) to finish: its spec changed/,
      active: "zone-a",
    },
    {
      name: "an earlier member done but with a pod not Ready holds later members",
      view: group(member("zone-a", 1, { unavailable: 1 }), member("zone-b", 2, { phase: "Progressing" })),
      self: "zone-b",
      go: false,
      code: "WaitingForGroup",
      waiting: /zone-a \(order 1\) to finish: 1 pod not Ready or terminating \(zone-a-0\)/,
      active: "zone-a",
    },
    {
      name: "an earlier paused member holds later members",
      view: group(member("zone-a", 1, { phase: "Paused" }), member("zone-b", 2, { phase: "Paused" })),
      self: "zone-b",
      go: false,
      code: "WaitingForGroup",
      waiting: /zone-a \(order 1\) to finish: Paused/,
      active: "zone-a",
    },
    {
      name: "every earlier member settled → the next one moves",
      view: group(member("zone-a", 1), member("zone-b", 2, { phase: "Progressing" }), member("zone-c", 3)),
      self: "zone-b",
      go: true,
      active: "zone-b",
    },
    {
      name: "a later member with unavailable pods holds an earlier one (no two members degraded)",
      view: group(member("zone-a", 1, { phase: "Progressing" }), member("zone-b", 2, { unavailable: 2 })),
      self: "zone-a",
      go: false,
      code: "WaitingForGroup",
      waiting: /^zone-b \(order 2\), degraded: 2 pods not Ready or terminating \(zone-b-0, zone-b-1\)$/,
      active: "zone-a",
    },
    {
      name: "pods first being created: the first member's own pods hold it, not a later member's",
      view: group(
        member("zone-a", 1, { phase: "Progressing", ...creating("zone-a", 1) }),
        member("zone-b", 2, { phase: "Progressing", ...creating("zone-b", 2) }),
      ),
      self: "zone-a",
      go: false,
      code: "WaitingForGroup",
      waiting: /^its own pods: 3 pods of its 3 not created yet$/,
      active: "zone-a",
    },
    {
      name: "pods first being created: a later member waits for the earlier one",
      view: group(
        member("zone-a", 1, { phase: "Progressing", ...creating("zone-a", 1) }),
        member("zone-b", 2, { phase: "Progressing", ...creating("zone-b", 2) }),
      ),
      self: "zone-b",
      go: false,
      code: "WaitingForGroup",
      waiting: /^zone-a \(order 1\) to finish: Progressing$/,
      active: "zone-a",
    },
    {
      name: "own pods not Ready with budget left: the later degraded member is what holds it",
      view: group(
        member("zone-a", 1, { phase: "Progressing", ...budget("zone-a", 1, { unavailable: 1, maxUnavailable: 2 }) }),
        member("zone-b", 2, { unavailable: 1 }),
      ),
      self: "zone-a",
      go: false,
      code: "WaitingForGroup",
      waiting: /^zone-b \(order 2\), degraded: 1 pod not Ready or terminating \(zone-b-0\)$/,
      active: "zone-a",
    },
    {
      name: "own budget spent by its own pods: they hold it, not a later member's wave in flight",
      view: group(
        member("zone-a", 1, { phase: "Progressing", unavailable: 1 }),
        member("zone-b", 2, { waveInFlight: true }),
      ),
      self: "zone-a",
      go: false,
      code: "WaitingForGroup",
      waiting: /^its own pods: 1 pod not Ready or terminating \(zone-a-0\)$/,
      active: "zone-a",
    },
    {
      name: "own pods being created with budget left: they hold it, not a later degraded member",
      view: group(
        member("zone-a", 1, {
          phase: "Progressing",
          disruption: { ...member("zone-a", 1).disruption, maxUnavailable: 2, pods: [] },
        }),
        member("zone-b", 2, { unavailable: 1 }),
      ),
      self: "zone-a",
      go: false,
      code: "WaitingForGroup",
      waiting: /^its own pods: 3 pods of its 3 not created yet$/,
      active: "zone-a",
    },
    {
      name: "own pod missing during its own wave, budget left: the later degraded member holds it",
      view: group(
        member("zone-a", 1, {
          phase: "Progressing",
          waveInFlight: true,
          disruption: {
            ...member("zone-a", 1).disruption,
            maxUnavailable: 2,
            pods: member("zone-a", 1).disruption.pods.slice(1),
          },
        }),
        member("zone-b", 2, { unavailable: 1 }),
      ),
      self: "zone-a",
      go: false,
      code: "WaitingForGroup",
      waiting: /^zone-b \(order 2\), degraded: 1 pod not Ready or terminating \(zone-b-0\)$/,
      active: "zone-a",
    },
    {
      name: "own pods not Ready and nothing else holds it: the gate lets it go (its budget decides)",
      view: group(member("zone-a", 1, { phase: "Progressing", unavailable: 1 }), member("zone-b", 2)),
      self: "zone-a",
      go: true,
      active: "zone-a",
    },
    {
      name: "another member's wave in flight holds this member",
      view: group(member("zone-a", 1, { phase: "Progressing" }), member("zone-b", 2, { waveInFlight: true })),
      self: "zone-a",
      go: false,
      code: "WaitingForGroup",
      waiting: /zone-b \(order 2\) to finish its wave in flight/,
      active: "zone-a",
    },
    {
      name: "one member failed → the group is stopped, later members do not start",
      view: group(
        member("zone-a", 1, { phase: "RolloutFailed", reason: "pod zone-a-3 is crash-looping" }),
        member("zone-b", 2, { phase: "Progressing" }),
      ),
      self: "zone-b",
      go: false,
      code: "GroupStopped",
      waiting: /group ingester is stopped: member zone-a failed \(pod zone-a-3 is crash-looping\)/,
      active: undefined,
    },
    {
      name: "a later member failed stops an earlier one too",
      view: group(member("zone-a", 1, { phase: "Progressing" }), member("zone-b", 2, { phase: "RolloutFailed" })),
      self: "zone-a",
      go: false,
      code: "GroupStopped",
      active: undefined,
    },
    {
      name: "a failure on an older spec does not stop the group (the member restarts)",
      view: group(
        member("zone-a", 1, { phase: "Progressing" }),
        member("zone-b", 2, { phase: "RolloutFailed", current: false }),
      ),
      self: "zone-a",
      go: true,
      active: "zone-a",
    },
    {
      name: "equal orders: by name",
      view: group(member("b", 1, { phase: "Progressing" }), member("a", 1, { phase: "Progressing" })),
      self: "b",
      go: false,
      code: "WaitingForGroup",
      waiting: /^a \(order 1\) to finish/,
      active: "a",
    },
    {
      name: "all settled → no active member",
      view: group(member("zone-a", 1), member("zone-b", 2)),
      self: "zone-b",
      go: true,
      active: undefined,
    },
    {
      name: "more than GROUP_MEMBERS_MAX members → nobody moves",
      view: group(...tooMany),
      self: "m-00",
      go: false,
      code: "GroupTooLarge",
      waiting: new RegExp(`group ingester has ${GROUP_MEMBERS_MAX + 1} members, more than ${GROUP_MEMBERS_MAX}`),
      active: undefined,
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const view = {
        ...c.view,
        members: [...c.view.members].sort((a, b) => a.order - b.order || (a.name < b.name ? -1 : 1)),
      };
      const gate = groupGate(view, c.self);
      expect(gate.go).to.equal(c.go);
      if (!gate.go) {
        expect(gate.code).to.equal(c.code);
        if (c.waiting) expect(gate.waitingFor).to.match(c.waiting);
        expect(gate.waitingFor.length).to.be.at.most(300);
      }
      expect(activeMember(view)).to.equal(c.active);
    });
});

describe("groupStatusOf", () => {
  it("lists the members in order, the active one, and what this member waits for", () => {
    const view = group(
      member("zone-a", 1, { phase: "Progressing", statefulset: "ingester-a", unavailable: 2 }),
      member("zone-b", 2, { phase: "Progressing", statefulset: "ingester-b" }),
    );
    expect(groupStatusOf(view, "zone-b")).to.deep.equal({
      name: "ingester",
      members: [
        { name: "zone-a", order: 1, statefulset: "ingester-a", phase: "Progressing", unavailable: 2 },
        { name: "zone-b", order: 2, statefulset: "ingester-b", phase: "Progressing", unavailable: 0 },
      ],
      active: "zone-a",
      waitingFor: "zone-a (order 1) to finish: Progressing",
    });
  });
  it("while the group is first created, each member says what really holds it", () => {
    const view = group(
      member("zone-a", 1, { phase: "Progressing", ...creating("zone-a", 1) }),
      member("zone-b", 2, { phase: "Progressing", ...creating("zone-b", 2) }),
      member("zone-c", 3, { phase: "Progressing", ...creating("zone-c", 3) }),
    );
    expect(["zone-a", "zone-b", "zone-c"].map((m) => groupStatusOf(view, m).waitingFor)).to.deep.equal([
      "its own pods: 3 pods of its 3 not created yet",
      "zone-a (order 1) to finish: Progressing",
      "zone-a (order 1) to finish: Progressing",
    ]);
  });
  it("a settled or failed member waits for nothing", () => {
    const view = group(member("zone-a", 1, { phase: "RolloutFailed" }), member("zone-b", 2));
    expect(groupStatusOf(view, "zone-a").waitingFor).to.equal(undefined);
    expect(groupStatusOf(view, "zone-b").waitingFor).to.equal(undefined);
  });
  it("keeps at most GROUP_MEMBERS_MAX members", () => {
    const view = group(...Array.from({ length: GROUP_MEMBERS_MAX + 4 }, (_, i) => member(`m${i}`, i)));
    expect(groupStatusOf(view, "m0").members).to.have.length(GROUP_MEMBERS_MAX);
  });
});

describe("memberViewOf, withMember, unavailableOf", () => {
  const r = makeRollout({ group: { name: "ingester", order: 3 } }, rollingStatus({ phase: "RolloutDone" }));
  const cases: Array<{ name: string; status: Parameters<typeof memberViewOf>[1]; current: boolean; wave: boolean }> = [
    { name: "status of the current generation", status: rollingStatus(), current: true, wave: false },
    {
      name: "status of an older generation",
      status: rollingStatus({ observedGeneration: 0 }),
      current: false,
      wave: false,
    },
    {
      name: "a new rolloutIdentity not yet observed",
      status: rollingStatus({ rolloutIdentity: "old" }),
      current: false,
      wave: false,
    },
    {
      name: "a wave recorded and not completed",
      status: rollingStatus({ currentWave: { number: 1, pods: ["web-9"], startedAt: NOW.toISOString() } }),
      current: true,
      wave: true,
    },
    { name: "no status yet", status: undefined, current: false, wave: false },
  ];
  for (const c of cases)
    it(c.name, () => {
      const view = memberViewOf(r, c.status, member("web", 3).disruption);
      expect(view.current).to.equal(c.current);
      expect(view.waveInFlight).to.equal(c.wave);
      expect(view.order).to.equal(3);
    });

  it("withMember replaces one member and keeps the order", () => {
    const view = withMember(group(member("a", 1), member("b", 2)), member("a", 1, { phase: "Progressing" }));
    expect(view.members.map((m) => [m.name, m.phase])).to.deep.equal([
      ["a", "Progressing"],
      ["b", "RolloutDone"],
    ]);
  });

  // The availability fact itself is api/group-disruption.ts's (tested there); this is the count status shows.
  const counts: Array<{ name: string; member: GroupMemberView; want: number }> = [
    { name: "all Ready", member: member("a", 1), want: 0 },
    { name: "two not Ready", member: member("a", 1, { unavailable: 2 }), want: 2 },
    {
      name: "one terminating and one missing",
      member: {
        ...member("a", 1),
        disruption: {
          ...member("a", 1).disruption,
          pods: [
            { name: "a-0", ready: true, terminating: true },
            { name: "a-1", ready: true, terminating: false },
          ],
        },
      },
      want: 2,
    },
  ];
  for (const c of counts) it(`unavailableOf: ${c.name}`, () => expect(unavailableOf(c.member)).to.equal(c.want));

  it("groupSignalOf changes with what other members judge, not with the reason or the Ready count", () => {
    const of = (status: Parameters<typeof rollingStatus>[0], spec: Record<string, unknown> = {}) =>
      groupSignalOf(makeRollout({ group: { name: "g", order: 1 }, ...spec }, rollingStatus(status)));
    const base = of({ reason: "wave 1", readyReplicas: 4 });
    expect(of({ reason: "wave 2", readyReplicas: 5 })).to.equal(base);
    expect(of({ reason: "wave 1", readyReplicas: 10 })).to.not.equal(base);
    expect(of({ phase: "RolloutDone", readyReplicas: 4 })).to.not.equal(base);
    expect(of({ observedGeneration: 0, readyReplicas: 4 })).to.not.equal(base);
    expect(of({ readyReplicas: 4, currentWave: { number: 1, pods: [], startedAt: NOW.toISOString() } })).to.not.equal(
      base,
    );
    expect(of({ readyReplicas: 4 }, { group: { name: "g", order: 2 } })).to.not.equal(base);
  });
});

describe("decide: a grouped rollout", () => {
  const grouped = (order: number) => makeRollout({ group: { name: "ingester", order } }, rollingStatus());
  it("records no wave while an earlier member is progressing, and says what it waits for", () => {
    const r = grouped(2);
    const view = group(member("zone-a", 1, { phase: "Progressing" }), member("web", 2, { phase: "Progressing" }));
    const d = decide(r, world(r, makePods(10), 3, { group: view }), NOW);
    expect(d.step.kind).to.equal("none");
    expect(d.status.currentWave).to.equal(undefined);
    expect(d.status.reason).to.equal("next wave waits for zone-a (order 1) to finish: Progressing");
    expect(d.status.group?.waitingFor).to.equal("zone-a (order 1) to finish: Progressing");
    expect(d.status.group?.active).to.equal("zone-a");
    expect(d.status.conditions?.find((c) => c.type === "Progressing")?.reason).to.equal("WaitingForGroup");
  });
  it("while the group is first created, the first member's reason names its own pods, not a later member", () => {
    const r = makeRollout({ group: { name: "ingester", order: 1 } }, rollingStatus({ currentRevision: NEW }));
    const web = member("web", 1, { phase: "Progressing" });
    const view = group(
      { ...web, disruption: { ...web.disruption, replicas: 10, pods: [] } },
      member("zone-b", 2, { phase: "Progressing", ...creating("zone-b", 2) }),
    );
    const d = decide(r, world(r, [], 3, { group: view }), NOW);
    expect(d.step.kind).to.equal("none");
    expect(d.status.reason).to.equal("next wave waits for its own pods: 10 pods of its 10 not created yet");
    expect(d.status.group?.waitingFor).to.equal("its own pods: 10 pods of its 10 not created yet");
  });
  it("records its wave, sized by its own budget, once every earlier member has settled", () => {
    const r = grouped(2);
    const view = group(member("zone-a", 1), member("web", 2, { phase: "Progressing" }));
    const d = decide(r, world(r, makePods(10), 3, { group: view }), NOW);
    expect(d.status.currentWave?.pods).to.deep.equal(["web-9", "web-8", "web-7"]);
    expect(d.status.group).to.deep.include({ active: "web" });
    expect(d.status.group?.waitingFor).to.equal(undefined);
  });
  it("a wave in flight is finished even when the group would now hold the member", () => {
    const r = makeRollout(
      { group: { name: "ingester", order: 2 } },
      rollingStatus({
        updatedOrdinals: [9],
        currentWave: { number: 1, pods: ["web-9"], startedAt: NOW.toISOString(), direction: "forward" },
      }),
    );
    const view = group(member("zone-a", 1, { unavailable: 1 }), member("web", 2, { phase: "Progressing" }));
    const d = decide(r, world(r, makePods(10), 3, { group: view }), NOW);
    expect(d.step.kind).to.equal("evict");
  });
  it("more members than GROUP_MEMBERS_MAX: GroupTooLarge condition, no wave", () => {
    const r = grouped(0);
    const view = group(
      member("web", 0, { phase: "Progressing" }),
      ...Array.from({ length: GROUP_MEMBERS_MAX }, (_, i) => member(`m${i}`, i + 1)),
    );
    const d = decide(r, world(r, makePods(10), 3, { group: view }), NOW);
    expect(d.status.currentWave).to.equal(undefined);
    expect(d.status.conditions?.find((c) => c.type === "GroupTooLarge")).to.include({ status: "True" });
  });
  it("a rollout without spec.group writes no status.group", () => {
    const r = makeRollout({}, rollingStatus({ group: { name: "old", members: [] } }));
    const d = decide(r, world(r, makePods(10), 3), NOW);
    expect(d.status.group).to.equal(undefined);
  });
});
