// /validate/eviction and /validate/pod-delete: parse, decide (api/leak-guard.ts), answer through
// the api/admission.ts builders, and for real requests count and alert. The answer never waits
// for an alert: Events and Slack run behind report(), which returns at once.
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { type AdmissionRequest, type AdmissionDecision, allowed, denied } from "../../api/admission.js";
import {
  type GuardPolicy,
  type LeakGuardDecision,
  type ParsedDisruption,
  decideLeakGuard,
  parseEvictionRequest,
  parsePodDeleteRequest,
} from "../../api/leak-guard.js";
import type { LeakProtectionMode } from "../../api/rollout.js";
import type { LeakAlertSink } from "./alerts.js";
import { type LeakGuardMetrics, leakGuardMetrics } from "./metrics.js";
import { type LeakGuardCaches, cacheWorld } from "./world.js";

export type AdmissionHandler = (request: AdmissionRequest) => Promise<AdmissionDecision>;

export interface LeakGuardDeps extends LeakGuardCaches {
  /** The reconciler's ServiceAccount username (BULKHEAD_RECONCILER_USERNAME). */
  reconcilerUsername: string;
  /** Mode for rollouts that set no spec.leakProtection (BULKHEAD_DEFAULT_LEAK_PROTECTION). */
  defaultLeakProtection: LeakProtectionMode;
  /** De-duplicated Events + Slack alerts: createLeakAlerter(). */
  alerts: LeakAlertSink;
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
  const world = cacheWorld(deps);
  const policy: GuardPolicy = { reconcilerUsername: deps.reconcilerUsername, defaultMode: deps.defaultLeakProtection };
  const metrics = leakGuardMetrics(deps.registry);
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
    const context = {
      uid: request.uid,
      pod: `${req.namespace}/${req.podName}`,
      via: req.via,
      caller: req.caller.username,
      dryRun: req.dryRun,
    };
    logDecision(log, context, decision);
    if (!req.dryRun) sideEffects(deps, metrics, decision);
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

function sideEffects(deps: LeakGuardDeps, metrics: LeakGuardMetrics, decision: LeakGuardDecision): void {
  // Labels only from a rollout found in the cache: a request's own namespace is input, and
  // forged reviews naming new namespaces must not add series.
  metrics.decision(decision.leak?.namespace ?? "", decision.leak?.rollout ?? "", decision);
  if (decision.verdict === "deny") deps.alerts.report(decision.leak, "denied", decision.message);
  if (decision.verdict === "flag") deps.alerts.report(decision.leak, "flagged", decision.message);
}

function logDecision(log: Logger, context: Record<string, unknown>, decision: LeakGuardDecision): void {
  if (decision.verdict !== "allow") {
    log.warn(
      { ...context, decision: decision.verdict, rollout: decision.leak.rollout, mode: decision.leak.mode },
      decision.message,
    );
  } else if (decision.failSafe) {
    log.warn({ ...context, decision: "allow", reason: decision.reason }, `allowed (fail-safe): ${decision.detail}`);
  } else {
    log.debug({ ...context, decision: "allow", reason: decision.reason }, decision.detail);
  }
}
