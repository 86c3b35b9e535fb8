// /validate/statefulsetrollout: the pure checks of api/rollout-admission.ts, the one-owner rule
// of api/ownership.ts (StatefulSet from the cache; a refusal is confirmed with a live read, so
// cache lag never refuses a valid rollout) and a server-side dry-run of the StatefulSet the
// reconciler would create, so the apiserver's own message (field path included) comes back at
// `kubectl apply` instead of in the reconciler's logs.
import { randomInt } from "node:crypto";
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import { allowed, denied, type AdmissionRequest } from "../api/admission.js";
import { canonicalJson, desiredStatefulSet, statefulSetName } from "../api/desired.js";
import { ownershipOf, type OwnershipVerdict, type StatefulSetSeen } from "../api/ownership.js";
import { checkRolloutSpec, dryRunName, type HealthGateInstall } from "../api/rollout-admission.js";
import { parseRollout, type StatefulsetRollout } from "../api/rollout.js";
import type { ClusterView } from "../adapters/kube/cluster-view.js";
import { isNotFound } from "../adapters/kube/client.js";
import type { DryRunCreate } from "../adapters/kube/dry-run.js";
import type { AdmissionHandler } from "./context.js";
import { withTimeout, type Clock } from "../api/clock.js";

export interface RolloutAdmissionDeps {
  install: HealthGateInstall;
  /** Managed StatefulSets come from the view; anything else (unmanaged, or not yet cached) is read live. */
  view: Pick<ClusterView, "statefulSet">;
  /** Live GET; undefined when there is none. */
  readStatefulSet(namespace: string, name: string): Promise<StatefulSetSeen | undefined>;
  dryRunCreate: DryRunCreate;
  logger: Logger;
  registry: Registry;
  /** In [0, 1); tests pass a seeded one. */
  random?: () => number;
}

/** Attempts at finding a dry-run name that exists nowhere (a collision needs a short name and bad luck). */
const DRY_RUN_ATTEMPTS = 3;

type DryRunVerdict = { problem?: string; warning?: string };

export function createRolloutValidateHandler(deps: RolloutAdmissionDeps): AdmissionHandler {
  const random = deps.random ?? (() => randomInt(0, 1 << 30) / (1 << 30));
  const dryRuns = new Counter({
    name: "bulkhead_webhook_rollout_dry_runs_total",
    help: "Dry-run creates of a rollout's StatefulSet by outcome: valid, invalid, or unchecked (the apiserver could not say).",
    labelNames: ["outcome"],
    registers: [deps.registry],
  });

  async function ownership(
    rollout: StatefulsetRollout,
    namespace: string,
    stsName: string,
  ): Promise<{ verdict?: OwnershipVerdict; warning?: string }> {
    const identity = {
      namespace,
      name: rollout.metadata.name,
      adoptExisting: rollout.spec.adoptExisting,
      ...(rollout.metadata.uid ? { uid: rollout.metadata.uid } : {}),
    };
    const cached = deps.view.statefulSet(namespace, stsName);
    const fromCache = cached ? ownershipOf(identity, stsName, cached) : undefined;
    if (fromCache && fromCache.verdict !== "refuse") return { verdict: fromCache };
    // The cache holds managed StatefulSets only, and may lag: read live before refusing.
    try {
      return { verdict: ownershipOf(identity, stsName, await deps.readStatefulSet(namespace, stsName)) };
    } catch (err) {
      deps.logger.warn({ err, namespace, stsName }, "cannot read the StatefulSet to check its owner");
      return {
        warning: `could not check who owns StatefulSet ${namespace}/${stsName} (${err instanceof Error ? err.message : String(err)}); the reconciler checks again before it touches it`,
      };
    }
  }

  async function dryRun(rollout: StatefulsetRollout, namespace: string, stsName: string): Promise<DryRunVerdict> {
    const body = desiredStatefulSet(rollout) as { metadata: Record<string, unknown> };
    // The rollout's uid is not known on CREATE, and an ownerReference without one is invalid;
    // ownership is judged above, by the one rule.
    delete body.metadata.ownerReferences;
    for (let attempt = 1; attempt <= DRY_RUN_ATTEMPTS; attempt++) {
      const name = dryRunName(stsName, random);
      body.metadata.name = name;
      const result = await deps.dryRunCreate(
        `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/statefulsets`,
        body,
      );
      if (result.outcome === "exists" && name !== stsName) continue;
      dryRuns.inc({ outcome: result.outcome === "exists" ? "unchecked" : result.outcome });
      if (result.outcome === "valid") return {};
      if (result.outcome === "invalid") {
        const message = name === stsName ? result.message : result.message.split(name).join(stsName);
        return { problem: `spec.statefulset is not a StatefulSet the apiserver accepts; it says: ${message}` };
      }
      const why = result.outcome === "exists" ? `StatefulSet ${stsName} exists` : result.message;
      deps.logger.warn(
        { namespace, stsName, why },
        "dry-run of the embedded StatefulSet could not be done; allowing (failurePolicy Ignore)",
      );
      return {
        warning: `spec.statefulset was not checked by a dry-run (${why}); the reconciler reports any error in status`,
      };
    }
    dryRuns.inc({ outcome: "unchecked" });
    return {
      warning: `spec.statefulset was not checked by a dry-run (no free name found in ${DRY_RUN_ATTEMPTS} attempts)`,
    };
  }

  return async (request: AdmissionRequest) => {
    if ((request.operation !== "CREATE" && request.operation !== "UPDATE") || request.subResource) return allowed();
    const raw = request.object as { metadata?: { deletionTimestamp?: unknown } } | null | undefined;
    if (!raw || typeof raw !== "object")
      return denied(`request.object is missing: a StatefulsetRollout ${request.operation} carries the rollout`, 400);
    // Being deleted: only the finalizer is left to remove; nothing to judge.
    if (raw.metadata?.deletionTimestamp) return allowed();
    const parsed = parseRollout(request.object);
    if (!parsed.ok) return denied(`StatefulsetRollout is invalid: ${parsed.error}`);
    const rollout = parsed.value;
    const oldParsed = request.operation === "UPDATE" ? parseRollout(request.oldObject) : undefined;
    const old = oldParsed?.ok ? oldParsed.value : undefined;
    // Metadata-only updates (labels, finalizers) are not judged again.
    if (old && canonicalJson(old.spec) === canonicalJson(rollout.spec)) return allowed();

    const namespace = request.namespace ?? rollout.metadata.namespace ?? "";
    rollout.metadata.namespace = namespace;
    const stsName = statefulSetName(rollout);
    const { problems, warnings } = checkRolloutSpec(rollout.spec, old?.spec, deps.install);

    const nameChanged =
      !old || statefulSetName(old) !== stsName || old.spec.adoptExisting !== rollout.spec.adoptExisting;
    if (nameChanged) {
      const owner = await ownership(rollout, namespace, stsName);
      if (owner.verdict?.verdict === "refuse") problems.push(owner.verdict.message);
      if (owner.warning) warnings.push(owner.warning);
    }
    if (!old || canonicalJson(old.spec.statefulset) !== canonicalJson(rollout.spec.statefulset)) {
      const checked = await dryRun(rollout, namespace, stsName);
      if (checked.problem) problems.push(checked.problem);
      if (checked.warning) warnings.push(checked.warning);
    }
    if (problems.length === 0) return allowed(warnings);
    const what = `StatefulsetRollout ${namespace}/${rollout.metadata.name}`;
    const listed = problems.length === 1 ? problems[0] : problems.map((p, i) => `(${i + 1}) ${p}`).join(" ");
    return denied(`${what} is refused: ${listed}`, 403, warnings);
  };
}

/** Bounds the live read: the apiserver answering slowly must not use up the admission timeout. */
const LIVE_READ_TIMEOUT_MS = 5000;

/** A live GET of a StatefulSet (undefined when none), bounded by LIVE_READ_TIMEOUT_MS on `clock`. */
export function liveStatefulSetReader(
  apps: k8s.AppsV1Api,
  clock: Pick<Clock, "setTimer">,
): RolloutAdmissionDeps["readStatefulSet"] {
  return (namespace, name) =>
    withTimeout(
      apps.readNamespacedStatefulSet({ namespace, name }).catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      }),
      LIVE_READ_TIMEOUT_MS,
      clock,
      "no answer from the apiserver",
    );
}
