// The leak guard (DESIGN.md §4): may this eviction or delete of a pod go ahead? One pure decision
// behind /validate/eviction and /validate/pod-delete. Under OnDelete a removed pod comes back on
// the *new* template, so removing an old pod while a rollout is held part-way (paused, partial or
// failed) moves the rollout by itself: the "version leak". The world (caches) is read through the
// small GuardWorld view so the whole table is testable without I/O.
import type { AdmissionRequest, UserInfo } from "./admission.js";
import { isManaged } from "./labels.js";
import { owningRollout, owningStatefulSet, type OwnerReferenceLike } from "./ownership.js";
import { podRevision } from "./revisions.js";
import { type LeakProtectionMode, type StatefulsetRollout, leakProtectionOf, parseStoredRollout } from "./rollout.js";

export type DisruptionVia = "eviction" | "delete";

/** What the request asks: remove pod `namespace/podName`, by eviction or delete. */
export interface DisruptionRequest {
  via: DisruptionVia;
  namespace: string;
  podName: string;
  dryRun: boolean;
  caller: UserInfo;
  /** The pod as the request carries it (DELETE's oldObject); evictions carry none. */
  pod?: GuardPod;
}

export type ParsedDisruption =
  | { kind: "disruption"; request: DisruptionRequest }
  /** Not something this endpoint guards (webhook rules misconfigured): allowed, with a warning. */
  | { kind: "ignored"; warning: string }
  /** Malformed: answered 400. */
  | { kind: "malformed"; error: string };

interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReferenceLike[];
  deletionTimestamp?: unknown;
}

/** The parts of a pod the guard reads. */
export interface GuardPod {
  metadata?: ObjectMeta;
  spec?: { nodeName?: string };
  status?: { reason?: string; conditions?: Array<{ type?: string; status?: string; reason?: string }> };
}

/** The parts of a StatefulSet the guard reads. */
export interface GuardStatefulSet {
  metadata?: ObjectMeta;
  /** replicas and template: the zone-aware group guard (api/group-disruption.ts) reads them. */
  spec?: { replicas?: number; template?: unknown };
  status?: { updateRevision?: string };
}

/** A read-only view of the caches. */
export interface GuardWorld {
  /** All caches have loaded their first list. */
  synced: boolean;
  /** A managed pod (the cache holds managed pods only). */
  pod(namespace: string, name: string): GuardPod | undefined;
  /** A managed StatefulSet (the cache holds managed StatefulSets only). */
  statefulSet(namespace: string, name: string): GuardStatefulSet | undefined;
  /**
   * How many managed pods the StatefulSet controls per revision (api/ownership.ts: the controller
   * reference, by uid when both carry one); pods without a revision label are not counted. Asked
   * on every eviction of an old pod, so the view answers from an index.
   */
  revisionCounts(namespace: string, statefulSet: { name: string; uid?: string }): ReadonlyMap<string, number>;
  /** A StatefulsetRollout as stored (unparsed). */
  rollout(namespace: string, name: string): unknown;
}

export interface GuardPolicy {
  /** The reconciler's ServiceAccount username, e.g. system:serviceaccount:bulkhead:bulkhead-reconciler. */
  reconcilerUsername: string;
  /** The installation's leak-protection mode for rollouts that set none. */
  defaultMode: LeakProtectionMode;
}

/** Why a request is allowed. */
export type AllowReason =
  | "reconciler"
  | "system-controller"
  | "pod-terminating"
  | "pod-not-managed"
  | "node-lost"
  | "no-rollout"
  | "not-split"
  | "update-revision"
  | "mode-pin"
  | "mode-off"
  // Fail-safe reasons: something the decision needs is missing, and the guard fails open.
  | "caches-not-synced"
  | "statefulset-not-found"
  | "rollout-not-found"
  | "rollout-invalid"
  | "revision-unknown";

/**
 * Fail-safe reasons allow. Failing closed would refuse every eviction of managed pods while a
 * cache is down or lagging, and so block node drains cluster-wide; the revision pinning of
 * /mutate/pod still keeps a replacement on the old revision. They are logged and counted.
 */
export const FAIL_SAFE_REASONS: readonly AllowReason[] = [
  "caches-not-synced",
  "statefulset-not-found",
  "rollout-not-found",
  "rollout-invalid",
  "revision-unknown",
];

/** What the alert, the Events and the message say about a removal that would leak. */
export interface LeakContext {
  via: DisruptionVia;
  namespace: string;
  pod: string;
  podUid?: string;
  podRevision: string;
  updateRevision: string;
  statefulSet: string;
  rollout: string;
  rolloutUid?: string;
  channel?: string;
  mode: LeakProtectionMode;
  percent: number;
  percentDeployed?: number;
  paused: boolean;
  failed: boolean;
  oldPods: number;
  newPods: number;
  caller: string;
}

export type LeakGuardDecision =
  | { verdict: "allow"; reason: AllowReason; failSafe: boolean; detail: string; leak?: LeakContext }
  | { verdict: "deny"; code: 429; message: string; leak: LeakContext }
  | { verdict: "flag"; message: string; leak: LeakContext };

const EVICTION_VERSIONS = ["v1", "v1beta1"];

/** Reads a pods/eviction CREATE (policy/v1 or v1beta1 Eviction). */
export function parseEvictionRequest(request: AdmissionRequest): ParsedDisruption {
  const { resource, subResource, operation } = request;
  if (resource?.resource !== "pods" || subResource !== "eviction" || operation !== "CREATE") {
    return {
      kind: "ignored",
      warning: `bulkhead leak guard: /validate/eviction only guards pods/eviction CREATE, not ${describeTarget(request)}; check the webhook configuration`,
    };
  }
  const eviction = asRecord(request.object);
  const kind = request.kind;
  if (kind && (kind.group !== "policy" || kind.kind !== "Eviction" || !EVICTION_VERSIONS.includes(kind.version))) {
    return {
      kind: "malformed",
      error: `expected a policy/v1 or policy/v1beta1 Eviction, got ${kind.group}/${kind.version} ${kind.kind}`,
    };
  }
  const metadata = asRecord(eviction?.metadata);
  return disruptionOf(request, "eviction", {
    podName: stringAt(metadata, "name"),
    namespace: stringAt(metadata, "namespace"),
    from: "object",
    options: asRecord(eviction?.deleteOptions),
  });
}

/** Reads a pods DELETE (the pod is in oldObject; object is absent). */
export function parsePodDeleteRequest(request: AdmissionRequest): ParsedDisruption {
  const { resource, subResource, operation } = request;
  if (resource?.resource !== "pods" || subResource || operation !== "DELETE") {
    return {
      kind: "ignored",
      warning: `bulkhead leak guard: /validate/pod-delete only guards pods DELETE, not ${describeTarget(request)}; check the webhook configuration`,
    };
  }
  const pod = guardPodOf(request.oldObject);
  return disruptionOf(request, "delete", {
    podName: pod?.metadata?.name,
    namespace: pod?.metadata?.namespace,
    from: "oldObject",
    options: asRecord(request.options),
    pod,
  });
}

/**
 * The disruption an eviction or a delete asks for: the pod named by the request (else by the
 * object it carries), dry run if the request or its options say so, and who asks.
 */
function disruptionOf(
  request: AdmissionRequest,
  via: DisruptionVia,
  carried: {
    podName: string | undefined;
    namespace: string | undefined;
    /** Where the carried object is in the request, for the error. */
    from: "object" | "oldObject";
    options: Record<string, unknown> | undefined;
    pod?: GuardPod | undefined;
  },
): ParsedDisruption {
  const podName = request.name || carried.podName;
  const namespace = request.namespace || carried.namespace;
  if (!podName)
    return {
      kind: "malformed",
      error: `the ${via} names no pod (request.name and ${carried.from}.metadata.name are empty)`,
    };
  if (!namespace) return { kind: "malformed", error: `the ${via} of pod ${podName} has no namespace` };
  return {
    kind: "disruption",
    request: {
      via,
      namespace,
      podName,
      dryRun: request.dryRun === true || isDryRun(carried.options?.dryRun),
      caller: request.userInfo ?? {},
      ...(carried.pod ? { pod: carried.pod } : {}),
    },
  };
}

/**
 * Controllers that remove pods as part of the cluster's own lifecycle: lost nodes (taint
 * eviction, pod GC), cascading deletes of a deleted StatefulSet or namespace, the StatefulSet
 * controller itself, and kubelets finishing a deletion. Blocking them jams the cluster; the
 * revision pinning of /mutate/pod keeps any replacement on the old revision.
 */
const SYSTEM_CONTROLLER_USERNAMES = new Set([
  "system:kube-controller-manager",
  ...[
    "node-controller",
    "taint-eviction-controller",
    "pod-garbage-collector",
    "generic-garbage-collector",
    "namespace-controller",
    "statefulset-controller",
  ].map((name) => `system:serviceaccount:kube-system:${name}`),
]);

export function isSystemController(user: UserInfo): boolean {
  const name = user.username ?? "";
  return SYSTEM_CONTROLLER_USERNAMES.has(name) || name.startsWith("system:node:");
}

/** Disruption reasons set on a pod by the controllers that remove pods of lost nodes. */
const NODE_LOSS_CONDITION_REASONS = new Set(["DeletionByTaintManager", "DeletionByPodGC"]);

/** What the node lifecycle controllers write on the pod itself; the webhook watches no nodes. */
function nodeLost(pod: GuardPod): boolean {
  if (pod.status?.reason === "NodeLost") return true;
  return (
    pod.status?.conditions?.some(
      (c) =>
        c.type === "DisruptionTarget" &&
        c.status === "True" &&
        c.reason !== undefined &&
        NODE_LOSS_CONDITION_REASONS.has(c.reason),
    ) ?? false
  );
}

/**
 * The apiserver-side form of the table's "pod-terminating" row, for the pod-delete webhook's
 * matchConditions: a DELETE of a pod that already has a deletionTimestamp is allowed by both
 * guards (this table and api/group-disruption.ts) with no Event, alert or refusal, because an
 * admitted delete or eviction already let the pod go. Such DELETEs are the kubelet's (or
 * KWOK's) final delete and the garbage collector's repeats: filtering them in the apiserver
 * takes the webhook off every pod's final removal (the apiserver validates a DELETE that
 * removes the object twice). `oldObject == null` keeps the webhook called should the apiserver
 * ever send no old object (a CEL error would apply the hook's Ignore and skip the guard).
 */
export const LIVE_POD_DELETE_CONDITION = {
  name: "pod-not-already-terminating",
  expression: "oldObject == null || !has(oldObject.metadata.deletionTimestamp)",
} as const;

/** The DESIGN.md §4 table. Never throws. */
export function decideLeakGuard(req: DisruptionRequest, world: GuardWorld, policy: GuardPolicy): LeakGuardDecision {
  const key = `${req.namespace}/${req.podName}`;
  const caller = req.caller.username ?? "";
  const allow = (reason: AllowReason, detail: string, leak?: LeakContext): LeakGuardDecision => ({
    verdict: "allow",
    reason,
    failSafe: FAIL_SAFE_REASONS.includes(reason),
    detail,
    ...(leak ? { leak } : {}),
  });

  if (policy.reconcilerUsername && caller === policy.reconcilerUsername) {
    return allow("reconciler", `${caller} is the Bulkhead reconciler; the PDB still applies`);
  }
  if (isSystemController(req.caller)) {
    return allow(
      "system-controller",
      `${caller} is a cluster controller removing pods as part of the node or object lifecycle`,
    );
  }
  // DELETE carries the pod itself, fresher than any cache; an eviction only names it.
  const pod = req.pod ?? world.pod(req.namespace, req.podName);
  if (pod?.metadata?.deletionTimestamp) {
    return allow("pod-terminating", `pod ${key} is already being deleted`);
  }
  if (req.pod && !isManaged(req.pod.metadata?.labels)) {
    return allow("pod-not-managed", `pod ${key} is not managed by Bulkhead`);
  }
  if (!world.synced) {
    return allow("caches-not-synced", `the webhook's caches have not loaded yet, so pod ${key} cannot be checked`);
  }
  if (!pod) {
    // The managed-pods cache holds every managed pod; absent means unmanaged (or created an
    // instant ago, too new to have a replacement problem).
    return allow("pod-not-managed", `pod ${key} is not a managed pod`);
  }
  const stsRef = owningStatefulSet(pod);
  if (!stsRef?.name) return allow("pod-not-managed", `pod ${key} belongs to no StatefulSet`);
  const stsName = stsRef.name;
  const sts = world.statefulSet(req.namespace, stsName);
  if (!sts) {
    return allow(
      "statefulset-not-found",
      `StatefulSet ${req.namespace}/${stsName} of pod ${key} is not a managed StatefulSet in the cache (unmanaged, or not seen yet)`,
    );
  }
  if (nodeLost(pod)) {
    return allow(
      "node-lost",
      `pod ${key} is on a lost node (${pod.spec?.nodeName ?? "unknown"}); pinning keeps its revision`,
    );
  }
  const rolloutName = owningRollout(sts)?.name;
  if (!rolloutName) {
    return allow(
      "no-rollout",
      `StatefulSet ${req.namespace}/${stsName} has no StatefulsetRollout, so nothing rolls it`,
    );
  }
  const raw = world.rollout(req.namespace, rolloutName);
  if (raw === undefined) {
    return allow(
      "rollout-not-found",
      `StatefulsetRollout ${req.namespace}/${rolloutName} of StatefulSet ${stsName} is not in the cache`,
    );
  }
  const parsed = parseStoredRollout(raw);
  if (!parsed.ok) {
    return allow(
      "rollout-invalid",
      `StatefulsetRollout ${req.namespace}/${rolloutName} does not parse: ${parsed.error}`,
    );
  }
  const rollout = parsed.value;
  const updateRevision = sts.status?.updateRevision;
  const revision = podRevision(pod);
  if (!updateRevision || !revision) {
    return allow(
      "revision-unknown",
      `pod ${key} or StatefulSet ${stsName} has no revision yet (pod: ${revision ?? "none"}, update: ${updateRevision ?? "none"})`,
    );
  }
  if (revision === updateRevision) {
    return allow(
      "update-revision",
      `pod ${key} is on the update revision ${updateRevision}; its replacement cannot leak`,
    );
  }
  const counts = world.revisionCounts(req.namespace, {
    name: stsName,
    ...(sts.metadata?.uid ? { uid: sts.metadata.uid } : {}),
  });
  const newPods = counts.get(updateRevision) ?? 0;
  let oldPods = -newPods;
  for (const n of counts.values()) oldPods += n;
  const held = rolloutHeld(rollout);
  const leak: LeakContext = {
    via: req.via,
    namespace: req.namespace,
    pod: req.podName,
    ...(pod.metadata?.uid ? { podUid: pod.metadata.uid } : {}),
    podRevision: revision,
    updateRevision,
    statefulSet: stsName,
    rollout: rolloutName,
    ...(rollout.metadata.uid ? { rolloutUid: rollout.metadata.uid } : {}),
    ...(rollout.spec.channel ? { channel: rollout.spec.channel } : {}),
    mode: leakProtectionOf(rollout, policy.defaultMode),
    percent: rollout.spec.percent,
    ...(rollout.status?.percentDeployed !== undefined ? { percentDeployed: rollout.status.percentDeployed } : {}),
    paused: held.paused,
    failed: held.failed,
    oldPods,
    newPods,
    caller,
  };
  // Split: old and new pods, or old pods while the reconciler applies a new template
  // (status.templatePending: the split is recorded before any new pod can exist).
  const splitPods = oldPods > 0 && (newPods > 0 || rollout.status?.templatePending === true);
  if (!splitPods || !(held.paused || held.partial || held.failed)) {
    return allow(
      "not-split",
      `rollout ${req.namespace}/${rolloutName} is not split (${oldPods} old, ${newPods} new pods, ${describeHold(rollout)})`,
    );
  }
  switch (leak.mode) {
    case "enforce":
      return { verdict: "deny", code: 429, message: leakMessage(leak), leak };
    case "flag":
      return { verdict: "flag", message: leakMessage(leak), leak };
    case "pin":
      return allow(
        "mode-pin",
        `rollout ${req.namespace}/${rolloutName} uses leakProtection pin: the replacement keeps revision ${revision}`,
        leak,
      );
    case "off":
      return allow("mode-off", `rollout ${req.namespace}/${rolloutName} has leakProtection off`, leak);
  }
}

function rolloutHeld(rollout: StatefulsetRollout): { paused: boolean; partial: boolean; failed: boolean } {
  return {
    paused: rollout.status?.paused === true || rollout.spec.pauseRequested,
    partial: rollout.spec.percent < 100,
    failed: rollout.status?.phase === "RolloutFailed",
  };
}

function describeHold(rollout: StatefulsetRollout): string {
  const held = rolloutHeld(rollout);
  const parts = [`percent ${rollout.spec.percent}`];
  if (held.paused) parts.push("paused");
  if (held.failed) parts.push("failed");
  return parts.join(", ");
}

/** The one text people read: in the denial, in the flag warning, in the Event and the Slack alert. */
export function leakMessage(leak: LeakContext): string {
  const action = leak.via === "eviction" ? "Eviction" : "Deletion";
  const verdict = leak.mode === "enforce" ? "refused" : "allowed but flagged";
  const states: string[] = [];
  if (leak.failed) states.push("failed");
  if (leak.paused) states.push("paused");
  const state = states.join(" and ") || "held";
  const deployed = leak.percentDeployed !== undefined ? `, ${leak.percentDeployed}% deployed` : "";
  const ns = `-n ${leak.namespace}`;
  return (
    `Bulkhead leak protection (${leak.mode}): ${action} of pod ${leak.namespace}/${leak.pod} ${verdict}. ` +
    `The pod runs old revision ${leak.podRevision}; StatefulSet ${leak.statefulSet}'s update revision is ${leak.updateRevision}. ` +
    `Rollout ${leak.rollout} is ${state} at ${leak.percent}%${deployed} (${leak.newPods} new, ${leak.oldPods} old pods); ` +
    `under OnDelete the replacement would come back on the new revision and move the rollout past its target. ` +
    `Ways out: resume it (kubectl sroll resume ${leak.rollout} ${ns}), roll it back (kubectl sroll rollback ${leak.rollout} ${ns}), ` +
    `finish it (kubectl sroll promote ${leak.rollout} 100 ${ns}, which sets spec.percent to 100), or switch spec.leakProtection (flag, pin or off).`
  );
}

/** One leak alert as the Slack message shows it: a first attempt and the repeats it covers. */
export interface LeakAlert {
  leak: LeakContext;
  decision: "denied" | "flagged";
  message: string;
  attempts: number;
  firstAt: Date;
  lastAt: Date;
  callers: string[];
}

function stringMapOf(value: unknown): Record<string, string> | undefined {
  const record = asRecord(value);
  if (!record) return undefined;
  return Object.fromEntries(
    Object.entries(record).filter((entry): entry is [string, string] => typeof entry[1] === "string"),
  );
}

function ownerReferencesOf(value: unknown): OwnerReferenceLike[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return (value as unknown[]).flatMap((item) => {
    const r = asRecord(item);
    if (!r) return [];
    const ref: OwnerReferenceLike = {};
    for (const key of ["apiVersion", "kind", "name", "uid"] as const) if (typeof r[key] === "string") ref[key] = r[key];
    if (typeof r.controller === "boolean") ref.controller = r.controller;
    return [ref];
  });
}

/**
 * The pod of a DELETE review (oldObject), read through typed guards: the request is input, so a
 * field of the wrong type is dropped here rather than met as a TypeError in the decision.
 */
export function guardPodOf(value: unknown): GuardPod | undefined {
  const pod = asRecord(value);
  if (!pod) return undefined;
  const meta = asRecord(pod.metadata);
  const spec = asRecord(pod.spec);
  const status = asRecord(pod.status);
  const metadata: ObjectMeta = {};
  for (const key of ["name", "namespace", "uid"] as const)
    if (typeof meta?.[key] === "string") metadata[key] = meta[key];
  const labels = stringMapOf(meta?.labels);
  if (labels) metadata.labels = labels;
  const ownerReferences = ownerReferencesOf(meta?.ownerReferences);
  if (ownerReferences) metadata.ownerReferences = ownerReferences;
  if (meta?.deletionTimestamp !== undefined && meta.deletionTimestamp !== null)
    metadata.deletionTimestamp = meta.deletionTimestamp;
  const guardPod: GuardPod = { metadata };
  if (typeof spec?.nodeName === "string") guardPod.spec = { nodeName: spec.nodeName };
  if (status) {
    const conditions = Array.isArray(status.conditions)
      ? (status.conditions as unknown[]).flatMap((c) => {
          const r = asRecord(c);
          if (typeof r?.type !== "string" || typeof r.status !== "string") return [];
          return [{ type: r.type, status: r.status, ...(typeof r.reason === "string" ? { reason: r.reason } : {}) }];
        })
      : undefined;
    guardPod.status = {
      ...(typeof status.reason === "string" ? { reason: status.reason } : {}),
      ...(conditions ? { conditions } : {}),
    };
  }
  return guardPod;
}

function isDryRun(value: unknown): boolean {
  return Array.isArray(value) && value.length > 0;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function stringAt(record: Record<string, unknown> | undefined, key: string): string | undefined {
  const v = record?.[key];
  return typeof v === "string" && v !== "" ? v : undefined;
}

function describeTarget(request: AdmissionRequest): string {
  const resource = request.resource
    ? `${request.resource.resource}${request.subResource ? `/${request.subResource}` : ""}`
    : "no resource";
  return `${resource} ${request.operation ?? "no operation"}`;
}
