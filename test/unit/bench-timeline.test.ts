import { expect } from "chai";
import type { V1Pod } from "@kubernetes/client-node";
import { RolloutTimes } from "../../bench/rollout/timeline.js";

const OLD = "bench-old";
const NEW = "bench-new";

function pod(
  name: string,
  uid: string,
  revision: string,
  opts: { node?: string; ready?: boolean; deleting?: boolean } = {},
): V1Pod {
  return {
    metadata: {
      name,
      uid,
      labels: { "controller-revision-hash": revision },
      ...(opts.deleting ? { deletionTimestamp: new Date(0) } : {}),
    },
    spec: { containers: [], ...(opts.node ? { nodeName: opts.node } : {}) },
    status: { conditions: [{ type: "Ready", status: opts.ready ? "True" : "False" }] },
  };
}

describe("bench: where a rollout's time goes (bench/rollout/timeline.ts)", () => {
  // Two old pods, budget 1: b-0 goes down at 100, its replacement is Ready at 2,600; b-1 goes
  // down 400 ms later (3,000) and is Ready at 5,500.
  function rolled(): RolloutTimes {
    const t = new RolloutTimes(OLD);
    t.startedAt = 0;
    t.seen("ADDED", pod("b-0", "o0", OLD, { node: "n", ready: true }), -1000);
    t.seen("ADDED", pod("b-1", "o1", OLD, { node: "n", ready: true }), -1000);
    t.seen("MODIFIED", pod("b-0", "o0", OLD, { node: "n", ready: true, deleting: true }), 100);
    t.seen("DELETED", pod("b-0", "o0", OLD, { node: "n", deleting: true }), 300);
    t.seen("ADDED", pod("b-0", "n0", NEW), 350);
    t.seen("MODIFIED", pod("b-0", "n0", NEW, { node: "n" }), 400);
    t.seen("MODIFIED", pod("b-0", "n0", NEW, { node: "n", ready: true }), 2600);
    t.seen("MODIFIED", pod("b-1", "o1", OLD, { node: "n", ready: true, deleting: true }), 3000);
    t.seen("DELETED", pod("b-1", "o1", OLD, { node: "n", deleting: true }), 3100);
    t.seen("ADDED", pod("b-1", "n1", NEW, { node: "n" }), 3300);
    t.seen("MODIFIED", pod("b-1", "n1", NEW, { node: "n", ready: true }), 5500);
    return t;
  }

  it("times from a pod turning Ready to the next take-down", () => {
    const s = rolled().summary();
    expect(s.takenDown).to.equal(2);
    expect(s.becameReady).to.equal(2);
    // Only b-0's Ready has a take-down after it (b-1's, 400 ms later).
    expect(s.readyToNextTakeDownMs).to.deep.equal({ p50: 400, p90: 400, max: 400, samples: 1 });
    expect(s.firstTakeDownMs).to.equal(100);
  });

  it("measures how full the budget was: one pod down for 5,000 of the 5,400 ms", () => {
    const s = rolled().summary();
    expect(s.maxUnavailable).to.equal(1);
    expect(s.meanUnavailable).to.equal(0.9);
  });

  it("splits a replacement into the control plane's steps", () => {
    const s = rolled().summary();
    expect(s.downToReadyMs).to.deep.equal({ p50: 2500, p90: 2500, samples: 2 });
    expect(s.steps.removal).to.deep.equal({ p50: 200, p90: 200, samples: 2 });
    expect(s.steps.creation).to.deep.equal({ p50: 200, p90: 200, samples: 2 });
    // b-1's replacement was seen bound on creation: 0 ms.
    expect(s.steps.binding).to.deep.equal({ p50: 50, p90: 50, samples: 2 });
    expect(s.steps.ready).to.deep.equal({ p50: 2200, p90: 2200, samples: 2 });
  });
});
