// The reconciler's view of the world: small plain records built from Kubernetes objects, so the
// decision (api/reconcile.ts) is a pure function of (rollout, world, now). The input types are
// structural — they accept @kubernetes/client-node objects without importing the client here.
import { canonicalJson } from "./desired.js";
import type { GroupView } from "./groups.js";
import { owningStatefulSet, type OwnerReferenceLike } from "./ownership.js";
import { podOrdinal, podRevision } from "./revisions.js";

type Time = string | Date;

export interface PodObject {
  metadata?: {
    name?: string;
    uid?: string;
    labels?: Record<string, string>;
    creationTimestamp?: Time;
    deletionTimestamp?: Time;
    ownerReferences?: OwnerReferenceLike[];
  };
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: Array<{ type?: string; status?: string }>;
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}

interface ContainerStatus {
  name?: string;
  state?: { waiting?: { reason?: string; message?: string } };
}

export interface ObservedPod {
  name: string;
  uid: string;
  ordinal: number;
  revision?: string;
  ready: boolean;
  terminating: boolean;
  phase?: string;
  createdAt?: string;
  /** "container app: CrashLoopBackOff" when a container cannot run. */
  problem?: string;
  crashLooping: boolean;
  ip?: string;
  nodeName?: string;
}

/** Waiting reasons that mean the container will not start by itself. */
const STUCK_REASONS = new Set([
  "CrashLoopBackOff",
  "ImagePullBackOff",
  "ErrImagePull",
  "InvalidImageName",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
]);

const iso = (t: Time | undefined): string | undefined => (t === undefined ? undefined : new Date(t).toISOString());

/** A pod of the StatefulSet `statefulSetName` as the reconciler sees it; undefined for other pods. */
export function observePod(pod: PodObject, statefulSetName: string): ObservedPod | undefined {
  const name = pod.metadata?.name;
  if (!name) return undefined;
  const ordinal = podOrdinal(name, statefulSetName);
  if (ordinal === undefined) return undefined;
  // A pod with owners must be controlled by this StatefulSet; one with none is an orphan of its name.
  if ((pod.metadata?.ownerReferences?.length ?? 0) > 0 && owningStatefulSet(pod)?.name !== statefulSetName)
    return undefined;
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const stuck = statuses.find((c) => STUCK_REASONS.has(c.state?.waiting?.reason ?? ""));
  const reason = stuck?.state?.waiting?.reason;
  const observed: ObservedPod = {
    name,
    uid: pod.metadata?.uid ?? "",
    ordinal,
    revision: podRevision(pod),
    ready: pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    terminating: pod.metadata?.deletionTimestamp !== undefined && pod.metadata?.deletionTimestamp !== null,
    phase: pod.status?.phase,
    createdAt: iso(pod.metadata?.creationTimestamp),
    crashLooping: reason === "CrashLoopBackOff",
  };
  if (stuck) observed.problem = `container ${stuck.name ?? "?"}: ${reason}`;
  else if (pod.status?.phase === "Pending") observed.problem = "Pending";
  if (pod.status?.podIP) observed.ip = pod.status.podIP;
  if (pod.spec?.nodeName) observed.nodeName = pod.spec.nodeName;
  return observed;
}

export interface StatefulSetObject {
  metadata?: {
    name?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReferenceLike[];
    deletionTimestamp?: Time;
  };
  spec?: {
    replicas?: number;
    revisionHistoryLimit?: number;
    selector?: { matchLabels?: Record<string, string> };
    template?: object;
    updateStrategy?: { type?: string };
  };
  status?: { observedGeneration?: number; updateRevision?: string; currentRevision?: string };
}

export interface ObservedStatefulSet {
  name: string;
  uid: string;
  generation: number;
  observedGeneration: number;
  replicas: number;
  updateRevision?: string;
  currentRevision?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** All owner references, for the one-owner rule (api/ownership.ts ownershipOf). */
  ownerReferences: OwnerReferenceLike[];
  /** Unset: the apiserver's default (10). */
  revisionHistoryLimit?: number;
  updateStrategy?: string;
  selector: Record<string, string>;
  template: object;
  deleting: boolean;
}

export function observeStatefulSet(sts: StatefulSetObject): ObservedStatefulSet {
  return {
    name: sts.metadata?.name ?? "",
    uid: sts.metadata?.uid ?? "",
    generation: sts.metadata?.generation ?? 0,
    observedGeneration: sts.status?.observedGeneration ?? 0,
    replicas: sts.spec?.replicas ?? 1,
    updateRevision: sts.status?.updateRevision,
    currentRevision: sts.status?.currentRevision,
    labels: { ...(sts.metadata?.labels ?? {}) },
    annotations: { ...(sts.metadata?.annotations ?? {}) },
    ownerReferences: (sts.metadata?.ownerReferences ?? []).map((o) => ({ ...o })),
    ...(sts.spec?.revisionHistoryLimit !== undefined ? { revisionHistoryLimit: sts.spec.revisionHistoryLimit } : {}),
    updateStrategy: sts.spec?.updateStrategy?.type,
    selector: { ...(sts.spec?.selector?.matchLabels ?? {}) },
    template: sts.spec?.template ?? {},
    deleting: sts.metadata?.deletionTimestamp !== undefined && sts.metadata?.deletionTimestamp !== null,
  };
}

/**
 * What of a StatefulSet a decision reads (observeStatefulSet; the group view reads its metadata
 * and spec), as one string, the spec by metadata.generation. The StatefulSet controller rewrites
 * the status counts (replicas, readyReplicas, ...) on every pod change; an informer event that
 * leaves this unchanged cannot change a decision, so it does not wake a pass (the pod's own event
 * does).
 */
export function statefulSetDecisionKey(sts: StatefulSetObject): string {
  const { template: _spec, ...read } = observeStatefulSet(sts);
  return canonicalJson(read);
}

export interface PdbObject {
  metadata?: {
    name?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReferenceLike[];
  };
  spec?: {
    maxUnavailable?: number | string;
    minAvailable?: number | string;
    selector?: { matchLabels?: Record<string, string> };
    unhealthyPodEvictionPolicy?: string;
  };
  status?: {
    observedGeneration?: number;
    disruptionsAllowed?: number;
    currentHealthy?: number;
    desiredHealthy?: number;
  };
}

export interface ObservedPdb {
  name: string;
  generation: number;
  observedGeneration: number;
  maxUnavailable?: number | string;
  minAvailable?: number | string;
  selector: Record<string, string>;
  unhealthyPodEvictionPolicy?: string;
  disruptionsAllowed: number;
  /** Pods the disruption controller counted healthy when it computed disruptionsAllowed (unset: not reported). */
  currentHealthy?: number;
  labels: Record<string, string>;
}

export function observePdb(pdb: PdbObject): ObservedPdb {
  const observed: ObservedPdb = {
    name: pdb.metadata?.name ?? "",
    generation: pdb.metadata?.generation ?? 0,
    observedGeneration: pdb.status?.observedGeneration ?? 0,
    maxUnavailable: pdb.spec?.maxUnavailable,
    minAvailable: pdb.spec?.minAvailable,
    selector: { ...(pdb.spec?.selector?.matchLabels ?? {}) },
    unhealthyPodEvictionPolicy: pdb.spec?.unhealthyPodEvictionPolicy,
    disruptionsAllowed: pdb.status?.disruptionsAllowed ?? 0,
    labels: { ...(pdb.metadata?.labels ?? {}) },
  };
  if (pdb.status?.currentHealthy !== undefined) observed.currentHealthy = pdb.status.currentHealthy;
  return observed;
}

/** Consul's view, when spec.serviceDiscovery is set: pods passing every check, or why we cannot tell. */
export type ObservedHealth =
  | { ok: true; passingPods: readonly string[]; services: readonly string[]; missingServices: readonly string[] }
  | { ok: false; error: string };

export interface World {
  statefulSet?: ObservedStatefulSet;
  pods: readonly ObservedPod[];
  pdb?: ObservedPdb;
  /** Undefined when the rollout has no serviceDiscovery (or no health gate is configured). */
  health?: ObservedHealth;
  /** Set when spec.serviceDiscovery asks for a health gate this install cannot check (api/rollout-admission.ts healthGateOf). */
  healthGateUnchecked?: string;
  /**
   * The rollout's status.currentRevision when it was looked up (only while split) and its
   * ControllerRevision no longer exists; undefined when it exists or was not looked up.
   */
  revisionGone?: string;
  /** Set when the rollout names spec.group: every member as last observed (api/groups.ts). */
  group?: GroupView;
}
