import { expect } from "chai";
import {
  type GroupDisruptionInput,
  type GroupMemberView,
  budgetCount,
  decideGroupDisruption,
  decideGroupGuard,
  groupMembers,
  disruptionsLeft,
  isPodUnavailable,
  memberZone,
  templateZone,
} from "../../api/group-disruption.js";
import { seededRandom } from "../support/seeded-random.js";
import { type GuardPod, parseEvictionRequest, parsePodDeleteRequest } from "../../api/leak-guard.js";
import {
  GNS,
  type GroupWorldFixture,
  groupDelete,
  groupEviction,
  groupPod,
  groupRollout,
  groupStatefulSet,
  groupWorld,
  groupWorldOf,
  setPod,
} from "./group-guard-fixtures.js";

const NS = "obs";

/** A member of `replicas` pods named `<rollout>-<i>`; `down` lists ordinals not Ready, `terminating` ordinals being deleted. */
function member(
  rollout: string,
  order: number,
  options: {
    replicas?: number;
    pods?: number;
    down?: number[];
    terminating?: number[];
    zone?: string;
    budget?: number | string;
  } = {},
): GroupMemberView {
  const replicas = options.replicas ?? 4;
  const count = options.pods ?? replicas;
  return {
    rollout,
    order,
    statefulSet: rollout,
    ...(options.zone ? { zone: options.zone } : {}),
    replicas,
    maxUnavailable: options.budget ?? "25%",
    pods: Array.from({ length: count }, (_, i) => ({
      name: `${rollout}-${i}`,
      ready: !(options.down ?? []).includes(i),
      terminating: (options.terminating ?? []).includes(i),
    })),
  };
}

function input(
  members: GroupMemberView[],
  pod: string,
  extra: Partial<GroupDisruptionInput> = {},
): GroupDisruptionInput {
  return {
    via: "eviction",
    namespace: NS,
    group: "ingester",
    member: pod.replace(/-\d+$/, ""),
    pod,
    members,
    ...extra,
  };
}

describe("isPodUnavailable: the one availability fact", () => {
  const ready = [{ type: "Ready", status: "True" }];
  const cases: Array<{ name: string; pod: Parameters<typeof isPodUnavailable>[0]; unavailable: boolean }> = [
    { name: "Ready pod", pod: { status: { conditions: ready } }, unavailable: false },
    { name: "Ready False", pod: { status: { conditions: [{ type: "Ready", status: "False" }] } }, unavailable: true },
    { name: "no conditions", pod: { status: {} }, unavailable: true },
    { name: "no status", pod: {}, unavailable: true },
    {
      name: "Ready but terminating",
      pod: { metadata: { deletionTimestamp: "2026-11-30T12:00:00Z" }, status: { conditions: ready } },
      unavailable: true,
    },
    {
      name: "deletionTimestamp null",
      pod: { metadata: { deletionTimestamp: null }, status: { conditions: ready } },
      unavailable: false,
    },
    {
      name: "hostile conditions",
      pod: { status: { conditions: [null, { type: 3, status: true }] } },
      unavailable: true,
    },
    { name: "observed ready", pod: { ready: true, terminating: false }, unavailable: false },
    { name: "observed not ready", pod: { ready: false, terminating: false }, unavailable: true },
    { name: "observed terminating", pod: { ready: true, terminating: true }, unavailable: true },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.unavailable ? "unavailable" : "available"}`, () => {
      expect(isPodUnavailable(c.pod)).to.equal(c.unavailable);
    });
  }
});

describe("budgetCount: maxUnavailable rounded up as the PDB does", () => {
  const cases: Array<{ budget: number | string; replicas: number; count: number }> = [
    { budget: "25%", replicas: 4, count: 1 },
    { budget: "25%", replicas: 5, count: 2 },
    { budget: "100%", replicas: 10, count: 10 },
    { budget: "1%", replicas: 3, count: 1 },
    { budget: 2, replicas: 10, count: 2 },
    { budget: "3", replicas: 10, count: 3 },
    { budget: "25%", replicas: 0, count: 0 },
    // Not a budget: the default (25%), as the PDB defaults do.
    { budget: "lots", replicas: 8, count: 2 },
    { budget: 0, replicas: 8, count: 2 },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.budget)} of ${c.replicas} → ${c.count}`, () => {
      expect(budgetCount(c.budget, c.replicas)).to.equal(c.count);
    });
  }

  it("disruptionsLeft counts available pods against replicas - budget", () => {
    expect(disruptionsLeft(member("a", 1))).to.equal(1);
    expect(disruptionsLeft(member("a", 1, { down: [0] }))).to.equal(0);
    expect(disruptionsLeft(member("a", 1, { budget: 2, down: [0] }))).to.equal(1);
    expect(disruptionsLeft(member("a", 1, { pods: 3 }))).to.equal(0);
    // Scaled to 0 while pods remain: the budget keeps nothing available.
    expect(disruptionsLeft(member("a", 1, { replicas: 0, pods: 2 }))).to.equal(2);
  });
});

describe("decideGroupDisruption: the zone-aware table", () => {
  const a = (o: Parameters<typeof member>[2] = {}) => member("ingester-a", 1, { zone: "zone-a", ...o });
  const b = (o: Parameters<typeof member>[2] = {}) => member("ingester-b", 2, { zone: "zone-b", ...o });
  const c = (o: Parameters<typeof member>[2] = {}) => member("ingester-c", 3, { zone: "zone-c", ...o });

  const cases: Array<{
    name: string;
    members: GroupMemberView[];
    pod: string;
    extra?: Partial<GroupDisruptionInput>;
    verdict: "allow" | "deny";
    reason: string;
    /** The degraded member a denial names. */
    degraded?: string;
    message?: RegExp[];
  }> = [
    {
      name: "every zone whole",
      members: [a(), b(), c()],
      pod: "ingester-b-1",
      verdict: "allow",
      reason: "group-available",
    },
    {
      name: "a pod of zone-a not Ready refuses zone-b",
      members: [a({ down: [2] }), b(), c()],
      pod: "ingester-b-1",
      verdict: "deny",
      reason: "other-member-degraded",
      degraded: "ingester-a",
      message: [
        /Eviction of pod obs\/ingester-b-1 \(zone zone-b \(rollout ingester-b\), group ingester\) refused/,
        /Zone zone-a \(rollout ingester-a\) is degraded: 1 pod not Ready or terminating \(ingester-a-2\)/,
        /Wait until zone zone-a's pods are all Ready/,
        /kubectl describe pod ingester-a-2 -n obs/,
        /remove spec\.group/,
      ],
    },
    {
      name: "a terminating pod of zone-c refuses zone-a",
      members: [a(), b(), c({ terminating: [0] })],
      pod: "ingester-a-0",
      verdict: "deny",
      reason: "other-member-degraded",
      degraded: "ingester-c",
      message: [/Zone zone-c .* is degraded: 1 pod not Ready or terminating \(ingester-c-0\)/],
    },
    {
      name: "a missing pod (removed, not recreated yet) of zone-a refuses zone-b",
      members: [a({ pods: 3 }), b(), c()],
      pod: "ingester-b-0",
      verdict: "deny",
      reason: "other-member-degraded",
      degraded: "ingester-a",
      message: [/1 pod of its 4 not created yet/],
    },
    {
      name: "two degraded members: the first in group order is named",
      members: [c({ down: [1] }), a({ down: [3] }), b()],
      pod: "ingester-b-0",
      verdict: "deny",
      reason: "other-member-degraded",
      degraded: "ingester-a",
    },
    {
      name: "many pods down: three are listed",
      members: [a({ replicas: 8, down: [0, 1, 2, 3, 4] }), b()],
      pod: "ingester-b-0",
      verdict: "deny",
      reason: "other-member-degraded",
      degraded: "ingester-a",
      message: [/5 pods not Ready or terminating \(ingester-a-0, ingester-a-1, ingester-a-2, and 2 more\)/],
    },
    {
      name: "degradation in the pod's own zone within budget allows",
      members: [a(), b({ replicas: 8, down: [0] }), c()],
      pod: "ingester-b-1",
      verdict: "allow",
      reason: "group-available",
    },
    {
      name: "own budget spent refuses",
      members: [a(), b({ down: [0] }), c()],
      pod: "ingester-b-1",
      verdict: "deny",
      reason: "budget-spent",
      degraded: "ingester-b",
      message: [
        /Its own budget is spent: 1 pod not Ready or terminating \(ingester-b-0\)/,
        /allows 1 pod of 4 down \(maxUnavailable "25%"\)/,
        /raise spec\.disruptionPolicy\.maxUnavailable/,
      ],
    },
    {
      name: "a whole zone may go when its budget allows",
      members: [a(), b({ budget: "100%", down: [0, 1, 2] }), c()],
      pod: "ingester-b-3",
      verdict: "allow",
      reason: "group-available",
    },
    {
      name: "the pod itself not Ready is allowed while another zone is degraded",
      members: [a({ down: [0] }), b({ down: [1] }), c()],
      pod: "ingester-b-1",
      verdict: "allow",
      reason: "pod-unavailable",
    },
    {
      name: "the request's own view of the pod wins over the member view",
      members: [a({ down: [0] }), b(), c()],
      pod: "ingester-b-1",
      extra: { podState: { ready: true, terminating: true } },
      verdict: "allow",
      reason: "pod-unavailable",
    },
    {
      name: "a group of one: only its budget counts",
      members: [a()],
      pod: "ingester-a-0",
      verdict: "allow",
      reason: "group-available",
    },
    {
      name: "a group of one with its budget spent",
      members: [a({ terminating: [3] })],
      pod: "ingester-a-0",
      verdict: "deny",
      reason: "budget-spent",
      degraded: "ingester-a",
    },
    {
      name: "a member scaled to 0 is whole",
      members: [a({ replicas: 0 }), b(), c()],
      pod: "ingester-b-0",
      verdict: "allow",
      reason: "group-available",
    },
    {
      name: "a member whose StatefulSet has no pods yet is degraded",
      members: [a({ pods: 0 }), b()],
      pod: "ingester-b-0",
      verdict: "deny",
      reason: "other-member-degraded",
      degraded: "ingester-a",
      message: [/4 pods of its 4 not created yet/],
    },
    {
      name: "the pod's member is not among the members: fail-safe allow",
      members: [a({ down: [0] }), c()],
      pod: "ingester-b-0",
      verdict: "allow",
      reason: "member-unknown",
    },
    {
      name: "a pod the member view does not hold yet counts as available",
      members: [a(), b({ pods: 3 }), c()],
      pod: "ingester-b-3",
      verdict: "allow",
      reason: "group-available",
    },
    {
      name: "a delete says Deletion, and a member without a zone is named by its rollout",
      members: [member("ingester-a", 1, { down: [1] }), b()],
      pod: "ingester-b-0",
      extra: { via: "delete" },
      verdict: "deny",
      reason: "other-member-degraded",
      degraded: "ingester-a",
      message: [
        /^Bulkhead zone guard: Deletion of pod obs\/ingester-b-0/,
        /Rollout ingester-a is degraded/,
        /Wait until rollout ingester-a's pods/,
      ],
    },
  ];

  for (const t of cases) {
    it(`${t.name} → ${t.verdict} (${t.reason})`, () => {
      const decision = decideGroupDisruption(input(t.members, t.pod, t.extra));
      expect(decision.verdict).to.equal(t.verdict);
      expect(decision.reason).to.equal(t.reason);
      if (decision.verdict === "deny") {
        expect(decision.code).to.equal(429);
        expect(decision.degraded.member.rollout).to.equal(t.degraded);
        for (const re of t.message ?? []) expect(decision.message).to.match(re);
      }
    });
  }
});

describe("memberZone: where a member runs", () => {
  const affinity = (...terms: Array<Array<{ key: string; operator: string; values?: unknown[] }>>) => ({
    spec: {
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: terms.map((matchExpressions) => ({ matchExpressions })),
          },
        },
      },
    },
  });
  const zoneIn = (...values: unknown[]) => ({ key: "topology.kubernetes.io/zone", operator: "In", values });
  const cases: Array<{ name: string; template: unknown; zone: string | undefined }> = [
    {
      name: "nodeSelector",
      template: { spec: { nodeSelector: { "topology.kubernetes.io/zone": "zone-a" } } },
      zone: "zone-a",
    },
    { name: "required affinity, one term", template: affinity([zoneIn("zone-b")]), zone: "zone-b" },
    {
      name: "required affinity with other expressions",
      template: affinity([{ key: "disk", operator: "In", values: ["ssd"] }, zoneIn("zone-c")]),
      zone: "zone-c",
    },
    { name: "two terms on one zone", template: affinity([zoneIn("zone-a")], [zoneIn("zone-a")]), zone: "zone-a" },
    { name: "two terms, two zones", template: affinity([zoneIn("zone-a")], [zoneIn("zone-b")]), zone: undefined },
    { name: "one term allowing two zones", template: affinity([zoneIn("zone-a", "zone-b")]), zone: undefined },
    {
      name: "a term without a zone",
      template: affinity([zoneIn("zone-a")], [{ key: "disk", operator: "Exists" }]),
      zone: undefined,
    },
    {
      name: "NotIn",
      template: affinity([{ key: "topology.kubernetes.io/zone", operator: "NotIn", values: ["zone-a"] }]),
      zone: undefined,
    },
    { name: "no affinity", template: { spec: {} }, zone: undefined },
    { name: "hostile: not an object", template: "zone-a", zone: undefined },
    { name: "hostile: values not strings", template: affinity([zoneIn(7)]), zone: undefined },
    {
      name: "hostile: terms not an array",
      template: {
        spec: {
          affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: "x" } } },
        },
      },
      zone: undefined,
    },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.zone ?? "none"}`, () => {
      expect(templateZone(c.template)).to.equal(c.zone);
    });
  }

  it("the rollout's label wins, then the first template that names a zone", () => {
    const pinned = { spec: { nodeSelector: { "topology.kubernetes.io/zone": "zone-b" } } };
    expect(memberZone({ "topology.kubernetes.io/zone": "zone-x" }, pinned)).to.equal("zone-x");
    expect(memberZone(undefined, { spec: {} }, pinned)).to.equal("zone-b");
    expect(memberZone({}, undefined)).to.equal(undefined);
  });
});

describe("decideGroupGuard: from a request and the caches to the table", () => {
  const RECONCILER = "system:serviceaccount:bulkhead:bulkhead-reconciler";
  const zoneADown = (f: GroupWorldFixture) => setPod(f, groupPod("a", 2, { ready: false }));
  const request = (pod: string, o: { username?: string; via?: "eviction" | "delete"; target?: GuardPod } = {}) => {
    const via = o.via ?? "eviction";
    const parsed =
      via === "eviction"
        ? parseEvictionRequest(groupEviction(pod, o))
        : parsePodDeleteRequest(groupDelete(o.target ?? groupPod(pod.split("-")[1]!, Number(pod.split("-")[2])), o));
    if (parsed.kind !== "disruption") throw new Error(`fixture request did not parse: ${parsed.kind}`);
    return parsed.request;
  };

  const cases: Array<{
    name: string;
    world: (f: GroupWorldFixture) => void;
    pod: string;
    username?: string;
    via?: "eviction" | "delete";
    target?: GuardPod;
    verdict: "allow" | "deny";
    reason: string;
    failSafe?: boolean;
    message?: RegExp[];
  }> = [
    { name: "all zones whole", world: () => {}, pod: "ingester-b-1", verdict: "allow", reason: "group-available" },
    {
      name: "zone-a has a pod not Ready: an eviction in zone-b is refused, naming zone-a",
      world: zoneADown,
      pod: "ingester-b-1",
      verdict: "deny",
      reason: "other-member-degraded",
      message: [/Eviction of pod obs\/ingester-b-1 \(zone zone-b/, /Zone zone-a \(rollout ingester-a\) is degraded/],
    },
    {
      name: "the same for a delete (the pod from oldObject)",
      world: zoneADown,
      pod: "ingester-b-1",
      via: "delete",
      verdict: "deny",
      reason: "other-member-degraded",
      message: [/^Bulkhead zone guard: Deletion of pod obs\/ingester-b-1/],
    },
    {
      name: "the reconciler is not exempt",
      world: zoneADown,
      pod: "ingester-c-0",
      username: RECONCILER,
      verdict: "deny",
      reason: "other-member-degraded",
    },
    {
      name: "the StatefulSet controller is exempt",
      world: zoneADown,
      pod: "ingester-b-1",
      username: "system:serviceaccount:kube-system:statefulset-controller",
      verdict: "allow",
      reason: "system-controller",
    },
    {
      name: "a kubelet is exempt",
      world: zoneADown,
      pod: "ingester-b-1",
      username: "system:node:kwok-node-0",
      verdict: "allow",
      reason: "system-controller",
    },
    {
      name: "own budget spent",
      world: (f) => setPod(f, groupPod("b", 0, { ready: false })),
      pod: "ingester-b-1",
      verdict: "deny",
      reason: "budget-spent",
      message: [/Its own budget is spent/],
    },
    {
      name: "the pod itself is not Ready",
      world: (f) => (zoneADown(f), setPod(f, groupPod("b", 1, { ready: false }))),
      pod: "ingester-b-1",
      verdict: "allow",
      reason: "pod-unavailable",
    },
    {
      name: "the pod is terminating (cache)",
      world: (f) => (zoneADown(f), setPod(f, groupPod("b", 1, { terminating: true }))),
      pod: "ingester-b-1",
      verdict: "allow",
      reason: "pod-terminating",
    },
    {
      name: "the pod is terminating (DELETE's oldObject, fresher than the cache)",
      world: zoneADown,
      pod: "ingester-b-1",
      via: "delete",
      target: groupPod("b", 1, { terminating: true }),
      verdict: "allow",
      reason: "pod-terminating",
    },
    {
      name: "DELETE's oldObject not Ready wins over a cache that says Ready",
      world: zoneADown,
      pod: "ingester-b-1",
      via: "delete",
      target: groupPod("b", 1, { ready: false }),
      verdict: "allow",
      reason: "pod-unavailable",
    },
    {
      name: "caches not synced: fail-safe",
      world: (f) => (zoneADown(f), (f.synced = false)),
      pod: "ingester-b-1",
      verdict: "allow",
      reason: "caches-not-synced",
      failSafe: true,
    },
    {
      name: "a pod the cache does not hold",
      world: zoneADown,
      pod: "ingester-b-9",
      verdict: "allow",
      reason: "pod-not-managed",
    },
    {
      name: "the pod's StatefulSet is not in the cache: fail-safe",
      world: (f) => (zoneADown(f), (f.statefulSets = f.statefulSets.filter((s) => s.metadata?.name !== "ingester-b"))),
      pod: "ingester-b-1",
      verdict: "allow",
      reason: "statefulset-not-found",
      failSafe: true,
    },
    {
      name: "the pod's StatefulSet has no rollout",
      world: (f) => (zoneADown(f), (f.statefulSets[1] = groupStatefulSet("b", 4, null))),
      pod: "ingester-b-1",
      verdict: "allow",
      reason: "not-grouped",
    },
    {
      name: "the pod's rollout is not in the cache (deleted): fail-safe",
      world: (f) => (zoneADown(f), (f.rollouts = f.rollouts.filter((_, i) => i !== 1))),
      pod: "ingester-b-1",
      verdict: "allow",
      reason: "rollout-not-found",
      failSafe: true,
    },
    {
      name: "the pod's rollout names no group: the group guard has no say",
      world: (f) => (zoneADown(f), (f.rollouts[1] = groupRollout("b", 2, { group: null }))),
      pod: "ingester-b-1",
      verdict: "allow",
      reason: "not-grouped",
    },
    {
      name: "the pod's rollout does not parse: fail-safe",
      world: (f) => {
        zoneADown(f);
        f.rollouts[1] = { ...groupRollout("b", 2), spec: { ...groupRollout("b", 2).spec, percent: 150 } };
      },
      pod: "ingester-b-1",
      verdict: "allow",
      reason: "rollout-invalid",
      failSafe: true,
    },
    {
      name: "a degraded member whose rollout was deleted is no longer a member",
      world: (f) => (zoneADown(f), (f.rollouts = f.rollouts.slice(1))),
      pod: "ingester-b-1",
      verdict: "allow",
      reason: "group-available",
    },
    {
      name: "a degraded member whose rollout does not parse is left out",
      world: (f) => {
        zoneADown(f);
        f.rollouts[0] = { ...groupRollout("a", 1), spec: { ...groupRollout("a", 1).spec, percent: "lots" } };
      },
      pod: "ingester-b-1",
      verdict: "allow",
      reason: "group-available",
    },
    {
      name: "a member whose StatefulSet is not created yet counts all its replicas missing",
      world: (f) => {
        f.statefulSets = f.statefulSets.filter((s) => s.metadata?.name !== "ingester-a");
        f.pods = f.pods.filter((p) => !p.metadata?.name?.startsWith("ingester-a"));
      },
      pod: "ingester-b-1",
      verdict: "deny",
      reason: "other-member-degraded",
      message: [/Zone zone-a .* 4 pods of its 4 not created yet/],
    },
    {
      name: "a member scaled to 0 is whole",
      world: (f) => {
        f.statefulSets[0] = groupStatefulSet("a", 0);
        f.pods = f.pods.filter((p) => !p.metadata?.name?.startsWith("ingester-a"));
      },
      pod: "ingester-b-1",
      verdict: "allow",
      reason: "group-available",
    },
    {
      name: "a degraded rollout of another group does not count",
      world: (f) => (zoneADown(f), (f.rollouts[0] = groupRollout("a", 1, { group: "compactor" }))),
      pod: "ingester-b-1",
      verdict: "allow",
      reason: "group-available",
    },
    {
      name: "the rollout's zone label names the zone",
      world: (f) => {
        zoneADown(f);
        const a = groupRollout("a", 1);
        f.rollouts[0] = { ...a, metadata: { ...a.metadata, labels: { "topology.kubernetes.io/zone": "eu-west-1a" } } };
      },
      pod: "ingester-b-1",
      verdict: "deny",
      reason: "other-member-degraded",
      message: [/Zone eu-west-1a \(rollout ingester-a\) is degraded/],
    },
  ];

  for (const t of cases) {
    it(`${t.name} → ${t.verdict} (${t.reason})`, () => {
      const world = groupWorldOf(groupWorld(t.world));
      const decision = decideGroupGuard(
        request(t.pod, {
          ...(t.username ? { username: t.username } : {}),
          ...(t.via ? { via: t.via } : {}),
          ...(t.target ? { target: t.target } : {}),
        }),
        world,
      );
      expect(decision.verdict).to.equal(t.verdict);
      expect(decision.reason).to.equal(t.reason);
      if (decision.verdict === "allow") expect(decision.failSafe).to.equal(t.failSafe === true);
      else for (const re of t.message ?? []) expect(decision.message).to.match(re);
    });
  }

  it("names the rollout and group of the refused pod for metrics and Events", () => {
    const decision = decideGroupGuard(request("ingester-c-0"), groupWorldOf(groupWorld(zoneADown)));
    expect(decision.subject).to.deep.equal({
      namespace: GNS,
      group: "ingester",
      rollout: "ingester-c",
      uid: "uid-rollout-ingester-c",
    });
  });

  it("reads members from the caches: zone, replicas, budget and pod states", () => {
    const members = groupMembers(
      GNS,
      "ingester",
      groupWorldOf(groupWorld((f) => setPod(f, groupPod("c", 3, { terminating: true })))),
    );
    expect(members.map((m) => [m.rollout, m.order, m.zone, m.replicas, m.maxUnavailable])).to.deep.equal([
      ["ingester-a", 1, "zone-a", 4, "25%"],
      ["ingester-b", 2, "zone-b", 4, "25%"],
      ["ingester-c", 3, "zone-c", 4, "25%"],
    ]);
    expect(members[2]!.pods.filter((p) => isPodUnavailable(p)).map((p) => p.name)).to.deep.equal(["ingester-c-3"]);
  });
});

describe("decideGroupDisruption: property over generated groups", () => {
  it("an allowed removal of a Ready pod leaves no member but its own degraded, and its own within budget", () => {
    const seed = 1616;
    const random = seededRandom(seed);
    const pick = (n: number) => Math.floor(random() * n);
    let allowed = 0;
    let denied = 0;
    for (let round = 0; round < 500; round += 1) {
      const members: GroupMemberView[] = Array.from({ length: 1 + pick(4) }, (_, m) => {
        const replicas = pick(7);
        const budgets: Array<number | string> = [1, 2, "25%", "50%", "100%"];
        return {
          rollout: `m${m}`,
          order: pick(3),
          statefulSet: `m${m}`,
          replicas,
          maxUnavailable: budgets[pick(budgets.length)]!,
          // Sometimes a pod is missing; mostly Ready.
          pods: Array.from({ length: Math.max(0, replicas - (random() < 0.1 ? 1 : 0)) }, (_, i) => ({
            name: `m${m}-${i}`,
            ready: random() > 0.15,
            terminating: random() < 0.05,
          })),
        };
      });
      for (const member of members) {
        for (const pod of member.pods) {
          if (isPodUnavailable(pod)) continue;
          const decision = decideGroupDisruption({
            via: "eviction",
            namespace: NS,
            group: "g",
            member: member.rollout,
            pod: pod.name,
            members,
          });
          const context = `seed ${seed} round ${round}: ${JSON.stringify(members)} removing ${pod.name}`;
          if (decision.verdict === "deny") {
            denied += 1;
            continue;
          }
          allowed += 1;
          const after = members.map((m) =>
            m !== member
              ? m
              : { ...m, pods: m.pods.map((p) => (p.name === pod.name ? { ...p, terminating: true } : p)) },
          );
          for (const m of after) {
            if (m.rollout === member.rollout) {
              expect(disruptionsLeft(m), context).to.be.at.least(0);
            } else {
              expect(
                m.pods.every((p) => !isPodUnavailable(p)) && m.pods.length >= m.replicas,
                `${context}: ${m.rollout} degraded`,
              ).to.equal(true);
            }
          }
        }
      }
    }
    // The generator reaches both sides of the table.
    expect(allowed).to.be.greaterThan(100);
    expect(denied).to.be.greaterThan(100);
  });
});
