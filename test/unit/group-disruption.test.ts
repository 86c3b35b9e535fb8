import { expect } from "chai";
import {
  type GroupDisruptionInput,
  type GroupMemberView,
  budgetCount,
  decideGroupDisruption,
  disruptionsLeft,
  isPodUnavailable,
  memberZone,
  templateZone,
} from "../../api/group-disruption.js";

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
