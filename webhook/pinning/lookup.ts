// Reads the pod templates of a StatefulSet's revisions from the informer caches (the decision
// itself is api/pinning.ts). Every miss is a value, never a throw, so the handler can fail
// open with a reason.
import type * as k8s from "@kubernetes/client-node";
import { templateFromRevisionData, type PodTemplate } from "../../api/pod-rewrite.js";

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

const HASH_LABEL = "controller.kubernetes.io/hash";

/**
 * The ControllerRevision a revision name points at. A StatefulSet's pods, and its status, name a
 * revision by the ControllerRevision's name (`<sts>-<hash>`); a bare hash is accepted too (the
 * revision's `controller.kubernetes.io/hash` label), owned by this StatefulSet.
 */
export function findRevision(
  caches: PinningCaches,
  sts: k8s.V1StatefulSet,
  revision: string,
): k8s.V1ControllerRevision | undefined {
  const namespace = sts.metadata?.namespace ?? "";
  const stsName = sts.metadata?.name ?? "";
  const byName =
    caches.controllerRevisions.get(namespace, revision) ??
    caches.controllerRevisions.get(namespace, `${stsName}-${revision}`);
  if (byName && ownedBy(byName, sts)) return byName;
  return caches.controllerRevisions
    .list(namespace)
    .find(
      (cr) =>
        ownedBy(cr, sts) &&
        (cr.metadata?.labels?.[HASH_LABEL] === revision || cr.metadata?.name === `${stsName}-${revision}`),
    );
}

function ownedBy(cr: k8s.V1ControllerRevision, sts: k8s.V1StatefulSet): boolean {
  const owners = cr.metadata?.ownerReferences ?? [];
  // A revision without owners is accepted by name only (orphaned during adoption).
  if (owners.length === 0) return cr.metadata?.name?.startsWith(`${sts.metadata?.name}-`) ?? false;
  return owners.some(
    (o) =>
      o.kind === "StatefulSet" && o.name === sts.metadata?.name && (!sts.metadata?.uid || o.uid === sts.metadata.uid),
  );
}

/** The pod template a revision stores, or why it cannot be had. */
export function revisionTemplate(caches: PinningCaches, sts: k8s.V1StatefulSet, revision: string): Found<PodTemplate> {
  const cr = findRevision(caches, sts, revision);
  if (!cr)
    return {
      ok: false,
      reason: "revision-missing",
      detail: `ControllerRevision ${revision} of StatefulSet ${sts.metadata?.namespace}/${sts.metadata?.name} is gone (revisionHistoryLimit?)`,
    };
  const template = templateFromRevisionData(cr.data);
  if (!template.ok)
    return {
      ok: false,
      reason: "revision-invalid",
      detail: `ControllerRevision ${cr.metadata?.name}: ${template.error}`,
    };
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
