// parseStoredRollout (api/rollout.ts): one parse per stored object, shared by the admission paths
// that read cached rollouts on every review. The cache replaces an object on change, so a new
// object is a new parse; anything that is not an object is parsed (and refused) every time.
import { expect } from "chai";
import { parseRollout, parseStoredRollout } from "../../api/rollout.js";
import { makeRollout } from "./reconcile.fixtures.js";

/** A stored rollout as the apiserver returns it (plain JSON, no parsed defaults). */
function stored(percent: number): unknown {
  return JSON.parse(JSON.stringify(makeRollout({ percent }))) as unknown;
}

describe("parseStoredRollout: one parse per stored object", () => {
  it("answers a stored object the same parse every time, equal to parseRollout's", () => {
    const raw = stored(40);
    const first = parseStoredRollout(raw);
    expect(first).to.deep.equal(parseRollout(raw));
    expect(parseStoredRollout(raw)).to.equal(first);
  });

  it("parses the object that replaced it (a change is a new object in the cache)", () => {
    const before = stored(40);
    const after = stored(60);
    const a = parseStoredRollout(before);
    const b = parseStoredRollout(after);
    expect(b).to.not.equal(a);
    expect(a.ok && a.value.spec.percent).to.equal(40);
    expect(b.ok && b.value.spec.percent).to.equal(60);
  });

  it("keeps a refusal per object too, naming the bad field", () => {
    const bad = { ...(stored(40) as object), spec: { percent: "half" } };
    const first = parseStoredRollout(bad);
    expect(first.ok).to.equal(false);
    expect(!first.ok && first.error).to.contain("percent");
    expect(parseStoredRollout(bad)).to.equal(first);
  });

  for (const [label, input] of [
    ["undefined", undefined],
    ["null", null],
    ["a string", "rollout"],
  ] as const) {
    it(`refuses ${label} with an error, fresh each time (nothing to key on)`, () => {
      const first = parseStoredRollout(input);
      expect(first.ok).to.equal(false);
      expect(parseStoredRollout(input)).to.not.equal(first);
    });
  }
});
