// /mutate/statefulset and /validate/statefulset: the pure policy of api/statefulset-policy.ts, fed
// with the one fact it needs from the view (does a StatefulsetRollout exist for it?).
import { owningRollout } from "../api/ownership.js";
import { parseStoredRollout } from "../api/rollout.js";
import {
  mutateStatefulSet,
  validateStatefulSet,
  type StatefulSetFacts,
  type StatefulSetLike,
} from "../api/statefulset-policy.js";
import type { ClusterView } from "../adapters/kube/cluster-view.js";
import type { AdmissionHandler, WebhookContext } from "./context.js";

interface RolloutLike {
  metadata?: { name?: string };
  spec?: { statefulset?: { metadata?: { name?: string } } };
  status?: { statefulsetName?: string };
}

/** Owner reference first; else a rollout in the namespace whose StatefulSet has this name. */
export function rolloutExistsFor(
  view: Pick<ClusterView, "rollout" | "rollouts">,
  namespace: string,
  sts: StatefulSetLike,
): boolean {
  const owner = owningRollout(sts)?.name;
  if (owner && view.rollout(namespace, owner)) return true;
  const name = sts.metadata?.name;
  if (!name) return false;
  return view.rollouts(namespace).some((object) => {
    const r = object as RolloutLike;
    return (r.status?.statefulsetName ?? r.spec?.statefulset?.metadata?.name ?? r.metadata?.name) === name;
  });
}

export function createStatefulSetMutateHandler(): AdmissionHandler {
  return async (request) => mutateStatefulSet(request);
}

export function createStatefulSetValidateHandler(ctx: Pick<WebhookContext, "config" | "view">): AdmissionHandler {
  return async (request) => {
    const sts = (request.object ?? undefined) as StatefulSetLike | undefined;
    const namespace = request.namespace ?? sts?.metadata?.namespace ?? "";
    const rolloutExists = sts !== undefined && typeof sts === "object" && rolloutExistsFor(ctx.view, namespace, sts);
    const facts: StatefulSetFacts = { reconcilerUsername: ctx.config.reconcilerUsername, rolloutExists };
    // What deleting the owning rollout would do, for the denial messages.
    const owner = owningRollout((request.oldObject ?? request.object) as StatefulSetLike | undefined)?.name;
    const ownerRollout = owner ? parseStoredRollout(ctx.view.rollout(namespace, owner)) : undefined;
    if (ownerRollout?.ok) facts.ownerDeletionPolicy = ownerRollout.value.spec.deletionPolicy;
    return validateStatefulSet(request, facts);
  };
}
