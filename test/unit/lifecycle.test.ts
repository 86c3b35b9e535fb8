// Deleting, adopting and keeping history (issue 12): the pure rules of api/lifecycle.ts,
// api/revisions.ts revisionHistoryChange and the decide() steps that use them. Table-driven.
import { expect } from "chai";
import {
  hasRolloutFinalizer,
  isReleasable,
  releasedMetadata,
  releaseMode,
  releasedRevisionHistoryLimit,
  ROLLOUT_FINALIZER,
  withoutRolloutFinalizer,
  withRolloutFinalizer,
} from "../../api/lifecycle.js";
import { MANAGED_LABEL, ROLLOUT_LABEL } from "../../api/labels.js";
import { decide, CONDITION_OWNERSHIP_CONFLICT, CONDITION_REVISION_MISSING } from "../../api/reconcile.js";
import {
  REVISION_HISTORY_ANNOTATION,
  revisionHistoryChange,
  SPLIT_REVISION_HISTORY_LIMIT,
} from "../../api/revisions.js";
import { TEMPLATE_HASH_ANNOTATION } from "../../api/desired.js";
import { makePods, makeRollout, makeSts, NEW, NOW, OLD, rollingStatus, UID, world } from "./reconcile.fixtures.js";

const OURS = {
  apiVersion: "bulkhead.dev/v1alpha1",
  kind: "StatefulsetRollout",
  name: "web",
  uid: UID,
  controller: true,
};
const ROLLOUT = { name: "web", uid: UID };

describe("lifecycle: finalizer", () => {
  const cases: Array<{ finalizers: string[] | undefined; add: string[] | undefined; remove: string[] | undefined }> = [
    { finalizers: undefined, add: [ROLLOUT_FINALIZER], remove: undefined },
    { finalizers: ["other"], add: ["other", ROLLOUT_FINALIZER], remove: undefined },
    { finalizers: ["other", ROLLOUT_FINALIZER], add: undefined, remove: ["other"] },
    { finalizers: [ROLLOUT_FINALIZER], add: undefined, remove: [] },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.finalizers)}: add ${JSON.stringify(c.add)}, remove ${JSON.stringify(c.remove)}`, () => {
      expect(withRolloutFinalizer(c.finalizers)).to.deep.equal(c.add);
      expect(withoutRolloutFinalizer(c.finalizers)).to.deep.equal(c.remove);
      expect(hasRolloutFinalizer({ name: "web", finalizers: c.finalizers ?? [] })).to.equal(c.add === undefined);
    });
  }
});

describe("lifecycle: what deleting a rollout does", () => {
  const cases: Array<{ policy: "Orphan" | "Delete" | undefined; finalizers: string[]; mode: "orphan" | "cascade" }> = [
    { policy: undefined, finalizers: [ROLLOUT_FINALIZER], mode: "orphan" },
    { policy: "Orphan", finalizers: [ROLLOUT_FINALIZER], mode: "orphan" },
    { policy: "Delete", finalizers: [ROLLOUT_FINALIZER], mode: "cascade" },
    // kubectl delete --cascade=orphan says so explicitly: it wins over deletionPolicy Delete.
    { policy: "Delete", finalizers: [ROLLOUT_FINALIZER, "orphan"], mode: "orphan" },
    { policy: "Delete", finalizers: [ROLLOUT_FINALIZER, "foregroundDeletion"], mode: "cascade" },
  ];
  for (const c of cases) {
    it(`deletionPolicy ${c.policy ?? "(default)"} with finalizers ${c.finalizers.join(",")} → ${c.mode}`, () => {
      expect(releaseMode(c.policy, { name: "web", finalizers: c.finalizers })).to.equal(c.mode);
    });
  }

  it("orphaning removes our ownerReference, the managed and rollout labels and the template hash; keeps the rest", () => {
    const other = { apiVersion: "example.com/v1", kind: "Thing", name: "x", uid: "uid-x" };
    const meta = {
      labels: { app: "web", [MANAGED_LABEL]: "true", [ROLLOUT_LABEL]: "web" },
      annotations: { [TEMPLATE_HASH_ANNOTATION]: "abc", "bulkhead.dev/max-unavailable": "25%", keep: "me" },
      ownerReferences: [OURS, other],
    };
    expect(isReleasable(meta, ROLLOUT)).to.equal(true);
    expect(releasedMetadata(meta, ROLLOUT)).to.deep.equal({
      labels: { app: "web" },
      annotations: { "bulkhead.dev/max-unavailable": "25%", keep: "me" },
      ownerReferences: [other],
    });
    expect(meta.ownerReferences, "input not mutated").to.have.length(2);
  });

  it("orphaning drops the saved revisionHistoryLimit annotation and says which limit to restore", () => {
    const meta = { annotations: { [REVISION_HISTORY_ANNOTATION]: "3" }, ownerReferences: [OURS] };
    expect(releasedMetadata(meta, ROLLOUT)?.annotations).to.deep.equal({});
    expect(releasedRevisionHistoryLimit(meta.annotations)).to.equal(3);
    expect(releasedRevisionHistoryLimit({})).to.equal(undefined);
  });

  it("a non-controller reference from an earlier version is removed too; another rollout's labels are kept", () => {
    const meta = {
      labels: { [MANAGED_LABEL]: "true", [ROLLOUT_LABEL]: "other" },
      ownerReferences: [{ ...OURS, controller: false }],
    };
    expect(releasedMetadata(meta, ROLLOUT)).to.deep.equal({
      labels: { [MANAGED_LABEL]: "true", [ROLLOUT_LABEL]: "other" },
      annotations: {},
      ownerReferences: [],
    });
  });

  it("cascade: still referenced → left for the garbage collector; already orphaned by it (--cascade=orphan) → labels stripped", () => {
    const labels = { app: "web", [MANAGED_LABEL]: "true", [ROLLOUT_LABEL]: "web" };
    expect(releasedMetadata({ labels, ownerReferences: [OURS] }, ROLLOUT, "cascade")).to.equal(undefined);
    expect(releasedMetadata({ labels, ownerReferences: [] }, ROLLOUT, "cascade")).to.deep.equal({
      labels: { app: "web" },
      annotations: {},
      ownerReferences: [],
    });
  });

  it("a StatefulSet this rollout never owned (refused: unowned, managed, no rollout label) is never touched", () => {
    expect(
      releasedMetadata({ labels: { app: "web", [MANAGED_LABEL]: "true" }, ownerReferences: [] }, ROLLOUT),
    ).to.equal(undefined);
    expect(
      releasedMetadata(
        {
          labels: { [MANAGED_LABEL]: "true", [ROLLOUT_LABEL]: "db-old" },
          ownerReferences: [{ ...OURS, name: "db-old", uid: "uid-old" }],
        },
        ROLLOUT,
      ),
    ).to.equal(undefined);
  });

  it("an object of another rollout (other uid) or already released is left alone", () => {
    expect(isReleasable({ ownerReferences: [{ ...OURS, uid: "uid-other" }] }, ROLLOUT)).to.equal(false);
    expect(releasedMetadata({ labels: { app: "web" }, ownerReferences: [] }, ROLLOUT)).to.equal(undefined);
  });
});

describe("revisions: history kept while split", () => {
  const cases: Array<{
    name: string;
    split: boolean;
    limit?: number;
    saved?: string;
    want: ReturnType<typeof revisionHistoryChange>;
  }> = [
    {
      name: "split, default limit → raised, 10 remembered",
      split: true,
      want: { revisionHistoryLimit: SPLIT_REVISION_HISTORY_LIMIT, keepAnnotation: "10" },
    },
    {
      name: "split, limit 2 → raised, 2 remembered",
      split: true,
      limit: 2,
      want: { revisionHistoryLimit: SPLIT_REVISION_HISTORY_LIMIT, keepAnnotation: "2" },
    },
    {
      name: "split, already raised → nothing",
      split: true,
      limit: SPLIT_REVISION_HISTORY_LIMIT,
      saved: "2",
      want: undefined,
    },
    {
      name: "split, reset by someone with the annotation left → raised, the first value kept",
      split: true,
      limit: 5,
      saved: "2",
      want: { revisionHistoryLimit: SPLIT_REVISION_HISTORY_LIMIT, keepAnnotation: "2" },
    },
    {
      name: "split over → restored",
      split: false,
      limit: SPLIT_REVISION_HISTORY_LIMIT,
      saved: "0",
      want: { revisionHistoryLimit: 0, keepAnnotation: null },
    },
    {
      name: "split over, annotation garbled → the default",
      split: false,
      limit: SPLIT_REVISION_HISTORY_LIMIT,
      saved: "-1",
      want: { revisionHistoryLimit: 10, keepAnnotation: null },
    },
    { name: "never split → nothing", split: false, limit: 3, want: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const annotations: Record<string, string> =
        c.saved !== undefined ? { [REVISION_HISTORY_ANNOTATION]: c.saved } : {};
      const live = { ...(c.limit !== undefined ? { revisionHistoryLimit: c.limit } : {}), annotations };
      expect(revisionHistoryChange(c.split, live)).to.deep.equal(c.want);
    });
  }

  it("decide raises the limit on a split before anything else moves, and restores it once done", () => {
    const r = makeRollout({}, rollingStatus());
    const w = world(r, makePods(10));
    w.statefulSet = makeSts(r, { revisionHistoryLimit: 3 });
    delete w.statefulSet.annotations[REVISION_HISTORY_ANNOTATION];
    const d = decide(r, w, NOW);
    expect(d.step.kind).to.equal("updateStatefulSet");
    if (d.step.kind !== "updateStatefulSet") return;
    expect(d.step.changes.revisionHistoryLimit).to.equal(SPLIT_REVISION_HISTORY_LIMIT);
    expect(d.step.changes.annotations[REVISION_HISTORY_ANNOTATION]).to.equal("3");
    expect(d.step.changes.template).to.equal(undefined);

    const done = makeRollout(
      {},
      { phase: "Progressing", observedGeneration: 1, updateRevision: NEW, currentRevision: NEW },
    );
    const wd = world(done, makePods(10, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    wd.statefulSet = makeSts(done, {
      revisionHistoryLimit: SPLIT_REVISION_HISTORY_LIMIT,
      annotations: { ...makeSts(done).annotations, [REVISION_HISTORY_ANNOTATION]: "3" },
    });
    const restore = decide(done, wd, NOW);
    expect(restore.step.kind === "updateStatefulSet" && restore.step.changes).to.deep.include({
      revisionHistoryLimit: 3,
      removeAnnotations: [REVISION_HISTORY_ANNOTATION],
    });
  });
});

describe("decide: the history is raised with the template that splits the rollout", () => {
  // A settled rollout (v1 everywhere, limit 3) gets a new template: pass 1 records the split
  // (templatePending), pass 2 applies the template and raises the limit in the same write.
  const settled = {
    phase: "RolloutDone" as const,
    observedGeneration: 1,
    updateRevision: OLD,
    currentRevision: OLD,
  };
  for (const c of [
    { name: "split being recorded (templatePending)", templatePending: true, wantLimit: SPLIT_REVISION_HISTORY_LIMIT },
    { name: "split not recorded yet: status only, nothing written", templatePending: false, wantLimit: undefined },
  ]) {
    it(c.name, () => {
      const r = makeRollout({}, { ...settled, ...(c.templatePending ? { templatePending: true } : {}) });
      r.metadata.generation = 2;
      const w = world(r, makePods(10));
      w.statefulSet = makeSts(r, {
        revisionHistoryLimit: 3,
        updateRevision: OLD,
        annotations: { [TEMPLATE_HASH_ANNOTATION]: "an older template" },
      });
      const d = decide(r, w, NOW);
      if (!c.templatePending) {
        expect(d.step.kind).to.equal("none");
        expect(d.status.templatePending).to.equal(true);
        return;
      }
      expect(d.step.kind).to.equal("updateStatefulSet");
      if (d.step.kind !== "updateStatefulSet") return;
      expect(d.step.changes.template).to.not.equal(undefined);
      expect(d.step.changes.revisionHistoryLimit).to.equal(c.wantLimit);
      expect(d.step.changes.annotations[REVISION_HISTORY_ANNOTATION]).to.equal("3");
    });
  }
});

describe("decide: one owner per StatefulSet", () => {
  it("a StatefulSet of another rollout: nothing touched, Pending, OwnershipConflict condition and one Warning", () => {
    const r = makeRollout();
    const w = world(r, makePods(10));
    w.statefulSet = makeSts(r, {
      ownerReferences: [{ ...OURS, name: "db-old", uid: "uid-old" }],
      labels: { app: "web" },
    });
    const d = decide(r, w, NOW);
    expect(d.step.kind).to.equal("none");
    expect(d.status.phase).to.equal("Pending");
    expect(d.status.reason).to.match(/already rolled out by StatefulsetRollout ns\/db-old/);
    const condition = d.status.conditions?.find((c) => c.type === CONDITION_OWNERSHIP_CONFLICT);
    expect(condition).to.include({ status: "True", reason: "StatefulSetOwnedElsewhere" });
    expect(d.events.filter((e) => e.reason === "OwnershipConflict")).to.have.length(1);
    expect(d.requeueAfterMs).to.be.at.least(30_000);
    expect(d.status.pods, "the other owner's pods are not reported").to.equal(undefined);
    expect(d.status.podSummary, "the other owner's pods are not reported").to.equal(undefined);
    // The next pass with the same conflict: no new Warning (no flip-flop, no event storm).
    const again = decide(makeRollout({}, d.status), w, new Date(NOW.getTime() + 60_000));
    expect(again.step.kind).to.equal("none");
    expect(again.events.filter((e) => e.reason === "OwnershipConflict")).to.deep.equal([]);
  });

  it("a StatefulSet of another controller, or unowned without adoptExisting: refused the same way", () => {
    const r = makeRollout();
    for (const ownerReferences of [
      [{ apiVersion: "apps.example.com/v1", kind: "Operator", name: "op", uid: "u", controller: true }],
      [],
    ]) {
      const w = world(r, makePods(10));
      w.statefulSet = makeSts(r, { ownerReferences });
      const d = decide(r, w, NOW);
      expect(d.step.kind).to.equal("none");
      expect(d.status.conditions?.find((c) => c.type === CONDITION_OWNERSHIP_CONFLICT)?.status).to.equal("True");
    }
  });

  it("adoptExisting takes over an unowned StatefulSet, records adoptedAt and an Event once; the condition clears", () => {
    const conflicted = decide(
      makeRollout(),
      { ...world(makeRollout(), makePods(3)), statefulSet: makeSts(makeRollout(), { ownerReferences: [] }) },
      NOW,
    );
    const r = makeRollout({ adoptExisting: true }, conflicted.status, 2);
    const w = world(r, makePods(3));
    w.statefulSet = makeSts(r, { ownerReferences: [], labels: { app: "web" } });
    const d = decide(r, w, NOW);
    expect(d.step.kind).to.equal("updateStatefulSet");
    if (d.step.kind !== "updateStatefulSet") return;
    expect(d.step.changes.ownerReference).to.include({ uid: UID, controller: true, blockOwnerDeletion: false });
    expect(d.status.adoptedAt).to.equal(NOW.toISOString());
    expect(d.events.map((e) => e.reason)).to.include("Adopting");
    expect(d.status.conditions?.find((c) => c.type === CONDITION_OWNERSHIP_CONFLICT)).to.include({ status: "False" });
  });
});

describe("decide: the old revision gone during a split", () => {
  it("records status.revisionMissing, a condition and one Warning; a back wave then fails with that reason", () => {
    const r = makeRollout(
      { percent: 20 },
      rollingStatus({
        updatedOrdinals: [9, 8, 7, 6],
        wavesCompleted: 2,
        currentWave: {
          number: 2,
          pods: ["web-7", "web-6"],
          startedAt: "2026-11-23T11:00:00.000Z",
          completedAt: "2026-11-23T11:01:00.000Z",
        },
      }),
    );
    const w = world(r, makePods(10, [9, 8, 7, 6]), 3, { revisionGone: OLD });
    const d = decide(r, w, NOW);
    expect(d.status.revisionMissing).to.equal(OLD);
    expect(d.status.conditions?.find((c) => c.type === CONDITION_REVISION_MISSING)).to.include({
      status: "True",
      reason: "ControllerRevisionGone",
    });
    expect(d.events.filter((e) => e.reason === "RevisionMissing")).to.have.length(1);
    expect(d.status.phase).to.equal("RolloutFailed");
    expect(d.status.reason).to.match(new RegExp(`ControllerRevision ${OLD} .*no longer exists`));
    expect(d.status.reason).to.not.match(/PinningInactive|webhook/);
  });

  it("a forward rollout goes on (pinning lets lost pods come back new); the record is cleared with a new revision", () => {
    const r = makeRollout({}, rollingStatus({ updatedOrdinals: [9], revisionMissing: OLD }));
    const d = decide(r, world(r, makePods(10, [9]), 3, { revisionGone: OLD }), NOW);
    expect(d.status.phase).to.equal("Progressing");
    expect(
      d.events.filter((e) => e.reason === "RevisionMissing"),
      "recorded once",
    ).to.deep.equal([]);
    const next = makeRollout({}, { ...d.status, phase: "RolloutDone" }, 2);
    const s2 = makeSts(next, { updateRevision: "web-ccc" });
    const started = decide(next, { ...world(next, makePods(10, [9])), statefulSet: s2 }, NOW);
    expect(started.status.updateRevision).to.equal("web-ccc");
    expect(started.status.revisionMissing).to.equal(undefined);
  });
});
