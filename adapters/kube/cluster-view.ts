// One read-only view of the cluster, over the informer caches (./cache.ts), that every admission
// handler reads from. It answers lookups only; it never lists the apiserver and hands out the
// caches' own objects, which nobody may change (clone to change).
//
// Pods are also indexed by the StatefulSet that controls them (api/ownership.ts
// owningStatefulSet), with a count per revision kept as pods come and go, so "how many pods of
// this StatefulSet run each revision" — asked on every eviction of an old pod — is a map lookup
// rather than a pass over every pod of the namespace.
import type * as k8s from "@kubernetes/client-node";
import type { GuardWorld } from "../../api/leak-guard.js";
import { owningStatefulSet } from "../../api/ownership.js";
import type { PinningWorld } from "../../api/pinning.js";
import { podRevision } from "../../api/revisions.js";
import type { ReadCache } from "./cache.js";
import type { CachedPod } from "./trim.js";

/** A StatefulSet as an owner: by uid when both it and the pod's reference carry one, else by name. */
export interface StatefulSetRef {
  name: string;
  uid?: string;
}

export interface ClusterView extends GuardWorld, PinningWorld {
  /** Every cache behind the view has loaded and is within its staleness bound. */
  readonly synced: boolean;
  /** A managed pod. */
  pod(namespace: string, name: string): CachedPod | undefined;
  /** The managed pods the StatefulSet controls (an index lookup). */
  podsOf(namespace: string, statefulSet: StatefulSetRef): readonly CachedPod[];
  /** How many of those pods run each revision (pods without a revision label are left out); O(revisions). */
  revisionCounts(namespace: string, statefulSet: StatefulSetRef): ReadonlyMap<string, number>;
  /** A managed StatefulSet. */
  statefulSet(namespace: string, name: string): k8s.V1StatefulSet | undefined;
  /** The managed StatefulSets of a namespace. */
  statefulSets(namespace: string): readonly k8s.V1StatefulSet[];
  /** A StatefulsetRollout as stored (unparsed: parse with api/rollout.ts parseRollout). */
  rollout(namespace: string, name: string): k8s.KubernetesObject | undefined;
  /** The StatefulsetRollouts of a namespace, unparsed. */
  rollouts(namespace: string): readonly k8s.KubernetesObject[];
  /** A ControllerRevision of a managed StatefulSet. */
  controllerRevision(namespace: string, name: string): k8s.V1ControllerRevision | undefined;
  controllerRevisions(namespace: string): readonly k8s.V1ControllerRevision[];
}

/** The caches a view reads. */
export interface ClusterCaches {
  pods: ReadCache<CachedPod>;
  statefulSets: ReadCache<k8s.V1StatefulSet>;
  rollouts: ReadCache<k8s.KubernetesObject>;
  controllerRevisions: ReadCache<k8s.V1ControllerRevision>;
}

export function clusterView(caches: ClusterCaches): ClusterView {
  const byOwner = new PodsByOwner();
  for (const pod of caches.pods.list()) byOwner.apply(pod, "add");
  caches.pods.onChange((pod, event) => byOwner.apply(pod, event));
  return {
    get synced() {
      return (
        caches.pods.isSynced() &&
        caches.statefulSets.isSynced() &&
        caches.rollouts.isSynced() &&
        caches.controllerRevisions.isSynced()
      );
    },
    pod: (namespace, name) => caches.pods.get(namespace, name),
    podsOf: (namespace, sts) => byOwner.podsOf(namespace, sts),
    revisionCounts: (namespace, sts) => byOwner.revisionCounts(namespace, sts),
    statefulSet: (namespace, name) => caches.statefulSets.get(namespace, name),
    statefulSets: (namespace) => caches.statefulSets.list(namespace),
    rollout: (namespace, name) => caches.rollouts.get(namespace, name),
    rollouts: (namespace) => caches.rollouts.list(namespace),
    controllerRevision: (namespace, name) => caches.controllerRevisions.get(namespace, name),
    controllerRevisions: (namespace) => caches.controllerRevisions.list(namespace),
  };
}

interface Indexed {
  pod: CachedPod;
  /** namespace/StatefulSet name. */
  owner: string;
  /** The controller reference's uid; "" when it carries none. */
  ownerUid: string;
  revision: string | undefined;
}

interface OwnerGroup {
  pods: Map<string, Indexed>;
  /** ownerUid -> revision -> pods. */
  counts: Map<string, Map<string, number>>;
}

const EMPTY_COUNTS: ReadonlyMap<string, number> = new Map();

/** Pods by controlling StatefulSet, fed with the pod cache's changes. Bounded by the cache. */
export class PodsByOwner {
  /** namespace/pod -> its entry. */
  private readonly entries = new Map<string, Indexed>();
  /** namespace/StatefulSet -> its pods. */
  private readonly owners = new Map<string, OwnerGroup>();

  apply(pod: CachedPod, event: "add" | "update" | "delete"): void {
    const namespace = pod.metadata?.namespace ?? "";
    const key = `${namespace}/${pod.metadata?.name ?? ""}`;
    const previous = this.entries.get(key);
    if (previous) this.remove(key, previous);
    if (event === "delete") return;
    const owner = owningStatefulSet(pod);
    if (!owner) return;
    const entry: Indexed = {
      pod,
      owner: `${namespace}/${owner.name}`,
      ownerUid: owner.uid ?? "",
      revision: podRevision(pod),
    };
    this.entries.set(key, entry);
    let group = this.owners.get(entry.owner);
    if (!group) this.owners.set(entry.owner, (group = { pods: new Map(), counts: new Map() }));
    group.pods.set(key, entry);
    if (entry.revision !== undefined) {
      let counts = group.counts.get(entry.ownerUid);
      if (!counts) group.counts.set(entry.ownerUid, (counts = new Map()));
      counts.set(entry.revision, (counts.get(entry.revision) ?? 0) + 1);
    }
  }

  podsOf(namespace: string, sts: StatefulSetRef): CachedPod[] {
    const group = this.owners.get(`${namespace}/${sts.name}`);
    if (!group) return [];
    const out: CachedPod[] = [];
    for (const entry of group.pods.values()) if (matches(entry.ownerUid, sts.uid)) out.push(entry.pod);
    return out;
  }

  revisionCounts(namespace: string, sts: StatefulSetRef): ReadonlyMap<string, number> {
    const group = this.owners.get(`${namespace}/${sts.name}`);
    if (!group) return EMPTY_COUNTS;
    // Nearly always one uid group: the StatefulSet's own.
    const matching = [...group.counts.entries()].filter(([uid]) => matches(uid, sts.uid));
    if (matching.length === 1) return matching[0]![1];
    const sum = new Map<string, number>();
    for (const [, counts] of matching)
      for (const [revision, n] of counts) sum.set(revision, (sum.get(revision) ?? 0) + n);
    return sum;
  }

  private remove(key: string, entry: Indexed): void {
    this.entries.delete(key);
    const group = this.owners.get(entry.owner);
    if (!group) return;
    group.pods.delete(key);
    if (entry.revision !== undefined) {
      const counts = group.counts.get(entry.ownerUid);
      const n = (counts?.get(entry.revision) ?? 0) - 1;
      if (counts && n > 0) counts.set(entry.revision, n);
      else if (counts) {
        counts.delete(entry.revision);
        if (counts.size === 0) group.counts.delete(entry.ownerUid);
      }
    }
    if (group.pods.size === 0) this.owners.delete(entry.owner);
  }
}

/** api/ownership.ts isOwnedBy: by uid when both sides have one, else the name (already matched) decides. */
function matches(ownerUid: string, stsUid: string | undefined): boolean {
  return ownerUid === "" || !stsUid || ownerUid === stsUid;
}
