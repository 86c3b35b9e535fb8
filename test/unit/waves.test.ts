import { expect } from "chai";
import { targetUpdatedCount } from "../../api/revisions.js";
import { compareForEviction, countUpdated, planWave, type WaveInput, type WavePod } from "../../api/waves.js";

const OLD = "web-old";
const NEW = "web-new";

function pods(n: number, overrides: Record<number, Partial<WavePod>> = {}): WavePod[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `web-${i}`,
    ordinal: i,
    revision: OLD,
    ready: true,
    terminating: false,
    ...overrides[i],
  }));
}

function input(over: Partial<WaveInput>): WaveInput {
  return {
    replicas: 10,
    target: 10,
    updatedOrdinals: [],
    updateRevision: NEW,
    pods: pods(10),
    disruptionsAllowed: 3,
    ...over,
  };
}

describe("planWave", () => {
  const cases: Array<{
    name: string;
    in: Partial<WaveInput>;
    ordinals: number[];
    limitedBy: string;
    remaining: number;
  }> = [
    {
      name: "budget 0 → empty wave, limited by budget",
      in: { disruptionsAllowed: 0 },
      ordinals: [],
      limitedBy: "budget",
      remaining: 10,
    },
    {
      name: "budget sizes the wave, highest ordinal first",
      in: { disruptionsAllowed: 3 },
      ordinals: [9, 8, 7],
      limitedBy: "budget",
      remaining: 10,
    },
    {
      name: "budget larger than the remainder → only the remainder",
      in: { target: 3, updatedOrdinals: [9], disruptionsAllowed: 50 },
      ordinals: [8, 7],
      limitedBy: "remaining",
      remaining: 2,
    },
    {
      name: "maxParallel caps the wave",
      in: { disruptionsAllowed: 50, maxParallel: 2 },
      ordinals: [9, 8],
      limitedBy: "maxParallel",
      remaining: 10,
    },
    {
      name: "target reached → nothing",
      in: { target: 2, updatedOrdinals: [8, 9] },
      ordinals: [],
      limitedBy: "remaining",
      remaining: 0,
    },
    {
      name: "unready old pods first and free of budget, then highest ordinal",
      in: { pods: pods(10, { 2: { ready: false }, 5: { ready: false } }), disruptionsAllowed: 1 },
      ordinals: [5, 2, 9],
      limitedBy: "budget",
      remaining: 10,
    },
    {
      name: "pods already on the update revision are never chosen",
      in: { pods: pods(10, { 9: { revision: NEW }, 8: { revision: NEW } }), disruptionsAllowed: 3 },
      ordinals: [7, 6, 5],
      limitedBy: "budget",
      remaining: 10,
    },
    {
      name: "terminating pods and ordinals beyond replicas are skipped",
      in: { replicas: 8, target: 8, pods: pods(10, { 7: { terminating: true } }), disruptionsAllowed: 2 },
      ordinals: [6, 5],
      limitedBy: "budget",
      remaining: 8,
    },
    {
      name: "negative budget is treated as 0",
      in: { disruptionsAllowed: -2 },
      ordinals: [],
      limitedBy: "budget",
      remaining: 10,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planWave(input(c.in));
      expect(plan.pods.map((p) => p.ordinal)).to.deep.equal(c.ordinals);
      expect(plan.limitedBy).to.equal(c.limitedBy);
      expect(plan.remaining).to.equal(c.remaining);
    });
  }

  it("is deterministic whatever order the pods arrive in", () => {
    const shuffled = [...pods(10, { 3: { ready: false } })].reverse();
    expect(planWave(input({ pods: shuffled })).pods.map((p) => p.ordinal)).to.deep.equal(
      planWave(input({ pods: pods(10, { 3: { ready: false } }) })).pods.map((p) => p.ordinal),
    );
  });

  it("orders unready before ready, then descending ordinal", () => {
    const list = [...pods(4, { 1: { ready: false } })].sort(compareForEviction).map((p) => p.ordinal);
    expect(list).to.deep.equal([1, 3, 2, 0]);
  });

  it("counts updated ordinals once and only below replicas", () => {
    expect(countUpdated([1, 1, 2, 12], 10)).to.equal(2);
  });
});

describe("percent rounding (targetUpdatedCount) as waves use it", () => {
  const cases: Array<[replicas: number, percent: number, target: number]> = [
    [1, 1, 1],
    [1, 50, 1],
    [1, 0, 0],
    [1, 100, 1],
    [1000, 1, 10],
    [1000, 7, 70],
    [1000, 33, 330],
    [1000, 99, 990],
    [4, 25, 1],
    [30, 10, 3],
    [3, 50, 2],
  ];
  for (const [replicas, percent, target] of cases) {
    it(`${percent}% of ${replicas} → ${target}`, () => {
      expect(targetUpdatedCount(replicas, percent)).to.equal(target);
    });
  }
});
