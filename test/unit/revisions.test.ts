import { expect } from "chai";
import {
  decideRevisionForOrdinal,
  desiredRevisionForOrdinal,
  keptOrdinals,
  podOrdinal,
  targetUpdatedCount,
} from "../../api/revisions.js";
import type { StatefulsetRollout } from "../../api/rollout.js";

describe("targetUpdatedCount", () => {
  const cases: Array<[replicas: number, percent: number, expected: number]> = [
    [4, 25, 1],
    [4, 26, 2],
    [1, 1, 1],
    [1, 0, 0],
    [1000, 1, 10],
    [1000, 7, 70],
    [1000, 33, 330],
    [999, 10, 100],
    [30, 10, 3],
    [30, 50, 15],
    [0, 50, 0],
    [10, 100, 10],
    [3, 100, 3],
  ];
  for (const [replicas, percent, expected] of cases) {
    it(`${percent}% of ${replicas} → ${expected}`, () =>
      expect(targetUpdatedCount(replicas, percent)).to.equal(expected));
  }
});

describe("podOrdinal", () => {
  const cases: Array<[pod: string, sts: string, expected: number | undefined]> = [
    ["web-0", "web", 0],
    ["web-12", "web", 12],
    ["web-x", "web", undefined],
    ["web-01", "web", undefined],
    ["api-1", "web", undefined],
    ["my-web-3", "my-web", 3],
    ["web-", "web", undefined],
    // No StatefulSet pod has an ordinal past 2 × int32 max; a hand-made name is no ordinal.
    ["web-4294967294", "web", 4294967294],
    ["web-4294967295", "web", undefined],
    ["web-9007199254740993", "web", undefined],
  ];
  for (const [pod, sts, expected] of cases) {
    it(`${pod} of ${sts} → ${expected}`, () => expect(podOrdinal(pod, sts)).to.equal(expected));
  }
});

describe("desiredRevisionForOrdinal", () => {
  const rollout = (status: StatefulsetRollout["status"]): StatefulsetRollout => ({
    metadata: { name: "r" },
    spec: { statefulset: { spec: { replicas: 4 } } } as StatefulsetRollout["spec"],
    status,
  });
  const cases: Array<[name: string, status: StatefulsetRollout["status"], ordinal: number, expected: string]> = [
    ["no status", undefined, 0, "update"],
    ["single revision", { currentRevision: "a", updateRevision: "a" }, 0, "update"],
    ["moved ordinal", { currentRevision: "a", updateRevision: "b", updatedOrdinals: [3] }, 3, "update"],
    ["not moved", { currentRevision: "a", updateRevision: "b", updatedOrdinals: [3] }, 2, "current"],
    ["nothing moved yet", { currentRevision: "a", updateRevision: "b" }, 0, "current"],
  ];
  for (const [name, status, ordinal, expected] of cases) {
    it(name, () => expect(desiredRevisionForOrdinal(rollout(status), ordinal)).to.equal(expected));
  }
});

describe("decideRevisionForOrdinal", () => {
  type Status = NonNullable<StatefulsetRollout["status"]>;
  type Spec = Partial<StatefulsetRollout["spec"]>;
  const rollout = (spec: Spec, status: Status): StatefulsetRollout => ({
    metadata: { name: "r" },
    spec: {
      statefulset: { spec: { replicas: 8, selector: {}, template: {} } },
      percent: 50,
      ...spec,
    } as StatefulsetRollout["spec"],
    status,
  });
  const split = { currentRevision: "web-old", updateRevision: "web-new" };
  const half: Status = { ...split, updatedOrdinals: [0, 1, 2, 3] };
  const cases: Array<[name: string, spec: Spec, status: Status, ordinal: number, revision: string, reason: string]> = [
    ["no revisions recorded", {}, {}, 5, "update", "no-split"],
    ["only the update revision recorded", {}, { updateRevision: "web-new" }, 5, "update", "no-split"],
    ["one revision", {}, { currentRevision: "web-new", updateRevision: "web-new" }, 5, "update", "no-split"],
    ["50%: moved ordinal", {}, half, 3, "update", "moved"],
    ["50%: ordinal not moved", {}, half, 4, "current", "not-moved"],
    ["50%: new ordinal from a scale-up", {}, half, 8, "current", "not-moved"],
    ["pinned list, any order: moved", {}, { ...split, updatedOrdinals: [7, 2] }, 2, "update", "moved"],
    ["pinned list, any order: not moved", {}, { ...split, updatedOrdinals: [7, 2] }, 3, "current", "not-moved"],
    ["nothing moved yet", {}, split, 0, "current", "not-moved"],
    ["percent lowered to 25%: first two moved kept", { percent: 25 }, half, 1, "update", "moved"],
    ["percent lowered to 25%: last moved goes back", { percent: 25 }, half, 3, "current", "above-target"],
    ["percent lowered to 0%: everything goes back", { percent: 0 }, half, 0, "current", "above-target"],
    ["25% of 8 is 2: both moved kept", { percent: 25 }, { ...split, updatedOrdinals: [5, 6] }, 6, "update", "moved"],
    ["13% of 8 rounds up to 2", { percent: 13 }, { ...split, updatedOrdinals: [5, 6, 7] }, 6, "update", "moved"],
    [
      "13% of 8 rounds up to 2: third goes back",
      { percent: 13 },
      { ...split, updatedOrdinals: [5, 6, 7] },
      7,
      "current",
      "above-target",
    ],
    ["raised to 100%, wave not yet run", { percent: 100 }, half, 6, "current", "not-moved"],
    [
      "duplicates in the list count once",
      { percent: 25 },
      { ...split, updatedOrdinals: [4, 4, 5] },
      5,
      "update",
      "moved",
    ],
    ["phases: the reconciler's list decides", { percent: 10, phases: [10, 50, 100] }, half, 3, "update", "moved"],
    ["rollout done at 100%", { percent: 100 }, { ...split, phase: "RolloutDone" }, 6, "update", "rollout-done"],
    ["rollout done at 50% keeps the split", {}, { ...half, phase: "RolloutDone" }, 6, "current", "not-moved"],
    ["rollout failed: moved ordinal stays new", {}, { ...half, phase: "RolloutFailed" }, 2, "update", "moved"],
    ["rollout failed: others stay pinned", {}, { ...half, phase: "RolloutFailed" }, 6, "current", "not-moved"],
    ["paused: others stay pinned", { pauseRequested: true }, { ...half, paused: true }, 6, "current", "not-moved"],
    [
      "rollback to 100%: a lost pod may come back on the good revision",
      { percent: 100 },
      { ...half, rollback: true },
      1,
      "update",
      "rollback",
    ],
    [
      "rollback held below 100% keeps the split",
      { percent: 50 },
      { ...half, rollback: true },
      5,
      "current",
      "not-moved",
    ],
    [
      "old revision missing: nothing to pin to",
      {},
      { ...half, revisionMissing: "web-old" },
      6,
      "update",
      "current-revision-missing",
    ],
    [
      "stale revisionMissing of another revision",
      {},
      { ...half, revisionMissing: "web-older" },
      6,
      "current",
      "not-moved",
    ],
    [
      "scaled down: removed ordinals do not count against the target",
      { statefulset: { spec: { replicas: 4, selector: {}, template: {} } } },
      { ...split, updatedOrdinals: [7, 6, 5, 4, 3, 2] },
      2,
      "update",
      "moved",
    ],
    [
      "scaled down: a removed ordinal coming back is pinned",
      { statefulset: { spec: { replicas: 4, selector: {}, template: {} } } },
      { ...split, updatedOrdinals: [7, 6, 5, 4, 3, 2] },
      7,
      "current",
      "above-target",
    ],
  ];
  for (const [name, spec, status, ordinal, revision, reason] of cases) {
    it(`${name} → ${revision} (${reason})`, () => {
      const r = rollout(spec, status);
      expect(decideRevisionForOrdinal(r, ordinal)).to.deep.equal({ revision, reason });
      expect(desiredRevisionForOrdinal(r, ordinal)).to.equal(revision);
    });
  }

  describe("keptOrdinals: the one rule for which moved ordinals stay (webhook and waves)", () => {
    const cases: Array<[name: string, moved: number[], replicas: number, cap: number | undefined, kept: number[]]> = [
      ["no cap keeps every moved ordinal, in move order", [6, 1, 4], 10, undefined, [6, 1, 4]],
      ["a cap keeps the first moved: the latest waves go back first", [6, 1, 4], 10, 2, [6, 1]],
      ["cap 0 keeps none", [6, 1], 10, 0, []],
      ["a cap above the count keeps all", [2, 3], 10, 5, [2, 3]],
      ["ordinals scaled away neither count nor stay", [9, 3, 12, 0], 10, 3, [9, 3, 0]],
      ["duplicates count once", [3, 3, 1], 10, 2, [3, 1]],
      ["a negative cap keeps none", [1], 10, -1, []],
    ];
    for (const [name, moved, replicas, cap, kept] of cases) {
      it(name, () => expect(keptOrdinals(moved, replicas, cap)).to.deep.equal(kept));
    }

    it("pinning keeps what the target keeps: the moved ordinals beyond it are pinned back", () => {
      const r = rollout({ percent: 25 }, half);
      expect([0, 1, 2, 3].filter((o) => decideRevisionForOrdinal(r, o).reason === "above-target")).to.deep.equal([
        2, 3,
      ]);
      const none = rollout({ percent: 0 }, { ...split, updatedOrdinals: [6, 1] });
      expect([6, 1].map((o) => desiredRevisionForOrdinal(none, o))).to.deep.equal(["current", "current"]);
    });
  });

  it("the webhook and the reconciler agree: exactly the target count of ordinals runs the update revision", () => {
    for (const percent of [0, 1, 10, 25, 33, 50, 99, 100]) {
      const r = rollout({ percent }, { ...split, updatedOrdinals: [0, 1, 2, 3, 4, 5, 6, 7] });
      const onUpdate = [0, 1, 2, 3, 4, 5, 6, 7].filter((o) => desiredRevisionForOrdinal(r, o) === "update");
      expect(onUpdate.length, `${percent}%`).to.equal(targetUpdatedCount(8, percent));
      expect(keptOrdinals([0, 1, 2, 3, 4, 5, 6, 7], 8, targetUpdatedCount(8, percent)), `${percent}%`).to.deep.equal(
        onUpdate,
      );
    }
  });
});
