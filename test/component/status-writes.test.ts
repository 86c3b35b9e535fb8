// Status writes per reconcile pass (issue 15, "cheaper status"): every replaceStatus call on an
// in-memory cluster is counted, pass by pass, with the size of the status it sent.
import { expect } from "chai";
import type { RawRollout } from "../../adapters/kube/rollouts.js";
import type { CallbackSender } from "../../api/integrations.js";
import { podsOfStatus } from "../../api/pod-summary.js";
import type { RolloutStatus } from "../../api/rollout.js";
import { until } from "../support/until.js";
import { FakeCluster, rolloutObject } from "./reconciler.fake-cluster.js";
import { reconcileLoop } from "./support/reconciler-harness.js";

const KEY = "ns/web";
const REPLICAS = 6;
const SPEC = { disruptionPolicy: { maxUnavailable: 2 } };

interface Write {
  status: RolloutStatus;
  bytes: number;
}

function harness(sender?: CallbackSender) {
  const cluster = new FakeCluster({ readyDelayMs: 5 });
  const writes: Write[] = [];
  cluster.beforeStatusWrite = (body: RawRollout) =>
    writes.push({ status: structuredClone(body.status) as RolloutStatus, bytes: JSON.stringify(body.status).length });
  // The dispatcher's own writes (callback outcomes), told apart from the passes'.
  const outcomeWrites: RawRollout[] = [];
  // Each pass's status writes (the queue runs one pass of a key at a time).
  const passes: Write[][] = [];
  const { queue, callbacks, stop } = reconcileLoop(cluster, {
    sender,
    callbackRollouts: {
      get: (ns, name) => cluster.get(ns, name),
      replaceStatus: (ns, name, body) => (outcomeWrites.push(body), cluster.replaceStatus(ns, name, body)),
    },
    wrapPass: (reconcile) => async (key) => {
      const before = writes.length;
      const outcomesBefore = outcomeWrites.length;
      try {
        return await reconcile(key);
      } finally {
        // Outcome writes that landed meanwhile are the dispatcher's, not this pass's.
        passes.push(writes.slice(before, writes.length - (outcomeWrites.length - outcomesBefore)));
      }
    },
  });
  /** Runs a pass now and waits for the queue to drain; the status writes of the passes that ran. */
  const pass = async (): Promise<Write[]> => {
    await queue.idle();
    const before = passes.length;
    queue.add(KEY);
    await queue.idle();
    return passes.slice(before).flat();
  };
  const allReady = () => [...cluster.podMap.values()].filter((p) => p.ready).length === REPLICAS;
  /** Rolled out and observed: every pod Ready, and no pass pending. */
  const settle = async (what: string, done: () => boolean) => {
    await until(what, () => done() && allReady() && cluster.status().readyReplicas === REPLICAS);
    await queue.idle();
  };
  return {
    cluster,
    passes,
    outcomeWrites,
    pass,
    settle,
    callbacks,
    stop,
  };
}

describe("status writes per reconcile pass", function () {
  this.timeout(20_000);
  const done = (h: { cluster: FakeCluster }) => () => h.cluster.status().phase === "RolloutDone";

  it("a pass that changes nothing writes nothing", async () => {
    const h = harness();
    try {
      h.cluster.putRollout(rolloutObject(SPEC, REPLICAS, "app:v1"));
      await h.settle("v1 created", done(h));
      for (let i = 0; i < 3; i++) expect(await h.pass(), `pass ${i + 1} after settling`).to.have.length(0);
    } finally {
      await h.stop();
    }
  });

  it("a pass that only observes (a pod stopped being Ready) writes once, then nothing", async () => {
    const h = harness();
    try {
      h.cluster.putRollout(rolloutObject(SPEC, REPLICAS, "app:v1"));
      await h.settle("v1 created", done(h));
      h.cluster.podMap.get("web-2")!.ready = false;
      const writes = await h.pass();
      expect(writes).to.have.length(1);
      expect(writes[0]!.status.readyReplicas).to.equal(REPLICAS - 1);
      expect(podsOfStatus(writes[0]!.status, "web").find((p) => p.ordinal === 2)?.ready).to.equal(false);
      expect(await h.pass()).to.have.length(0);
    } finally {
      await h.stop();
    }
  });

  it("a pass that records a wave writes once; no pass of a whole rollout writes more than once", async () => {
    const h = harness();
    try {
      h.cluster.putRollout(rolloutObject(SPEC, REPLICAS, "app:v1"));
      await h.settle("v1 created", done(h));
      const v1 = h.cluster.status().updateRevision;
      const first = h.passes.length;
      h.cluster.putRollout(rolloutObject(SPEC, REPLICAS, "app:v2"));
      await h.settle("v2 done", () => done(h)() && h.cluster.status().updateRevision !== v1);
      const passes = h.passes.slice(first);
      const recording = passes.find((writes) =>
        writes.some((w) => w.status.currentWave?.number === 1 && !w.status.currentWave.completedAt),
      );
      expect(recording, "the pass that recorded wave 1").to.have.length(1);
      expect(Math.max(...passes.map((writes) => writes.length))).to.equal(1);
      if (process.env.SHOW_WRITES) {
        // Writes that changed only what the pass observed (pods, readiness), not what it decided.
        const observed = new Set(["podSummary", "readyReplicas", "lastUpdated", "reconcileAfter"]);
        const written = passes.flat();
        const observationOnly = written.filter((w, i) => {
          const prev = (i === 0 ? h.passes[first - 1]?.at(-1)?.status : written[i - 1]!.status) ?? {};
          const keys = new Set([...Object.keys(prev), ...Object.keys(w.status)]);
          return [...keys].every(
            (k) =>
              observed.has(k) ||
              JSON.stringify((prev as Record<string, unknown>)[k]) ===
                JSON.stringify((w.status as Record<string, unknown>)[k]),
          );
        }).length;
        console.log(
          `v2 over ${REPLICAS} pods: ${passes.length} passes, ${written.length} status writes (${observationOnly} observation only), largest ${Math.max(...written.map((w) => w.bytes))} bytes`,
        );
      }
    } finally {
      await h.stop();
    }
  });

  it("a callback: the pass writes its decision once, the dispatcher its outcome once, the pass that wakes writes nothing", async () => {
    let delivered = 0;
    const h = harness({ attempt: async () => (delivered++, { ok: true, status: 200 }) });
    try {
      const bapi = { bapiUrl: "http://release.local/cb", stageId: "stage-1" };
      h.cluster.putRollout(rolloutObject({ ...SPEC, bapi }, REPLICAS, "app:v1"));
      await h.settle(
        "v1 created, callback recorded",
        () => done(h)() && h.cluster.status().lastCallbackStageId === "stage-1",
      );
      await h.callbacks.idle();
      expect(delivered).to.equal(1);
      expect(h.outcomeWrites, "the outcome, written once").to.have.length(1);
      expect(Math.max(...h.passes.map((writes) => writes.length)), "at most one write per pass").to.equal(1);
      expect(await h.pass(), "a pass after the outcome was recorded").to.have.length(0);
      await h.callbacks.idle();
      expect(delivered, "delivered once per stage id").to.equal(1);
      expect(h.outcomeWrites).to.have.length(1);
    } finally {
      await h.stop();
    }
  });
});
