import { expect } from "chai";
import {
  applyPlan,
  changedPaths,
  mergePatchBetween,
  parsePercent,
  pausePlan,
  promotePlan,
  resumePlan,
  retryPlan,
  rollbackPlan,
} from "../../cli/actions-plan.js";
import type { ActionResult, JsonObject } from "../../cli/actions-plan.js";
import { rolloutSpecSchema } from "../../api/rollout.js";
import type { RolloutSpec, RolloutStatus, StatefulsetRollout } from "../../api/rollout.js";

const V1 = {
  metadata: { labels: { app: "web" }, annotations: { version: "1" } },
  spec: { containers: [{ name: "web", image: "web:1" }] },
};
const V2 = {
  metadata: { labels: { app: "web", canary: "yes" } },
  spec: { containers: [{ name: "web", image: "web:2" }] },
};

function rollout(spec: Partial<RolloutSpec> = {}, status?: RolloutStatus): StatefulsetRollout {
  return {
    metadata: { name: "web", namespace: "default", resourceVersion: "42" },
    spec: rolloutSpecSchema.parse({
      statefulset: { spec: { replicas: 4, selector: { matchLabels: { app: "web" } }, template: V2 } },
      percent: 50,
      rolloutIdentity: "old-id",
      ...spec,
    }),
    ...(status ? { status } : {}),
  };
}

const progressing: RolloutStatus = { phase: "Progressing" };
const failed: RolloutStatus = { phase: "RolloutFailed", reason: "web-2 not Ready within 600s", previousTemplate: V1 };
const done: RolloutStatus = { phase: "RolloutDone" };

function expectPatch(result: ActionResult, spec: JsonObject): string[] {
  if (!result.ok) throw new Error(`refused: ${result.error}`);
  expect(result.plan.patch).to.deep.equal({ spec, metadata: { resourceVersion: "42" } });
  return result.plan.changes;
}

function expectRefusal(result: ActionResult, pattern: RegExp): void {
  if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result.plan.patch)}`);
  expect(result.error).to.match(pattern);
}

describe("cli actions: pause and resume", () => {
  it("pauses a progressing rollout", () => {
    expect(expectPatch(pausePlan(rollout({}, progressing)), { pauseRequested: true })).to.deep.equal([
      "spec.pauseRequested: false → true",
    ]);
  });
  it("pauses a rollout done at a phase below 100%, so that a promote waits", () => {
    const result = pausePlan(rollout({ phases: [1, 50, 100], percent: 50 }, done));
    expectPatch(result, { pauseRequested: true });
    expect(result.ok && result.plan.notes).to.deep.equal([
      "the rollout stays at 50%: a promote waits until it is resumed; leak protection keeps the split",
    ]);
  });
  it("pauses a rollout that has no status yet", () => {
    expectPatch(pausePlan(rollout()), { pauseRequested: true });
  });
  const pauseRefusals: Array<[string, StatefulsetRollout, RegExp]> = [
    ["already paused", rollout({ pauseRequested: true }, progressing), /already paused .*kubectl sroll resume web/],
    ["done at 100%", rollout({ percent: 100 }, done), /RolloutDone at 100%: there is nothing to pause/],
    ["failed", rollout({}, failed), /has failed, so nothing is rolling: retry it .* or roll it back/],
  ];
  for (const [name, r, pattern] of pauseRefusals)
    it(`refuses to pause: ${name}`, () => expectRefusal(pausePlan(r), pattern));

  it("resumes a paused rollout", () => {
    expectPatch(resumePlan(rollout({ pauseRequested: true }, { phase: "Paused", paused: true })), {
      pauseRequested: false,
    });
  });
  it("refuses to resume a rollout that is not paused", () => {
    expectRefusal(
      resumePlan(rollout({}, progressing)),
      /^statefulsetrollout web is not paused: spec.pauseRequested is false$/,
    );
  });
  it("says when the reconciler has not caught up with a resume", () => {
    expectRefusal(resumePlan(rollout({}, { phase: "Paused", paused: true })), /status.paused is still true/);
  });
  it("omits the precondition when the object has no resourceVersion", () => {
    const r = rollout({}, progressing);
    delete r.metadata.resourceVersion;
    const result = pausePlan(r);
    expect(result.ok && result.plan.patch).to.deep.equal({ spec: { pauseRequested: true } });
  });
});

describe("cli actions: promote", () => {
  const phased = { phases: [1, 50, 100], percent: 1 };
  it("moves to the next phase", () => {
    expect(expectPatch(promotePlan(rollout(phased, done)), { percent: 50 })).to.deep.equal(["spec.percent: 1 → 50"]);
  });
  it("moves to the next phase above a percent set between phases", () => {
    expectPatch(promotePlan(rollout({ phases: [1, 50, 100], percent: 30 }, done)), { percent: 50 });
  });
  it("moves to a given percent", () => {
    expectPatch(promotePlan(rollout(phased, progressing), 100), { percent: 100 });
  });
  it("notes that a paused rollout moves on only once resumed", () => {
    const result = promotePlan(rollout({ ...phased, pauseRequested: true }, progressing));
    expect(result.ok && result.plan.notes[0]).to.match(/paused; it moves towards 50% once resumed/);
  });
  const refusals: Array<[string, StatefulsetRollout, number | undefined, RegExp]> = [
    [
      "failed",
      rollout(phased, failed),
      undefined,
      /has failed \(web-2 not Ready within 600s\): promoting it would roll the failing version further/,
    ],
    ["failed, with a percent", rollout(phased, failed), 100, /has failed/],
    ["no phases and no percent", rollout({}, done), undefined, /has no spec.phases.*kubectl sroll promote web 100/],
    [
      "at the last phase",
      rollout({ phases: [1, 50, 100], percent: 100 }, done),
      undefined,
      /already at its last phase \(100% of phases 1, 50, 100\)/,
    ],
    ["same percent", rollout({}, progressing), 50, /already at 50%/],
    [
      "auto-promoting through phases",
      rollout({ phases: [1, 50, 100], percent: 100, autoPromoteSeconds: 600 }, { phase: "Progressing", phaseIndex: 1 }),
      undefined,
      /already heads for 100% and moves through its phases by itself after autoPromoteSeconds \(600s\) at each; it is at phase 2 of 3 \(50%\)/,
    ],
    ["backwards", rollout({}, progressing), 10, /promote only moves forward: .* at 50%, 10% is lower .*rollback/],
  ];
  for (const [name, r, target, pattern] of refusals)
    it(`refuses: ${name}`, () => expectRefusal(promotePlan(r, target), pattern));
});

describe("cli actions: parsePercent", () => {
  const good: Array<[string, number]> = [
    ["0", 0],
    ["50", 50],
    ["100", 100],
    ["25%", 25],
    [" 7 ", 7],
  ];
  for (const [text, value] of good)
    it(`"${text}" → ${value}`, () => expect(parsePercent(text)).to.deep.equal({ ok: true, value }));
  for (const text of ["150", "-1", "1.5", "half", "", "1000"]) {
    it(`refuses "${text}"`, () =>
      expect(parsePercent(text)).to.deep.equal({
        ok: false,
        error: `"${text}" is not a percent: give a whole number from 0 to 100, e.g. 50`,
      }));
  }
});

describe("cli actions: rollback", () => {
  it("applies the previous template as an exact merge patch, at 100%, unpaused, with a new identity", () => {
    const result = rollbackPlan(rollout({ pauseRequested: true }, failed), "new-id");
    const changes = expectPatch(result, {
      // canary label and missing annotation: the patch removes what V1 lacks and adds what it has.
      statefulset: {
        spec: {
          template: {
            metadata: { labels: { canary: null }, annotations: { version: "1" } },
            spec: { containers: [{ name: "web", image: "web:1" }] },
          },
        },
      },
      rolloutIdentity: "new-id",
      percent: 100,
      pauseRequested: false,
    });
    expect(changes).to.deep.equal([
      "spec.statefulset.spec.template: web=web:2 → web=web:1",
      "spec.percent: 50 → 100",
      "spec.pauseRequested: true → false",
      'spec.rolloutIdentity: "old-id" → "new-id"',
    ]);
  });
  it("leaves percent and pause alone when they are already right", () => {
    const result = rollbackPlan(rollout({ percent: 100 }, failed), "new-id");
    expect(result.ok && Object.keys(result.plan.patch.spec as object)).to.deep.equal([
      "statefulset",
      "rolloutIdentity",
    ]);
  });
  it("refuses without a previous template", () => {
    expectRefusal(rollbackPlan(rollout({}, progressing), "x"), /has no previous template to roll back to/);
    expectRefusal(
      rollbackPlan(rollout({}, { phase: "Progressing", previousTemplate: {} }), "x"),
      /has no previous template/,
    );
  });
  it("refuses when the previous template is the current one", () => {
    expectRefusal(
      rollbackPlan(rollout({}, { phase: "RolloutDone", previousTemplate: V2 }), "x"),
      /already runs its previous template \(web=web:2\)/,
    );
  });
});

describe("cli actions: retry", () => {
  it("gives a failed rollout a new identity", () => {
    expect(expectPatch(retryPlan(rollout({}, failed), "fresh"), { rolloutIdentity: "fresh" })).to.deep.equal([
      'spec.rolloutIdentity: "old-id" → "fresh"',
    ]);
  });
  const refusals: Array<[string, StatefulsetRollout, RegExp]> = [
    ["progressing", rollout({}, progressing), /is Progressing, not RolloutFailed: retry restarts a failed rollout$/],
    ["done", rollout({}, done), /is RolloutDone, not RolloutFailed/],
    ["paused", rollout({}, { phase: "Paused" }), /kubectl sroll resume web/],
    ["no status", rollout(), /is Pending, not RolloutFailed/],
  ];
  for (const [name, r, pattern] of refusals)
    it(`refuses: ${name}`, () => expectRefusal(retryPlan(r, "fresh"), pattern));
  it("refuses an identity equal to the current one", () =>
    expectRefusal(retryPlan(rollout({}, failed), "old-id"), /must differ/));
});

describe("mergePatchBetween", () => {
  const cases: Array<[string, unknown, unknown, unknown]> = [
    ["equal objects", { a: 1 }, { a: 1 }, {}],
    ["changed scalar", { a: 1 }, { a: 2 }, { a: 2 }],
    ["removed key", { a: 1, b: 2 }, { a: 1 }, { b: null }],
    ["added key", { a: 1 }, { a: 1, b: { c: 3 } }, { b: { c: 3 } }],
    ["nested", { a: { b: 1, c: 2 } }, { a: { b: 1 } }, { a: { c: null } }],
    ["arrays replaced whole", { a: [1, 2] }, { a: [1] }, { a: [1] }],
    ["object to scalar", { a: { b: 1 } }, { a: 5 }, { a: 5 }],
  ];
  for (const [name, from, to, expected] of cases)
    it(name, () => expect(mergePatchBetween(from, to)).to.deep.equal(expected));
});

describe("changedPaths", () => {
  it("lists the leaves that differ", () => {
    expect(changedPaths({ a: 1, b: { c: 1, d: [1] } }, { a: 1, b: { c: 2, d: [2] }, e: 1 }, "spec")).to.deep.equal([
      "spec.b.c",
      "spec.b.d",
      "spec.e",
    ]);
  });
});

describe("applyPlan", () => {
  const defaults = (spec: JsonObject) => rolloutSpecSchema.parse(spec) as JsonObject;
  const rendered = (template: object, extra: JsonObject = {}) => ({
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: { name: "web", namespace: "default", labels: { app: "web" } },
    spec: {
      percent: 1,
      phases: [1, 50, 100],
      pauseRequested: false,
      statefulset: { spec: { replicas: 4, selector: { matchLabels: { app: "web" } }, template } },
      ...extra,
    },
  });
  const existing = (template: object, spec: Partial<RolloutSpec> = {}): StatefulsetRollout => ({
    metadata: {
      name: "web",
      namespace: "default",
      resourceVersion: "7",
      labels: { team: "core" },
      annotations: { note: "kept" },
    },
    spec: rolloutSpecSchema.parse({
      percent: 50,
      phases: [1, 50, 100],
      pauseRequested: true,
      rolloutIdentity: "running-id",
      statefulset: { spec: { replicas: 4, selector: { matchLabels: { app: "web" } }, template } },
      ...spec,
    }),
  });

  it("creates with a new identity when nothing exists", () => {
    const plan = applyPlan(undefined, rendered(V2), "new-id", defaults);
    expect(plan.action).to.equal("create");
    expect(plan.action === "create" && plan.object.spec).to.deep.include({ rolloutIdentity: "new-id", percent: 1 });
  });
  it("keeps an identity given on the command line", () => {
    const plan = applyPlan(undefined, rendered(V2, { rolloutIdentity: "given" }), "new-id", defaults);
    expect(plan.action === "create" && (plan.object.spec as JsonObject).rolloutIdentity).to.equal("given");
  });
  it("starts a new rollout when the StatefulSet changed: rendered percent, unpaused, new identity", () => {
    const plan = applyPlan(existing(V1), rendered(V2), "new-id", defaults);
    if (plan.action !== "update") throw new Error(plan.action);
    expect(plan.newRollout).to.equal(true);
    expect(plan.object.spec).to.deep.include({ percent: 1, pauseRequested: false, rolloutIdentity: "new-id" });
    expect(plan.object.metadata).to.deep.equal({
      name: "web",
      namespace: "default",
      resourceVersion: "7",
      labels: { team: "core", app: "web" },
      annotations: { note: "kept" },
    });
    expect(plan.changes).to.include.members(["spec.percent", "spec.pauseRequested", "spec.rolloutIdentity"]);
  });
  it("keeps progress, pause and identity when only settings changed", () => {
    const plan = applyPlan(existing(V2), rendered(V2, { channel: "#new" }), "new-id", defaults);
    if (plan.action !== "update") throw new Error(plan.action);
    expect(plan.newRollout).to.equal(false);
    expect(plan.object.spec).to.deep.include({
      percent: 50,
      pauseRequested: true,
      rolloutIdentity: "running-id",
      channel: "#new",
    });
    expect(plan.changes).to.deep.equal(["spec.channel"]);
  });
  it("is unchanged when re-applying the same config, API defaults included", () => {
    expect(applyPlan(existing(V2), rendered(V2), "new-id", defaults)).to.deep.equal({ action: "unchanged" });
  });
});
