// StatefulSet admission policy (DESIGN.md §2): pure decisions for /mutate/statefulset and
// /validate/statefulset. The webhook gathers the facts (is there a rollout?) from its caches.
import jsonpatch from "fast-json-patch";
import {
  allowed,
  denied,
  jsonObject,
  objectMissing,
  patched,
  type AdmissionRequest,
  type AdmissionDecision,
} from "./admission.js";
import {
  API_VERSION,
  DEFAULT_MAX_UNAVAILABLE,
  KIND,
  MANAGED_LABEL,
  MAX_UNAVAILABLE_ANNOTATION,
  SHORT_NAME,
  TRUE,
  isManaged,
} from "./labels.js";
import { checkBudget } from "./budget.js";
import { isOwnedBy, owningRollout, type OwnerName, type OwnerReferenceLike } from "./ownership.js";
import type { DeletionPolicy } from "./rollout.js";

/** The parts of an apps/v1 StatefulSet this policy reads; everything else is carried along. */
export interface StatefulSetLike {
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReferenceLike[];
  };
  spec?: {
    replicas?: number;
    template?: { metadata?: { labels?: Record<string, string> } };
    updateStrategy?: { type?: string; rollingUpdate?: unknown };
  };
}

export interface StatefulSetFacts {
  /** The username the reconciler's requests carry (its ServiceAccount). */
  reconcilerUsername: string;
  /** A StatefulsetRollout exists for this StatefulSet (owner or a rollout naming it). */
  rolloutExists: boolean;
  /** The owning rollout's spec.deletionPolicy, when the cache has it: denial messages say what deleting it does. */
  ownerDeletionPolicy?: DeletionPolicy;
}

/**
 * Users besides the reconciler that may drop a rollout's ownerReference: the garbage collector
 * does it for `kubectl delete --cascade=orphan` (with --use-service-account-credentials it runs
 * as its own ServiceAccount, without it as the controller manager).
 */
export const OWNER_REFERENCE_REMOVERS: readonly string[] = [
  "system:serviceaccount:kube-system:generic-garbage-collector",
  "system:kube-controller-manager",
];

function asStatefulSet(value: unknown): StatefulSetLike | undefined {
  return jsonObject<StatefulSetLike>(value);
}

function describe(request: AdmissionRequest, sts: StatefulSetLike | undefined): string {
  const namespace = sts?.metadata?.namespace ?? request.namespace ?? "";
  const name = sts?.metadata?.name ?? request.name ?? "";
  return `StatefulSet ${namespace}/${name}`;
}

/**
 * /mutate/statefulset: on a managed StatefulSet, force `updateStrategy: OnDelete` (Bulkhead
 * replaces pods itself), label the pod template as managed (so pod webhooks see its pods), and
 * default the disruption budget annotation. Unmanaged StatefulSets pass untouched.
 */
export function mutateStatefulSet(request: AdmissionRequest): AdmissionDecision {
  if (request.operation !== "CREATE" && request.operation !== "UPDATE") return allowed();
  if (request.subResource) return allowed();
  const sts = asStatefulSet(request.object);
  if (!sts) return objectMissing(request, "StatefulSet");
  if (!isManaged(sts.metadata?.labels)) return allowed();
  // No spec: the apiserver's own validation rejects the object after admission; nothing to fix.
  if (!sts.spec || typeof sts.spec !== "object") return allowed();

  const next = structuredClone(sts) as StatefulSetLike & { spec: NonNullable<StatefulSetLike["spec"]> };
  next.spec.updateStrategy = { type: "OnDelete" };
  // Fields of the wrong type are left alone: the apiserver's validation rejects the object after
  // admission, with its own message.
  const template = next.spec.template;
  if (asStatefulSet(template)) {
    template!.metadata ??= {};
    const labels = template!.metadata.labels;
    if (asStatefulSet(template!.metadata) && (labels === undefined || asStatefulSet(labels))) {
      template!.metadata.labels = { ...labels, [MANAGED_LABEL]: TRUE };
    }
  }
  next.metadata ??= {};
  const annotations: unknown = next.metadata.annotations;
  if (annotations !== undefined && !asStatefulSet(annotations)) return patched(jsonpatch.compare(sts, next));
  if (next.metadata.annotations?.[MAX_UNAVAILABLE_ANNOTATION] === undefined) {
    next.metadata.annotations = { ...next.metadata.annotations, [MAX_UNAVAILABLE_ANNOTATION]: DEFAULT_MAX_UNAVAILABLE };
  }
  return patched(jsonpatch.compare(sts, next));
}

/** What `kubectl delete` of the owning rollout does, so no message tells people to delete blindly. */
export function deleteRolloutAdvice(namespace: string, owner: string, policy: DeletionPolicy | undefined): string {
  const command = `kubectl delete ${SHORT_NAME} ${owner} -n ${namespace}`;
  if (policy === "Delete") {
    return (
      `Deleting the rollout (${command}) would also DELETE the StatefulSet, its pods and its PDB, because it has deletionPolicy: Delete; ` +
      `set spec.deletionPolicy: Orphan on it first to keep them running.`
    );
  }
  const how = policy === "Orphan" ? "it has deletionPolicy: Orphan" : "unless the rollout sets deletionPolicy: Delete";
  return `To stop managing it, delete the rollout (${command}): the StatefulSet, its pods and its PDB keep running, unowned (${how}).`;
}

function sameOwner(a: OwnerName | undefined, b: OwnerName | undefined): boolean {
  if (!a || !b) return a === b;
  return isOwnedBy(a, b) && a.name === b.name;
}

function sameJson(a: unknown, b: unknown): boolean {
  return jsonpatch.compare((a ?? {}) as object, (b ?? {}) as object).length === 0;
}

/**
 * /validate/statefulset: on a managed StatefulSet, deny any updateStrategy but OnDelete, a bad
 * max-unavailable annotation, and — when a StatefulsetRollout owns it — a pod template change
 * (or dropping the managed label) by anyone but the reconciler. Warn when no rollout exists.
 */
export function validateStatefulSet(request: AdmissionRequest, facts: StatefulSetFacts): AdmissionDecision {
  if (request.operation !== "CREATE" && request.operation !== "UPDATE") return allowed();
  if (request.subResource) return allowed();
  const sts = asStatefulSet(request.object);
  if (!sts) return objectMissing(request, "StatefulSet");
  const old = request.operation === "UPDATE" ? asStatefulSet(request.oldObject) : undefined;
  if (request.operation === "UPDATE" && !old) {
    return denied(
      "request.oldObject is missing or not an object: a StatefulSet UPDATE carries the stored StatefulSet",
      400,
    );
  }
  const what = describe(request, sts);
  const username = request.userInfo?.username ?? "";
  const isReconciler = username === facts.reconcilerUsername;
  // Ownership is judged on the stored object: a user cannot escape it by dropping the reference.
  const storedOwner = owningRollout(old);
  const owner = (storedOwner ?? owningRollout(sts))?.name;
  const namespace = sts.metadata?.namespace ?? request.namespace ?? "";
  const advice = owner ? deleteRolloutAdvice(namespace, owner, facts.ownerDeletionPolicy) : "";

  // Two-step bypass: drop (or swap) the rollout's ownerReference, then edit the template.
  if (
    storedOwner &&
    !sameOwner(storedOwner, owningRollout(sts)) &&
    !isReconciler &&
    !OWNER_REFERENCE_REMOVERS.includes(username)
  ) {
    return denied(
      `${what} is owned by StatefulsetRollout ${storedOwner.name}; only the Bulkhead reconciler may remove or change that ownerReference ` +
        `(it would take the StatefulSet out of its rollout's protection). ${advice}`,
    );
  }

  if (!isManaged(sts.metadata?.labels)) {
    if (owner && old && isManaged(old.metadata?.labels) && !isReconciler) {
      return denied(
        `${what} is owned by StatefulsetRollout ${owner}; removing the ${MANAGED_LABEL} label would drop its rollout protection. ${advice}`,
      );
    }
    return allowed();
  }

  const strategy = sts.spec?.updateStrategy?.type;
  if (strategy !== "OnDelete") {
    const shown = strategy
      ? `updateStrategy ${strategy}`
      : "no updateStrategy (Kubernetes defaults it to RollingUpdate)";
    return denied(
      `${what} is managed by Bulkhead (${MANAGED_LABEL}=true) and has ${shown}; managed StatefulSets must use OnDelete, ` +
        `because Bulkhead replaces their pods itself. Set spec.updateStrategy.type: OnDelete, or remove the ${MANAGED_LABEL} label.`,
    );
  }

  const budget = sts.metadata?.annotations?.[MAX_UNAVAILABLE_ANNOTATION];
  const budgetVerdict = budget === undefined ? undefined : checkBudget(budget);
  if (budgetVerdict && !budgetVerdict.ok) {
    return denied(`${what}: annotation ${MAX_UNAVAILABLE_ANNOTATION}: ${budgetVerdict.problem}.`);
  }

  if (owner && old && !isReconciler && !sameJson(old.spec?.template, sts.spec?.template)) {
    return denied(
      `${what} is owned by StatefulsetRollout ${owner}: its pod template is changed only by the Bulkhead reconciler, ` +
        `so that every pod is replaced in budgeted waves. Edit the rollout instead: ` +
        `kubectl edit ${SHORT_NAME} ${owner} -n ${namespace} (spec.statefulset.spec.template).`,
    );
  }

  if (!owner && !facts.rolloutExists) {
    return allowed([
      `${what} is managed by Bulkhead but no StatefulsetRollout exists for it: with OnDelete, nothing replaces its pods ` +
        `until one does. Create a StatefulsetRollout (kind ${KIND}, ${API_VERSION}) naming it.`,
    ]);
  }
  return allowed();
}
