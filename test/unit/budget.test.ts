import { expect } from "chai";
import { checkBudget, isZeroBudget } from "../../api/budget.js";

describe("checkBudget: the one budget rule", () => {
  const cases: Array<{ value: unknown; ok: boolean; zero?: boolean; normalised?: number | string }> = [
    { value: 1, ok: true, normalised: 1 },
    { value: 25, ok: true, normalised: 25 },
    { value: "3", ok: true, normalised: 3 },
    { value: "1%", ok: true, normalised: "1%" },
    { value: "25%", ok: true, normalised: "25%" },
    { value: "100%", ok: true, normalised: "100%" },
    { value: 0, ok: false, zero: true },
    { value: "0", ok: false, zero: true },
    { value: "0%", ok: false, zero: true },
    { value: "00", ok: false, zero: true },
    { value: "00%", ok: false, zero: true },
    { value: -1, ok: false, zero: false },
    { value: 1.5, ok: false, zero: false },
    { value: "101%", ok: false, zero: false },
    { value: "007", ok: false, zero: false },
    { value: "25 %", ok: false, zero: false },
    { value: "lots", ok: false, zero: false },
    { value: "", ok: false, zero: false },
    { value: undefined, ok: false, zero: false },
    { value: null, ok: false, zero: false },
    { value: "99999999999999999999", ok: false, zero: false },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.value)} → ${c.ok ? "ok" : c.zero ? "zero" : "malformed"}`, () => {
      const verdict = checkBudget(c.value);
      expect(verdict.ok).to.equal(c.ok);
      if (verdict.ok) expect(verdict.value).to.equal(c.normalised);
      else {
        expect(verdict.zero).to.equal(c.zero);
        expect(verdict.problem).to.match(
          c.zero ? /allows no pod to be disrupted.*e\.g\. "25%"/ : /is not a budget.*e\.g\. "25%"/,
        );
      }
      expect(isZeroBudget(c.value)).to.equal(c.zero === true);
    });
  }
});
