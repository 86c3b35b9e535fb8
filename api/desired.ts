// What the reconciler wants the StatefulSet and its PodDisruptionBudget to look like, built from
// the rollout spec, and how to tell whether the live objects differ (pure).
import {
  API_VERSION,
  DEFAULT_MAX_UNAVAILABLE,
  KIND,
  MANAGED_LABEL,
  MAX_UNAVAILABLE_ANNOTATION,
  ROLLOUT_LABEL,
  TRUE,
} from "./labels.js";
import type { ObservedPdb, ObservedStatefulSet } from "./observe.js";
import type { StatefulsetRollout } from "./rollout.js";
import { REVISION_HISTORY_ANNOTATION, revisionHistoryChange } from "./revisions.js";

/**
 * On the StatefulSet: a hash of the template the reconciler last applied. The apiserver fills
 * defaults into a stored template, so comparing templates directly would always see a change.
 */
export const TEMPLATE_HASH_ANNOTATION = "bulkhead.dev/template-hash";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** JSON with object keys sorted, so equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  const sort = (v: unknown): Json => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === "object" && !(v instanceof Date)) {
      return Object.fromEntries(
        Object.keys(v as object)
          .sort()
          .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    }
    if (v instanceof Date) return v.toISOString();
    return v as Json;
  };
  return JSON.stringify(sort(value));
}

/** FNV-1a, two 32-bit lanes: change detection only, not security. */
export function templateHash(template: unknown): string {
  const text = canonicalJson(template);
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
  }
  return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
}

export function statefulSetName(rollout: StatefulsetRollout): string {
  return rollout.spec.statefulset.metadata?.name ?? rollout.metadata.name;
}

/**
 * The controller reference to the rollout. blockOwnerDeletion is false: it would only make a
 * foreground deletion of the rollout wait for the StatefulSet to be deleted, which is never what
 * Bulkhead wants (api/lifecycle.ts explains the deletion rules).
 */
export function ownerReference(rollout: StatefulsetRollout) {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: rollout.metadata.name,
    uid: rollout.metadata.uid ?? "",
    controller: true,
    blockOwnerDeletion: false,
  };
}

/** The pod template to apply: the spec's, with the managed label (so the webhook sees its pods). */
export function desiredTemplate(rollout: StatefulsetRollout): Record<string, unknown> {
  const template = structuredClone(rollout.spec.statefulset.spec.template) as Record<string, unknown>;
  const metadata = (template.metadata ?? {}) as { labels?: Record<string, string> };
  template.metadata = { ...metadata, labels: { ...(metadata.labels ?? {}), [MANAGED_LABEL]: TRUE } };
  return template;
}

export function desiredReplicas(rollout: StatefulsetRollout): number {
  return rollout.spec.statefulset.spec.replicas ?? 1;
}

/** The StatefulSet to create: the spec's, owned by the rollout, managed, OnDelete. */
export function desiredStatefulSet(rollout: StatefulsetRollout): Record<string, unknown> {
  const source = structuredClone(rollout.spec.statefulset) as Record<string, unknown> & {
    metadata?: Record<string, unknown>;
  };
  const metadata = source.metadata ?? {};
  const template = desiredTemplate(rollout);
  return {
    ...source,
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: {
      ...metadata,
      name: statefulSetName(rollout),
      namespace: rollout.metadata.namespace,
      labels: {
        ...((metadata.labels as Record<string, string>) ?? {}),
        [MANAGED_LABEL]: TRUE,
        [ROLLOUT_LABEL]: rollout.metadata.name,
      },
      annotations: {
        ...((metadata.annotations as Record<string, string>) ?? {}),
        [TEMPLATE_HASH_ANNOTATION]: templateHash(template),
      },
      ownerReferences: [ownerReference(rollout)],
    },
    spec: {
      ...rollout.spec.statefulset.spec,
      replicas: desiredReplicas(rollout),
      template,
      updateStrategy: { type: "OnDelete" },
    },
  };
}

/** Fields of a live StatefulSet the reconciler owns; the adapter copies them onto the live object. */
export interface StatefulSetChanges {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  ownerReference: ReturnType<typeof ownerReference>;
  replicas: number;
  template?: Record<string, unknown>;
  updateStrategy: { type: "OnDelete" };
  /** Raised while a rollout is split, restored after (api/revisions.ts revisionHistoryChange). */
  revisionHistoryLimit?: number;
  /** Annotations to remove (set ones are in `annotations`). */
  removeAnnotations?: string[];
}

/**
 * What differs between the live StatefulSet and the rollout; undefined when nothing does.
 * `split`: the rollout's status records a split, so the old revision's history must be kept.
 */
export function statefulSetDrift(
  rollout: StatefulsetRollout,
  live: ObservedStatefulSet,
  split = false,
): { changes: StatefulSetChanges; what: string[] } | undefined {
  const template = desiredTemplate(rollout);
  const hash = templateHash(template);
  const what: string[] = [];
  const templateChanged = live.annotations[TEMPLATE_HASH_ANNOTATION] !== hash;
  if (templateChanged) what.push("template");
  if (live.replicas !== desiredReplicas(rollout)) what.push("replicas");
  if (live.labels[MANAGED_LABEL] !== TRUE || live.labels[ROLLOUT_LABEL] !== rollout.metadata.name) what.push("labels");
  if (live.updateStrategy !== "OnDelete") what.push("updateStrategy");
  if (rollout.metadata.uid && !live.ownerReferences.some((o) => o.uid === rollout.metadata.uid))
    what.push("ownerReference");
  const history = revisionHistoryChange(split, live);
  if (history) what.push("revisionHistoryLimit");
  if (what.length === 0) return undefined;
  const changes: StatefulSetChanges = {
    labels: { [MANAGED_LABEL]: TRUE, [ROLLOUT_LABEL]: rollout.metadata.name },
    annotations: { [TEMPLATE_HASH_ANNOTATION]: hash },
    ownerReference: ownerReference(rollout),
    replicas: desiredReplicas(rollout),
    updateStrategy: { type: "OnDelete" },
  };
  if (templateChanged) changes.template = template;
  if (history) {
    changes.revisionHistoryLimit = history.revisionHistoryLimit;
    if (history.keepAnnotation === null) changes.removeAnnotations = [REVISION_HISTORY_ANNOTATION];
    else changes.annotations[REVISION_HISTORY_ANNOTATION] = history.keepAnnotation;
  }
  return { changes, what };
}

/** The budget: spec.disruptionPolicy, else the StatefulSet's annotation, else 25%. */
export function desiredMaxUnavailable(
  rollout: StatefulsetRollout,
  live?: Pick<ObservedStatefulSet, "annotations">,
): number | string {
  const fromSpec = rollout.spec.disruptionPolicy?.maxUnavailable;
  if (fromSpec !== undefined) return fromSpec;
  const annotation =
    live?.annotations[MAX_UNAVAILABLE_ANNOTATION] ??
    rollout.spec.statefulset.metadata?.annotations?.[MAX_UNAVAILABLE_ANNOTATION];
  if (annotation !== undefined) return /^\d+$/.test(annotation) ? Number(annotation) : annotation;
  return DEFAULT_MAX_UNAVAILABLE;
}

export interface DesiredPdb {
  name: string;
  labels: Record<string, string>;
  selector: Record<string, string>;
  maxUnavailable: number | string;
  /** Unready pods may always be evicted: a rollback must be able to replace stuck pods. */
  unhealthyPodEvictionPolicy: "AlwaysAllow";
  ownerReference: ReturnType<typeof ownerReference>;
}

export function desiredPdb(rollout: StatefulsetRollout, live?: ObservedStatefulSet): DesiredPdb {
  return {
    name: statefulSetName(rollout),
    labels: { [ROLLOUT_LABEL]: rollout.metadata.name },
    selector: { ...(rollout.spec.statefulset.spec.selector.matchLabels ?? {}) },
    maxUnavailable: desiredMaxUnavailable(rollout, live),
    unhealthyPodEvictionPolicy: "AlwaysAllow",
    ownerReference: ownerReference(rollout),
  };
}

export function pdbDiffers(desired: DesiredPdb, live: ObservedPdb | undefined): boolean {
  if (!live) return true;
  return (
    String(live.maxUnavailable) !== String(desired.maxUnavailable) ||
    live.minAvailable !== undefined ||
    canonicalJson(live.selector) !== canonicalJson(desired.selector) ||
    live.unhealthyPodEvictionPolicy !== desired.unhealthyPodEvictionPolicy ||
    live.labels[ROLLOUT_LABEL] !== desired.labels[ROLLOUT_LABEL]
  );
}
