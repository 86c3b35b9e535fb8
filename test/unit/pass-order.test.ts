// The order of the first passes after a (re)start: rollouts with work first, longest unwritten first.
import { expect } from "chai";
import { startupPassOrder, type RolloutForOrder } from "../../api/pass-order.js";

function rollout(namespace: string, status: RolloutForOrder["status"] | undefined, generation = 2): RolloutForOrder {
  return { metadata: { namespace, name: "app", generation }, ...(status ? { status } : {}) };
}

describe("startupPassOrder", () => {
  const cases: Array<{ name: string; rollouts: RolloutForOrder[]; order: string[] }> = [
    {
      name: "in progress: the status written longest ago first, not list (alphabetical) order",
      rollouts: [
        rollout("a", { phase: "Progressing", observedGeneration: 2, lastUpdated: "2026-11-30T11:00:03Z" }),
        rollout("b", { phase: "Progressing", observedGeneration: 2, lastUpdated: "2026-11-30T11:00:01Z" }),
        rollout("c", { phase: "Progressing", observedGeneration: 2, lastUpdated: "2026-11-30T11:00:02Z" }),
      ],
      order: ["b/app", "c/app", "a/app"],
    },
    {
      name: "never written (new) counts as oldest",
      rollouts: [
        rollout("a", { phase: "Progressing", observedGeneration: 2, lastUpdated: "2026-11-30T11:00:00Z" }),
        rollout("b", undefined),
      ],
      order: ["b/app", "a/app"],
    },
    {
      name: "finished and unchanged rollouts go last, even if written long ago",
      rollouts: [
        rollout("a", { phase: "RolloutDone", observedGeneration: 2, lastUpdated: "2026-11-01T00:00:00Z" }),
        rollout("b", { phase: "RolloutFailed", observedGeneration: 2, lastUpdated: "2026-11-02T00:00:00Z" }),
        rollout("c", { phase: "Paused", observedGeneration: 2, lastUpdated: "2026-11-30T11:00:00Z" }),
      ],
      order: ["c/app", "a/app", "b/app"],
    },
    {
      name: "a finished rollout whose spec changed since has work (a new template)",
      rollouts: [
        rollout("a", { phase: "Progressing", observedGeneration: 3, lastUpdated: "2026-11-30T11:00:00Z" }, 3),
        rollout("b", { phase: "RolloutDone", observedGeneration: 1, lastUpdated: "2026-11-30T10:00:00Z" }, 2),
      ],
      order: ["b/app", "a/app"],
    },
    {
      name: "ties and unreadable times fall back to the key, so the order is stable",
      rollouts: [
        rollout("b", { phase: "Progressing", observedGeneration: 2, lastUpdated: "not a time" }),
        rollout("a", { phase: "Progressing", observedGeneration: 2 }),
      ],
      order: ["a/app", "b/app"],
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      expect(startupPassOrder(c.rollouts)).to.deep.equal(c.order);
    });

  it("after each restart the rollouts just served go to the back: no rollout waits for ever", () => {
    // 6 rollouts; each "life" serves the first 2 in order, which writes their status.
    const status = new Map(["a", "b", "c", "d", "e", "f"].map((ns, i) => [ns, `2026-11-30T11:00:0${i}Z`]));
    const served = new Set<string>();
    for (let life = 0; life < 3; life++) {
      const order = startupPassOrder(
        [...status].map(([ns, at]) => rollout(ns, { phase: "Progressing", observedGeneration: 2, lastUpdated: at })),
      );
      for (const key of order.slice(0, 2)) {
        served.add(key);
        status.set(key.split("/")[0]!, `2026-11-30T11:01:0${life}Z`);
      }
    }
    expect([...served].sort()).to.deep.equal(["a/app", "b/app", "c/app", "d/app", "e/app", "f/app"]);
  });
});
