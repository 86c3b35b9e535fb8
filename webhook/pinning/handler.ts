// /mutate/pod: revision pinning (DESIGN.md §4). When the StatefulSet controller creates a pod for
// an ordinal the rollout has not moved to the update revision, the pod is rewritten to the old
// revision, exactly as native `partition` would have made it. This closes the version leak for
// every cause of pod loss, including those no webhook sees (node loss, node-pressure eviction,
// preemption).
//
// The decision is api/pinning.ts's table; this file reads the world for it, does the live read
// of the rollout when the table asks to confirm a cache answer, and rebuilds the pod.
//
// Fail direction: whenever something the decision needs is missing (caches not synced, the
// StatefulSet or rollout not cached, a pod that is not a StatefulSet pod), the pod is allowed
// unchanged and the miss is logged and counted. Refusing would stop the StatefulSet controller
// from recreating pods at all, which is worse than a pod on the new revision; the leak guard
// and the reconciler's status still show the split. When the pod should be pinned but cannot
// be (the old ControllerRevision is gone), it is also allowed unchanged, loudly: Warning Event
// on the rollout, an alert, a metric. When the live read fails, the cache's answer stands
// (api/pinning.ts says why that is the safe side).
import type { Logger } from "pino";
import { allowed, patched, type AdmissionRequest, type AdmissionDecision } from "../../api/admission.js";
import { API_VERSION, KIND } from "../../api/labels.js";
import { rewritePodToRevision, type PodJson } from "../../api/pod-rewrite.js";
import type { OwnerReferenceLike } from "../../api/ownership.js";
import {
  decidePinning,
  type FinalPinningDecision,
  type PinningDecision,
  type PinningPolicy,
  type PinningRequest,
  type PinningWorld,
} from "../../api/pinning.js";
import { podRevision } from "../../api/revisions.js";
import type { LeakProtectionMode, StatefulsetRollout } from "../../api/rollout.js";
import type { EventRecorder, EventType, ObjectRef } from "../../adapters/kube/events.js";
import type { ClusterView } from "../../adapters/kube/cluster-view.js";
import { revisionTemplate, sourceTemplate, type LiveRevisionReader, type RevisionSource } from "./lookup.js";
import type { PinningMetrics, PinningOutcome } from "./metrics.js";
import { CoalescedLiveReads, type LiveRead } from "./live-reads.js";
import { withTimeout, type Clock } from "../../api/clock.js";
import { systemClock } from "../../adapters/clock.js";

/** A pod that should have been pinned and was not: for Slack (the rollout's channel) or a pager. */
export interface PinningAlert {
  namespace: string;
  rollout: string;
  channel?: string;
  pod: string;
  statefulSet: string;
  /** The revision the pod should have been pinned to (the old one, or during a template change the one its ordinal runs). */
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

/** A live read of a StatefulsetRollout from the apiserver (adapters/kube/rollouts.ts kubeRolloutApi). */
export interface LiveRolloutReader {
  /** The rollout as stored, undefined when it does not exist; throws when it cannot be read. */
  get(namespace: string, name: string): Promise<unknown>;
}

export interface PodPinningDeps {
  /** The shared read-only view of the cluster (adapters/kube/cluster-view.ts). */
  view: ClusterView;
  /** Confirms answers the rollout cache may be behind on (api/pinning.ts "confirm"). */
  liveRollouts: LiveRolloutReader;
  /** Reads a revision the view does not hold (one made before its StatefulSet was managed). Absent: none. */
  liveRevisions?: LiveRevisionReader;
  /** Bound on one live read; past it the cache's answer stands (a revision read counts as missing). Default 2000 ms. */
  liveReadTimeoutMs?: number;
  /** How long a live read waits for the rest of a batch of creates before it is sent (live-reads.ts). Default 10 ms. */
  liveReadGatherMs?: number;
  /** The timers of that bound, and the wait a create spends on a live read (a metric). Default: the system clock. */
  clock?: Pick<Clock, "setTimer" | "now">;
  /** The installation's mode for rollouts that set no spec.leakProtection; "off" also turns pinning off. */
  defaultLeakProtection: LeakProtectionMode;
  events: EventRecorder;
  logger: Logger;
  alerts: PinningAlertSink;
  metrics: PinningMetrics;
}

/**
 * The StatefulSet controller sends a batch's creates at once; they reach the webhook within a few
 * ms of each other over separate connections. 10 ms gathers a batch for a tenth or less of what
 * the read it saves costs at 1,000 pods (bench/RESULTS.md, session 7).
 */
const LIVE_READ_GATHER_MS = 10;

export type PodPinningHandler = (request: AdmissionRequest) => Promise<AdmissionDecision>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The deps with their defaults filled in once. */
type ResolvedDeps = PodPinningDeps & Required<Pick<PodPinningDeps, "clock" | "liveReadTimeoutMs">>;

export function createPodPinningHandler(options: PodPinningDeps): PodPinningHandler {
  const deps: ResolvedDeps = {
    ...options,
    clock: options.clock ?? systemClock,
    liveReadTimeoutMs: options.liveReadTimeoutMs ?? 2000,
  };
  // One read of a rollout answers every create that came before it was sent (live-reads.ts).
  const shared = new CoalescedLiveReads(
    (ns, name) => deps.liveRollouts.get(ns, name),
    deps.liveReadTimeoutMs,
    deps.clock,
    deps.liveReadGatherMs ?? LIVE_READ_GATHER_MS,
  );
  const liveRollout: LiveRead = (ns, name) => shared.get(ns, name);
  return async (request) => {
    try {
      return await decide(deps, liveRollout, request);
    } catch (err) {
      // A bug here must not stop pods from being created: fail open, loudly.
      deps.logger.error(
        { err, uid: request.uid, pod: `${request.namespace}/${request.name}` },
        "revision pinning failed unexpectedly; pod allowed unchanged",
      );
      deps.metrics.outcome("fail-safe", "internal-error");
      return allowed();
    }
  };
}

async function decide(
  deps: ResolvedDeps,
  liveRollout: LiveRead,
  request: AdmissionRequest,
): Promise<AdmissionDecision> {
  const { view, logger } = deps;
  const live = request.dryRun !== true;
  const count = (outcome: PinningOutcome, reason: string): void => {
    if (live) deps.metrics.outcome(outcome, reason);
  };
  if (
    request.operation !== "CREATE" ||
    request.resource?.resource !== "pods" ||
    request.subResource ||
    !isObject(request.object)
  ) {
    count("fail-safe", "not-pod-create");
    return allowed([
      `bulkhead: /mutate/pod only pins pod creates, not ${request.operation} ${request.resource?.resource ?? "?"}; check the webhook configuration`,
    ]);
  }
  const pod = request.object as PodJson;
  const meta = isObject(pod.metadata) ? pod.metadata : {};
  const namespace = request.namespace ?? meta.namespace ?? "";
  const podName = meta.name ?? request.name ?? "";
  const log = logger.child({ uid: request.uid, pod: `${namespace}/${podName}` });

  const pinningRequest: PinningRequest = {
    namespace,
    podName,
    podRevision: podRevision(pod),
    ownerReferences: Array.isArray(meta.ownerReferences) ? (meta.ownerReferences as OwnerReferenceLike[]) : undefined,
  };
  const policy = { defaultMode: deps.defaultLeakProtection };
  const cached: PinningWorld = view;
  let decision = decidePinning(pinningRequest, cached, policy, "cache");
  if (decision.verdict === "confirm")
    decision = await confirmLive(deps, liveRollout, log, pinningRequest, cached, policy, decision);

  if (decision.verdict === "allow") {
    count(decision.outcome, decision.reason);
    if (decision.outcome === "fail-safe")
      log.warn({ reason: decision.reason }, `pod allowed unchanged: ${decision.detail}`);
    else log.debug({ reason: decision.reason }, decision.detail);
    return allowed();
  }
  const { rollout, ordinal, fromRevision: revision, toRevision } = decision;
  const sts = view.statefulSet(namespace, decision.statefulSet);
  if (!sts) {
    count("fail-safe", "statefulset-not-found");
    return allowed();
  }
  const stsName = decision.statefulSet;
  const context = {
    namespace,
    rollout,
    pod: podName,
    statefulSet: stsName,
    wantedRevision: toRevision,
    actualRevision: revision,
  };
  const liveRevisions = deps.liveRevisions;
  const revisions: RevisionSource = {
    view,
    ...(liveRevisions
      ? { live: { get: (ns, name) => withTimeout(liveRevisions.get(ns, name), deps.liveReadTimeoutMs, deps.clock) } }
      : {}),
  };
  const to = await revisionTemplate(revisions, sts, toRevision);
  if (!to.ok) return pinFailed(deps, request, log, context, to.reason as PinningAlert["reason"], to.detail);
  const from = await sourceTemplate(revisions, sts, revision);
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
    toRevision,
  });
  if (!rewrite.ok) return pinFailed(deps, request, log, context, "rewrite-failed", rewrite.error);
  // The name and namespace were filled in only to build the rewrite; do not patch them in.
  const operations = rewrite.value.operations.filter(
    (op) => op.path !== "/metadata/name" && op.path !== "/metadata/namespace",
  );

  count("pinned", decision.reason);
  log.info(
    {
      rollout: `${namespace}/${rollout.metadata.name}`,
      ordinal,
      from: revision,
      to: toRevision,
      reason: decision.reason,
      operations: operations.length,
    },
    `pod pinned to revision ${toRevision}`,
  );
  if (live) {
    const which = decision.reason === "template-pending" ? "revision" : "the old revision";
    record(
      deps,
      rollout,
      "Normal",
      "PodPinned",
      `Pod ${podName} recreated on ${which} ${toRevision} instead of ${revision}: ${decision.detail}.`,
    );
  }
  return patched(operations);
}

/**
 * Asks the table again on a live read of the rollout, one sent after this create arrived
 * (shared with the creates that arrived with it). Only the answers a lagging cache could make
 * wrong get here; if the read fails or times out, the cache's answer stands.
 */
async function confirmLive(
  deps: ResolvedDeps,
  liveRollout: LiveRead,
  log: Logger,
  req: PinningRequest,
  cached: PinningWorld,
  policy: PinningPolicy,
  pending: Extract<PinningDecision, { verdict: "confirm" }>,
): Promise<FinalPinningDecision> {
  let fresh: unknown;
  const { clock } = deps;
  const asked = clock.now();
  try {
    // Bounds the whole wait, which can be a read under way and then the one queued behind it.
    fresh = await withTimeout(liveRollout(req.namespace, pending.rolloutName), deps.liveReadTimeoutMs, clock);
  } catch (err) {
    deps.metrics.liveRead("failed", clock.now() - asked);
    log.warn(
      { err, rollout: `${req.namespace}/${pending.rolloutName}`, why: pending.why },
      `live read of the rollout failed; the cache's answer stands (${pending.unconfirmed.verdict})`,
    );
    return pending.unconfirmed;
  }
  deps.metrics.liveRead("ok", clock.now() - asked);
  const world: PinningWorld = {
    get synced() {
      return cached.synced;
    },
    statefulSet: (ns, name) => cached.statefulSet(ns, name),
    rollout: (ns, name) => (ns === req.namespace && name === pending.rolloutName ? fresh : cached.rollout(ns, name)),
  };
  const decision = decidePinning(req, world, policy, "live");
  // "live" never asks to confirm; the guard keeps the types honest.
  return decision.verdict === "confirm" ? decision.unconfirmed : decision;
}

function pinFailed(
  deps: PodPinningDeps,
  request: AdmissionRequest,
  log: Logger,
  context: Omit<PinningAlert, "reason" | "message" | "rollout" | "channel"> & { rollout: StatefulsetRollout },
  reason: PinningAlert["reason"],
  detail: string,
): AdmissionDecision {
  const { rollout } = context;
  const message =
    `Pod ${context.pod} should run revision ${context.wantedRevision} but is created on ${context.actualRevision}: ${detail}. ` +
    `The version leak is not closed for this pod; finish or roll back the rollout, or raise the StatefulSet's revisionHistoryLimit.`;
  log.error({ rollout: `${context.namespace}/${rollout.metadata.name}`, reason }, message);
  if (request.dryRun !== true) {
    deps.metrics.outcome("pin-failed", reason);
    record(deps, rollout, "Warning", reason === "revision-missing" ? "RevisionMissing" : "PinningFailed", message);
    const alert: PinningAlert = {
      ...context,
      rollout: rollout.metadata.name,
      channel: rollout.spec.channel,
      reason,
      message,
    };
    Promise.resolve()
      .then(() => deps.alerts.alert(alert))
      .catch((err: unknown) => log.error({ err }, "pinning alert failed"));
  }
  return allowed([`bulkhead: ${message}`]);
}

/** Fire and forget: an Event write must not hold up (or time out) the pod create. */
function record(
  deps: PodPinningDeps,
  rollout: StatefulsetRollout,
  type: EventType,
  reason: string,
  note: string,
): void {
  const ref: ObjectRef = {
    apiVersion: API_VERSION,
    kind: KIND,
    name: rollout.metadata.name,
    namespace: rollout.metadata.namespace ?? "",
    ...(rollout.metadata.uid ? { uid: rollout.metadata.uid } : {}),
  };
  void deps.events
    .record(ref, type, reason, note)
    .catch((err: unknown) => deps.logger.error({ err }, "event write failed"));
}
