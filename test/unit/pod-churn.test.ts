import { expect } from "chai";
import type { V1Pod } from "@kubernetes/client-node";
import { PodLedger, unexplainedRecreations } from "../e2e/support/pod-churn.js";
import { podChurnProblem } from "../../bench/support/pod-churn.js";

interface PodOpts {
  ns?: string;
  revision?: string;
  node?: string;
  deleting?: number;
  owner?: "StatefulSet" | "none";
}
function pod(name: string, uid: string, o: PodOpts = {}): V1Pod {
  return {
    metadata: {
      name,
      uid,
      namespace: o.ns ?? "ns",
      labels: o.revision ? { "controller-revision-hash": o.revision } : {},
      ownerReferences:
        o.owner === "none"
          ? []
          : [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "web", uid: "s", controller: true }],
      ...(o.deleting !== undefined ? { deletionTimestamp: new Date(0), deletionGracePeriodSeconds: o.deleting } : {}),
    },
    spec: { containers: [], ...(o.node ? { nodeName: o.node } : {}) },
  };
}

/** web-0 and web-1 exist on revision r1 before the watch starts. */
function ledgerWithTwoPods(): PodLedger {
  const l = new PodLedger();
  l.observe(pod("web-0", "a0", { revision: "r1", node: "n1" }), true);
  l.observe(pod("web-1", "b0", { revision: "r1", node: "n2" }), true);
  return l;
}

describe("pod churn ledger (pods created ≈ pods replaced)", () => {
  it("a rollout: each pod replaced once on the new revision counts as replaced, nothing recreated", () => {
    const l = ledgerWithTwoPods();
    for (const [name, old, uid] of [
      ["web-0", "a0", "a1"],
      ["web-1", "b0", "b1"],
    ] as const) {
      l.observe(pod(name, old, { revision: "r1", deleting: 30 }), false);
      l.removed(pod(name, old, { revision: "r1", deleting: 0 }));
      l.observe(pod(name, uid, { revision: "r2" }), false);
    }
    const r = l.report();
    expect(r).to.deep.include({ created: 2, deleted: 2, replaced: 2, complete: true });
    expect(r.recreated).to.deep.equal([]);
    expect(podChurnProblem(r, { replaced: 2 })).to.equal(undefined);
  });

  it("the KWOK loop: the new pod removed with grace 0 and recreated on its own revision", () => {
    const l = ledgerWithTwoPods();
    l.observe(pod("web-0", "a0", { revision: "r1", deleting: 30 }), false);
    l.removed(pod("web-0", "a0", { revision: "r1", deleting: 0 }));
    l.observe(pod("web-0", "a1", { revision: "r2", node: "n3" }), false);
    // deleted by name, no graceful deletion first
    l.observe(pod("web-0", "a1", { revision: "r2", node: "n3", deleting: 0 }), false);
    l.removed(pod("web-0", "a1", { revision: "r2", node: "n3", deleting: 0 }));
    l.observe(pod("web-0", "a2", { revision: "r2" }), false);
    const r = l.report();
    expect(r).to.deep.include({ created: 2, replaced: 1 });
    expect(r.recreated).to.deep.equal([
      {
        namespace: "ns",
        name: "web-0",
        uid: "a2",
        predecessorUid: "a1",
        revision: "r2",
        predecessorNode: "n3",
        predecessorForced: true,
      },
    ]);
    expect(podChurnProblem(r, { replaced: 1 })).to.match(/created 2 pods for 1 replaced.*ns\/web-0 on revision r2/);
    expect(podChurnProblem(r, { replaced: 1, allowance: 1 })).to.equal(undefined);
  });

  it("an eviction recreates on the same revision with a graceful predecessor (not forced)", () => {
    const l = ledgerWithTwoPods();
    l.removed(pod("web-1", "b0", { revision: "r1", node: "n2", deleting: 30 }));
    l.observe(pod("web-1", "b1", { revision: "r1" }), false);
    expect(l.report().recreated.map((x) => [x.name, x.predecessorForced, x.predecessorNode])).to.deep.equal([
      ["web-1", false, "n2"],
    ]);
  });

  it("scopes by namespace and by mark; pods no StatefulSet owns are counted as created but never as recreated", () => {
    const l = ledgerWithTwoPods();
    l.observe(pod("web-0", "x1", { ns: "other", revision: "r1" }), false);
    const mark = l.mark();
    l.removed(pod("web-0", "a0", { revision: "r1" }));
    l.observe(pod("web-0", "a1", { revision: "r1" }), false);
    l.observe(pod("bare", "c0", { owner: "none" }), false);
    l.removed(pod("bare", "c0", { owner: "none" }));
    l.observe(pod("bare", "c1", { owner: "none" }), false);
    expect(l.report({ namespace: "other" })).to.deep.include({ created: 1, replaced: 0 });
    const since = l.report({ namespace: "ns", since: mark });
    expect(since.created).to.equal(3);
    expect(since.recreated.map((x) => x.uid)).to.deep.equal(["a1"]);
  });

  it("a report after lost history is incomplete, and the benchmark check refuses it", () => {
    const l = ledgerWithTwoPods();
    l.gaps++;
    const r = l.report();
    expect(r.complete).to.equal(false);
    expect(podChurnProblem(r, { replaced: 0 })).to.match(/lost history/);
  });

  it("the benchmark check also refuses a run that replaced fewer pods than it should have", () => {
    expect(podChurnProblem(ledgerWithTwoPods().report(), { replaced: 2 })).to.match(/created 0 pods but 2/);
  });

  it("the e2e check ignores other runs' namespaces and pods of a node the test drained or deleted", () => {
    const l = new PodLedger();
    for (const [ns, name, node] of [
      ["mine", "web-0", "n1"],
      ["mine", "web-1", "n2"],
      ["theirs", "web-0", "n2"],
    ] as const) {
      l.observe(pod(name, `${ns}-${name}-0`, { ns, revision: "r1", node }), true);
      l.removed(pod(name, `${ns}-${name}-0`, { ns, revision: "r1", node, deleting: 30 }));
      l.observe(pod(name, `${ns}-${name}-1`, { ns, revision: "r1" }), false);
    }
    const all = l.report().recreated;
    expect(all).to.have.length(3);
    const mine = (ns: string) => ns === "mine";
    expect(unexplainedRecreations(all, mine, new Set()).map((r) => r.uid)).to.deep.equal([
      "mine-web-0-1",
      "mine-web-1-1",
    ]);
    expect(unexplainedRecreations(all, mine, new Set(["n2"])).map((r) => r.uid)).to.deep.equal(["mine-web-0-1"]);
  });
});
