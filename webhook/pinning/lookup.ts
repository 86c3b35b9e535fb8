// Reads the pod templates of a StatefulSet's revisions from the cluster view (the decision itself
// is api/pinning.ts). The view holds the revisions of managed StatefulSets; one made before its
// StatefulSet carried the managed label (an adopted StatefulSet's old revision) is read live.
// Every miss is a value, never a throw, so the handler can fail open with a reason.
import type * as k8s from "@kubernetes/client-node";
import { templateFromRevisionData, type PodTemplate } from "../../api/pod-rewrite.js";
import type { ClusterView } from "../../adapters/kube/cluster-view.js";
import { isNotFound } from "../../adapters/kube/client.js";

/** The revisions pinning reads: the view's, and live reads for what it does not hold. */
export interface RevisionSource {
  view: Pick<ClusterView, "controllerRevision" | "controllerRevisions">;
  /** Absent: the view only (tests, benchmarks). */
  live?: LiveRevisionReader;
}

/** A live read of a ControllerRevision (undefined: there is none); throws when it cannot be read. */
export interface LiveRevisionReader {
  get(namespace: string, name: string): Promise<k8s.V1ControllerRevision | undefined>;
}

export function liveControllerRevisionReader(apps: k8s.AppsV1Api): LiveRevisionReader {
  return {
    async get(namespace, name) {
      try {
        return await apps.readNamespacedControllerRevision({ namespace, name });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
  };
}

type Found<T> = { ok: true; value: T } | { ok: false; reason: string; detail: string };

const HASH_LABEL = "controller.kubernetes.io/hash";

/**
 * The ControllerRevision a revision name points at. A StatefulSet's pods, and its status, name a
 * revision by the ControllerRevision's name (`<sts>-<hash>`); a bare hash is accepted too (the
 * revision's `controller.kubernetes.io/hash` label), owned by this StatefulSet.
 */
export async function findRevision(
  source: RevisionSource,
  sts: k8s.V1StatefulSet,
  revision: string,
): Promise<Found<k8s.V1ControllerRevision>> {
  const { view, live } = source;
  const namespace = sts.metadata?.namespace ?? "";
  const stsName = sts.metadata?.name ?? "";
  const names = revision.startsWith(`${stsName}-`) ? [revision] : [revision, `${stsName}-${revision}`];
  for (const name of names) {
    const cr = view.controllerRevision(namespace, name);
    if (cr && ownedBy(cr, sts)) return { ok: true, value: cr };
  }
  const byHash = view
    .controllerRevisions(namespace)
    .find((cr) => ownedBy(cr, sts) && cr.metadata?.labels?.[HASH_LABEL] === revision);
  if (byHash) return { ok: true, value: byHash };
  const missing = {
    ok: false as const,
    reason: "revision-missing",
    detail: `ControllerRevision ${revision} of StatefulSet ${namespace}/${stsName} is gone (revisionHistoryLimit?)`,
  };
  if (!live) return missing;
  for (const name of names) {
    let cr: k8s.V1ControllerRevision | undefined;
    try {
      cr = await live.get(namespace, name);
    } catch (err) {
      return {
        ok: false,
        reason: "revision-missing",
        detail: `ControllerRevision ${revision} of StatefulSet ${namespace}/${stsName} is not cached and cannot be read (${err instanceof Error ? err.message : String(err)})`,
      };
    }
    if (cr && ownedBy(cr, sts)) return { ok: true, value: cr };
  }
  return missing;
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
export async function revisionTemplate(
  source: RevisionSource,
  sts: k8s.V1StatefulSet,
  revision: string,
): Promise<Found<PodTemplate>> {
  const found = await findRevision(source, sts, revision);
  if (!found.ok) return found;
  const cr = found.value;
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
export async function sourceTemplate(
  source: RevisionSource,
  sts: k8s.V1StatefulSet,
  revision: string,
): Promise<Found<PodTemplate>> {
  // The StatefulSet's own template first when the pod is on its update revision: no read at all.
  if (sts.status?.updateRevision === revision && sts.spec?.template) {
    const stored = await revisionTemplate({ view: source.view }, sts, revision);
    if (stored.ok) return stored;
    return { ok: true, value: JSON.parse(JSON.stringify(sts.spec.template)) as PodTemplate };
  }
  return revisionTemplate(source, sts, revision);
}
