// The webhook's one read-only view of the cluster (adapters/kube/cluster-view.ts) over caches fed
// with changes as an informer delivers them: lookups, synced, and the pods-by-owner index with
// its per-revision counts, checked against a plain count over the cache after every change.
import { expect } from "chai";
import type * as k8s from "@kubernetes/client-node";
import type { ReadCache } from "../../adapters/kube/cache.js";
import { clusterView } from "../../adapters/kube/cluster-view.js";
import type { CachedPod } from "../../adapters/kube/trim.js";
import { isOwnedBy, owningStatefulSet } from "../../api/ownership.js";
import { podRevision } from "../../api/revisions.js";
import { seededRandom } from "../support/seeded-random.js";

type Event = "add" | "update" | "delete";

/** A cache driven like an informer: objects replaced whole, listeners told synchronously. */
class DrivenCache<T extends { metadata?: { name?: string; namespace?: string } }> implements ReadCache<T> {
  private readonly objects = new Map<string, T>();
  private readonly listeners: Array<(obj: T, event: Event) => void> = [];
  syncedNow = true;
  readonly synced = Promise.resolve();
  put(obj: T): void {
    const key = `${obj.metadata?.namespace}/${obj.metadata?.name}`;
    const event = this.objects.has(key) ? "update" : "add";
    this.objects.set(key, obj);
    this.listeners.forEach((l) => l(obj, event));
  }
  remove(namespace: string, name: string): void {
    const obj = this.objects.get(`${namespace}/${name}`);
    if (!obj) return;
    this.objects.delete(`${namespace}/${name}`);
    this.listeners.forEach((l) => l(obj, "delete"));
  }
  get(namespace: string, name: string): T | undefined {
    return this.objects.get(`${namespace}/${name}`);
  }
  list(namespace?: string): readonly T[] {
    return [...this.objects.values()].filter((o) => namespace === undefined || o.metadata?.namespace === namespace);
  }
  isSynced(): boolean {
    return this.syncedNow;
  }
  onChange(listener: (obj: T, event: Event) => void): void {
    this.listeners.push(listener);
  }
  async stop(): Promise<void> {}
}

function pod(
  name: string,
  revision: string | undefined,
  owner?: { name: string; uid?: string },
  namespace = "shop",
): CachedPod {
  const labels: Record<string, string> = revision ? { "controller-revision-hash": revision } : {};
  return {
    metadata: {
      name,
      namespace,
      labels,
      ownerReferences: owner
        ? [{ apiVersion: "apps/v1", kind: "StatefulSet", name: owner.name, uid: owner.uid ?? "", controller: true }]
        : [],
    },
  };
}

function setup() {
  const caches = {
    pods: new DrivenCache<CachedPod>(),
    statefulSets: new DrivenCache<k8s.V1StatefulSet>(),
    rollouts: new DrivenCache<k8s.KubernetesObject>(),
    controllerRevisions: new DrivenCache<k8s.V1ControllerRevision>(),
  };
  return { caches, view: clusterView(caches) };
}

const counts = (m: ReadonlyMap<string, number>) => Object.fromEntries([...m.entries()].sort());

/** The rule, counted the plain way over every pod in the cache. */
function plainCounts(pods: readonly CachedPod[], namespace: string, sts: { name: string; uid?: string }) {
  const out: Record<string, number> = {};
  for (const p of pods) {
    const revision = podRevision(p);
    if (p.metadata?.namespace !== namespace || revision === undefined) continue;
    if (!isOwnedBy(owningStatefulSet(p), sts)) continue;
    out[revision] = (out[revision] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(out).sort());
}

describe("cluster view", () => {
  it("answers every lookup from its caches", () => {
    const { caches, view } = setup();
    const sts = { metadata: { name: "web", namespace: "shop" } };
    const rollout = {
      apiVersion: "bulkhead.dev/v1alpha1",
      kind: "StatefulsetRollout",
      metadata: { name: "r", namespace: "shop" },
    };
    const revision = { metadata: { name: "web-1", namespace: "shop" }, revision: 1 };
    caches.statefulSets.put(sts);
    caches.rollouts.put(rollout);
    caches.controllerRevisions.put(revision);
    caches.pods.put(pod("web-0", "web-1", { name: "web", uid: "u1" }));
    expect(view.statefulSet("shop", "web")).to.equal(sts);
    expect(view.statefulSets("shop")).to.deep.equal([sts]);
    expect(view.statefulSets("other")).to.deep.equal([]);
    expect(view.rollout("shop", "r")).to.equal(rollout);
    expect(view.rollouts("shop")).to.deep.equal([rollout]);
    expect(view.controllerRevision("shop", "web-1")).to.equal(revision);
    expect(view.controllerRevisions("shop")).to.deep.equal([revision]);
    expect(view.pod("shop", "web-0")?.metadata?.name).to.equal("web-0");
    expect(view.pod("shop", "nope")).to.equal(undefined);
  });

  it("is synced only while every cache is", () => {
    const { caches, view } = setup();
    expect(view.synced).to.equal(true);
    for (const cache of Object.values(caches)) {
      cache.syncedNow = false;
      expect(view.synced).to.equal(false);
      cache.syncedNow = true;
    }
    expect(view.synced).to.equal(true);
  });

  it("indexes pods by their controlling StatefulSet and counts them per revision as they change", () => {
    const { caches, view } = setup();
    const web = { name: "web", uid: "u1" };
    for (let i = 0; i < 4; i++) caches.pods.put(pod(`web-${i}`, "old", web));
    caches.pods.put(pod("api-0", "old", { name: "api", uid: "u2" }));
    caches.pods.put(pod("loose", "old"));
    expect(counts(view.revisionCounts("shop", web))).to.deep.equal({ old: 4 });
    // A wave: two pods come back on the new revision (same name, replaced object).
    caches.pods.put(pod("web-3", "new", web));
    caches.pods.put(pod("web-2", "new", web));
    expect(counts(view.revisionCounts("shop", web))).to.deep.equal({ new: 2, old: 2 });
    // Deleted, then recreated without a revision label yet: not counted, still listed.
    caches.pods.remove("shop", "web-1");
    expect(counts(view.revisionCounts("shop", web))).to.deep.equal({ new: 2, old: 1 });
    caches.pods.put(pod("web-1", undefined, web));
    expect(counts(view.revisionCounts("shop", web))).to.deep.equal({ new: 2, old: 1 });
    expect(view.podsOf("shop", web).map((p) => p.metadata?.name)).to.have.members(["web-0", "web-1", "web-2", "web-3"]);
    expect(counts(view.revisionCounts("shop", { name: "api", uid: "u2" }))).to.deep.equal({ old: 1 });
    // Same names in another namespace are another StatefulSet.
    expect(counts(view.revisionCounts("other", web))).to.deep.equal({});
    expect(view.podsOf("other", web)).to.deep.equal([]);
  });

  it("matches owners by uid when both carry one, else by name (a recreated StatefulSet of the same name)", () => {
    const { caches, view } = setup();
    caches.pods.put(pod("web-0", "a", { name: "web", uid: "old-uid" }));
    caches.pods.put(pod("web-1", "a", { name: "web", uid: "new-uid" }));
    caches.pods.put(pod("web-2", "b", { name: "web" }));
    expect(counts(view.revisionCounts("shop", { name: "web", uid: "new-uid" }))).to.deep.equal({ a: 1, b: 1 });
    expect(counts(view.revisionCounts("shop", { name: "web" }))).to.deep.equal({ a: 2, b: 1 });
    expect(view.podsOf("shop", { name: "web", uid: "old-uid" }).map((p) => p.metadata?.name)).to.have.members([
      "web-0",
      "web-2",
    ]);
    // A pod adopted by another owner leaves the first one's counts.
    caches.pods.put(pod("web-1", "a", { name: "db", uid: "db-uid" }));
    expect(counts(view.revisionCounts("shop", { name: "web", uid: "new-uid" }))).to.deep.equal({ b: 1 });
    expect(counts(view.revisionCounts("shop", { name: "db" }))).to.deep.equal({ a: 1 });
  });

  it("counts pods that were in the cache before the view was built", () => {
    const caches = {
      pods: new DrivenCache<CachedPod>(),
      statefulSets: new DrivenCache<k8s.V1StatefulSet>(),
      rollouts: new DrivenCache<k8s.KubernetesObject>(),
      controllerRevisions: new DrivenCache<k8s.V1ControllerRevision>(),
    };
    caches.pods.put(pod("web-0", "old", { name: "web", uid: "u" }));
    const view = clusterView(caches);
    caches.pods.put(pod("web-1", "new", { name: "web", uid: "u" }));
    expect(counts(view.revisionCounts("shop", { name: "web", uid: "u" }))).to.deep.equal({ new: 1, old: 1 });
  });

  const SEED = Number(process.env.CLUSTER_VIEW_SEED ?? 20261130);
  it(`agrees with a plain count after every one of 3,000 random changes (seed ${SEED})`, () => {
    const random = seededRandom(SEED);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const { caches, view } = setup();
    const owners = [{ name: "web", uid: "u1" }, { name: "web", uid: "u2" }, { name: "web" }, { name: "db", uid: "u3" }];
    const queries = [{ name: "web", uid: "u1" }, { name: "web", uid: "u2" }, { name: "web" }, { name: "db" }];
    for (let step = 0; step < 3000; step++) {
      const namespace = pick(["shop", "other"]);
      const name = `p-${Math.floor(random() * 30)}`;
      if (random() < 0.25) caches.pods.remove(namespace, name);
      else caches.pods.put(pod(name, pick(["r1", "r2", "r3", undefined]), pick([...owners, undefined]), namespace));
      for (const ns of ["shop", "other"])
        for (const q of queries)
          expect(counts(view.revisionCounts(ns, q)), `step ${step}, ${ns} ${q.name}/${q.uid}`).to.deep.equal(
            plainCounts(caches.pods.list(), ns, q),
          );
    }
  });
});
