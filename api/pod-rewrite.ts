// Revision pinning's pod rewrite (DESIGN.md §4): turn a pod the StatefulSet controller made from
// the update template into the pod it would have made from the old one, as native `partition`
// does. Mirrors kubernetes/pkg/controller/statefulset/stateful_set_utils.go: newStatefulSetPod
// (GetPodFromTemplate + initIdentity + updateStorage) and setPodRevision.
import fjp from "fast-json-patch";
import type { JsonPatchOperation } from "./admission.js";
import { MANAGED_LABEL, POD_INDEX_LABEL, POD_NAME_LABEL, REVISION_LABEL } from "./labels.js";

const { applyPatch, compare } = fjp;

type Json = Record<string, unknown>;

/** A pod template as stored in a StatefulSet or a ControllerRevision (plain JSON). */
export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string>; finalizers?: string[] } & Json;
  spec?: Json;
}

/** What of the StatefulSet shapes a pod besides the template. */
export interface StatefulSetShape {
  name: string;
  namespace: string;
  uid?: string;
  serviceName?: string;
  volumeClaimTemplates?: Array<{ metadata?: { name?: string } }>;
}

/** A pod as JSON (the AdmissionReview's `object`). */
export interface PodJson {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> } & Json;
  spec?: Json;
  [key: string]: unknown;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The pod template inside a StatefulSet ControllerRevision's `data`. The StatefulSet controller
 * stores a strategic-merge patch `{spec: {template: {..., $patch: "replace"}}}` (getPatch);
 * applying it replaces the whole template (ApplyRevision), so the template is that object
 * without the `$patch` directive.
 */
export function templateFromRevisionData(data: unknown): Result<PodTemplate> {
  if (!isObject(data)) return { ok: false, error: "ControllerRevision data is not an object" };
  const spec = data.spec;
  if (!isObject(spec) || !isObject(spec.template)) {
    return { ok: false, error: "ControllerRevision data has no spec.template (not a StatefulSet revision?)" };
  }
  const template = structuredClone(spec.template);
  delete template.$patch;
  if (template.spec !== undefined && !isObject(template.spec))
    return { ok: false, error: "ControllerRevision template.spec is not an object" };
  return { ok: true, value: template as PodTemplate };
}

/** `<claim template>-<pod>`: getPersistentVolumeClaimName. */
export function claimName(claimTemplate: string, podName: string): string {
  return `${claimTemplate}-${podName}`;
}

/**
 * The pod the StatefulSet controller creates for `ordinal` from `template` at `revision`, before
 * admission: template labels, annotations and finalizers; the controller reference; name,
 * hostname, subdomain and identity labels; one PVC volume per volumeClaimTemplate (replacing a
 * template volume of the same name); the revision label.
 */
export function podFromTemplate(
  template: PodTemplate,
  set: StatefulSetShape,
  ordinal: number,
  revision: string,
): PodJson {
  const name = `${set.name}-${ordinal}`;
  const meta = template.metadata ?? {};
  const labels: Record<string, string> = { ...(meta.labels ?? {}) };
  labels[POD_NAME_LABEL] = name;
  labels[POD_INDEX_LABEL] = String(ordinal);
  labels[REVISION_LABEL] = revision;
  const metadata: PodJson["metadata"] = { name, generateName: `${set.name}-`, namespace: set.namespace, labels };
  if (meta.annotations) metadata.annotations = { ...meta.annotations };
  if (meta.finalizers) metadata.finalizers = [...meta.finalizers];
  if (set.uid) {
    metadata.ownerReferences = [
      {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        name: set.name,
        uid: set.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ];
  }
  // Through JSON, as the controller's pod travels: drops undefined fields, turns Dates into strings.
  const spec = JSON.parse(JSON.stringify(template.spec ?? {})) as Json;
  spec.hostname = name;
  // Go omits an empty subdomain from the JSON.
  if (set.serviceName) spec.subdomain = set.serviceName;
  else delete spec.subdomain;
  const claims = (set.volumeClaimTemplates ?? []).map((c) => c.metadata?.name).filter((n): n is string => Boolean(n));
  const templateVolumes = Array.isArray(spec.volumes) ? (spec.volumes as Json[]) : [];
  const volumes = [
    ...claims.map((claim) => ({ name: claim, persistentVolumeClaim: { claimName: claimName(claim, name) } })),
    ...templateVolumes.filter((v) => !claims.includes(String(v.name))),
  ];
  if (volumes.length > 0) spec.volumes = volumes;
  else delete spec.volumes;
  return { apiVersion: "v1", kind: "Pod", metadata, spec };
}

export interface RewriteInput {
  /** The pod being admitted: made by the controller from `fromTemplate`, then defaulted and mutated by admission. */
  pod: PodJson;
  set: StatefulSetShape;
  ordinal: number;
  fromTemplate: PodTemplate;
  fromRevision: string;
  toTemplate: PodTemplate;
  toRevision: string;
}

export interface Rewrite {
  /** The pod as it will be created. */
  pod: PodJson;
  /** JSON patch from the admitted pod to `pod`; empty when nothing changes. */
  operations: JsonPatchOperation[];
}

/**
 * Rewrites an admitted pod from one revision's template to another's.
 *
 * The admitted pod is not the controller's pod verbatim: the apiserver has defaulted it and
 * built-in admission has added to it (the ServiceAccount token volume and mounts, default
 * tolerations, priority). Rebuilding it from the old template alone would drop those, and the
 * apiserver does not run those plugins again. So the rewrite is a rebase: the difference
 * between the controller's pod from the new template and its pod from the old one (both built
 * by podFromTemplate, so identity, storage and everything else that is not template-specific
 * cancel out) is applied to the admitted pod. For a pod that admission did not touch the result
 * is exactly podFromTemplate(old).
 */
export function rewritePodToRevision(input: RewriteInput): Result<Rewrite> {
  const from = podFromTemplate(input.fromTemplate, input.set, input.ordinal, input.fromRevision);
  const to = podFromTemplate(input.toTemplate, input.set, input.ordinal, input.toRevision);
  // Bulkhead must keep seeing the pinned pod (leak guard, reconciler) even when the old
  // template predates Bulkhead managing the StatefulSet and so lacks the managed label.
  const managed = from.metadata?.labels?.[MANAGED_LABEL];
  if (managed !== undefined && to.metadata?.labels) to.metadata.labels[MANAGED_LABEL] = managed;
  const delta = compare(from, to);
  let rewritten: PodJson;
  try {
    rewritten = applyPatch(structuredClone(input.pod), delta, true, true).newDocument;
  } catch (err) {
    return {
      ok: false,
      error: `the admitted pod does not have the shape of the template it claims: ${errorMessage(err)}`,
    };
  }
  return { ok: true, value: { pod: rewritten, operations: compare(input.pod, rewritten) as JsonPatchOperation[] } };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? (err.message.split("\n")[0] ?? err.message) : String(err);
}
