// Fixtures shared by the leak-guard unit and component tests: a managed StatefulSet "web" of 6
// pods, 3 on the new revision, owned by rollout "web" paused at 50% (DESIGN.md §4's split).
import type { AdmissionRequest } from "../../api/admission.js";
import type { GuardPod, GuardStatefulSet, GuardWorld } from "../../api/leak-guard.js";
import { isOwnedBy, owningStatefulSet } from "../../api/ownership.js";
import { podRevision } from "../../api/revisions.js";

export const NS = "shop";
export const OLD = "web-6c4d8f";
export const NEW = "web-7f9b2a";
export const RECONCILER = "system:serviceaccount:bulkhead:bulkhead-reconciler";
export const USER = "alice@example.com";

export function pod(
  name: string,
  revision: string | undefined,
  extra: Partial<GuardPod> = {},
  stsName = "web",
): GuardPod {
  return {
    metadata: {
      name,
      namespace: NS,
      uid: `uid-${name}`,
      labels: { "bulkhead.dev/managed": "true", ...(revision ? { "controller-revision-hash": revision } : {}) },
      ownerReferences: [
        { apiVersion: "apps/v1", kind: "StatefulSet", name: stsName, uid: `uid-sts-${stsName}`, controller: true },
      ],
      ...extra.metadata,
    },
    spec: { nodeName: "node-1", ...extra.spec },
    ...(extra.status ? { status: extra.status } : {}),
  };
}

export function statefulSet(name = "web", rollout: string | null = "web", updateRevision = NEW): GuardStatefulSet {
  return {
    metadata: {
      name,
      namespace: NS,
      uid: `uid-sts-${name}`,
      labels: { "bulkhead.dev/managed": "true" },
      ownerReferences: rollout
        ? [
            {
              apiVersion: "bulkhead.dev/v1alpha1",
              kind: "StatefulsetRollout",
              name: rollout,
              uid: `uid-rollout-${rollout}`,
              controller: true,
            },
          ]
        : [],
    },
    status: { updateRevision },
  };
}

export interface RolloutFixture {
  percent?: number;
  pauseRequested?: boolean;
  paused?: boolean;
  phase?: string;
  leakProtection?: string;
  channel?: string;
}

export function rollout(name = "web", f: RolloutFixture = {}): Record<string, unknown> {
  return {
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: { name, namespace: NS, uid: `uid-rollout-${name}` },
    spec: {
      statefulset: { metadata: { name }, spec: { selector: { matchLabels: { app: name } }, template: {} } },
      percent: f.percent ?? 50,
      pauseRequested: f.pauseRequested ?? false,
      channel: f.channel ?? "#deploys",
      ...(f.leakProtection ? { leakProtection: f.leakProtection } : {}),
    },
    status: { phase: f.phase ?? "Paused", paused: f.paused ?? true, percentDeployed: 50 },
  };
}

export interface WorldFixture {
  synced: boolean;
  pods: GuardPod[];
  statefulSets: GuardStatefulSet[];
  rollouts: Array<Record<string, unknown>>;
}

/** The split: web-0..2 new, web-3..5 old, rollout paused at 50%, mode from the rollout or default. */
export function splitWorld(rolloutFixture: RolloutFixture = {}): WorldFixture {
  return {
    synced: true,
    pods: [0, 1, 2, 3, 4, 5].map((i) => pod(`web-${i}`, i < 3 ? NEW : OLD)),
    statefulSets: [statefulSet()],
    rollouts: [rollout("web", rolloutFixture)],
  };
}

export function worldOf(f: WorldFixture): GuardWorld {
  const named = <T extends { metadata?: { name?: string; namespace?: string } }>(
    items: T[],
    ns: string,
    name: string,
  ): T | undefined => items.find((i) => i.metadata?.name === name && (i.metadata?.namespace ?? NS) === ns);
  return {
    synced: f.synced,
    pod: (ns, name) => named(f.pods, ns, name),
    statefulSet: (ns, name) => named(f.statefulSets, ns, name),
    // The rule the view's index keeps (adapters/kube/cluster-view.ts), counted the plain way.
    revisionCounts: (ns, sts) => {
      const counts = new Map<string, number>();
      for (const p of f.pods) {
        const revision = podRevision(p);
        if ((p.metadata?.namespace ?? NS) !== ns || revision === undefined) continue;
        if (!isOwnedBy(owningStatefulSet(p), sts)) continue;
        counts.set(revision, (counts.get(revision) ?? 0) + 1);
      }
      return counts;
    },
    rollout: (ns, name) => named(f.rollouts as Array<{ metadata?: { name?: string; namespace?: string } }>, ns, name),
  };
}

export interface EvictionOptions {
  version?: "v1" | "v1beta1";
  username?: string;
  dryRun?: boolean;
  deleteOptionsDryRun?: boolean;
  namespace?: string;
}

export function evictionRequest(podName: string, o: EvictionOptions = {}): AdmissionRequest {
  const version = o.version ?? "v1";
  const namespace = o.namespace ?? NS;
  return {
    uid: `uid-evict-${podName}`,
    kind: { group: "policy", version, kind: "Eviction" },
    resource: { group: "", version: "v1", resource: "pods" },
    subResource: "eviction",
    requestKind: { group: "policy", version, kind: "Eviction" },
    name: podName,
    namespace,
    operation: "CREATE",
    userInfo: { username: o.username ?? USER, groups: ["system:authenticated"] },
    object: {
      apiVersion: `policy/${version}`,
      kind: "Eviction",
      metadata: { name: podName, namespace },
      ...(o.deleteOptionsDryRun ? { deleteOptions: { dryRun: ["All"] } } : {}),
    },
    dryRun: o.dryRun ?? false,
    options: { apiVersion: "meta.k8s.io/v1", kind: "CreateOptions" },
  };
}

export function deleteRequest(
  target: GuardPod,
  o: { username?: string; dryRun?: boolean; optionsDryRun?: boolean } = {},
): AdmissionRequest {
  const name = target.metadata?.name ?? "";
  return {
    uid: `uid-delete-${name}`,
    kind: { group: "", version: "v1", kind: "Pod" },
    resource: { group: "", version: "v1", resource: "pods" },
    name,
    namespace: target.metadata?.namespace ?? NS,
    operation: "DELETE",
    userInfo: { username: o.username ?? USER },
    oldObject: target,
    dryRun: o.dryRun ?? false,
    options: { apiVersion: "meta.k8s.io/v1", kind: "DeleteOptions", ...(o.optionsDryRun ? { dryRun: ["All"] } : {}) },
  };
}
