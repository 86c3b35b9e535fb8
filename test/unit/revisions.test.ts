import { expect } from "chai";
import { desiredRevisionForOrdinal, podOrdinal, targetUpdatedCount } from "../../api/revisions.js";
import type { StatefulsetRollout } from "../../api/rollout.js";

describe("targetUpdatedCount", () => {
  const cases: Array<[replicas: number, percent: number, expected: number]> = [
    [4, 25, 1], [4, 26, 2], [1, 1, 1], [1, 0, 0], [1000, 1, 10], [1000, 7, 70], [1000, 33, 330],
    [999, 10, 100], [30, 10, 3], [30, 50, 15], [0, 50, 0], [10, 100, 10], [3, 100, 3],
  ];
  for (const [replicas, percent, expected] of cases) {
    it(`${percent}% of ${replicas} → ${expected}`, () => expect(targetUpdatedCount(replicas, percent)).to.equal(expected));
  }
});

describe("podOrdinal", () => {
  const cases: Array<[pod: string, sts: string, expected: number | undefined]> = [
    ["web-0", "web", 0], ["web-12", "web", 12], ["web-x", "web", undefined], ["web-01", "web", undefined],
    ["api-1", "web", undefined], ["my-web-3", "my-web", 3], ["web-", "web", undefined],
  ];
  for (const [pod, sts, expected] of cases) {
    it(`${pod} of ${sts} → ${expected}`, () => expect(podOrdinal(pod, sts)).to.equal(expected));
  }
});

describe("desiredRevisionForOrdinal", () => {
  const rollout = (status: StatefulsetRollout["status"]): StatefulsetRollout =>
    ({ metadata: { name: "r" }, spec: {} as StatefulsetRollout["spec"], status });
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
