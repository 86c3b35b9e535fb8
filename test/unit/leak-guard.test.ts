import { expect } from "chai";
import type { AdmissionRequest } from "../../api/admission.js";
import {
  type DisruptionRequest,
  type GuardPolicy,
  type LeakGuardDecision,
  decideLeakGuard,
  isSystemController,
  leakMessage,
  parseEvictionRequest,
  parsePodDeleteRequest,
} from "../../api/leak-guard.js";
import type { LeakProtectionMode } from "../../api/rollout.js";
import {
  NEW,
  NS,
  OLD,
  RECONCILER,
  type WorldFixture,
  deleteRequest,
  evictionRequest,
  pod,
  rollout,
  splitWorld,
  statefulSet,
  worldOf,
} from "./leak-guard-fixtures.js";

const policy = (defaultMode: LeakProtectionMode = "enforce"): GuardPolicy => ({
  reconcilerUsername: RECONCILER,
  defaultMode,
});

function parse(request: AdmissionRequest): DisruptionRequest {
  const parsed = request.operation === "DELETE" ? parsePodDeleteRequest(request) : parseEvictionRequest(request);
  if (parsed.kind !== "disruption") throw new Error(`expected a disruption, got ${JSON.stringify(parsed)}`);
  return parsed.request;
}

type Expected = { verdict: "deny" | "flag" } | { verdict: "allow"; reason: string; failSafe?: boolean };

interface Case {
  name: string;
  request: AdmissionRequest;
  world?: WorldFixture;
  defaultMode?: LeakProtectionMode;
  expected: Expected;
}

function withWorld(change: (w: WorldFixture) => void, base = splitWorld()): WorldFixture {
  change(base);
  return base;
}

const oldPod = (): ReturnType<typeof pod> => pod("web-4", OLD);

const cases: Case[] = [
  // The split, each mode.
  {
    name: "v1 eviction of an old pod, enforce (rollout default)",
    request: evictionRequest("web-4"),
    expected: { verdict: "deny" },
  },
  {
    name: "v1beta1 eviction of an old pod, enforce",
    request: evictionRequest("web-4", { version: "v1beta1" }),
    expected: { verdict: "deny" },
  },
  { name: "delete of an old pod, enforce", request: deleteRequest(oldPod()), expected: { verdict: "deny" } },
  {
    name: "enforce set on the rollout overrides a flag default",
    request: evictionRequest("web-4"),
    world: splitWorld({ leakProtection: "enforce" }),
    defaultMode: "flag",
    expected: { verdict: "deny" },
  },
  {
    name: "mode flag",
    request: evictionRequest("web-4"),
    world: splitWorld({ leakProtection: "flag" }),
    expected: { verdict: "flag" },
  },
  {
    name: "mode flag on delete",
    request: deleteRequest(oldPod()),
    world: splitWorld({ leakProtection: "flag" }),
    expected: { verdict: "flag" },
  },
  {
    name: "mode pin",
    request: evictionRequest("web-4"),
    world: splitWorld({ leakProtection: "pin" }),
    expected: { verdict: "allow", reason: "mode-pin" },
  },
  {
    name: "mode off",
    request: evictionRequest("web-4"),
    world: splitWorld({ leakProtection: "off" }),
    expected: { verdict: "allow", reason: "mode-off" },
  },
  {
    name: "installation default flag when the rollout sets none",
    request: evictionRequest("web-4"),
    defaultMode: "flag",
    expected: { verdict: "flag" },
  },
  {
    name: "installation default off when the rollout sets none",
    request: evictionRequest("web-4"),
    defaultMode: "off",
    expected: { verdict: "allow", reason: "mode-off" },
  },
  // Dry runs decide the same way (the handler skips side effects).
  {
    name: "dry-run eviction (request.dryRun) is still denied",
    request: evictionRequest("web-4", { dryRun: true }),
    expected: { verdict: "deny" },
  },
  {
    name: "dry-run eviction (deleteOptions.dryRun) is still denied",
    request: evictionRequest("web-4", { deleteOptionsDryRun: true }),
    expected: { verdict: "deny" },
  },
  {
    name: "dry-run delete is still denied",
    request: deleteRequest(oldPod(), { optionsDryRun: true }),
    expected: { verdict: "deny" },
  },
  // What is held: paused, partial, failed.
  {
    name: "paused by request only (status not yet paused)",
    request: evictionRequest("web-4"),
    world: splitWorld({ paused: false, pauseRequested: true, percent: 100, phase: "Progressing" }),
    expected: { verdict: "deny" },
  },
  {
    name: "partial (percent 50), not paused",
    request: evictionRequest("web-4"),
    world: splitWorld({ paused: false, phase: "RolloutDone" }),
    expected: { verdict: "deny" },
  },
  {
    name: "failed at 100%",
    request: evictionRequest("web-4"),
    world: splitWorld({ paused: false, percent: 100, phase: "RolloutFailed" }),
    expected: { verdict: "deny" },
  },
  {
    name: "progressing to 100%, not paused: no split",
    request: evictionRequest("web-4"),
    world: splitWorld({ paused: false, percent: 100, phase: "Progressing" }),
    expected: { verdict: "allow", reason: "not-split" },
  },
  // Not split by pods.
  {
    name: "no new pods yet: no split",
    request: evictionRequest("web-4"),
    world: withWorld((w) => (w.pods = [0, 1, 2, 3, 4, 5].map((i) => pod(`web-${i}`, OLD)))),
    expected: { verdict: "allow", reason: "not-split" },
  },
  {
    name: "no new pods yet, but a new template is being applied (status.templatePending), partial: split",
    request: evictionRequest("web-4"),
    world: withWorld((w) => {
      w.pods = [0, 1, 2, 3, 4, 5].map((i) => pod(`web-${i}`, OLD));
      (w.rollouts[0]!.status as Record<string, unknown>).templatePending = true;
    }),
    expected: { verdict: "deny" },
  },
  {
    name: "no new pods yet, a new template is being applied, going to 100%: no split",
    request: evictionRequest("web-4"),
    world: withWorld(
      (w) => {
        w.pods = [0, 1, 2, 3, 4, 5].map((i) => pod(`web-${i}`, OLD));
        (w.rollouts[0]!.status as Record<string, unknown>).templatePending = true;
      },
      splitWorld({ paused: false, percent: 100, phase: "Progressing" }),
    ),
    expected: { verdict: "allow", reason: "not-split" },
  },
  {
    name: "new pods of another StatefulSet do not make a split",
    request: evictionRequest("web-4"),
    world: withWorld((w) => (w.pods = [pod("web-4", OLD), pod("api-0", NEW, {}, "api")])),
    expected: { verdict: "allow", reason: "not-split" },
  },
  // The new pod.
  {
    name: "eviction of a new-revision pod",
    request: evictionRequest("web-1"),
    expected: { verdict: "allow", reason: "update-revision" },
  },
  {
    name: "delete of a new-revision pod",
    request: deleteRequest(pod("web-1", NEW)),
    expected: { verdict: "allow", reason: "update-revision" },
  },
  // Identities.
  {
    name: "the reconciler's ServiceAccount",
    request: evictionRequest("web-4", { username: RECONCILER }),
    expected: { verdict: "allow", reason: "reconciler" },
  },
  {
    name: "the reconciler deleting",
    request: deleteRequest(oldPod(), { username: RECONCILER }),
    expected: { verdict: "allow", reason: "reconciler" },
  },
  {
    name: "a ServiceAccount of the same name elsewhere is not the reconciler",
    request: evictionRequest("web-4", { username: "system:serviceaccount:other:bulkhead-reconciler" }),
    expected: { verdict: "deny" },
  },
  {
    name: "taint-eviction controller",
    request: deleteRequest(oldPod(), { username: "system:serviceaccount:kube-system:taint-eviction-controller" }),
    expected: { verdict: "allow", reason: "system-controller" },
  },
  {
    name: "node controller",
    request: evictionRequest("web-4", { username: "system:serviceaccount:kube-system:node-controller" }),
    expected: { verdict: "allow", reason: "system-controller" },
  },
  {
    name: "pod garbage collector",
    request: deleteRequest(oldPod(), { username: "system:serviceaccount:kube-system:pod-garbage-collector" }),
    expected: { verdict: "allow", reason: "system-controller" },
  },
  {
    name: "a kubelet",
    request: deleteRequest(oldPod(), { username: "system:node:node-1" }),
    expected: { verdict: "allow", reason: "system-controller" },
  },
  // Lost nodes.
  {
    name: "pod whose status says NodeLost",
    request: deleteRequest(pod("web-4", OLD, { status: { reason: "NodeLost" } })),
    expected: { verdict: "allow", reason: "node-lost" },
  },
  {
    name: "pod marked for deletion by the pod garbage collector",
    request: deleteRequest(
      pod("web-4", OLD, {
        status: { conditions: [{ type: "DisruptionTarget", status: "True", reason: "DeletionByPodGC" }] },
      }),
    ),
    expected: { verdict: "allow", reason: "node-lost" },
  },
  {
    name: "pod marked for deletion by the taint manager",
    request: deleteRequest(
      pod("web-4", OLD, {
        status: { conditions: [{ type: "DisruptionTarget", status: "True", reason: "DeletionByTaintManager" }] },
      }),
    ),
    expected: { verdict: "allow", reason: "node-lost" },
  },
  {
    name: "a DisruptionTarget set by the eviction API is not a lost node",
    request: deleteRequest(
      pod("web-4", OLD, {
        status: { conditions: [{ type: "DisruptionTarget", status: "True", reason: "EvictionByEvictionAPI" }] },
      }),
    ),
    expected: { verdict: "deny" },
  },
  // Unmanaged and unknown.
  {
    name: "unknown pod (not in the managed cache)",
    request: evictionRequest("other-0"),
    expected: { verdict: "allow", reason: "pod-not-managed", failSafe: false },
  },
  {
    name: "delete of a pod without the managed label",
    request: deleteRequest({ metadata: { name: "plain-0", namespace: NS, labels: { app: "plain" } } }),
    expected: { verdict: "allow", reason: "pod-not-managed" },
  },
  {
    name: "managed-labelled pod owned by no StatefulSet",
    request: evictionRequest("loose"),
    world: withWorld((w) =>
      w.pods.push({ metadata: { name: "loose", namespace: NS, labels: { "bulkhead.dev/managed": "true" } } }),
    ),
    expected: { verdict: "allow", reason: "pod-not-managed" },
  },
  {
    name: "pod of an unmanaged StatefulSet (not in the managed StatefulSet cache)",
    request: evictionRequest("web-4"),
    world: withWorld((w) => (w.statefulSets = [])),
    expected: { verdict: "allow", reason: "statefulset-not-found", failSafe: true },
  },
  {
    name: "managed StatefulSet without a rollout",
    request: evictionRequest("web-4"),
    world: withWorld((w) => (w.statefulSets = [statefulSet("web", null)])),
    expected: { verdict: "allow", reason: "no-rollout" },
  },
  {
    name: "rollout missing from the cache",
    request: evictionRequest("web-4"),
    world: withWorld((w) => (w.rollouts = [])),
    expected: { verdict: "allow", reason: "rollout-not-found", failSafe: true },
  },
  {
    name: "rollout that does not parse",
    request: evictionRequest("web-4"),
    world: withWorld((w) => (w.rollouts = [{ ...rollout(), spec: { percent: 150 } }])),
    expected: { verdict: "allow", reason: "rollout-invalid", failSafe: true },
  },
  {
    name: "caches not synced",
    request: evictionRequest("web-4"),
    world: withWorld((w) => (w.synced = false)),
    expected: { verdict: "allow", reason: "caches-not-synced", failSafe: true },
  },
  {
    name: "StatefulSet without an update revision yet",
    request: evictionRequest("web-4"),
    world: withWorld((w) => (w.statefulSets = [{ ...statefulSet(), status: {} }])),
    expected: { verdict: "allow", reason: "revision-unknown", failSafe: true },
  },
  {
    // api/ownership.ts: a label anyone can write is a selector, not proof of ownership (the
    // reference itself cannot be removed: /validate/statefulset refuses that).
    name: "a rollout label without the controller owner reference does not make a rollout own the StatefulSet",
    request: evictionRequest("web-4"),
    world: withWorld((w) => {
      const sts = statefulSet("web", null);
      sts.metadata!.labels!["bulkhead.dev/rollout"] = "web";
      w.statefulSets = [sts];
    }),
    expected: { verdict: "allow", reason: "no-rollout" },
  },
  {
    name: "pod already terminating",
    request: deleteRequest(
      pod("web-4", OLD, { metadata: { name: "web-4", deletionTimestamp: "2026-11-23T10:00:00Z" } }),
    ),
    expected: { verdict: "allow", reason: "pod-terminating" },
  },
  {
    name: "eviction in another namespace does not see this namespace's pods",
    request: evictionRequest("web-4", { namespace: "other" }),
    expected: { verdict: "allow", reason: "pod-not-managed" },
  },
];

function check(decision: LeakGuardDecision, expected: Expected): void {
  expect(decision.verdict, JSON.stringify(decision)).to.equal(expected.verdict);
  if (decision.verdict === "allow" && expected.verdict === "allow") {
    expect(decision.reason, decision.detail).to.equal(expected.reason);
    if (expected.failSafe !== undefined) expect(decision.failSafe).to.equal(expected.failSafe);
  }
}

describe("leak guard decision (DESIGN.md §4 table)", () => {
  for (const c of cases) {
    it(c.name, () => {
      const decision = decideLeakGuard(parse(c.request), worldOf(c.world ?? splitWorld()), policy(c.defaultMode));
      check(decision, c.expected);
    });
  }

  it("denies with code 429 and names the pod, revisions, rollout, percent, pause state and ways out", () => {
    const decision = decideLeakGuard(parse(evictionRequest("web-4")), worldOf(splitWorld()), policy());
    if (decision.verdict !== "deny") throw new Error(`expected deny, got ${decision.verdict}`);
    expect(decision.code).to.equal(429);
    for (const part of [
      `pod ${NS}/web-4`,
      OLD,
      NEW,
      "Rollout web is paused at 50%",
      "3 new, 3 old pods",
      `kubectl sroll resume web -n ${NS}`,
      `kubectl sroll rollback web -n ${NS}`,
      "spec.percent to 100",
      `kubectl sroll promote web 100 -n ${NS}`,
      "spec.leakProtection",
    ]) {
      expect(decision.message).to.contain(part);
    }
    expect(decision.message).not.to.contain("\n");
    expect(decision.leak).to.include({
      rollout: "web",
      statefulSet: "web",
      mode: "enforce",
      channel: "#deploys",
      caller: "alice@example.com",
      podUid: "uid-web-4",
    });
  });

  it("a rollout replaced in the cache is decided on its new content (the parse is kept per stored object)", () => {
    const world = splitWorld();
    expect(decideLeakGuard(parse(evictionRequest("web-4")), worldOf(world), policy()).verdict).to.equal("deny");
    world.rollouts = [rollout("web", { leakProtection: "off" })];
    expect(decideLeakGuard(parse(evictionRequest("web-4")), worldOf(world), policy()).verdict).to.equal("allow");
    world.rollouts = [rollout("web", { percent: 500 })];
    const invalid = decideLeakGuard(parse(evictionRequest("web-4")), worldOf(world), policy());
    expect(invalid).to.include({ verdict: "allow", reason: "rollout-invalid" });
  });

  it("flags with the same text as the denial, saying it was allowed", () => {
    const decision = decideLeakGuard(
      parse(evictionRequest("web-4")),
      worldOf(splitWorld({ leakProtection: "flag" })),
      policy(),
    );
    if (decision.verdict !== "flag") throw new Error(`expected flag, got ${decision.verdict}`);
    expect(decision.message).to.equal(leakMessage(decision.leak));
    expect(decision.message).to.contain("allowed but flagged").and.to.contain("kubectl sroll resume web");
  });

  it("describes a failed rollout as failed", () => {
    const decision = decideLeakGuard(
      parse(evictionRequest("web-4")),
      worldOf(splitWorld({ paused: false, percent: 100, phase: "RolloutFailed" })),
      policy(),
    );
    if (decision.verdict !== "deny") throw new Error("expected deny");
    expect(decision.message).to.contain("Rollout web is failed at 100%");
  });
});

describe("parsing admission requests for the leak guard", () => {
  it("reads a v1 eviction", () => {
    expect(parse(evictionRequest("web-4"))).to.deep.include({
      via: "eviction",
      namespace: NS,
      podName: "web-4",
      dryRun: false,
    });
  });
  it("reads dryRun from the request and from the Eviction's deleteOptions", () => {
    expect(parse(evictionRequest("web-4", { dryRun: true })).dryRun).to.equal(true);
    expect(parse(evictionRequest("web-4", { version: "v1beta1", deleteOptionsDryRun: true })).dryRun).to.equal(true);
    expect(parse(deleteRequest(oldPod(), { optionsDryRun: true })).dryRun).to.equal(true);
    expect(parse(deleteRequest(oldPod(), { dryRun: true })).dryRun).to.equal(true);
  });
  it("takes the pod of a DELETE from oldObject", () => {
    expect(parse(deleteRequest(oldPod())).pod?.metadata?.name).to.equal("web-4");
  });
  it("falls back to the Eviction's metadata for the pod name", () => {
    const request = { ...evictionRequest("web-4"), name: "" };
    expect(parse(request).podName).to.equal("web-4");
  });
  it("rejects an eviction naming no pod as malformed", () => {
    const request = { ...evictionRequest("web-4"), name: "", object: { kind: "Eviction", metadata: {} } };
    expect(parseEvictionRequest(request)).to.deep.include({ kind: "malformed" });
  });
  const unnamed: Array<{ name: string; request: () => AdmissionRequest; error: string }> = [
    {
      name: "an eviction naming no pod",
      request: () => ({ ...evictionRequest("web-4"), name: "", object: { kind: "Eviction", metadata: {} } }),
      error: "the eviction names no pod (request.name and object.metadata.name are empty)",
    },
    {
      name: "an eviction with no namespace",
      request: () => ({ ...evictionRequest("web-4"), namespace: "", object: { kind: "Eviction", metadata: {} } }),
      error: "the eviction of pod web-4 has no namespace",
    },
    {
      name: "a delete naming no pod",
      request: () => ({ ...deleteRequest(oldPod()), name: "", oldObject: { kind: "Pod", metadata: {} } }),
      error: "the delete names no pod (request.name and oldObject.metadata.name are empty)",
    },
    {
      name: "a delete with no namespace",
      request: () => ({ ...deleteRequest(oldPod()), namespace: "", oldObject: { kind: "Pod", metadata: {} } }),
      error: "the delete of pod web-4 has no namespace",
    },
  ];
  for (const c of unnamed)
    it(`says what is missing from ${c.name}`, () => {
      const request = c.request();
      const parsed = request.operation === "DELETE" ? parsePodDeleteRequest(request) : parseEvictionRequest(request);
      expect(parsed).to.deep.equal({ kind: "malformed", error: c.error });
    });
  it("rejects an eviction of an unexpected kind as malformed", () => {
    const request = { ...evictionRequest("web-4"), kind: { group: "policy", version: "v2", kind: "Eviction" } };
    const parsed = parseEvictionRequest(request);
    expect(parsed.kind).to.equal("malformed");
  });
  it("ignores, with a warning, requests the endpoint does not guard", () => {
    expect(parseEvictionRequest({ ...evictionRequest("web-4"), subResource: undefined }).kind).to.equal("ignored");
    expect(parsePodDeleteRequest({ ...deleteRequest(oldPod()), operation: "CREATE" }).kind).to.equal("ignored");
    expect(parsePodDeleteRequest(evictionRequest("web-4")).kind).to.equal("ignored");
  });
  it("recognises cluster controllers and kubelets, not look-alikes", () => {
    expect(isSystemController({ username: "system:node:kwok-node-0" })).to.equal(true);
    expect(isSystemController({ username: "system:serviceaccount:kube-system:generic-garbage-collector" })).to.equal(
      true,
    );
    expect(isSystemController({ username: "system:serviceaccount:default:node-controller" })).to.equal(false);
    expect(isSystemController({ username: "system:nodes" })).to.equal(false);
    expect(isSystemController({})).to.equal(false);
  });
});
