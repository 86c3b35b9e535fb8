// Fixtures shared by the group-guard unit and component tests: group "ingester" in namespace
// "obs", one StatefulsetRollout per zone (ingester-a/b/c, orders 1-3), each owning a managed
// StatefulSet of 4 Ready pods pinned to its zone by node affinity.
import type { AdmissionRequest } from "../../api/admission.js";
import type { GroupGuardWorld } from "../../api/group-disruption.js";
import type { GuardPod, GuardStatefulSet } from "../../api/leak-guard.js";

export const GNS = "obs";
export const GROUP = "ingester";
export const ZONES = ["a", "b", "c"] as const;
export const REVISION = "ingester-rev1";

export interface GroupWorldFixture {
  synced: boolean;
  pods: GuardPod[];
  statefulSets: GuardStatefulSet[];
  rollouts: Array<Record<string, unknown>>;
}

const zoneTemplate = (zone: string) => ({
  metadata: { labels: { app: "ingester" } },
  spec: {
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: "topology.kubernetes.io/zone", operator: "In", values: [`zone-${zone}`] }] },
          ],
        },
      },
    },
  },
});

export function groupRollout(zone: string, order: number, extra: { group?: string | null; replicas?: number } = {}) {
  const name = `ingester-${zone}`;
  const group = extra.group === undefined ? GROUP : extra.group;
  return {
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: { name, namespace: GNS, uid: `uid-rollout-${name}` },
    spec: {
      statefulset: {
        metadata: { name },
        spec: {
          replicas: extra.replicas ?? 4,
          selector: { matchLabels: { app: name } },
          template: zoneTemplate(zone),
        },
      },
      percent: 100,
      ...(group ? { group: { name: group, order } } : {}),
    },
    status: { phase: "RolloutDone" },
  };
}

export function groupStatefulSet(
  zone: string,
  replicas = 4,
  owner: string | null = `ingester-${zone}`,
): GuardStatefulSet {
  const name = `ingester-${zone}`;
  return {
    metadata: {
      name,
      namespace: GNS,
      uid: `uid-sts-${name}`,
      labels: { "bulkhead.dev/managed": "true" },
      ownerReferences: owner
        ? [
            {
              apiVersion: "bulkhead.dev/v1alpha1",
              kind: "StatefulsetRollout",
              name: owner,
              uid: `uid-rollout-${owner}`,
              controller: true,
            },
          ]
        : [],
    },
    spec: { replicas, template: zoneTemplate(zone) },
    status: { updateRevision: REVISION },
  };
}

export function groupPod(
  zone: string,
  ordinal: number,
  state: { ready?: boolean; terminating?: boolean } = {},
): GuardPod {
  const sts = `ingester-${zone}`;
  return {
    metadata: {
      name: `${sts}-${ordinal}`,
      namespace: GNS,
      uid: `uid-${sts}-${ordinal}`,
      labels: { "bulkhead.dev/managed": "true", "controller-revision-hash": REVISION },
      ownerReferences: [
        { apiVersion: "apps/v1", kind: "StatefulSet", name: sts, uid: `uid-sts-${sts}`, controller: true },
      ],
      ...(state.terminating ? { deletionTimestamp: "2026-11-30T12:00:00Z" } : {}),
    },
    spec: { nodeName: `kwok-node-${zone}` },
    status: { conditions: [{ type: "Ready", status: state.ready === false ? "False" : "True" }] },
  };
}

/** Three whole zones; `change` edits the lists before they are frozen. */
export function groupWorld(change: (f: GroupWorldFixture) => void = () => {}): GroupWorldFixture {
  const f: GroupWorldFixture = {
    synced: true,
    rollouts: ZONES.map((z, i) => groupRollout(z, i + 1)),
    statefulSets: ZONES.map((z) => groupStatefulSet(z)),
    pods: ZONES.flatMap((z) => [0, 1, 2, 3].map((i) => groupPod(z, i))),
  };
  change(f);
  return f;
}

/** Replaces pod `name` in the fixture. */
export function setPod(f: GroupWorldFixture, pod: GuardPod): void {
  f.pods = f.pods.map((p) => (p.metadata?.name === pod.metadata?.name ? pod : p));
}

export function groupWorldOf(f: GroupWorldFixture): GroupGuardWorld {
  const named = <T extends { metadata?: { name?: string; namespace?: string } }>(
    items: T[],
    ns: string,
    name: string,
  ) => items.find((i) => i.metadata?.name === name && i.metadata?.namespace === ns);
  const rollouts = f.rollouts as Array<{ metadata?: { name?: string; namespace?: string } }>;
  return {
    synced: f.synced,
    pod: (ns, name) => named(f.pods, ns, name),
    statefulSet: (ns, name) => named(f.statefulSets, ns, name),
    pods: (ns) => f.pods.filter((p) => p.metadata?.namespace === ns),
    rollout: (ns, name) => named(rollouts, ns, name),
    rolloutsIn: (ns) => rollouts.filter((r) => r.metadata?.namespace === ns),
  };
}

export function groupEviction(pod: string, o: { username?: string; dryRun?: boolean } = {}): AdmissionRequest {
  return {
    uid: `uid-evict-${pod}`,
    kind: { group: "policy", version: "v1", kind: "Eviction" },
    resource: { group: "", version: "v1", resource: "pods" },
    subResource: "eviction",
    name: pod,
    namespace: GNS,
    operation: "CREATE",
    userInfo: { username: o.username ?? "alice@example.com" },
    object: {
      apiVersion: "policy/v1",
      kind: "Eviction",
      metadata: { name: pod, namespace: GNS },
      ...(o.dryRun ? { deleteOptions: { dryRun: ["All"] } } : {}),
    },
    dryRun: o.dryRun ?? false,
  };
}

export function groupDelete(target: GuardPod, o: { username?: string; dryRun?: boolean } = {}): AdmissionRequest {
  return {
    uid: `uid-delete-${target.metadata?.name ?? ""}`,
    kind: { group: "", version: "v1", kind: "Pod" },
    resource: { group: "", version: "v1", resource: "pods" },
    name: target.metadata?.name ?? "",
    namespace: GNS,
    operation: "DELETE",
    userInfo: { username: o.username ?? "alice@example.com" },
    oldObject: target,
    dryRun: o.dryRun ?? false,
  };
}
