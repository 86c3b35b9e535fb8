// The round trips of a pass (issue #15): the reads a pass can make at once are made at once, and
// a take-down's reads overlap the status write that records its pods, which must land before any
// pod goes (crash safety). Against the in-memory cluster; every call is logged in order.
import { expect } from "chai";
import type { RawRollout } from "../../adapters/kube/rollouts.js";
import type { RolloutStatus } from "../../api/rollout.js";
import { wavesInFlight } from "../../api/waves.js";
import { until } from "../support/until.js";
import { FakeCluster, rolloutObject } from "./reconciler.fake-cluster.js";
import { reconcileLoop } from "./support/reconciler-harness.js";

const SPEC = { disruptionPolicy: { maxUnavailable: 2 } };

/** The pods the stored status has in waves in flight or moved (what a restarted reconciler resumes from). */
function recordedPods(cluster: FakeCluster): Set<string> {
  const status: RolloutStatus = cluster.status();
  const names = wavesInFlight(status).flatMap((w) => w.pods);
  for (const ordinal of status.updatedOrdinals ?? []) names.push(`web-${ordinal}`);
  return new Set(names);
}

describe("reconcile pass: round trips", function () {
  this.timeout(20_000);

  it("reads the StatefulSet at the same time as the rollout (from the second pass on)", async () => {
    const cluster = new FakeCluster({ readyDelayMs: 5 });
    const calls: string[] = [];
    const get = cluster.get.bind(cluster);
    const statefulSet = cluster.statefulSet.bind(cluster);
    cluster.get = (namespace, name) => (calls.push("rollout"), get(namespace, name));
    cluster.statefulSet = (namespace, name) => (calls.push(`sts ${name}`), statefulSet(namespace, name));
    const h = reconcileLoop(cluster);
    try {
      cluster.putRollout(rolloutObject(SPEC, 4, "app:v1"));
      await until("v1 done", () => cluster.status().phase === "RolloutDone");
      await h.queue.idle();
      calls.length = 0;
      h.queue.add("ns/web");
      await h.queue.idle();
      // The StatefulSet read is started before the rollout's, not after it returns.
      expect(calls).to.deep.equal(["sts web", "rollout"]);
    } finally {
      await h.stop();
    }
  });

  it("starts a take-down while the status naming its pods is written; nothing goes before that write lands", async () => {
    const cluster = new FakeCluster({ readyDelayMs: 5 });
    const h = reconcileLoop(cluster);
    try {
      cluster.putRollout(rolloutObject(SPEC, 6, "app:v1"));
      await until("v1 done", () => cluster.status().phase === "RolloutDone");
      // At each status write: take-downs started but not yet past their status (the adapter's reads).
      const overlapping: number[] = [];
      cluster.beforeStatusWrite = () => overlapping.push(cluster.takeDownsStarted - cluster.takeDownCalls);
      const unrecorded: string[] = [];
      cluster.beforeEvict = (pod) => {
        if (!recordedPods(cluster).has(pod)) unrecorded.push(pod);
      };
      cluster.putRollout(rolloutObject(SPEC, 6, "app:v2"));
      await until("v2 done", () => cluster.status().phase === "RolloutDone" && cluster.evictions.length === 6);
      expect(unrecorded, "pods taken down before the status recorded them").to.deep.equal([]);
      expect(
        overlapping.filter((n) => n > 0).length,
        "status writes with a take-down reading at the same time",
      ).to.be.greaterThan(0);
    } finally {
      await h.stop();
    }
  });

  it("a status write that conflicts: the take-down started with it takes nothing down; the pass decides again", async () => {
    const cluster = new FakeCluster({ readyDelayMs: 5 });
    const h = reconcileLoop(cluster);
    try {
      cluster.putRollout(rolloutObject(SPEC, 6, "app:v1"));
      await until("v1 done", () => cluster.status().phase === "RolloutDone");
      // Every write that records a wave conflicts once (another writer landed first).
      const conflicted = new Set<number>();
      cluster.beforeStatusWrite = (body: RawRollout) => {
        for (const wave of wavesInFlight((body.status ?? {}) as RolloutStatus)) {
          if (conflicted.has(wave.number)) continue;
          conflicted.add(wave.number);
          cluster.conflictsToInject = 1;
        }
      };
      const unrecorded: string[] = [];
      cluster.beforeEvict = (pod) => {
        if (!recordedPods(cluster).has(pod)) unrecorded.push(pod);
      };
      cluster.putRollout(rolloutObject(SPEC, 6, "app:v2"));
      await until("v2 done", () => cluster.status().phase === "RolloutDone" && cluster.evictions.length === 6);
      expect(conflicted.size, "waves whose first write conflicted").to.be.greaterThan(0);
      expect(cluster.takeDownsStarted, "take-downs dropped with their status").to.be.greaterThan(cluster.takeDownCalls);
      expect(unrecorded, "pods taken down without their status").to.deep.equal([]);
      expect(new Set(cluster.evictions.map((e) => e.pod)).size, "no pod taken twice").to.equal(6);
    } finally {
      await h.stop();
    }
  });
});
