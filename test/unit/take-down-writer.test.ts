// The adapter's side of taking pods down (adapters/kube/rollouts.ts takeDown): the order of its
// reads and writes against the status write that records the batch (reads at once, nothing
// written before it lands). The plan itself is api/take-down.ts's (take-down.test.ts); here the
// apiserver is a fake that logs every call.
import type * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { kubeClusterWriter } from "../../adapters/kube/rollouts.js";

const NS = "db";

interface FakeApi {
  log: string[];
  /** Reservation writes that answer 409 before one lands. */
  conflicts: number;
  pdbWrites: k8s.V1PodDisruptionBudget[];
}

function readyPod(name: string, ready = true): k8s.V1Pod {
  return {
    metadata: { name, namespace: NS, uid: `uid-${name}`, resourceVersion: `rv-${name}`, labels: { app: "web" } },
    status: { phase: "Running", conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
  };
}

function fakeCluster(pods: k8s.V1Pod[], allowed: number) {
  const api: FakeApi = { log: [], conflicts: 0, pdbWrites: [] };
  let pdbVersion = 1;
  const pdb = (): k8s.V1PodDisruptionBudget => ({
    metadata: { name: "web", namespace: NS, generation: 1, resourceVersion: String(pdbVersion) },
    spec: { selector: { matchLabels: { app: "web" } } },
    status: {
      observedGeneration: 1,
      disruptionsAllowed: allowed,
      currentHealthy: pods.length,
      desiredHealthy: pods.length - allowed,
      expectedPods: pods.length,
    },
  });
  const core = {
    readNamespacedPod: async ({ name }: { name: string }) => {
      api.log.push(`read ${name}`);
      const found = pods.find((p) => p.metadata?.name === name);
      if (!found) throw Object.assign(new Error("not found"), { code: 404 });
      return found;
    },
    deleteNamespacedPod: async ({ name, body }: { name: string; body: k8s.V1DeleteOptions }) => {
      api.log.push(`delete ${name}${body.preconditions?.resourceVersion ? " rv" : ""}`);
      return {};
    },
  } as unknown as k8s.CoreV1Api;
  const policy = {
    listNamespacedPodDisruptionBudget: async () => {
      api.log.push("list pdbs");
      return { items: [pdb()] };
    },
    replaceNamespacedPodDisruptionBudgetStatus: async ({ body }: { body: k8s.V1PodDisruptionBudget }) => {
      if (api.conflicts > 0) {
        api.conflicts--;
        pdbVersion++;
        api.log.push("reserve: 409");
        throw Object.assign(new Error("conflict"), { code: 409 });
      }
      api.log.push(`reserve ${Object.keys(body.status?.disruptedPods ?? {}).join(",")}`);
      api.pdbWrites.push(body);
      return body;
    },
  } as unknown as k8s.PolicyV1Api;
  const writer = kubeClusterWriter({} as k8s.AppsV1Api, policy, core);
  return { api, writer };
}

/** A status write the test lands (or not) when it chooses. */
function statusWrite() {
  let land: (ok: boolean) => void = () => undefined;
  const recorded = new Promise<boolean>((resolve) => (land = resolve));
  return { recorded, land };
}

/** Lets every pending promise callback run (the fakes answer at once). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

const ask = (...names: string[]) => names.map((name) => ({ name, uid: `uid-${name}` }));

describe("kubeClusterWriter.takeDown: reads overlap the status write, writes wait for it", () => {
  it("reads the batch while the status write is under way, and reserves and deletes only after it lands", async () => {
    const { api, writer } = fakeCluster([readyPod("web-0"), readyPod("web-1")], 2);
    const status = statusWrite();
    const outcomes = writer.takeDown(NS, ask("web-0", "web-1"), status.recorded);
    await settle();
    expect(api.log, "reads only").to.deep.equal(["read web-0", "read web-1", "list pdbs"]);
    status.land(true);
    expect((await outcomes).map((o) => `${o.name}:${o.result}`).sort()).to.deep.equal([
      "web-0:evicted",
      "web-1:evicted",
    ]);
    expect(api.log.slice(3, 4)).to.deep.equal(["reserve web-0,web-1"]);
    expect(api.log.slice(4).sort()).to.deep.equal(["delete web-0", "delete web-1"]);
    expect(api.pdbWrites[0]!.status!.disruptionsAllowed).to.equal(0);
  });

  it("writes nothing when the status write does not land", async () => {
    const { api, writer } = fakeCluster([readyPod("web-0")], 1);
    const status = statusWrite();
    const outcomes = writer.takeDown(NS, ask("web-0"), status.recorded);
    await settle();
    status.land(false);
    expect(await outcomes).to.deep.equal([]);
    expect(api.log).to.deep.equal(["read web-0", "list pdbs"]);
  });

  it("a conflicting reservation re-reads the PDBs and decides again before anything is deleted", async () => {
    const { api, writer } = fakeCluster([readyPod("web-0")], 1);
    api.conflicts = 2;
    const status = statusWrite();
    status.land(true);
    const outcomes = await writer.takeDown(NS, ask("web-0"), status.recorded);
    expect(outcomes).to.deep.equal([{ name: "web-0", result: "evicted" }]);
    expect(api.log.slice(2)).to.deep.equal([
      "reserve: 409",
      "list pdbs",
      "reserve: 409",
      "list pdbs",
      "reserve web-0",
      "delete web-0",
    ]);
  });

  it("a PDB that keeps conflicting blocks the whole batch even when the status landed", async () => {
    const { api, writer } = fakeCluster([readyPod("web-0"), readyPod("web-1")], 2);
    api.conflicts = 100;
    const status = statusWrite();
    status.land(true);
    const outcomes = await writer.takeDown(NS, ask("web-0", "web-1"), status.recorded);
    expect(outcomes.map((o) => `${o.name}:${o.result}:${o.why}`)).to.deep.equal([
      "web-0:blocked:PDB kept conflicting",
      "web-1:blocked:PDB kept conflicting",
    ]);
    expect(api.log.filter((l) => l.startsWith("delete"))).to.deep.equal([]);
  });

  it("a batch of pods that are not Ready writes no reservation and deletes them only unchanged since read", async () => {
    const { api, writer } = fakeCluster([readyPod("web-0", false)], 0);
    const status = statusWrite();
    const outcomes = writer.takeDown(NS, ask("web-0"), status.recorded);
    await settle();
    expect(api.log.filter((l) => l.startsWith("delete") || l.startsWith("reserve"))).to.deep.equal([]);
    status.land(true);
    expect(await outcomes).to.deep.equal([{ name: "web-0", result: "evicted" }]);
    expect(api.log).to.include("delete web-0 rv");
  });

  it("a Ready pod the budget has no room for waits, and nothing is written for it", async () => {
    const { api, writer } = fakeCluster([readyPod("web-0")], 0);
    const outcomes = await writer.takeDown(NS, ask("web-0"));
    expect(outcomes.map((o) => `${o.name}:${o.result}`)).to.deep.equal(["web-0:blocked"]);
    expect(api.log).to.deep.equal(["read web-0", "list pdbs"]);
  });
});
