// Property: a rollout never reports RolloutDone with fewer pods moved than spec.percent asks
// (issue 12), over generated specs — replicas, percent, phases in any order with repeats,
// autoPromoteSeconds, pause, a lowered percent, rollbacks. decide() is driven against a small
// simulated world until it stops asking for another pass. A seeded generator (printed on
// failure; BULKHEAD_PROPERTY_SEED=<n> replays one) keeps every run reproducible.
import { expect } from "chai";
import { decide, phasePlan, type Decision } from "../../api/reconcile.js";
import type { ObservedPod, World } from "../../api/observe.js";
import { desiredRevisionName, targetUpdatedCount } from "../../api/revisions.js";
import type { RolloutStatus, StatefulsetRollout } from "../../api/rollout.js";
import { makePdb, makePods, makeRollout, makeSts, NEW, NOW, OLD } from "./reconcile.fixtures.js";
import { seededRandom } from "../support/seeded-random.js";

interface Case {
  replicas: number;
  percent: number;
  phases?: number[];
  autoPromoteSeconds?: number;
  rollback: boolean;
  /** Pass numbers at which pauseRequested flips. */
  pauseFlips: number[];
  /** A pass at which percent changes to `newPercent`. */
  percentChangeAt?: number;
  newPercent?: number;
  budget: number;
}

function generate(next: () => number): Case {
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)]!;
  const percentChoices = [0, 1, 10, 25, 33, 50, 99, 100, 100, 100, int(0, 100)];
  const c: Case = {
    replicas: pick([1, 2, 3, 5, 10, 17, int(1, 40)]),
    percent: pick(percentChoices),
    rollback: next() < 0.15,
    pauseFlips: next() < 0.3 ? [int(1, 20), int(21, 60)] : [],
    budget: int(1, 5),
  };
  if (next() < 0.7)
    c.phases = Array.from({ length: int(1, 5) }, () => pick([0, 1, 5, 10, 25, 50, 75, 100, int(0, 100)]));
  if (next() < 0.5) c.autoPromoteSeconds = pick([0, 1, 30]);
  if (next() < 0.3) {
    c.percentChangeAt = int(1, 40);
    c.newPercent = pick(percentChoices);
  }
  return c;
}

function specOf(c: Case, pass: number): Record<string, unknown> {
  const paused = c.pauseFlips.filter((p) => p <= pass).length % 2 === 1;
  const percent =
    c.percentChangeAt !== undefined && pass >= c.percentChangeAt ? (c.newPercent ?? c.percent) : c.percent;
  return {
    percent,
    pauseRequested: paused,
    ...(c.phases ? { phases: c.phases } : {}),
    ...(c.autoPromoteSeconds !== undefined ? { autoPromoteSeconds: c.autoPromoteSeconds } : {}),
  };
}

/** Runs one case; returns the passes for the failure message. Throws (with the trace) on a violation. */
function run(c: Case): void {
  const trace: string[] = [];
  // The rollout starts done on OLD (or, for a rollback, split with NEW as the revision it left).
  let status: RolloutStatus = c.rollback
    ? { phase: "RolloutDone", observedGeneration: 1, updateRevision: OLD, currentRevision: NEW }
    : { phase: "RolloutDone", observedGeneration: 1, updateRevision: OLD, currentRevision: OLD };
  let generation = 2;
  let lastSpec = "";
  let pods: ObservedPod[] = makePods(c.replicas);
  let now = NOW.getTime();
  let stsExtra: Partial<ReturnType<typeof makeSts>> = {};
  let parsed: StatefulsetRollout | undefined;
  for (let pass = 0; pass < 400; pass++) {
    const spec = specOf(c, pass);
    const specText = JSON.stringify(spec);
    if (lastSpec !== "" && specText !== lastSpec) generation++;
    // Parsing is the slow part: once per spec, the status is swapped in each pass.
    if (specText !== lastSpec || !parsed) parsed = makeRollout(spec, undefined, generation, c.replicas);
    lastSpec = specText;
    const rollout: StatefulsetRollout = { ...parsed, status };
    const sts = { ...makeSts(rollout), ...stsExtra, updateRevision: NEW, currentRevision: OLD };
    const world: World = {
      statefulSet: sts,
      pods,
      pdb: makePdb(rollout, Math.min(c.budget, pods.filter((p) => p.ready).length)),
    };
    const d: Decision = decide(rollout, world, new Date(now));
    trace.push(`#${pass} ${d.status.phase} ${d.status.reason ?? ""} step=${d.step.kind}`);
    checkInvariant(c, rollout, d, pods, trace);
    status = d.status;
    if (d.step.kind === "updateStatefulSet") {
      stsExtra = {
        ...stsExtra,
        ...(d.step.changes.revisionHistoryLimit !== undefined
          ? { revisionHistoryLimit: d.step.changes.revisionHistoryLimit }
          : {}),
        annotations: { ...sts.annotations, ...d.step.changes.annotations },
      };
      for (const key of d.step.changes.removeAnnotations ?? []) delete stsExtra.annotations![key];
    }
    if (d.step.kind === "evict") {
      // Each evicted pod comes back, Ready, on the revision pinning gives its ordinal.
      const decided: StatefulsetRollout = { ...parsed, status: d.status };
      const gone = new Set(d.step.pods.map((p) => p.name));
      pods = pods.map((p) =>
        gone.has(p.name)
          ? {
              ...p,
              uid: `${p.uid}+`,
              revision: desiredRevisionName(decided, p.ordinal) ?? NEW,
              createdAt: new Date(now).toISOString(),
            }
          : p,
      );
    }
    const paused = JSON.parse(specText).pauseRequested === true;
    const nextFlip = [...c.pauseFlips, c.percentChangeAt ?? -1].some((p) => p > pass);
    if (d.requeueAfterMs === undefined && d.step.kind === "none" && !nextFlip) {
      if (!paused && d.status.phase !== "RolloutDone")
        throw new Error(`stopped without finishing:\n${trace.slice(-15).join("\n")}`);
      return;
    }
    now += Math.max(1, d.requeueAfterMs ?? 1000);
  }
  const last = specOf(c, 400);
  if (!last.pauseRequested && status.phase !== "RolloutDone")
    throw new Error(`not done after 400 passes:\n${trace.slice(-15).join("\n")}`);
}

function checkInvariant(
  c: Case,
  rollout: StatefulsetRollout,
  d: Decision,
  pods: readonly ObservedPod[],
  trace: string[],
): void {
  if (d.status.phase !== "RolloutDone") return;
  const want = targetUpdatedCount(c.replicas, rollout.spec.percent);
  const onNew = pods.filter((p) => p.revision === NEW && p.ordinal < c.replicas).length;
  const recorded = new Set((d.status.updatedOrdinals ?? []).filter((o) => o < c.replicas)).size;
  if (onNew < want || recorded < want) {
    throw new Error(
      `RolloutDone with ${onNew} pod(s) on the new revision (${recorded} recorded) but percent ${rollout.spec.percent}% of ${c.replicas} asks ${want}:\n${trace.slice(-15).join("\n")}`,
    );
  }
  // More is possible: a rollout that finished at 100% has no old revision left to go back to.
  expect(d.status.percentDeployed, "percentDeployed at RolloutDone").to.be.at.least(rollout.spec.percent);
}

describe("decide: RolloutDone never comes short of spec.percent (property)", () => {
  const fixed = process.env.BULKHEAD_PROPERTY_SEED;
  const seeds = fixed ? [Number(fixed)] : Array.from({ length: 300 }, (_, i) => (Date.now() + i * 7919) >>> 0);

  it(`holds for ${seeds.length} generated rollouts`, function () {
    // Many full rollouts, each hundreds of decide() passes: not a time bound, just more work.
    this.timeout(0);
    for (const seed of seeds) {
      const c = generate(seededRandom(seed));
      try {
        run(c);
      } catch (err) {
        throw new Error(
          `seed ${seed} (replay: BULKHEAD_PROPERTY_SEED=${seed}) case ${JSON.stringify(c)}: ${(err as Error).message}`,
        );
      }
    }
  });

  it("the issue's examples: percent 100 with phases [1, 50] or [50, 1] goes through 100", () => {
    expect(phasePlan({ percent: 100, phases: [1, 50] })).to.deep.equal([1, 50, 100]);
    expect(phasePlan({ percent: 100, phases: [50, 1] })).to.deep.equal([1, 50, 100]);
    expect(phasePlan({ percent: 30, phases: [50, 10, 10, 100] })).to.deep.equal([10, 30]);
    expect(phasePlan({ percent: 0, phases: [0, 10] })).to.deep.equal([0]);
    for (const phases of [
      [1, 50],
      [50, 1],
    ]) {
      const c: Case = { replicas: 10, percent: 100, phases, rollback: false, pauseFlips: [], budget: 3 };
      run(c);
    }
  });
});
