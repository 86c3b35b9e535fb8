// /mutate/statefulset and /validate/statefulset: the pure policy of api/statefulset-policy.ts, fed
// with the one fact it needs from the caches (does a StatefulsetRollout exist for it?).
import type * as k8s from "@kubernetes/client-node";
import { owningRollout } from "../api/ownership.js";
import { parseRollout } from "../api/rollout.js";
import {
  mutateStatefulSet,
  validateStatefulSet,
  type StatefulSetFacts,
  type StatefulSetLike,
} from "../api/statefulset-policy.js";
import type { ReadCache } from "../adapters/kube/cache.js";
import type { AdmissionHandler, WebhookContext } from "./context.js";

interface RolloutLike {
  metadata?: { name?: string };
  spec?: { statefulset?: { metadata?: { name?: string } } };
  status?: { statefulsetName?: string };
}

/** Owner reference first; else a rollout in the namespace whose StatefulSet has this name. */
export function rolloutExistsFor(
  rollouts: ReadCache<k8s.KubernetesObject>,
  namespace: string,
  sts: StatefulSetLike,
): boolean {
  const owner = owningRollout(sts)?.name;
  if (owner && rollouts.get(namespace, owner)) return true;
  const name = sts.metadata?.name;
  if (!name) return false;
  return rollouts.list(namespace).some((object) => {
    const r = object as RolloutLike;
    return (r.status?.statefulsetName ?? r.spec?.statefulset?.metadata?.name ?? r.metadata?.name) === name;
  });
}

export function createStatefulSetMutateHandler(): AdmissionHandler {
  return async (request) => mutateStatefulSet(request);
}

export function createStatefulSetValidateHandler(ctx: Pick<WebhookContext, "config" | "caches">): AdmissionHandler {
  return async (request) => {
    const sts = (request.object ?? undefined) as StatefulSetLike | undefined;
    const namespace = request.namespace ?? sts?.metadata?.namespace ?? "";
    const rolloutExists =
      sts !== undefined && typeof sts === "object" && rolloutExistsFor(ctx.caches.rollouts, namespace, sts);
    const facts: StatefulSetFacts = { reconcilerUsername: ctx.config.reconcilerUsername, rolloutExists };
    // What deleting the owning rollout would do, for the denial messages.
    const owner = owningRollout((request.oldObject ?? request.object) as StatefulSetLike | undefined)?.name;
    const ownerRollout = owner ? parseRollout(ctx.caches.rollouts.get(namespace, owner)) : undefined;
    if (ownerRollout?.ok) facts.ownerDeletionPolicy = ownerRollout.value.spec.deletionPolicy;
    return validateStatefulSet(request, facts);
  };
}
