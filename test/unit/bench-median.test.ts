import { expect } from "chai";
import { median } from "../../bench/rollout/timeline.js";

describe("bench: the median of a contender's rounds (bench/rollout/timeline.ts)", () => {
  for (const [what, xs, want] of [
    ["one value", [23.4], 23.4],
    ["an odd count, unsorted", [27.5, 23.4, 25.1], 25.1],
    ["an even count: the mean of the middle two", [27.5, 23.4, 25.1, 24.9], 25],
    ["two values", [20, 30], 25],
    ["repeated values", [3, 1, 3, 3], 3],
    ["negative and fractional values", [-1.5, 0.5, -0.5], -0.5],
  ] as const) {
    it(`of ${what}: ${want}`, () => expect(median(xs)).to.equal(want));
  }

  it("of nothing: NaN", () => expect(median([])).to.be.NaN);

  it("leaves its input in order", () => {
    const xs = [3, 1, 2];
    median(xs);
    expect(xs).to.deep.equal([3, 1, 2]);
  });
});
