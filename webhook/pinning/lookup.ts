// Reads what pinning needs from the informer caches: the pod's StatefulSet, its rollout, and the
// pod templates of its revisions. Every miss is a value, never a throw, so the handler can fail
// open with a reason.
import type * as k8s from "@kubernetes/client-node";
import { owningRollout, owningStatefulSet, type OwnerReferenceLike } from "../../api/ownership.js";
import { templateFromRevisionData, type PodTemplate } from "../../api/pod-rewrite.js";
import { parseRollout, type StatefulsetRollout } from "../../api/rollout.js";

/** The read side of a cache (adapters/kube/cache.ts ReadCache) that pinning uses. */
export interface CacheView<T> {
  get(namespace: string, name: string): T | undefined;
  list(namespace?: string): readonly T[];
  isSynced(): boolean;
}

export interface PinningCaches {
  /** Managed StatefulSets. */
  statefulSets: CacheView<k8s.V1StatefulSet>;
  /** StatefulsetRollouts, unparsed. */
  rollouts: CacheView<k8s.KubernetesObject>;
  controllerRevisions: CacheView<k8s.V1ControllerRevision>;
}

type Found<T> = { ok: true; value: T } | { ok: false; reason: string; detail: string };



export function findStatefulSet(caches: PinningCaches, namespace: string, owners: OwnerReferenceLike[] | undefined): Found<k8s.V1StatefulSet> {
  const owner = owningStatefulSet({ metadata: { ownerReferences: owners } });
  if (!owner?.name) return { ok: false, reason: "not-statefulset-pod", detail: "the pod has no StatefulSet owner" };
  const sts = caches.statefulSets.get(namespace, owner.name);
  if (!sts) return { ok: false, reason: "statefulset-not-found", detail: `StatefulSet ${namespace}/${owner.name} is not in the managed StatefulSets cache` };
  return { ok: true, value: sts };
}

export function findRollout(caches: PinningCaches, sts: k8s.V1StatefulSet): Found<StatefulsetRollout> {
  const namespace = sts.metadata?.namespace ?? "";
  const name = owningRollout(sts)?.name;
  if (!name) return { ok: false, reason: "no-rollout", detail: `StatefulSet ${namespace}/${sts.metadata?.name} has no StatefulsetRollout` };
  const raw = caches.rollouts.get(namespace, name);
  if (!raw) return { ok: false, reason: "rollout-not-found", detail: `StatefulsetRollout ${namespace}/${name} is not in the cache` };
  const parsed = parseRollout(raw);
  if (!parsed.ok) return { ok: false, reason: "rollout-invalid", detail: `StatefulsetRollout ${namespace}/${name} does not parse: ${parsed.error}` };
  return { ok: true, value: parsed.value };
}

const HASH_LABEL = "controller.kubernetes.io/hash";

/**
 * The ControllerRevision a revision name points at. A StatefulSet's pods, and its status, name a
 * revision by the ControllerRevision's name (`<sts>-<hash>`); a bare hash is accepted too (the
 * revision's `controller.kubernetes.io/hash` label), owned by this StatefulSet.
 */
export function findRevision(caches: PinningCaches, sts: k8s.V1StatefulSet, revision: string): k8s.V1ControllerRevision | undefined {
  const namespace = sts.metadata?.namespace ?? "";
  const stsName = sts.metadata?.name ?? "";
  const byName = caches.controllerRevisions.get(namespace, revision) ?? caches.controllerRevisions.get(namespace, `${stsName}-${revision}`);
  if (byName && ownedBy(byName, sts)) return byName;
  return caches.controllerRevisions
    .list(namespace)
    .find((cr) => ownedBy(cr, sts) && (cr.metadata?.labels?.[HASH_LABEL] === revision || cr.metadata?.name === `${stsName}-${revision}`));
}

function ownedBy(cr: k8s.V1ControllerRevision, sts: k8s.V1StatefulSet): boolean {
  const owners = cr.metadata?.ownerReferences ?? [];
  // A revision without owners is accepted by name only (orphaned during adoption).
  if (owners.length === 0) return cr.metadata?.name?.startsWith(`${sts.metadata?.name}-`) ?? false;
  return owners.some((o) => o.kind === "StatefulSet" && o.name === sts.metadata?.name && (!sts.metadata?.uid || o.uid === sts.metadata.uid));
}

/** The pod template a revision stores, or why it cannot be had. */
export function revisionTemplate(caches: PinningCaches, sts: k8s.V1StatefulSet, revision: string): Found<PodTemplate> {
  const cr = findRevision(caches, sts, revision);
  if (!cr) return { ok: false, reason: "revision-missing", detail: `ControllerRevision ${revision} of StatefulSet ${sts.metadata?.namespace}/${sts.metadata?.name} is gone (revisionHistoryLimit?)` };
  const template = templateFromRevisionData(cr.data);
  if (!template.ok) return { ok: false, reason: "revision-invalid", detail: `ControllerRevision ${cr.metadata?.name}: ${template.error}` };
  return { ok: true, value: template.value };
}

/**
 * The template the admitted pod was made from: its own revision's, else the StatefulSet's
 * current template when that is the update revision (a revision written moments ago may not be
 * in the cache yet).
 */
export function sourceTemplate(caches: PinningCaches, sts: k8s.V1StatefulSet, revision: string): Found<PodTemplate> {
  const stored = revisionTemplate(caches, sts, revision);
  if (stored.ok || sts.status?.updateRevision !== revision || !sts.spec?.template) return stored;
  return { ok: true, value: JSON.parse(JSON.stringify(sts.spec.template)) as PodTemplate };
}
