// The reconcile loop (queue + pass + decide) against an in-memory cluster: no HTTP.
import { expect } from "chai";
import type { EventRecorder } from "../../adapters/kube/events.js";
import { writeStatus, writeStatusFields, type RawRollout, type RolloutApi } from "../../adapters/kube/rollouts.js";
import type { CallbackPayload, CallbackSender } from "../../api/integrations.js";
import { ROLLOUT_FINALIZER } from "../../api/lifecycle.js";
import { FakeCluster, rolloutObject } from "./reconciler.fake-cluster.js";
import { reconcileLoop, type Loop } from "./support/reconciler-harness.js";
import { until } from "../support/until.js";
import type { Clock } from "../../api/clock.js";
import { BLOCKED_EVENT_WINDOW_MS } from "../../reconciler/controller.js";
import { FakeClock } from "../support/fake-clock.js";

const KEY = "ns/web";
interface Harness extends Loop {
  events: Array<{ reason: string; note: string }>;
}

function harness(
  cluster: FakeCluster,
  extra: { sender?: CallbackSender; clock?: Clock; eventWritten?: () => Promise<void> } = {},
): Harness {
  const events: Harness["events"] = [];
  const recorder: EventRecorder = {
    record: async (_ref, _type, reason, note) => {
      events.push({ reason, note });
      await extra.eventWritten?.();
    },
  };
  const unexpected: CallbackSender = {
    attempt: async () => {
      throw new Error("this test sends no callback");
    },
  };
  const loop = reconcileLoop(cluster, {
    events: recorder,
    sender: extra.sender ?? unexpected,
    concurrency: 2,
    clock: extra.clock,
  });
  return { ...loop, events };
}

function evictionsPerPod(cluster: FakeCluster, revision?: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of cluster.evictions)
    if (!revision || e.revision === revision) counts.set(e.pod, (counts.get(e.pod) ?? 0) + 1);
  return counts;
}

describe("reconcile loop on a fake cluster", function () {
  this.timeout(20_000);

  it("creates the StatefulSet and PDB, then rolls a new template out in budget-sized waves", async () => {
    const h = harness(new FakeCluster({ readyDelayMs: 20 }));
    try {
      h.cluster.putRollout(rolloutObject({ disruptionPolicy: { maxUnavailable: 2 } }, 6, "app:v1"));
      await until("first rollout done", () => h.cluster.status().phase === "RolloutDone");
      expect(h.cluster.evictions).to.have.length(0);
      const v1 = h.cluster.status().updateRevision;

      h.cluster.putRollout(rolloutObject({ disruptionPolicy: { maxUnavailable: 2 } }, 6, "app:v2"));
      await until(
        "v2 done",
        () => h.cluster.status().phase === "RolloutDone" && h.cluster.status().updateRevision !== v1,
      );
      const status = h.cluster.status();
      expect(status.updatedReplicas).to.equal(6);
      // A pipeline: at least 6 / budget 2 waves, smaller ones when room opens pod by pod.
      expect(status.wavesCompleted).to.be.within(3, 6);
      expect(status.previousTemplate).to.deep.include({ spec: { containers: [{ name: "app", image: "app:v1" }] } });
      // Every pod evicted exactly once, never beyond the budget, highest ordinal first.
      expect([...evictionsPerPod(h.cluster).values()].every((n) => n === 1)).to.equal(true);
      expect(h.cluster.evictions.map((e) => e.pod)).to.deep.equal([
        "web-5",
        "web-4",
        "web-3",
        "web-2",
        "web-1",
        "web-0",
      ]);
      expect(Math.max(...h.cluster.evictions.map((e) => e.unavailableBefore))).to.be.below(2);
      expect(h.events.map((e) => e.reason)).to.include.members([
        "RolloutStarted",
        "WaveStarted",
        "WaveCompleted",
        "RolloutDone",
      ]);
    } finally {
      await h.stop();
    }
  });

  it("Event writes never hold up the waves: a rollout finishes while every Event write hangs", async () => {
    let release: () => void = () => undefined;
    const hanging = new Promise<void>((resolve) => (release = resolve));
    const h = harness(new FakeCluster({ readyDelayMs: 10 }), { eventWritten: () => hanging });
    try {
      h.cluster.putRollout(rolloutObject({ disruptionPolicy: { maxUnavailable: 2 } }, 4, "app:v1"));
      await until("first rollout done", () => h.cluster.status().phase === "RolloutDone");
      const v1 = h.cluster.status().updateRevision;
      h.cluster.putRollout(rolloutObject({ disruptionPolicy: { maxUnavailable: 2 } }, 4, "app:v2"));
      await until(
        "v2 done with no Event write finished",
        () => h.cluster.status().phase === "RolloutDone" && h.cluster.status().updateRevision !== v1,
      );
      // Every Event was still handed over, in the order the passes decided them.
      const reasons = h.events.map((e) => e.reason);
      expect(reasons).to.include.members(["WaveStarted", "WaveCompleted", "RolloutDone"]);
      expect(reasons.indexOf("WaveStarted")).to.be.below(reasons.lastIndexOf("RolloutDone"));
    } finally {
      release();
      await h.stop();
    }
  });

  it("percent 25 of 4 leaves exactly one pod on the new revision; raising to 100 finishes", async () => {
    const h = harness(new FakeCluster({ readyDelayMs: 10, pinning: true }));
    try {
      h.cluster.putRollout(rolloutObject({ percent: 25 }, 4, "app:v1"));
      await until("created", () => h.cluster.status().phase === "RolloutDone");
      h.cluster.putRollout(rolloutObject({ percent: 25 }, 4, "app:v2"));
      await until(
        "25% done",
        () => h.cluster.status().phase === "RolloutDone" && h.cluster.status().wavesCompleted === 1,
      );
      const s = h.cluster.status();
      expect(s.updatedReplicas).to.equal(1);
      expect(s.updatedOrdinals).to.deep.equal([3]);
      expect(s.percentDeployed).to.equal(25);
      h.cluster.putRollout(rolloutObject({ percent: 100 }, 4, "app:v2"));
      await until(
        "100% done",
        () => h.cluster.status().phase === "RolloutDone" && h.cluster.status().updatedReplicas === 4,
      );
      expect([...evictionsPerPod(h.cluster).values()].every((n) => n === 1)).to.equal(true);
    } finally {
      await h.stop();
    }
  });

  it("lowering percent moves the most recently moved pods back (with pinning)", async () => {
    const h = harness(new FakeCluster({ readyDelayMs: 10, pinning: true }));
    try {
      h.cluster.putRollout(rolloutObject({ percent: 100 }, 4, "app:v1"));
      await until("created", () => h.cluster.status().phase === "RolloutDone");
      h.cluster.putRollout(rolloutObject({ percent: 75, disruptionPolicy: { maxUnavailable: 3 } }, 4, "app:v2"));
      await until("75%", () => h.cluster.status().phase === "RolloutDone" && h.cluster.status().updatedReplicas === 3);
      h.cluster.putRollout(rolloutObject({ percent: 25, disruptionPolicy: { maxUnavailable: 3 } }, 4, "app:v2"));
      await until(
        "back to 25%",
        () => h.cluster.status().phase === "RolloutDone" && h.cluster.status().updatedReplicas === 1,
        10_000,
      );
      expect(h.cluster.status().updatedOrdinals).to.deep.equal([3]);
    } finally {
      await h.stop();
    }
  });

  it("pause stops after the current wave; resume finishes", async () => {
    const h = harness(new FakeCluster({ readyDelayMs: 30 }));
    try {
      h.cluster.putRollout(rolloutObject({ disruptionPolicy: { maxUnavailable: 1 } }, 4, "app:v1"));
      await until("created", () => h.cluster.status().phase === "RolloutDone");
      h.cluster.putRollout(rolloutObject({ disruptionPolicy: { maxUnavailable: 1 } }, 4, "app:v2"));
      await until("first wave recorded", () => h.cluster.status().currentWave?.number === 1);
      h.cluster.putRollout(
        rolloutObject({ disruptionPolicy: { maxUnavailable: 1 }, pauseRequested: true }, 4, "app:v2"),
      );
      await until("paused", () => h.cluster.status().phase === "Paused");
      const paused = h.cluster.status();
      expect(paused.paused).to.equal(true);
      expect(paused.wavesCompleted).to.equal(1);
      // Another pass while paused evicts nothing.
      h.queue.add(KEY);
      await h.queue.idle();
      expect(h.cluster.evictions).to.have.length(1);
      h.cluster.putRollout(
        rolloutObject({ disruptionPolicy: { maxUnavailable: 1 }, pauseRequested: false }, 4, "app:v2"),
      );
      await until("done", () => h.cluster.status().phase === "RolloutDone" && h.cluster.status().updatedReplicas === 4);
    } finally {
      await h.stop();
    }
  });

  it("a new pod that never gets Ready fails the rollout at the deadline; rollback replaces it without waiting", async () => {
    const h = harness(new FakeCluster({ readyDelayMs: 10, neverReady: "never-ready" }));
    try {
      h.cluster.putRollout(
        rolloutObject({ disruptionPolicy: { maxUnavailable: 1 }, progressDeadlineSeconds: 1 }, 4, "app:v1"),
      );
      await until("created", () => h.cluster.status().phase === "RolloutDone");
      h.cluster.putRollout(
        rolloutObject({ disruptionPolicy: { maxUnavailable: 1 }, progressDeadlineSeconds: 1 }, 4, "app:never-ready"),
      );
      await until("failed", () => h.cluster.status().phase === "RolloutFailed", 8000);
      expect(h.cluster.status().reason).to.match(/web-3.*progressDeadlineSeconds/);
      // Roll back: apply the previous template (what `kubectl sroll rollback` does), percent 100.
      h.cluster.putRollout(
        rolloutObject({ disruptionPolicy: { maxUnavailable: 1 }, progressDeadlineSeconds: 1 }, 4, "app:v1"),
      );
      await until(
        "rolled back",
        () => h.cluster.status().phase === "RolloutDone" && h.cluster.status().rollback === true,
        8000,
      );
      expect(h.cluster.status().updatedReplicas).to.equal(4);
      // The stuck pod was evicted while not Ready (budget 0 would otherwise block it).
      const stuck = h.cluster.evictions.find(
        (e) => e.pod === "web-3" && e.revision !== h.cluster.status().updateRevision,
      );
      expect(stuck).to.not.equal(undefined);
    } finally {
      await h.stop();
    }
  });

  it("a restart mid-wave (new reconciler instance) resumes from status with no pod evicted twice", async () => {
    const cluster = new FakeCluster({ readyDelayMs: 40 });
    let h = harness(cluster);
    try {
      cluster.putRollout(rolloutObject({ disruptionPolicy: { maxUnavailable: 2 } }, 6, "app:v1"));
      await until("created", () => cluster.status().phase === "RolloutDone");
      // Kill it just after the wave is recorded in status, before its pods are taken down.
      cluster.crashOnEviction = true;
      cluster.putRollout(rolloutObject({ disruptionPolicy: { maxUnavailable: 2 } }, 6, "app:v2"));
      await until("wave recorded", () => cluster.status().currentWave?.number === 1);
      await h.queue.stop();
      expect(cluster.evictions).to.have.length(0);
      cluster.crashOnEviction = false;
      h = harness(cluster);
      h.queue.add(KEY);
      await until(
        "mid wave 2",
        () => (cluster.status().currentWave?.number ?? 0) >= 2 && cluster.evictions.length >= 3,
      );
      await h.queue.stop();
      h = harness(cluster);
      h.queue.add(KEY);
      await until("done", () => cluster.status().phase === "RolloutDone" && cluster.status().updatedReplicas === 6);
      expect([...evictionsPerPod(cluster).values()].every((n) => n === 1)).to.equal(true);
      expect(cluster.evictions).to.have.length(6);
    } finally {
      await h.stop();
    }
  });

  it("a take-down the budget keeps refusing writes one EvictionBlocked Event per window, not one per attempt", async function () {
    this.timeout(40_000);
    const clock = new FakeClock(Date.now());
    const cluster = new FakeCluster({ readyDelayMs: 10 });
    const h = harness(cluster, { clock });
    const blocked = () => h.events.filter((e) => e.reason === "EvictionBlocked");
    try {
      cluster.putRollout(rolloutObject({ disruptionPolicy: { maxUnavailable: 1 } }, 4, "app:v1"));
      await until("created", () => cluster.status().phase === "RolloutDone");
      cluster.refuseTakeDowns = "the PodDisruptionBudget allows 0 disruptions";
      cluster.putRollout(rolloutObject({ disruptionPolicy: { maxUnavailable: 1 } }, 4, "app:v2"));
      // Refused passes are retried every REQUEUE.waitBudget (3 s of real time).
      await until("three refused attempts", () => cluster.takeDownCalls >= 3);
      expect(blocked()).to.have.length(1);
      expect(blocked()[0]!.note).to.include("the PodDisruptionBudget allows 0 disruptions");
      const attempts = cluster.takeDownCalls;
      clock.advance(BLOCKED_EVENT_WINDOW_MS);
      await until("another refused attempt", () => cluster.takeDownCalls > attempts);
      expect(blocked()).to.have.length(2);
      cluster.refuseTakeDowns = undefined;
      await until("done", () => cluster.status().phase === "RolloutDone" && cluster.status().updatedReplicas === 4);
      expect(blocked()).to.have.length(2);
      expect([...evictionsPerPod(cluster).values()].every((n) => n === 1)).to.equal(true);
    } finally {
      await h.stop();
    }
  });

  it("sends the release callback once per stage id, recording it after success", async () => {
    const sent: CallbackPayload[] = [];
    const sender: CallbackSender = {
      attempt: async (_url, payload) => (sent.push(payload), { ok: true, status: 200 }),
    };
    const h = harness(new FakeCluster({ readyDelayMs: 10 }), { sender });
    try {
      const bapi = { bapiUrl: "http://release.local/cb", stageId: "stage-1" };
      h.cluster.putRollout(rolloutObject({ bapi }, 2, "app:v1"));
      await until("callback recorded", () => h.cluster.status().lastCallbackStageId === "stage-1");
      h.queue.add(KEY);
      await h.queue.idle();
      await h.callbacks.idle();
      expect(sent).to.have.length(1);
      expect(sent[0]).to.include({ stageId: "stage-1", phase: "RolloutDone" });
    } finally {
      await h.stop();
    }
  });
});

describe("status writes", () => {
  function api(
    live: RawRollout,
    conflicts: number,
    bumpGeneration = false,
    otherWriterStatus?: unknown,
  ): RolloutApi & { writes: number; live: RawRollout } {
    let remaining = conflicts;
    const state = { live, writes: 0 };
    return {
      get writes() {
        return state.writes;
      },
      get live() {
        return state.live;
      },
      async get() {
        return structuredClone(state.live);
      },
      async replaceStatus(_ns, _name, body) {
        if (remaining > 0) {
          remaining--;
          state.live = {
            ...state.live,
            ...(otherWriterStatus ? { status: otherWriterStatus } : {}),
            metadata: {
              ...state.live.metadata,
              resourceVersion: `${Number(state.live.metadata?.resourceVersion) + 1}`,
              generation: (state.live.metadata?.generation ?? 1) + (bumpGeneration ? 1 : 0),
            },
          };
          throw Object.assign(new Error("Operation cannot be fulfilled: the object has been modified"), { code: 409 });
        }
        if (body.metadata?.resourceVersion !== state.live.metadata?.resourceVersion)
          throw Object.assign(new Error("conflict"), { code: 409 });
        state.writes++;
        state.live = { ...body };
        return body;
      },
      async replace() {
        throw new Error("not used: these tests write status only");
      },
    };
  }
  const read: RawRollout = {
    metadata: { name: "web", namespace: "ns", resourceVersion: "7", generation: 3 },
    spec: {},
  };

  it("409: writes nothing and hands the conflict back (the caller decides again)", async () => {
    const a = api(read, 1);
    const result = await writeStatus(a, read, { phase: "Progressing" });
    expect(result.outcome).to.equal("conflict");
    expect(a.writes).to.equal(0);
  });

  it("fields of a finished step (writeStatusFields): on a 409 set on the fresh status, keeping the other writer's fields", async () => {
    const a = api(read, 1, false, { updatedOrdinals: [5, 4], phase: "Progressing" });
    const result = await writeStatusFields(
      a,
      { ...read, status: { updatedOrdinals: [5] } },
      { lastCallbackStageId: "s-1" },
    );
    expect(result.outcome).to.equal("written");
    expect(a.live.status).to.deep.equal({ updatedOrdinals: [5, 4], phase: "Progressing", lastCallbackStageId: "s-1" });
  });

  it("fields of a finished step: gives up after the attempts with a conflict", async () => {
    const a = api(read, 10);
    expect((await writeStatusFields(a, read, { lastCallbackStageId: "s-1" }, 3)).outcome).to.equal("conflict");
  });

  it("the loop retries a pass whose status write conflicts and still converges", async function () {
    this.timeout(10_000);
    const h = harness(new FakeCluster({ readyDelayMs: 10 }));
    try {
      h.cluster.conflictsToInject = 3;
      h.cluster.putRollout(rolloutObject({}, 2, "app:v1"));
      await until("done", () => h.cluster.status().phase === "RolloutDone");
      expect(h.cluster.conflictsToInject).to.equal(0);
    } finally {
      await h.stop();
    }
  });

  it("another writer's updatedOrdinals, written between the read and the write, survive: the pass decides again", async function () {
    this.timeout(10_000);
    const h = harness(new FakeCluster({ readyDelayMs: 10 }));
    try {
      h.cluster.putRollout(rolloutObject({ disruptionPolicy: { maxUnavailable: 1 } }, 6, "app:v1"));
      await until("v1 done", () => h.cluster.status().phase === "RolloutDone");
      // As this reconciler is about to record wave 1, another instance (a new leader) records its own.
      let theirs: { updatedOrdinals: number[]; currentWave: unknown } | undefined;
      h.cluster.beforeStatusWrite = (body) => {
        const status = body.status as { currentWave?: { number: number; completedAt?: string } } | undefined;
        if (theirs || status?.currentWave?.number !== 1 || status.currentWave.completedAt) return;
        const stored = h.cluster.status();
        theirs = {
          updatedOrdinals: [0],
          currentWave: { number: 1, pods: ["web-0"], startedAt: new Date().toISOString(), direction: "forward" },
        };
        h.cluster.writeStatusAsAnotherWriter({ ...stored, ...theirs });
      };
      h.cluster.putRollout(rolloutObject({ disruptionPolicy: { maxUnavailable: 1 }, percent: 50 }, 6, "app:v2"));
      await until("their wave recorded", () => theirs !== undefined);
      await until(
        "done at 50%",
        () => h.cluster.status().phase === "RolloutDone" && h.cluster.status().percentDeployed === 50,
      );
      const final = h.cluster.status();
      // Their ordinal 0 stayed first: the stale decision (this instance's own wave 1) was never written over it.
      expect(final.updatedOrdinals?.[0]).to.equal(0);
      expect(final.updatedOrdinals).to.have.length(3);
      expect(h.cluster.evictions.map((e) => e.pod)).to.include("web-0");
      expect(
        [...evictionsPerPod(h.cluster).values()].every((n) => n === 1),
        "no pod evicted twice",
      ).to.equal(true);
    } finally {
      await h.stop();
    }
  });
});

describe("reconcile loop: deleting a rollout (finalizer)", function () {
  this.timeout(20_000);

  for (const c of [
    { policy: "Orphan", extra: undefined, orphaned: true },
    { policy: "Delete", extra: undefined, orphaned: false },
    { policy: "Delete", extra: "orphan", orphaned: true },
  ] as const) {
    it(`deletionPolicy ${c.policy}${c.extra ? ` with --cascade=${c.extra}` : ""}: ${c.orphaned ? "orphans" : "leaves the cascade to the garbage collector"}, then the rollout goes`, async () => {
      const h = harness(new FakeCluster({ readyDelayMs: 10 }));
      try {
        h.cluster.putRollout(rolloutObject({ deletionPolicy: c.policy }, 3, "app:v1"));
        await until("created", () => h.cluster.status().phase === "RolloutDone");
        expect(h.cluster.rollouts.get(KEY)?.metadata?.finalizers).to.deep.equal([ROLLOUT_FINALIZER]);
        const sts = h.cluster.sts!.obj.metadata;
        expect(sts.ownerReferences?.map((o) => o.uid)).to.deep.equal(["uid-rollout"]);

        h.cluster.deleteRollout(KEY, c.extra);
        // The fake keeps "orphan" (the garbage collector would remove it): wait for ours only.
        await until(
          "finalizer removed",
          () => !(h.cluster.rollouts.get(KEY)?.metadata?.finalizers ?? []).includes(ROLLOUT_FINALIZER),
        );
        if (c.orphaned) {
          expect(sts.ownerReferences).to.deep.equal([]);
          expect(sts.labels).to.not.have.any.keys("bulkhead.dev/managed", "bulkhead.dev/rollout");
          expect(h.cluster.pdbObj?.metadata?.ownerReferences).to.deep.equal([]);
          expect(h.events.map((e) => e.reason)).to.include("WorkloadOrphaned");
        } else {
          expect(
            sts.ownerReferences?.map((o) => o.uid),
            "left for the garbage collector",
          ).to.deep.equal(["uid-rollout"]);
          expect(h.events.map((e) => e.reason)).to.include("WorkloadDeleted");
        }
        expect(h.cluster.evictions, "nothing evicted by the deletion").to.have.length(0);
      } finally {
        await h.stop();
      }
    });
  }

  it("a StatefulSet that exists unowned is not touched without adoptExisting, and adopted with it", async () => {
    const h = harness(new FakeCluster({ readyDelayMs: 10 }));
    try {
      await h.cluster.createStatefulSet("ns", {
        metadata: { name: "web", labels: { app: "web" } },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: "web" } },
          template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "app", image: "app:v1" }] } },
        },
      });
      h.cluster.putRollout(rolloutObject({}, 2, "app:v1"));
      await until(
        "refused",
        () =>
          h.cluster.status().conditions?.some((c) => c.type === "OwnershipConflict" && c.status === "True") === true,
      );
      expect(h.cluster.sts!.obj.metadata.ownerReferences ?? []).to.deep.equal([]);
      expect(h.cluster.status().phase).to.equal("Pending");
      h.cluster.putRollout(rolloutObject({ adoptExisting: true }, 2, "app:v1"));
      await until("adopted and done", () => h.cluster.status().phase === "RolloutDone");
      expect(h.cluster.sts!.obj.metadata.ownerReferences?.map((o) => o.uid)).to.deep.equal(["uid-rollout"]);
      expect(h.cluster.status().adoptedAt).to.be.a("string");
    } finally {
      await h.stop();
    }
  });
});
