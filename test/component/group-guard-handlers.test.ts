// The zone-aware group guard through the /validate/eviction and /validate/pod-delete handlers over
// in-memory caches: the 429 and its message, the Event on the refused member's rollout, the
// metrics, dry runs without side effects, and how it meets the leak guard.
import type * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { pino } from "pino";
import { Registry } from "prom-client";
import type { GuardPod } from "../../api/leak-guard.js";
import {
  type LeakAlertSink,
  type LeakGuardDeps,
  createEvictionHandler,
  createPodDeleteHandler,
} from "../../webhook/leak-guard/index.js";
import {
  type GroupWorldFixture,
  groupDelete,
  groupEviction,
  groupPod,
  groupRollout,
  groupWorld,
  setPod,
} from "../unit/group-guard-fixtures.js";
import { fakeCache, fakeEvents } from "./leak-guard-fakes.js";

const logger = pino({ level: "silent" });

async function counter(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  return (
    metric?.values
      .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
      .reduce((sum, v) => sum + v.value, 0) ?? 0
  );
}

const zoneADown = (f: GroupWorldFixture) => setPod(f, groupPod("a", 2, { ready: false }));

describe("group guard through the leak-guard admission handlers", () => {
  let registry: Registry;
  let events: ReturnType<typeof fakeEvents>;
  let reports: string[];
  const sink: LeakAlertSink = { report: (_leak, decision) => void reports.push(decision) };

  beforeEach(() => {
    registry = new Registry();
    events = fakeEvents();
    reports = [];
  });

  function deps(world: GroupWorldFixture): LeakGuardDeps {
    return {
      pods: fakeCache(world.pods as k8s.V1Pod[], world.synced),
      statefulSets: fakeCache(world.statefulSets as k8s.V1StatefulSet[]),
      rollouts: fakeCache(world.rollouts as k8s.KubernetesObject[]),
      reconcilerUsername: "system:serviceaccount:bulkhead:bulkhead-reconciler",
      defaultLeakProtection: "enforce",
      alerts: sink,
      events,
      logger,
      registry,
    };
  }

  it("refuses an eviction in zone-b with 429 naming zone-a, records one Event and counts it", async () => {
    const handle = createEvictionHandler(deps(groupWorld(zoneADown)));
    const response = await handle(groupEviction("ingester-b-1"));
    expect(response).to.deep.include({ allowed: false });
    expect(response.status).to.deep.include({ code: 429, reason: "TooManyRequests" });
    expect(response.status?.message).to.contain("Zone zone-a (rollout ingester-a) is degraded");
    expect(events.recorded).to.have.length(1);
    expect(events.recorded[0]).to.deep.include({
      type: "Warning",
      reason: "GroupDisruptionRefused",
      note: response.status?.message,
      action: "Evict",
    });
    expect(events.recorded[0]!.regarding).to.deep.include({ kind: "StatefulsetRollout", name: "ingester-b" });
    expect(
      await counter(registry, "bulkhead_group_guard_decisions_total", {
        namespace: "obs",
        group: "ingester",
        decision: "denied",
      }),
    ).to.equal(1);
    // A group refusal is not a leak: no Slack alert.
    expect(reports).to.deep.equal([]);
  });

  it("refuses a user's delete likewise, and allows it once zone-a is Ready", async () => {
    expect(
      (await createPodDeleteHandler(deps(groupWorld(zoneADown)))(groupDelete(groupPod("b", 1)))).status?.code,
    ).to.equal(429);
    const healed = await createPodDeleteHandler(deps(groupWorld()))(groupDelete(groupPod("b", 1)));
    expect(healed).to.deep.equal({ allowed: true });
    expect(await counter(registry, "bulkhead_group_guard_decisions_total", { decision: "allowed" })).to.equal(1);
  });

  it("dry runs are decided the same but leave no Event and no metric", async () => {
    const world = groupWorld(zoneADown);
    const evict = await createEvictionHandler(deps(world))(groupEviction("ingester-b-1", { dryRun: true }));
    const del = await createPodDeleteHandler(deps(world))(groupDelete(groupPod("b", 1), { dryRun: true }));
    expect(evict.status?.code).to.equal(429);
    expect(del.status?.code).to.equal(429);
    expect(evict.status?.message).to.contain("zone-a");
    expect(events.recorded).to.deep.equal([]);
    expect(await counter(registry, "bulkhead_group_guard_decisions_total", {})).to.equal(0);
    expect(await counter(registry, "bulkhead_leak_guard_decisions_total", {})).to.equal(0);
  });

  it("counts fail-safe allows (caches not synced)", async () => {
    const world = groupWorld(zoneADown);
    world.synced = false;
    expect((await createEvictionHandler(deps(world))(groupEviction("ingester-b-1"))).allowed).to.equal(true);
    expect(await counter(registry, "bulkhead_group_guard_fail_safe_total", { reason: "caches-not-synced" })).to.equal(
      1,
    );
  });

  describe("with the leak guard", () => {
    const OLD = "ingester-rev0";
    /** ingester-b paused at 50%: b-0 and b-1 on the new revision, b-2 and b-3 still old. */
    const splitB = (f: GroupWorldFixture) => {
      const b = groupRollout("b", 2);
      f.rollouts[1] = {
        ...b,
        spec: { ...b.spec, percent: 50 },
        status: { phase: "Paused", paused: true, percentDeployed: 50 },
      };
      for (const i of [2, 3]) {
        const p = groupPod("b", i);
        const old: GuardPod = {
          ...p,
          metadata: { ...p.metadata, labels: { ...p.metadata!.labels, "controller-revision-hash": OLD } },
        };
        setPod(f, old);
      }
    };

    it("a leak is refused with the leak guard's message, and alerted", async () => {
      const handle = createEvictionHandler(deps(groupWorld((f) => (zoneADown(f), splitB(f)))));
      const response = await handle(groupEviction("ingester-b-3"));
      expect(response.status?.code).to.equal(429);
      expect(response.status?.message).to.contain("Bulkhead leak protection");
      expect(reports).to.deep.equal(["denied"]);
      expect(events.recorded).to.deep.equal([]);
    });

    it("a pod the leak guard allows is still refused by the group guard", async () => {
      const handle = createEvictionHandler(deps(groupWorld((f) => (zoneADown(f), splitB(f)))));
      const response = await handle(groupEviction("ingester-b-0"));
      expect(response.status?.code).to.equal(429);
      expect(response.status?.message).to.contain("Bulkhead zone guard");
    });

    it("a flagged leak the group guard refuses raises no flag alert", async () => {
      const world = groupWorld((f) => {
        zoneADown(f);
        splitB(f);
        const b = f.rollouts[1] as { spec: Record<string, unknown> };
        b.spec = { ...b.spec, leakProtection: "flag" };
      });
      const response = await createEvictionHandler(deps(world))(groupEviction("ingester-b-3"));
      expect(response.status?.message).to.contain("Bulkhead zone guard");
      expect(reports).to.deep.equal([]);
      expect(await counter(registry, "bulkhead_leak_guard_decisions_total", { decision: "flagged" })).to.equal(1);
    });
  });
});
