// /mutate/pod: revision pinning (DESIGN.md §4). When the StatefulSet controller creates a pod for
// an ordinal the rollout has not moved to the update revision, the pod is rewritten to the old
// revision, exactly as native `partition` would have made it. This closes the version leak for
// every cause of pod loss, including those no webhook sees (node loss, node-pressure eviction,
// preemption).
//
// Fail direction: whenever something the decision needs is missing (caches not synced, the
// StatefulSet or rollout not cached, a pod that is not a StatefulSet pod), the pod is allowed
// unchanged and the miss is logged and counted. Refusing would stop the StatefulSet controller
// from recreating pods at all, which is worse than a pod on the new revision; the leak guard
// and the reconciler's status still show the split. When the pod should be pinned but cannot
// be (the old ControllerRevision is gone), it is also allowed unchanged, loudly: Warning Event
// on the rollout, an alert, a metric.
import type { Logger } from "pino";
import { allowed, patched, type AdmissionRequest, type AdmissionResponse } from "../../api/admission.js";
import { API_VERSION, KIND } from "../../api/labels.js";
import { rewritePodToRevision, type PodJson } from "../../api/pod-rewrite.js";
import { decideRevisionForOrdinal, podOrdinal, podRevision } from "../../api/revisions.js";
import { leakProtectionOf, type LeakProtectionMode, type StatefulsetRollout } from "../../api/rollout.js";
import type { EventRecorder, EventType, ObjectRef } from "../../adapters/kube/events.js";
import { findRollout, findStatefulSet, revisionTemplate, sourceTemplate, type PinningCaches } from "./lookup.js";
import type { PinningMetrics, PinningOutcome } from "./metrics.js";

/** A pod that should have been pinned and was not: for Slack (the rollout's channel) or a pager. */
export interface PinningAlert {
  namespace: string;
  rollout: string;
  channel?: string;
  pod: string;
  statefulSet: string;
  /** The revision the pod should have been pinned to. */
  wantedRevision: string;
  /** The revision it is created on instead. */
  actualRevision: string;
  reason: "revision-missing" | "revision-invalid" | "rewrite-failed";
  message: string;
}

export interface PinningAlertSink {
  /** Best effort: must not throw; failures are the sink's to log. */
  alert(alert: PinningAlert): Promise<void> | void;
}

export interface PodPinningDeps {
  caches: PinningCaches;
  /** The installation's mode for rollouts that set no spec.leakProtection; "off" also turns pinning off. */
  defaultLeakProtection: LeakProtectionMode;
  events: EventRecorder;
  logger: Logger;
  alerts: PinningAlertSink;
  metrics: PinningMetrics;
}

export type PodPinningHandler = (request: AdmissionRequest) => Promise<AdmissionResponse>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export function createPodPinningHandler(deps: PodPinningDeps): PodPinningHandler {
  return async (request) => {
    try {
      return decide(deps, request);
    } catch (err) {
      // A bug here must not stop pods from being created: fail open, loudly.
      deps.logger.error({ err, uid: request.uid, pod: `${request.namespace}/${request.name}` }, "revision pinning failed unexpectedly; pod allowed unchanged");
      deps.metrics.outcome("fail-safe", "internal-error");
      return allowed(request);
    }
  };
}

function decide(deps: PodPinningDeps, request: AdmissionRequest): AdmissionResponse {
  const { caches, logger } = deps;
  const live = request.dryRun !== true;
  const count = (outcome: PinningOutcome, reason: string): void => {
    if (live) deps.metrics.outcome(outcome, reason);
  };
  if (request.operation !== "CREATE" || request.resource?.resource !== "pods" || request.subResource || !isObject(request.object)) {
    count("fail-safe", "not-pod-create");
    return allowed(request, [`bulkhead: /mutate/pod only pins pod creates, not ${request.operation} ${request.resource?.resource ?? "?"}; check the webhook configuration`]);
  }
  const pod = request.object as PodJson;
  const meta = isObject(pod.metadata) ? pod.metadata : {};
  const namespace = request.namespace ?? meta.namespace ?? "";
  const podName = meta.name ?? request.name ?? "";
  const log = logger.child({ uid: request.uid, pod: `${namespace}/${podName}` });
  const skip = (outcome: PinningOutcome, reason: string, detail: string): AdmissionResponse => {
    count(outcome, reason);
    if (outcome === "fail-safe") log.warn({ reason }, `pod allowed unchanged: ${detail}`);
    else log.debug({ reason }, detail);
    return allowed(request);
  };

  if (!caches.statefulSets.isSynced() || !caches.rollouts.isSynced() || !caches.controllerRevisions.isSynced()) {
    return skip("fail-safe", "caches-not-synced", "the informer caches have not loaded yet");
  }
  const stsFound = findStatefulSet(caches, namespace, meta.ownerReferences as Array<{ kind?: string; name?: string; apiVersion?: string }> | undefined);
  if (!stsFound.ok) return skip(stsFound.reason === "not-statefulset-pod" ? "not-pinned" : "fail-safe", stsFound.reason, stsFound.detail);
  const sts = stsFound.value;
  const stsName = sts.metadata?.name ?? "";
  const ordinal = podOrdinal(podName, stsName);
  if (ordinal === undefined) return skip("not-pinned", "no-ordinal", `pod name ${podName} is not <${stsName}>-<ordinal>`);
  const rolloutFound = findRollout(caches, sts);
  if (!rolloutFound.ok) return skip(rolloutFound.reason === "no-rollout" ? "not-pinned" : "fail-safe", rolloutFound.reason, rolloutFound.detail);
  const rollout = rolloutFound.value;
  if (leakProtectionOf(rollout, deps.defaultLeakProtection) === "off") {
    return skip("not-pinned", "protection-off", `rollout ${rollout.metadata.name} has leakProtection "off": pods are created as the StatefulSet controller made them`);
  }

  const decision = decideRevisionForOrdinal(rollout, ordinal);
  if (decision.revision === "update") return skip("not-pinned", decision.reason, `ordinal ${ordinal} runs the update revision (${decision.reason})`);
  const currentRevision = rollout.status?.currentRevision ?? "";
  const updateRevision = rollout.status?.updateRevision ?? "";
  const revision = podRevision(pod) ?? "";
  if (revision === currentRevision) return skip("unchanged", "already-pinned", `already on ${currentRevision}`);
  if (revision !== updateRevision) {
    // The rollout's status is behind the StatefulSet (a newer template): do not guess which
    // template this pod should have; the reconciler records the new revisions shortly.
    return skip("fail-safe", "revision-unknown", `pod revision ${revision || "(none)"} is neither ${currentRevision} nor ${updateRevision} of the rollout`);
  }

  const context = { namespace, rollout, pod: podName, statefulSet: stsName, wantedRevision: currentRevision, actualRevision: revision };
  const to = revisionTemplate(caches, sts, currentRevision);
  if (!to.ok) return pinFailed(deps, request, log, context, to.reason as PinningAlert["reason"], to.detail);
  const from = sourceTemplate(caches, sts, revision);
  if (!from.ok) return pinFailed(deps, request, log, context, from.reason as PinningAlert["reason"], from.detail);

  const rewrite = rewritePodToRevision({
    pod: { ...pod, metadata: { ...meta, name: podName, namespace } },
    set: {
      name: stsName,
      namespace,
      uid: sts.metadata?.uid,
      serviceName: sts.spec?.serviceName,
      volumeClaimTemplates: sts.spec?.volumeClaimTemplates,
    },
    ordinal,
    fromTemplate: from.value,
    fromRevision: revision,
    toTemplate: to.value,
    toRevision: currentRevision,
  });
  if (!rewrite.ok) return pinFailed(deps, request, log, context, "rewrite-failed", rewrite.error);
  // The name and namespace were filled in only to build the rewrite; do not patch them in.
  const operations = rewrite.value.operations.filter((op) => op.path !== "/metadata/name" && op.path !== "/metadata/namespace");

  count("pinned", decision.reason);
  log.info(
    { rollout: `${namespace}/${rollout.metadata.name}`, ordinal, from: revision, to: currentRevision, reason: decision.reason, operations: operations.length },
    `pod pinned to the old revision ${currentRevision}`,
  );
  if (live) {
    record(deps, rollout, "Normal", "PodPinned", `Pod ${podName} recreated on the old revision ${currentRevision} instead of ${revision}: ordinal ${ordinal} is ${decision.reason === "above-target" ? "above the rollout's target" : "not moved by the rollout yet"} (${rollout.spec.percent}%).`);
  }
  return patched(request, operations);
}

function pinFailed(
  deps: PodPinningDeps,
  request: AdmissionRequest,
  log: Logger,
  context: Omit<PinningAlert, "reason" | "message" | "rollout" | "channel"> & { rollout: StatefulsetRollout },
  reason: PinningAlert["reason"],
  detail: string,
): AdmissionResponse {
  const { rollout } = context;
  const message =
    `Pod ${context.pod} should run the old revision ${context.wantedRevision} but is created on ${context.actualRevision}: ${detail}. ` +
    `The version leak is not closed for this pod; finish or roll back the rollout, or raise the StatefulSet's revisionHistoryLimit.`;
  log.error({ rollout: `${context.namespace}/${rollout.metadata.name}`, reason }, message);
  if (request.dryRun !== true) {
    deps.metrics.outcome("pin-failed", reason);
    record(deps, rollout, "Warning", reason === "revision-missing" ? "RevisionMissing" : "PinningFailed", message);
    const alert: PinningAlert = { ...context, rollout: rollout.metadata.name, channel: rollout.spec.channel, reason, message };
    Promise.resolve()
      .then(() => deps.alerts.alert(alert))
      .catch((err: unknown) => log.error({ err }, "pinning alert failed"));
  }
  return allowed(request, [`bulkhead: ${message}`]);
}

/** Fire and forget: an Event write must not hold up (or time out) the pod create. */
function record(deps: PodPinningDeps, rollout: StatefulsetRollout, type: EventType, reason: string, note: string): void {
  const ref: ObjectRef = {
    apiVersion: API_VERSION,
    kind: KIND,
    name: rollout.metadata.name,
    namespace: rollout.metadata.namespace ?? "",
    ...(rollout.metadata.uid ? { uid: rollout.metadata.uid } : {}),
  };
  void deps.events.record(ref, type, reason, note).catch((err: unknown) => deps.logger.error({ err }, "event write failed"));
}
