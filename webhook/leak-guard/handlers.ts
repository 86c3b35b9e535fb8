// /validate/eviction and /validate/pod-delete: parse, decide (the leak guard, api/leak-guard.ts,
// then the zone-aware group guard, api/group-disruption.ts), answer through the api/admission.ts
// builders, and for real requests count and alert. The answer never waits for an alert: Events
// and Slack run behind report() and record(), which are not awaited.
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { EventRecorder } from "../../adapters/kube/events.js";
import { type AdmissionRequest, type AdmissionDecision, allowed, denied } from "../../api/admission.js";
import { type GroupGuardDecision, type GroupGuardWorld, decideGroupGuard } from "../../api/group-disruption.js";
import { API_VERSION, KIND } from "../../api/labels.js";
import {
  type GuardPolicy,
  type GuardWorld,
  type LeakGuardDecision,
  type ParsedDisruption,
  decideLeakGuard,
  parseEvictionRequest,
  parsePodDeleteRequest,
} from "../../api/leak-guard.js";
import type { LeakProtectionMode } from "../../api/rollout.js";
import type { LeakAlertSink } from "./alerts.js";
import { type GroupGuardMetrics, type LeakGuardMetrics, groupGuardMetrics, leakGuardMetrics } from "./metrics.js";

export type AdmissionHandler = (request: AdmissionRequest) => Promise<AdmissionDecision>;

export interface LeakGuardDeps {
  /** The shared read-only view of the cluster (adapters/kube/cluster-view.ts). */
  view: GuardWorld & GroupGuardWorld;
  /** The reconciler's ServiceAccount username (BULKHEAD_RECONCILER_USERNAME). */
  reconcilerUsername: string;
  /** Mode for rollouts that set no spec.leakProtection (BULKHEAD_DEFAULT_LEAK_PROTECTION). */
  defaultLeakProtection: LeakProtectionMode;
  /** De-duplicated Events + Slack alerts: createLeakAlerter(). */
  alerts: LeakAlertSink;
  /**
   * Plain Events: a group-guard refusal is recorded on the refused member's rollout (main.ts
   * rate-limits them). Absent (tests of the leak table alone): no such Event.
   */
  events?: EventRecorder;
  logger: Logger;
  registry: Registry;
}

export function createEvictionHandler(deps: LeakGuardDeps): AdmissionHandler {
  return guardHandler(deps, parseEvictionRequest);
}

export function createPodDeleteHandler(deps: LeakGuardDeps): AdmissionHandler {
  return guardHandler(deps, parsePodDeleteRequest);
}

function guardHandler(deps: LeakGuardDeps, parse: (request: AdmissionRequest) => ParsedDisruption): AdmissionHandler {
  const world = deps.view;
  const policy: GuardPolicy = { reconcilerUsername: deps.reconcilerUsername, defaultMode: deps.defaultLeakProtection };
  const metrics = leakGuardMetrics(deps.registry);
  const groupMetrics = groupGuardMetrics(deps.registry);
  const log = deps.logger.child({ component: "leak-guard" });

  // decideLeakGuard does not throw; should something unforeseen (a cache bug) throw here, the
  // admission kernel answers HTTP 500 and the hook's failurePolicy (Ignore) applies.
  return async (request) => {
    const parsed = parse(request);
    if (parsed.kind === "malformed") {
      log.warn({ uid: request.uid, error: parsed.error }, "malformed leak-guard request");
      return denied(`bulkhead leak guard: ${parsed.error}`, 400);
    }
    if (parsed.kind === "ignored") {
      log.warn({ uid: request.uid, warning: parsed.warning }, "request not guarded by this endpoint");
      return allowed([parsed.warning]);
    }
    const req = parsed.request;
    const decision = decideLeakGuard(req, world, policy);
    // A refused leak is answered as such; otherwise the group guard may still refuse.
    const group = decision.verdict === "deny" ? undefined : decideGroupGuard(req, world);
    // The log context only for a line the level writes (a drain's denials come by the thousand).
    const leakLevel = decisionLevel(decision.verdict, decision.verdict === "allow" && decision.failSafe);
    const groupLevel = group && decisionLevel(group.verdict, group.verdict === "allow" && group.failSafe);
    if (log.isLevelEnabled(leakLevel) || (groupLevel && log.isLevelEnabled(groupLevel))) {
      const context = {
        uid: request.uid,
        pod: `${req.namespace}/${req.podName}`,
        via: req.via,
        caller: req.caller.username,
        dryRun: req.dryRun,
      };
      logDecision(log, context, decision);
      if (group) logGroupDecision(log, context, group);
    }
    // Dry runs decide and answer the same, with no side effect: no metric, Event or alert.
    if (!req.dryRun) {
      // A flagged leak that the group guard refuses did not happen: no flag alert for it.
      sideEffects(deps, metrics, decision, group?.verdict !== "deny");
      if (group) groupSideEffects(deps, groupMetrics, group, req.via);
    }
    if (group?.verdict === "deny") return denied(group.message, group.code);
    switch (decision.verdict) {
      case "deny":
        return denied(decision.message, decision.code);
      case "flag":
        return allowed([decision.message]);
      case "allow":
        return allowed();
    }
  };
}

function sideEffects(
  deps: LeakGuardDeps,
  metrics: LeakGuardMetrics,
  decision: LeakGuardDecision,
  goesThrough: boolean,
): void {
  // Labels only from a rollout found in the cache: a request's own namespace is input, and
  // forged reviews naming new namespaces must not add series.
  metrics.decision(decision.leak?.namespace ?? "", decision.leak?.rollout ?? "", decision);
  if (decision.verdict === "deny") deps.alerts.report(decision.leak, "denied", decision.message);
  if (decision.verdict === "flag" && goesThrough) deps.alerts.report(decision.leak, "flagged", decision.message);
}

function groupSideEffects(
  deps: LeakGuardDeps,
  metrics: GroupGuardMetrics,
  decision: GroupGuardDecision,
  via: "eviction" | "delete",
): void {
  metrics.decision(decision);
  if (decision.verdict !== "deny") return;
  // Not a Slack alert: a drain held back by the group guard is the guard working. The Event on
  // the member's rollout is for `kubectl describe sroll`; main.ts rate-limits it per rollout.
  void deps.events?.record(
    {
      apiVersion: API_VERSION,
      kind: KIND,
      name: decision.subject.rollout,
      namespace: decision.subject.namespace,
      ...(decision.subject.uid ? { uid: decision.subject.uid } : {}),
    },
    "Warning",
    "GroupDisruptionRefused",
    decision.message,
    via === "eviction" ? "Evict" : "Delete",
  );
}

/**
 * warn for what only this line reports (a flagged leak let through, a fail-safe allow); a
 * refusal's detail goes to debug, because the admission kernel already writes one info line
 * per refusal with its message (a drain storm's denials come by the thousand).
 */
function decisionLevel(verdict: "allow" | "deny" | "flag", failSafe: boolean): "warn" | "debug" {
  return verdict === "flag" || (verdict === "allow" && failSafe) ? "warn" : "debug";
}

function logGroupDecision(log: Logger, context: Record<string, unknown>, decision: GroupGuardDecision): void {
  if (decision.verdict === "deny") {
    log.debug(
      {
        ...context,
        decision: "deny",
        group: decision.subject.group,
        rollout: decision.subject.rollout,
        reason: decision.reason,
        degraded: decision.degraded.member.rollout,
      },
      decision.message,
    );
  } else if (decision.failSafe) {
    log.warn(
      { ...context, decision: "allow", reason: decision.reason },
      `group guard allowed (fail-safe): ${decision.detail}`,
    );
  } else {
    log.debug({ ...context, decision: "allow", reason: decision.reason }, `group guard: ${decision.detail}`);
  }
}

function logDecision(log: Logger, context: Record<string, unknown>, decision: LeakGuardDecision): void {
  if (decision.verdict !== "allow") {
    const fields = { ...context, decision: decision.verdict, rollout: decision.leak.rollout, mode: decision.leak.mode };
    if (decision.verdict === "flag") log.warn(fields, decision.message);
    else log.debug(fields, decision.message);
  } else if (decision.failSafe) {
    log.warn({ ...context, decision: "allow", reason: decision.reason }, `allowed (fail-safe): ${decision.detail}`);
  } else {
    log.debug({ ...context, decision: "allow", reason: decision.reason }, decision.detail);
  }
}
