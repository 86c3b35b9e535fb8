// The disruption budget rule: one definition of a budget Bulkhead can roll with, used wherever a
// budget can be written (the StatefulSet annotation bulkhead.dev/max-unavailable, a PDB's
// maxUnavailable, the rollout's spec.disruptionPolicy and its embedded StatefulSet's annotation).
// A budget of 0 ("0", 0, "0%") allows no eviction, so every wave would wait forever.
import { PERCENT_PATTERN } from "./rollout.js";

/** A positive count, or PERCENT_PATTERN's "1%" to "100%" (the CRD's CEL rule uses that one). */
const BUDGET_TEXT = new RegExp(`^[1-9][0-9]*$|${PERCENT_PATTERN}`);
const ZERO = /^0+%?$/;

export type BudgetVerdict = { ok: true; value: number | string } | { ok: false; zero: boolean; problem: string };

/**
 * Checks a budget as written: a positive count (number or decimal string) or "1%" to "100%".
 * The value returned is what a PDB's maxUnavailable takes (a count as a number, a percent as text).
 */
export function checkBudget(value: unknown): BudgetVerdict {
  if (typeof value === "number") {
    if (value === 0) return zero(value);
    if (Number.isSafeInteger(value) && value > 0) return { ok: true, value };
    return malformed(value);
  }
  if (typeof value === "string") {
    if (ZERO.test(value)) return zero(value);
    if (!BUDGET_TEXT.test(value)) return malformed(value);
    if (value.endsWith("%")) return { ok: true, value };
    return Number.isSafeInteger(Number(value)) ? { ok: true, value: Number(value) } : malformed(value);
  }
  return malformed(value);
}

/** True when the budget allows no disruption at all. */
export function isZeroBudget(value: unknown): boolean {
  const verdict = checkBudget(value);
  return !verdict.ok && verdict.zero;
}

function zero(value: number | string): BudgetVerdict {
  return {
    ok: false,
    zero: true,
    problem: `${JSON.stringify(value)} allows no pod to be disrupted, so every rollout wave would wait forever; use at least 1 (or "1%"), e.g. "25%"`,
  };
}

function malformed(value: unknown): BudgetVerdict {
  return {
    ok: false,
    zero: false,
    problem: `${JSON.stringify(value)} is not a budget: use a positive count such as 2 or a percent from "1%" to "100%", e.g. "25%"`,
  };
}
