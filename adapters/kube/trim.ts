// What the informer caches keep of each object: the fields some decision reads, nothing else.
// Applied to every object as it is received (list and watch), before it enters a cache, so a
// cached object is never changed afterwards. A 1,000-pod StatefulSet's pods as the apiserver
// sends them are mostly managedFields, container specs and volume lists no decision reads.
//
// Who reads what (keep this in step when a decision starts reading a new field):
//   pods          api/leak-guard.ts (GuardPod), api/observe.ts observePod (reconciler)
//   StatefulSets  api/pinning.ts + webhook/pinning (template, serviceName, volumeClaimTemplates,
//                 updateRevision), api/pdb-policy.ts (template labels, annotations),
//                 api/statefulset-policy.ts and rollout admission (owner, name), the reconciler's
//                 enqueueing (owner)
//   revisions     webhook/pinning (data: the pod template; the hash label; owners)
//   PDBs          api/observe.ts observePdb (reconciler)
//   rollouts      parseRollout (the whole spec), the leak guard and pinning (status: phase,
//                 paused, percentDeployed, revisions, ordinals, waves, templatePending,
//                 revisionMissing, group), metrics (phase). Not read from a cache: the pods
//                 (podSummary, or an older per-pod list), the history and the previous template (the reconciler reads its rollout
//                 live; kubectl sroll and the dashboard read live too).
import type * as k8s from "@kubernetes/client-node";

/** kubectl apply's copy of the whole object: large, and read by nothing here. */
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

type Meta = k8s.V1ObjectMeta;

/** The metadata fields every cached object keeps. resourceVersion: the informer compares versions. */
function baseMeta(meta: Meta | undefined): Meta {
  const out: Meta = {};
  if (!meta) return out;
  if (meta.name !== undefined) out.name = meta.name;
  if (meta.namespace !== undefined) out.namespace = meta.namespace;
  if (meta.uid !== undefined) out.uid = meta.uid;
  if (meta.resourceVersion !== undefined) out.resourceVersion = meta.resourceVersion;
  if (meta.generation !== undefined) out.generation = meta.generation;
  if (meta.creationTimestamp !== undefined) out.creationTimestamp = meta.creationTimestamp;
  if (meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null)
    out.deletionTimestamp = meta.deletionTimestamp;
  if (meta.labels) out.labels = { ...meta.labels };
  if (meta.ownerReferences)
    out.ownerReferences = meta.ownerReferences.map((o) => {
      const ref: k8s.V1OwnerReference = { apiVersion: o.apiVersion, kind: o.kind, name: o.name, uid: o.uid };
      if (o.controller !== undefined) ref.controller = o.controller;
      return ref;
    });
  if (meta.finalizers) out.finalizers = [...meta.finalizers];
  return out;
}

/** baseMeta plus the annotations, without kubectl's last-applied copy. */
function metaWithAnnotations(meta: Meta | undefined): Meta {
  const out = baseMeta(meta);
  if (meta?.annotations) {
    const { [LAST_APPLIED]: _dropped, ...rest } = meta.annotations;
    if (Object.keys(rest).length > 0) out.annotations = rest;
  }
  return out;
}

/** The parts of a pod the caches keep (a subset of V1Pod; spec has no containers). */
export interface CachedPod {
  apiVersion?: string;
  kind?: string;
  metadata?: Meta;
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    reason?: string;
    podIP?: string;
    conditions?: Array<{ type: string; status: string; reason?: string }>;
    containerStatuses?: CachedContainerStatus[];
    initContainerStatuses?: CachedContainerStatus[];
  };
}

export interface CachedContainerStatus {
  name?: string;
  state?: { waiting?: { reason?: string } };
}

function containerStatuses(list: readonly k8s.V1ContainerStatus[] | undefined): CachedContainerStatus[] | undefined {
  if (!list) return undefined;
  return list.map((c) => {
    const reason = c.state?.waiting?.reason;
    return { name: c.name, ...(reason !== undefined ? { state: { waiting: { reason } } } : {}) };
  });
}

export function trimPod(pod: k8s.V1Pod): CachedPod {
  const out: CachedPod = { metadata: baseMeta(pod.metadata) };
  if (pod.spec?.nodeName) out.spec = { nodeName: pod.spec.nodeName };
  const s = pod.status;
  if (s) {
    const status: NonNullable<CachedPod["status"]> = {};
    if (s.phase !== undefined) status.phase = s.phase;
    if (s.reason !== undefined) status.reason = s.reason;
    if (s.podIP !== undefined) status.podIP = s.podIP;
    if (s.conditions)
      status.conditions = s.conditions.map((c) => ({
        type: c.type,
        status: c.status,
        ...(c.reason !== undefined ? { reason: c.reason } : {}),
      }));
    const containers = containerStatuses(s.containerStatuses);
    if (containers) status.containerStatuses = containers;
    const inits = containerStatuses(s.initContainerStatuses);
    if (inits) status.initContainerStatuses = inits;
    out.status = status;
  }
  return out;
}

/** The spec is kept whole (pinning rebuilds pods from the template); status only the revisions. */
export function trimStatefulSet(sts: k8s.V1StatefulSet): k8s.V1StatefulSet {
  const out: k8s.V1StatefulSet = { metadata: metaWithAnnotations(sts.metadata) };
  if (sts.spec) out.spec = sts.spec;
  const s = sts.status;
  if (s) {
    out.status = { replicas: s.replicas };
    if (s.observedGeneration !== undefined) out.status.observedGeneration = s.observedGeneration;
    if (s.updateRevision !== undefined) out.status.updateRevision = s.updateRevision;
    if (s.currentRevision !== undefined) out.status.currentRevision = s.currentRevision;
  }
  return out;
}

export function trimControllerRevision(cr: k8s.V1ControllerRevision): k8s.V1ControllerRevision {
  return { metadata: baseMeta(cr.metadata), data: cr.data, revision: cr.revision };
}

export function trimPdb(pdb: k8s.V1PodDisruptionBudget): k8s.V1PodDisruptionBudget {
  const out: k8s.V1PodDisruptionBudget = { metadata: metaWithAnnotations(pdb.metadata) };
  if (pdb.spec) out.spec = pdb.spec;
  const s = pdb.status;
  if (s)
    out.status = {
      currentHealthy: s.currentHealthy,
      desiredHealthy: s.desiredHealthy,
      disruptionsAllowed: s.disruptionsAllowed,
      expectedPods: s.expectedPods,
      ...(s.observedGeneration !== undefined ? { observedGeneration: s.observedGeneration } : {}),
    };
  return out;
}

/**
 * Status fields no cache reader needs: the pods (podSummary, and the per-pod list an earlier
 * version wrote, ~75 KB at 1,000 pods), the history and the previous template.
 */
const UNCACHED_ROLLOUT_STATUS = ["pods", "podSummary", "history", "previousTemplate"] as const;

export function trimRollout(rollout: k8s.KubernetesObject): k8s.KubernetesObject {
  const { metadata, ...rest } = rollout as k8s.KubernetesObject & { status?: Record<string, unknown> };
  const out = { ...rest, metadata: metaWithAnnotations(metadata) } as k8s.KubernetesObject & {
    status?: Record<string, unknown>;
  };
  if (rest.status && typeof rest.status === "object") {
    const status = { ...rest.status };
    for (const key of UNCACHED_ROLLOUT_STATUS) delete status[key];
    out.status = status;
  }
  return out;
}
