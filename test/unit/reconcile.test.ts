import { expect } from "chai";
import { TEMPLATE_HASH_ANNOTATION } from "../../api/desired.js";
import { decide, effectivePercent, statusChanged, type Decision } from "../../api/reconcile.js";
import { podsOfStatus } from "../../api/pod-summary.js";
import type { World } from "../../api/observe.js";
import type { RolloutStatus } from "../../api/rollout.js";
import {
  at,
  makePdb,
  makePod,
  makePods,
  makeRollout,
  makeSts,
  NEW,
  NOW,
  OLD,
  rollingStatus,
  UID,
  world,
} from "./reconcile.fixtures.js";

const evicted = (d: Decision) => (d.step.kind === "evict" ? d.step.pods.map((p) => p.name) : []);

describe("decide: StatefulSet and PDB steps", () => {
  it("creates the StatefulSet when absent: owned, managed, OnDelete, template hash", () => {
    const r = makeRollout();
    const d = decide(r, { pods: [] }, NOW);
    expect(d.step.kind).to.equal("createStatefulSet");
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a free-form Kubernetes object
    const sts = (d.step as { statefulSet: Record<string, any> }).statefulSet;
    expect(sts.metadata.ownerReferences[0]).to.include({
      kind: "StatefulsetRollout",
      name: "web",
      uid: UID,
      controller: true,
    });
    expect(sts.metadata.labels).to.include({ "bulkhead.dev/managed": "true", "bulkhead.dev/rollout": "web" });
    expect(sts.spec.template.metadata.labels).to.include({ "bulkhead.dev/managed": "true", app: "web" });
    expect(sts.spec.updateStrategy).to.deep.equal({ type: "OnDelete" });
    expect(sts.metadata.annotations[TEMPLATE_HASH_ANNOTATION]).to.match(/^[0-9a-f]{16}$/);
    expect(d.status.phase).to.equal("Pending");
    expect(d.requeueAfterMs).to.be.a("number");
  });

  it("applies a changed template (once the split is recorded) and remembers the previous one", () => {
    const r = makeRollout({}, rollingStatus({ templatePending: true }));
    const w = world(r, makePods(10));
    w.statefulSet = makeSts(r, { annotations: { [TEMPLATE_HASH_ANNOTATION]: "0000" } });
    const d = decide(r, w, NOW);
    expect(d.step.kind).to.equal("updateStatefulSet");
    if (d.step.kind !== "updateStatefulSet") return;
    expect(d.step.changes.template).to.be.an("object");
    expect(d.status.previousTemplate).to.deep.equal({ spec: { containers: [{ name: "app", image: "app:v1" }] } });
  });

  // --- split before template (issue 13): the split is in status before a new template is applied.
  describe("a new template: the split is recorded one pass before the template is applied", () => {
    const changed = (r: ReturnType<typeof makeRollout>, pods = makePods(10, [9, 8])) => {
      const w = world(r, pods);
      w.statefulSet = makeSts(r, { annotations: { [TEMPLATE_HASH_ANNOTATION]: "0000" } });
      return w;
    };

    it("first pass: status only — templatePending, with currentRevision and updatedOrdinals as they stand", () => {
      const r = makeRollout({}, rollingStatus({ updatedOrdinals: [9, 8] }));
      const d = decide(r, changed(r), NOW);
      expect(d.step.kind).to.equal("none");
      expect(d.requeueAfterMs).to.equal(0);
      expect(d.status).to.deep.include({
        templatePending: true,
        currentRevision: OLD,
        updateRevision: NEW,
        updatedOrdinals: [9, 8],
      });
      expect(d.status.reason).to.match(/recording the split before applying a new template/);
    });

    it("next pass (templatePending read back): the template is applied, templatePending stays until the new revision is recorded", () => {
      const first = makeRollout({}, rollingStatus({ updatedOrdinals: [9, 8] }));
      const recorded = decide(first, changed(first), NOW).status;
      const r = makeRollout({}, recorded);
      const d = decide(r, changed(r), NOW);
      expect(d.step.kind).to.equal("updateStatefulSet");
      expect(d.status.templatePending).to.equal(true);
    });

    it("a StatefulSet no rollout has rolled yet: its live revision is recorded as the one to keep", () => {
      const r = makeRollout({}, { phase: "Pending", observedGeneration: 1 });
      const w = world(r, makePods(10));
      w.statefulSet = makeSts(r, { updateRevision: OLD, annotations: { [TEMPLATE_HASH_ANNOTATION]: "0000" } });
      const d = decide(r, w, NOW);
      expect(d.step.kind).to.equal("none");
      expect(d.status).to.deep.include({ templatePending: true, currentRevision: OLD, updateRevision: OLD });
    });

    it("the new update revision is recorded: templatePending is cleared", () => {
      const r = makeRollout({}, rollingStatus({ currentRevision: OLD, updateRevision: OLD, templatePending: true }));
      const d = decide(r, world(r, makePods(10)), NOW);
      expect(d.status).to.deep.include({ updateRevision: NEW, currentRevision: OLD });
      expect(d.status.templatePending).to.equal(undefined);
    });

    it("a template change that made no new revision: templatePending is cleared", () => {
      const r = makeRollout({}, rollingStatus({ updatedOrdinals: [9], templatePending: true }));
      const d = decide(r, world(r, makePods(10, [9])), NOW);
      expect(d.status.templatePending).to.equal(undefined);
    });

    it("labels, owner or strategy alone need no split record", () => {
      const r = makeRollout({}, rollingStatus());
      const w = world(r, makePods(10));
      w.statefulSet = makeSts(r, { labels: { app: "web" } });
      expect(decide(r, w, NOW).step.kind).to.equal("updateStatefulSet");
    });
  });

  it("adopts (spec.adoptExisting) a StatefulSet missing labels/owner/OnDelete without touching its template", () => {
    const r = makeRollout({ adoptExisting: true }, rollingStatus());
    const w = world(r, makePods(10));
    w.statefulSet = makeSts(r, { labels: { app: "web" }, ownerReferences: [], updateStrategy: "RollingUpdate" });
    const d = decide(r, w, NOW);
    expect(d.step.kind).to.equal("updateStatefulSet");
    if (d.step.kind !== "updateStatefulSet") return;
    expect(d.step.changes.template).to.equal(undefined);
    expect(d.status.previousTemplate).to.equal(undefined);
  });

  it("creates the PDB from disruptionPolicy, with AlwaysAllow for unready pods", () => {
    const r = makeRollout({ disruptionPolicy: { maxUnavailable: "10%" } }, rollingStatus());
    const d = decide(r, { ...world(r, makePods(10)), pdb: undefined }, NOW);
    expect(d.step).to.deep.include({ kind: "applyPdb" });
    if (d.step.kind !== "applyPdb") return;
    expect(d.step.pdb).to.include({ name: "web", maxUnavailable: "10%", unhealthyPodEvictionPolicy: "AlwaysAllow" });
  });

  it("defaults the budget to the StatefulSet annotation, else 25%", () => {
    const r = makeRollout({}, rollingStatus());
    const w = { ...world(r, makePods(10)), pdb: undefined };
    const d1 = decide(r, w, NOW);
    expect(d1.step.kind === "applyPdb" && d1.step.pdb.maxUnavailable).to.equal("25%");
    w.statefulSet = makeSts(r, { annotations: { ...makeSts(r).annotations, "bulkhead.dev/max-unavailable": "3" } });
    const d2 = decide(r, w, NOW);
    expect(d2.step.kind === "applyPdb" && d2.step.pdb.maxUnavailable).to.equal(3);
  });

  it("waits while the StatefulSet controller has not observed the new generation", () => {
    const r = makeRollout({}, rollingStatus());
    const w = world(r, makePods(10));
    w.statefulSet = makeSts(r, { generation: 3, observedGeneration: 2 });
    const d = decide(r, w, NOW);
    expect(d.step.kind).to.equal("none");
    expect(d.status.reason).to.match(/StatefulSet controller/);
  });
});

describe("decide: starting a revision", () => {
  it("records current/update revisions and the ordinals already on the update revision", () => {
    const r = makeRollout(
      {},
      { phase: "RolloutDone", observedGeneration: 0, updateRevision: OLD, currentRevision: OLD },
    );
    const d = decide(r, world(r, makePods(10, [3])), NOW);
    expect(d.step.kind).to.equal("none");
    expect(d.status).to.include({
      phase: "Progressing",
      updateRevision: NEW,
      currentRevision: OLD,
      wavesCompleted: 0,
      rollback: false,
    });
    expect(d.status.updatedOrdinals).to.deep.equal([3]);
    expect(d.requeueAfterMs).to.equal(0);
  });

  it("a first rollout takes the revision most old pods run as the current one", () => {
    const r = makeRollout();
    const pods = [makePod(0, "web-x"), makePod(1, OLD), makePod(2, OLD)];
    const d = decide(r, world(r, pods), NOW);
    expect(d.status.currentRevision).to.equal(OLD);
  });

  it("a freshly created StatefulSet has nothing to pin: current = update revision", () => {
    const r = makeRollout();
    const d = decide(r, world(r, []), NOW);
    expect(d.status.currentRevision).to.equal(NEW);
  });

  it("going back to the revision being moved away from is recorded as a rollback", () => {
    const r = makeRollout(
      {},
      rollingStatus({ updateRevision: OLD, currentRevision: NEW, phase: "RolloutFailed", observedGeneration: 0 }),
    );
    const d = decide(r, world(r, makePods(10, [9])), NOW);
    expect(d.status.rollback).to.equal(true);
    expect(d.status).to.include({ updateRevision: NEW, currentRevision: OLD });
    expect(d.events.map((e) => e.reason)).to.include("RollbackStarted");
  });
});

describe("decide: waves", () => {
  it("budget 0 → waits, no eviction, says why", () => {
    const r = makeRollout({}, rollingStatus());
    const d = decide(r, world(r, makePods(10), 0), NOW);
    expect(d.step.kind).to.equal("none");
    expect(d.status.reason).to.match(/allows 0 disruptions/);
    expect(d.status.currentWave).to.equal(undefined);
  });

  it("budget 0 for longer than progressDeadlineSeconds → RolloutFailed saying the PDB blocks", () => {
    const r = makeRollout({ progressDeadlineSeconds: 60 }, rollingStatus({ attemptStartedAt: at(-61) }));
    const d = decide(r, world(r, makePods(10), 0), NOW);
    expect(d.status.phase).to.equal("RolloutFailed");
    expect(d.status.reason).to.match(/no progress.*allows 0 disruptions/);
  });

  it("pods still being created are waited for without a no-progress deadline", () => {
    const r = makeRollout(
      { progressDeadlineSeconds: 60 },
      rollingStatus({ currentRevision: NEW, attemptStartedAt: at(-3600) }),
      1,
      30,
    );
    const d = decide(r, world(r, makePods(3, [0, 1, 2]), 3), NOW);
    expect(d.status.phase).to.equal("Progressing");
    expect(d.status.reason).to.match(/creating pods \(3 of 30 exist\)/);
  });

  it("sizes a wave from the PDB budget corrected by Ready pods the PDB has not counted yet", () => {
    const status = rollingStatus({
      updatedOrdinals: [9, 8],
      wavesCompleted: 1,
      currentWave: { number: 1, pods: ["web-9", "web-8"], startedAt: at(-10), completedAt: at(-1) },
    });
    const r = makeRollout({}, status);
    // 10 Ready here; the PDB still counts 8 healthy and allows 1: the real budget is 3.
    const d = decide(r, { ...world(r, makePods(10, [8, 9])), pdb: makePdb(r, 1, { currentHealthy: 8 }) }, NOW);
    expect(d.status.currentWave).to.deep.include({ number: 2, pods: ["web-7", "web-6", "web-5"] });
  });

  it("a PDB that still counts pods no longer Ready makes the wave smaller, never larger", () => {
    const r = makeRollout({}, rollingStatus());
    const pods = makePods(10, [], { 0: { ready: false }, 1: { ready: false } });
    // The PDB counted 10 healthy and allows 3; 2 pods have since gone unready: 1 ready pod may go.
    const d = decide(r, { ...world(r, pods), pdb: makePdb(r, 3, { currentHealthy: 10 }) }, NOW);
    // Unready old pods cost no budget and go first; then one ready pod.
    expect(d.status.currentWave?.pods).to.deep.equal(["web-1", "web-0", "web-9"]);
  });

  it("records the wave (ordinals, currentWave, wavesInFlight) in the status of the pass that takes its pods down", () => {
    // The reconciler writes a pass's status before it takes its step (reconciler/controller.ts),
    // so pinning reads the ordinals before any pod of the wave is gone.
    const r = makeRollout({}, rollingStatus());
    const d = decide(r, world(r, makePods(10), 3), NOW);
    expect(d.step).to.deep.equal({
      kind: "evict",
      pods: [9, 8, 7].map((o) => ({ name: `web-${o}`, uid: `uid-${o}-${OLD}`, wave: 1 })),
    });
    // In move order: the pinning webhook moves the most recently moved back first.
    expect(d.status.updatedOrdinals).to.deep.equal([9, 8, 7]);
    const wave = { number: 1, pods: ["web-9", "web-8", "web-7"], startedAt: NOW.toISOString(), direction: "forward" };
    expect(d.status.currentWave).to.deep.equal(wave);
    expect(d.status.wavesInFlight).to.deep.equal([wave]);
    expect(d.events.map((e) => e.reason)).to.include("WaveStarted");
  });

  it("budget larger than the remainder → a wave of the remainder (percent 25 of 4 = 1 pod)", () => {
    const r = makeRollout({ percent: 25 }, rollingStatus(), 1, 4);
    const d = decide(r, world(r, makePods(4), 50), NOW);
    expect(d.status.currentWave?.pods).to.deep.equal(["web-3"]);
    expect(d.status.updatedOrdinals).to.deep.equal([3]);
  });

  it("percent 1 of 1,000 replicas → a wave of 10", () => {
    const r = makeRollout({ percent: 1 }, rollingStatus(), 1, 1000);
    const d = decide(r, world(r, makePods(1000), 500), NOW);
    expect(d.status.currentWave?.pods).to.have.length(10);
    expect(d.status.targetReplicas).to.equal(10);
  });

  it("percent 1 of 1 replica → the one pod", () => {
    const r = makeRollout({ percent: 1 }, rollingStatus(), 1, 1);
    const d = decide(r, world(r, makePods(1), 1), NOW);
    expect(d.status.currentWave?.pods).to.deep.equal(["web-0"]);
  });

  it("maxParallel caps the wave", () => {
    const r = makeRollout({ maxParallel: 2 }, rollingStatus());
    const d = decide(r, world(r, makePods(10), 9), NOW);
    expect(d.status.currentWave?.pods).to.deep.equal(["web-9", "web-8"]);
  });

  it("restart mid-wave: ordinals recorded, pods not yet evicted → evicts them (with their uid)", () => {
    const r = makeRollout(
      {},
      rollingStatus({
        updatedOrdinals: [8, 9],
        currentWave: { number: 1, pods: ["web-9", "web-8"], startedAt: at(-5) },
      }),
    );
    // Budget 2: exactly the two recorded pods; no room for a next wave.
    const d = decide(r, world(r, makePods(10), 2), NOW);
    expect(d.step).to.deep.equal({
      kind: "evict",
      pods: [
        { name: "web-9", uid: `uid-9-${OLD}`, wave: 1 },
        { name: "web-8", uid: `uid-8-${OLD}`, wave: 1 },
      ],
    });
  });

  it("restart mid-wave: a wave pod already on the new revision is never evicted again", () => {
    const r = makeRollout(
      {},
      rollingStatus({
        updatedOrdinals: [8, 9],
        currentWave: { number: 1, pods: ["web-9", "web-8"], startedAt: at(-5) },
      }),
    );
    const d = decide(r, world(r, makePods(10, [9]), 1), NOW);
    expect(evicted(d)).to.deep.equal(["web-8"]);
  });

  it("a terminating wave pod is waited for, not evicted again", () => {
    const r = makeRollout(
      {},
      rollingStatus({ updatedOrdinals: [9], currentWave: { number: 1, pods: ["web-9"], startedAt: at(-5) } }),
    );
    const pods = makePods(10, [], { 9: { terminating: true } });
    const d = decide(r, world(r, pods, 0), NOW);
    expect(d.step.kind).to.equal("none");
    expect(d.status.reason).to.match(/waiting for 1 pod/);
    // With room in the budget the next wave starts meanwhile; the terminating pod is not asked again.
    const next = decide(r, world(r, pods, 2), NOW);
    expect(evicted(next)).to.deep.equal(["web-8", "web-7"]);
  });

  it("waits for replacements to be Ready, then completes the wave", () => {
    const status = rollingStatus({
      updatedOrdinals: [9],
      currentWave: { number: 1, pods: ["web-9"], startedAt: at(-5) },
    });
    const r = makeRollout({}, status);
    const notReady = decide(r, world(r, makePods(10, [9], { 9: { ready: false, createdAt: at(-1) } }), 0), NOW);
    expect(notReady.step.kind).to.equal("none");
    expect(notReady.status.currentWave?.completedAt).to.equal(undefined);
    expect(notReady.status.wavesInFlight?.map((w) => w.number)).to.deep.equal([1]);
    const ready = decide(r, world(r, makePods(10, [9])), NOW);
    expect(ready.status.wavesCompleted).to.equal(1);
    // The same pass records the next wave and takes its pods down.
    expect(ready.status.currentWave).to.deep.include({ number: 2, pods: ["web-8", "web-7", "web-6"] });
    expect(ready.status.wavesInFlight?.map((w) => w.number)).to.deep.equal([2]);
    expect(evicted(ready)).to.deep.equal(["web-8", "web-7", "web-6"]);
    expect(ready.events.map((e) => e.reason)).to.include.members(["WaveCompleted", "WaveStarted"]);
  });

  it("with serviceDiscovery, a Ready pod must also pass in Consul", () => {
    const status = rollingStatus({
      updatedOrdinals: [9],
      currentWave: { number: 1, pods: ["web-9"], startedAt: at(-5) },
    });
    const r = makeRollout({ serviceDiscovery: { dc: "dc1", serviceNames: ["web"] } }, status);
    const failing = decide(
      r,
      world(r, makePods(10, [9]), 0, { health: { ok: true, passingPods: [], services: ["web"], missingServices: [] } }),
      NOW,
    );
    expect(failing.status.currentWave?.completedAt).to.equal(undefined);
    expect(failing.status.reason).to.match(/Consul/);
    const down = decide(r, world(r, makePods(10, [9]), 3, { health: { ok: false, error: "connection refused" } }), NOW);
    expect(down.status.reason).to.match(/connection refused/);
    const passing = decide(
      r,
      world(r, makePods(10, [9]), 3, {
        health: { ok: true, passingPods: ["web-9"], services: ["web"], missingServices: [] },
      }),
      NOW,
    );
    expect(passing.status.wavesCompleted).to.equal(1);
    expect(passing.status.readyReplicasServiceDiscovery).to.equal(1);
  });

  it("with serviceDiscovery, no wave is pipelined past a pod that is Ready but not yet passing in Consul, however much room the budget has", () => {
    const status = rollingStatus({
      updatedOrdinals: [9],
      currentWave: { number: 1, pods: ["web-9"], startedAt: at(-5) },
    });
    const r = makeRollout({ serviceDiscovery: { dc: "dc1", serviceNames: ["web"] } }, status);
    const consul = (passingPods: string[]) => ({
      health: { ok: true as const, passingPods, services: ["web"], missingServices: [] },
    });
    const held = decide(r, world(r, makePods(10, [9]), 3, consul([])), NOW);
    expect(evicted(held)).to.deep.equal([]);
    expect(held.status.wavesInFlight?.map((w) => w.number)).to.deep.equal([1]);
    expect(held.status.currentWave?.number).to.equal(1);
    // Without service discovery the same budget starts the next wave at once (the pipeline).
    const plain = makeRollout({}, status);
    expect(evicted(decide(plain, world(plain, makePods(10, [9]), 3), NOW))).to.not.deep.equal([]);
    const passed = decide(r, world(r, makePods(10, [9]), 3, consul(["web-9"])), NOW);
    expect(passed.status.wavesCompleted).to.equal(1);
    expect(evicted(passed)).to.not.deep.equal([]);
  });

  describe("no wave starts while service discovery blocks it", () => {
    const sd = { serviceDiscovery: { dc: "dc1", serviceNames: ["web", "web-admin"] }, progressDeadlineSeconds: 60 };
    const cases: Array<{
      name: string;
      health: World["health"];
      startedSecondsAgo: number;
      phase: string;
      reason: RegExp;
    }> = [
      {
        name: "Consul unreachable → waits, saying why",
        health: { ok: false, error: "ECONNREFUSED" },
        startedSecondsAgo: 5,
        phase: "Progressing",
        reason: /Consul cannot be checked \(ECONNREFUSED\)/,
      },
      {
        name: "Consul unreachable past the deadline → RolloutFailed",
        health: { ok: false, error: "ECONNREFUSED" },
        startedSecondsAgo: 61,
        phase: "RolloutFailed",
        reason: /progressDeadlineSeconds.*ECONNREFUSED/,
      },
      {
        name: "a service Consul does not know → waits, naming it and the datacenter",
        health: { ok: true, passingPods: [], services: ["web"], missingServices: ["web-admin"] },
        startedSecondsAgo: 5,
        phase: "Progressing",
        reason: /datacenter dc1 has no service web-admin/,
      },
      {
        name: "a missing service past the deadline → RolloutFailed naming it",
        health: { ok: true, passingPods: [], services: ["web"], missingServices: ["web-admin"] },
        startedSecondsAgo: 61,
        phase: "RolloutFailed",
        reason: /no service web-admin/,
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const r = makeRollout(sd, rollingStatus({ attemptStartedAt: at(-c.startedSecondsAgo) }));
        const d = decide(r, world(r, makePods(10), 3, { health: c.health }), NOW);
        expect(evicted(d)).to.deep.equal([]);
        expect(d.status.currentWave).to.equal(undefined);
        expect(d.status.phase).to.equal(c.phase);
        expect(d.status.reason).to.match(c.reason);
      });
    }

    it("Consul healthy and every service known → the wave is recorded", () => {
      const r = makeRollout(sd, rollingStatus());
      const d = decide(
        r,
        world(r, makePods(10), 3, {
          health: { ok: true, passingPods: [], services: ["web", "web-admin"], missingServices: [] },
        }),
        NOW,
      );
      expect(d.status.currentWave?.pods).to.have.length.greaterThan(0);
    });
  });

  it("honours minPodEvictionIntervalSeconds between waves", () => {
    const status = rollingStatus({
      updatedOrdinals: [9],
      wavesCompleted: 1,
      currentWave: { number: 1, pods: ["web-9"], startedAt: at(-20), completedAt: at(-4) },
    });
    const r = makeRollout({ minPodEvictionIntervalSeconds: 10 }, status);
    const d = decide(r, world(r, makePods(10, [9])), NOW);
    expect(d.step.kind).to.equal("none");
    expect(d.requeueAfterMs).to.equal(6000);
    expect(d.status.currentWave?.number).to.equal(1);
    const later = decide(r, world(r, makePods(10, [9])), new Date(NOW.getTime() + 6000));
    expect(later.status.currentWave?.number).to.equal(2);
  });

  it("percent raised takes effect on the next pass", () => {
    const status = rollingStatus({
      phase: "RolloutDone",
      observedGeneration: 1,
      updatedOrdinals: [9],
      wavesCompleted: 1,
      currentWave: { number: 1, pods: ["web-9"], startedAt: at(-20), completedAt: at(-10) },
    });
    const r = makeRollout({ percent: 50 }, status, 2);
    const d = decide(r, world(r, makePods(10, [9])), NOW);
    expect(d.status.phase).to.equal("Progressing");
    expect(d.status.currentWave?.pods).to.deep.equal(["web-8", "web-7", "web-6"]);
  });

  it("a wave is recorded and taken down in one pass; a pass whose cache still shows its pods up asks again, starts nothing more", () => {
    const r = makeRollout({}, rollingStatus());
    const recorded = decide(r, world(r, makePods(10)), NOW);
    expect(evicted(recorded)).to.deep.equal(["web-9", "web-8", "web-7"]);
    expect(recorded.status.currentWave).to.deep.include({ number: 1, pods: ["web-9", "web-8", "web-7"] });
    // The PDB counts the three (disruptionsAllowed 0) before the pod cache sees them go: they are
    // asked again (the step's live read skips them) and no new wave takes their place.
    const next = makeRollout({}, recorded.status);
    const d = decide(next, world(next, makePods(10), 0), NOW);
    expect(evicted(d)).to.deep.equal(["web-9", "web-8", "web-7"]);
    expect(d.status.wavesInFlight?.map((w) => w.number)).to.deep.equal([1]);
  });

  it("a continuous pipeline: as soon as the budget has room, the next wave starts while earlier ones are in flight", () => {
    const status = rollingStatus({
      updatedOrdinals: [9, 8, 7],
      currentWave: { number: 1, pods: ["web-9", "web-8", "web-7"], startedAt: at(-5), direction: "forward" },
    });
    const r = makeRollout({ percent: 100 }, status);
    // web-9 is back and Ready; web-8 and web-7 are still starting: one disruption is free again.
    const pods = makePods(10, [9, 8, 7], {
      8: { ready: false, createdAt: at(-1) },
      7: { ready: false, createdAt: at(-1) },
    });
    const d = decide(r, world(r, pods, 1), NOW);
    expect(evicted(d)).to.deep.equal(["web-6"]);
    expect(d.status.wavesInFlight?.map((w) => [w.number, w.pods])).to.deep.equal([
      [1, ["web-9", "web-8", "web-7"]],
      [2, ["web-6"]],
    ]);
    expect(d.status.currentWave).to.deep.include({ number: 2, pods: ["web-6"] });
    expect(d.status.updatedOrdinals).to.deep.equal([9, 8, 7, 6]);
    // Wave 1 completes on its own once its pods are Ready; wave 2 stays in flight.
    const r2 = makeRollout({ percent: 100 }, d.status);
    const pods2 = makePods(10, [9, 8, 7, 6], { 6: { ready: false, createdAt: at(-1) } });
    const d2 = decide(r2, world(r2, pods2, 0), NOW);
    expect(d2.status.wavesCompleted).to.equal(1);
    expect(d2.status.wavesInFlight?.map((w) => w.number)).to.deep.equal([2]);
    expect(d2.status.currentWave?.completedAt).to.equal(undefined);
  });

  const pipelineGates: Array<{ name: string; spec: Record<string, unknown>; reason: RegExp }> = [
    {
      name: "minPodEvictionIntervalSeconds: waves one at a time",
      spec: { minPodEvictionIntervalSeconds: 10 },
      reason: /waiting for 1 pod/,
    },
    {
      name: "maxParallel counts the pods in flight across waves",
      spec: { maxParallel: 1 },
      reason: /waiting for 1 pod/,
    },
    {
      name: "pause: in-flight waves finish, no new one",
      spec: { pauseRequested: true },
      reason: /pause requested, finishing/,
    },
  ];
  for (const gate of pipelineGates) {
    it(`no next wave while one is in flight when ${gate.name}`, () => {
      const status = rollingStatus({
        updatedOrdinals: [9],
        currentWave: { number: 1, pods: ["web-9"], startedAt: at(-5), direction: "forward" },
      });
      const r = makeRollout(gate.spec, status);
      const d = decide(r, world(r, makePods(10, [9], { 9: { ready: false, createdAt: at(-1) } }), 3), NOW);
      expect(d.step.kind).to.equal("none");
      expect(d.status.wavesInFlight?.map((w) => w.number)).to.deep.equal([1]);
      expect(d.status.reason).to.match(gate.reason);
    });
  }

  it("a restarted reconciler reading a status written before the pipeline (currentWave only) carries the wave on", () => {
    const status = rollingStatus({
      updatedOrdinals: [9],
      currentWave: { number: 1, pods: ["web-9"], startedAt: at(-5) },
    });
    const r = makeRollout({}, status);
    const d = decide(r, world(r, makePods(10), 1), NOW);
    expect(evicted(d)).to.deep.equal(["web-9"]);
    expect(d.status.wavesInFlight?.map((w) => w.number)).to.deep.equal([1]);
  });

  it("percent lowered below what is moved → a back wave of the most recently moved, within budget", () => {
    const r = makeRollout({ percent: 10 }, rollingStatus({ updatedOrdinals: [9, 8, 7, 6, 5], wavesCompleted: 2 }));
    const d = decide(r, world(r, makePods(10, [5, 6, 7, 8, 9]), 3), NOW);
    expect(evicted(d)).to.deep.equal(["web-5", "web-6", "web-7"]);
    expect(d.status.currentWave).to.deep.include({ number: 3, pods: ["web-5", "web-6", "web-7"], direction: "back" });
    // Removed from updatedOrdinals before any eviction: pinning recreates them on the old revision.
    expect(d.status.updatedOrdinals).to.deep.equal([9, 8]);
  });

  it("a back wave evicts pods still on the update revision and completes when they are old and Ready", () => {
    const status = rollingStatus({
      updatedOrdinals: [9],
      wavesCompleted: 1,
      currentWave: { number: 2, pods: ["web-8"], startedAt: at(-5), direction: "back" },
    });
    const r = makeRollout({ percent: 10 }, status);
    const d = decide(r, world(r, makePods(10, [9, 8], { 8: { createdAt: at(-3600) } })), NOW);
    expect(evicted(d)).to.deep.equal(["web-8"]);
    const done = decide(r, world(r, makePods(10, [9], { 8: { createdAt: at(-1) } })), NOW);
    expect(done.status.currentWave?.completedAt).to.equal(NOW.toISOString());
    expect(done.status.updatedOrdinals).to.deep.equal([9]);
  });

  it("a back-wave pod recreated on the update revision → fails: pinning is not active", () => {
    const status = rollingStatus({
      updatedOrdinals: [9],
      wavesCompleted: 1,
      currentWave: { number: 2, pods: ["web-8"], startedAt: at(-5), direction: "back" },
    });
    const r = makeRollout({ percent: 10 }, status);
    const d = decide(r, world(r, makePods(10, [9, 8], { 8: { createdAt: at(-1) } })), NOW);
    expect(d.status.phase).to.equal("RolloutFailed");
    expect(d.status.reason).to.match(/web-8.*pinning/);
  });

  it("percent lowered in the middle of a forward wave: ordinals beyond the target are not waited for", () => {
    const status = rollingStatus({
      updatedOrdinals: [9, 8],
      wavesCompleted: 1,
      currentWave: { number: 2, pods: ["web-8"], startedAt: at(-5), direction: "forward" },
    });
    const r = makeRollout({ percent: 10 }, status);
    const d = decide(r, world(r, makePods(10, [9])), NOW);
    expect(d.step.kind).to.equal("none");
    expect(d.status.currentWave?.completedAt).to.equal(NOW.toISOString());
  });
});

describe("decide: pause, phases, done", () => {
  it("a wave completing while pause is requested → Paused in the same pass", () => {
    const status = rollingStatus({
      updatedOrdinals: [9],
      currentWave: { number: 1, pods: ["web-9"], startedAt: at(-5) },
    });
    const r = makeRollout({ pauseRequested: true }, status);
    const d = decide(r, world(r, makePods(10, [9])), NOW);
    expect(d.status).to.deep.include({ phase: "Paused", paused: true, wavesCompleted: 1 });
    expect(d.status.currentWave?.completedAt).to.equal(NOW.toISOString());
  });

  it("pause mid-wave finishes the wave first, then reports paused", () => {
    const status = rollingStatus({
      updatedOrdinals: [8, 9],
      currentWave: { number: 1, pods: ["web-9", "web-8"], startedAt: at(-5) },
    });
    const r = makeRollout({ pauseRequested: true }, status);
    const mid = decide(r, world(r, makePods(10, [9])), NOW);
    expect(evicted(mid)).to.deep.equal(["web-8"]);
    expect(mid.status.reason).to.match(/pause requested/);
    expect(mid.status.paused).to.not.equal(true);
    const after = decide(
      makeRollout(
        { pauseRequested: true },
        { ...status, currentWave: { ...status.currentWave!, completedAt: at(-1) }, wavesCompleted: 1 },
      ),
      world(r, makePods(10, [8, 9])),
      NOW,
    );
    expect(after.status).to.include({ phase: "Paused", paused: true });
    expect(after.step.kind).to.equal("none");
  });

  it("resuming clears paused and continues with the next wave", () => {
    const status = rollingStatus({
      phase: "Paused",
      paused: true,
      updatedOrdinals: [9],
      wavesCompleted: 1,
      currentWave: { number: 1, pods: ["web-9"], startedAt: at(-20), completedAt: at(-10) },
    });
    const r = makeRollout({}, status);
    const d = decide(r, world(r, makePods(10, [9])), NOW);
    expect(d.status.paused).to.equal(false);
    expect(d.status.currentWave?.number).to.equal(2);
    expect(d.events.map((e) => e.reason)).to.include("Resumed");
  });

  it("phases stop at each percent and auto-promote after autoPromoteSeconds", () => {
    const base = rollingStatus({
      updatedOrdinals: [9],
      wavesCompleted: 1,
      phaseIndex: 0,
      currentWave: { number: 1, pods: ["web-9"], startedAt: at(-20), completedAt: at(-10) },
    });
    const spec = { phases: [10, 50, 100], autoPromoteSeconds: 30 };
    const reached = decide(makeRollout(spec, base), world(makeRollout(spec, base), makePods(10, [9])), NOW);
    expect(reached.status.phaseReachedAt).to.equal(NOW.toISOString());
    expect(reached.requeueAfterMs).to.equal(30_000);
    const later = new Date(NOW.getTime() + 30_000);
    const promoted = decide(
      makeRollout(spec, reached.status),
      world(makeRollout(spec, reached.status), makePods(10, [9])),
      later,
    );
    expect(promoted.status.phaseIndex).to.equal(1);
    expect(effectivePercent(makeRollout(spec), promoted.status)).to.equal(50);
  });

  it("phases never go beyond spec.percent", () => {
    const r = makeRollout({ phases: [10, 50, 100], percent: 30 });
    expect(effectivePercent(r, { phaseIndex: 2 })).to.equal(30);
  });

  it("a rollback skips the phases: it aims at spec.percent at once, so no pod stays on the bad revision", () => {
    const r = makeRollout({ phases: [25, 50, 100], percent: 100 });
    expect(effectivePercent(r, { phaseIndex: 0 })).to.equal(25);
    expect(effectivePercent(r, { phaseIndex: 0, rollback: true })).to.equal(100);
  });

  it("target reached and Ready → RolloutDone, no requeue, current revision advanced at 100%", () => {
    const r = makeRollout({}, rollingStatus({ updatedOrdinals: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], wavesCompleted: 4 }));
    const d = decide(r, world(r, makePods(10, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])), NOW);
    expect(d.status.phase).to.equal("RolloutDone");
    expect(d.status.currentRevision).to.equal(NEW);
    expect(d.status.percentDeployed).to.equal(100);
    expect(d.requeueAfterMs).to.equal(undefined);
  });

  it("seed example: 4 replicas at 25% → done with exactly one pod moved, split kept", () => {
    const r = makeRollout(
      { percent: 25 },
      rollingStatus({
        updatedOrdinals: [3],
        wavesCompleted: 1,
        currentWave: { number: 1, pods: ["web-3"], startedAt: at(-9), completedAt: at(-5) },
      }),
      1,
      4,
    );
    const d = decide(r, world(r, makePods(4, [3])), NOW);
    expect(d.status).to.include({
      phase: "RolloutDone",
      percentDeployed: 25,
      currentRevision: OLD,
      updatedReplicas: 1,
    });
  });

  it("terminal with unchanged spec and identity does nothing and does not requeue", () => {
    const done = rollingStatus({ phase: "RolloutDone", updatedOrdinals: [9] });
    const r = makeRollout({ percent: 10 }, done);
    const d = decide(r, world(r, makePods(10, [9])), NOW);
    expect(d.step.kind).to.equal("none");
    expect(d.requeueAfterMs).to.equal(undefined);
    expect(d.status.phase).to.equal("RolloutDone");
  });
});

describe("decide: failure, retry, rollback", () => {
  it("crash-looping new pod → RolloutFailed naming the pod and the reason", () => {
    const r = makeRollout(
      {},
      rollingStatus({ updatedOrdinals: [9], currentWave: { number: 1, pods: ["web-9"], startedAt: at(-5) } }),
    );
    const pods = makePods(10, [9], {
      9: { ready: false, crashLooping: true, problem: "container app: CrashLoopBackOff" },
    });
    const d = decide(r, world(r, pods), NOW);
    expect(d.status.phase).to.equal("RolloutFailed");
    expect(d.status.reason).to.match(/web-9.*crash-looping.*CrashLoopBackOff/);
    expect(d.requeueAfterMs).to.equal(undefined);
    expect(d.events.some((e) => e.type === "Warning" && e.reason === "RolloutFailed")).to.equal(true);
  });

  it("deadline passed: a new pod not Ready within progressDeadlineSeconds → RolloutFailed", () => {
    const r = makeRollout(
      { progressDeadlineSeconds: 60 },
      rollingStatus({
        attemptStartedAt: at(-600),
        updatedOrdinals: [9],
        currentWave: { number: 1, pods: ["web-9"], startedAt: at(-120) },
      }),
    );
    const d = decide(
      r,
      world(r, makePods(10, [9], { 9: { ready: false, createdAt: at(-100), problem: "Pending" } })),
      NOW,
    );
    expect(d.status.phase).to.equal("RolloutFailed");
    expect(d.status.reason).to.match(/web-9.*progressDeadlineSeconds \(60s\).*Pending/);
  });

  it("deadline passed for a wave whose pod never got evicted → RolloutFailed naming it", () => {
    const r = makeRollout(
      { progressDeadlineSeconds: 60 },
      rollingStatus({ updatedOrdinals: [9], currentWave: { number: 1, pods: ["web-9"], startedAt: at(-61) } }),
    );
    const d = decide(r, world(r, makePods(10)), NOW);
    expect(d.status.phase).to.equal("RolloutFailed");
    expect(d.status.reason).to.match(/wave 1.*web-9 is still on revision/);
  });

  it("a new rolloutIdentity with the same spec retries a failed rollout with a fresh deadline", () => {
    const failed = rollingStatus({
      phase: "RolloutFailed",
      rolloutIdentity: "one",
      attemptStartedAt: at(-900),
      updatedOrdinals: [9],
      currentWave: { number: 1, pods: ["web-9"], startedAt: at(-900) },
    });
    const same = decide(
      makeRollout({ rolloutIdentity: "one", progressDeadlineSeconds: 60 }, failed),
      world(makeRollout(), makePods(10, [9], { 9: { ready: false, createdAt: at(-800) } })),
      NOW,
    );
    expect(same.status.phase).to.equal("RolloutFailed");
    const retried = decide(
      makeRollout({ rolloutIdentity: "two", progressDeadlineSeconds: 60 }, failed),
      world(makeRollout(), makePods(10, [9], { 9: { ready: false, createdAt: at(-800) } })),
      NOW,
    );
    expect(retried.status.phase).to.equal("Progressing");
    expect(retried.status.rolloutIdentity).to.equal("two");
    expect(retried.status.attemptStartedAt).to.equal(NOW.toISOString());
    expect(retried.events.map((e) => e.reason)).to.include("RolloutRestarted");
  });

  it("rollback replaces stuck pods at once, without budget and without waiting for them", () => {
    // Rolling back to OLD: pods 8 and 9 run the bad revision (NEW here is the bad one; OLD is the update revision).
    const status = rollingStatus({
      updateRevision: OLD,
      currentRevision: NEW,
      rollback: true,
      updatedOrdinals: [0, 1, 2, 3, 4, 5, 6, 7],
    });
    const r = makeRollout({ percent: 100 }, status);
    const w = world(
      r,
      makePods(10, [8, 9], { 8: { ready: false, crashLooping: true }, 9: { ready: false, problem: "Pending" } }),
      0,
    );
    w.statefulSet = makeSts(r, { updateRevision: OLD });
    const pods = w.pods.map((p) => ({ ...p, revision: p.ordinal >= 8 ? NEW : OLD }));
    const d = decide(r, { ...w, pods }, NOW);
    expect(d.status.currentWave?.pods).to.deep.equal(["web-9", "web-8"]);
    expect(d.status.phase).to.equal("Progressing");
  });
});

describe("decide: callbacks and status writes", () => {
  it("sends the callback once per stage id after a terminal phase", () => {
    const spec = { bapi: { bapiUrl: "http://release.local/cb", stageId: "stage-1" } };
    const done = rollingStatus({ phase: "RolloutDone", updatedOrdinals: [9] });
    const d = decide(makeRollout(spec, done), world(makeRollout(spec), makePods(10, [9])), NOW);
    expect(d.step.kind).to.equal("callback");
    if (d.step.kind !== "callback") return;
    expect(d.step.payload).to.include({ stageId: "stage-1", phase: "RolloutDone", name: "web", namespace: "ns" });
    const sent = decide(
      makeRollout(spec, { ...done, lastCallbackStageId: "stage-1" }),
      world(makeRollout(spec), makePods(10, [9])),
      NOW,
    );
    expect(sent.step.kind).to.equal("none");
    const gaveUp = decide(
      makeRollout(spec, { ...done, lastCallbackError: "stage-1: 400 Bad Request" }),
      world(makeRollout(spec), makePods(10, [9])),
      NOW,
    );
    expect(gaveUp.step.kind).to.equal("none");
  });

  it("writes status only when something but lastUpdated/reconcileAfter changed", () => {
    const a: RolloutStatus = { phase: "Progressing", reconcileAfter: at(1), lastUpdated: at(0) };
    expect(statusChanged(a, { ...a, reconcileAfter: at(5), lastUpdated: at(3) })).to.equal(false);
    expect(statusChanged(a, { ...a, phase: "Paused" })).to.equal(true);
  });

  it("a repeated pass over an unchanged world is stable (no write)", () => {
    const r0 = makeRollout({}, rollingStatus());
    const w = world(r0, makePods(10), 0);
    const first = decide(r0, w, NOW);
    const second = decide(makeRollout({}, first.status), w, new Date(NOW.getTime() + 3000));
    expect(statusChanged(first.status, second.status)).to.equal(false);
  });

  it("reports every one of 1,000 pods in a compact status (status.podSummary), dropping an older status.pods", () => {
    const ordinals = Array.from({ length: 1000 }, (_, i) => i);
    const before = rollingStatus({ updatedOrdinals: ordinals.slice(500) });
    before.pods = [{ name: "web-0", ordinal: 0, ready: true }];
    const r = makeRollout({}, before, 1, 1000);
    const pods = makePods(1000, ordinals.slice(500), { 500: { ready: false } });
    const d = decide(r, { ...world(r, pods), pdb: makePdb(r, 100) }, NOW);
    expect(d.status.pods, "the per-pod list of an earlier version is removed").to.equal(undefined);
    const view = podsOfStatus(d.status, "web");
    expect(view).to.have.length(1000);
    expect(view.filter((p) => p.revision === NEW).map((p) => p.ordinal)).to.deep.equal(ordinals.slice(500));
    expect(view.filter((p) => !p.ready).map((p) => p.name)).to.deep.equal(["web-500"]);
    // bench/RESULTS.md "Status size" (bench/status/size.ts) measures the whole object.
    expect(Buffer.byteLength(JSON.stringify(d.status.podSummary))).to.be.below(1024);
  });
});
