// PodDisruptionBudget admission policy (DESIGN.md §2): pure decisions for /mutate/pdb and
// /validate/pdb. A PDB concerns Bulkhead only when its selector covers a managed StatefulSet's
// pods; the webhook passes those StatefulSets in from its cache.
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
import { ALLOW_ZERO_BUDGET_ANNOTATION, DEFAULT_MAX_UNAVAILABLE, MAX_UNAVAILABLE_ANNOTATION, TRUE } from "./labels.js";
import { checkBudget, isZeroBudget } from "./budget.js";
import type { StatefulSetLike } from "./statefulset-policy.js";

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface PdbLike {
  metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> };
  spec?: {
    selector?: LabelSelector | null;
    maxUnavailable?: number | string;
    minAvailable?: number | string;
    unhealthyPodEvictionPolicy?: string;
  } & Record<string, unknown>;
}

export const DEFAULT_UNHEALTHY_POD_EVICTION_POLICY = "AlwaysAllow";

/**
 * Kubernetes label-selector semantics (policy/v1): a null selector selects nothing, an empty one
 * selects everything; an unknown operator selects nothing (the apiserver rejects it anyway).
 */
export function selectorMatches(
  selector: LabelSelector | null | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!selector) return false;
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (have[key] !== value) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const present = Object.hasOwn(have, req.key);
    const values = req.values ?? [];
    switch (req.operator) {
      case "In":
        if (!present || !values.includes(have[req.key] as string)) return false;
        break;
      case "NotIn":
        if (present && values.includes(have[req.key] as string)) return false;
        break;
      case "Exists":
        if (!present) return false;
        break;
      case "DoesNotExist":
        if (present) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** The managed StatefulSets (of the PDB's namespace) whose pods the PDB's selector covers. */
export function coveredStatefulSets(pdb: PdbLike, managedInNamespace: readonly StatefulSetLike[]): StatefulSetLike[] {
  return managedInNamespace.filter((sts) => selectorMatches(pdb.spec?.selector, sts.spec?.template?.metadata?.labels));
}

/**
 * The PDB a CREATE or UPDATE writes and the managed StatefulSets whose pods it covers; or the
 * answer when the request does not concern Bulkhead (allowed) or carries no PDB (400).
 */
function managedPdbWrite(
  request: AdmissionRequest,
  managedInNamespace: readonly StatefulSetLike[],
): { pdb: PdbLike; covered: StatefulSetLike[] } | { answer: AdmissionDecision } {
  if (request.operation !== "CREATE" && request.operation !== "UPDATE") return { answer: allowed() };
  const pdb = jsonObject<PdbLike>(request.object);
  if (!pdb) return { answer: objectMissing(request, "PodDisruptionBudget", "PDB") };
  const covered = coveredStatefulSets(pdb, managedInNamespace);
  return covered.length === 0 ? { answer: allowed() } : { pdb, covered };
}

/** The budget the covered StatefulSets ask for: their shared annotation, else Bulkhead's default. */
function defaultBudget(covered: readonly StatefulSetLike[]): number | string {
  const asked = new Set(
    covered.map((s) => s.metadata?.annotations?.[MAX_UNAVAILABLE_ANNOTATION] ?? DEFAULT_MAX_UNAVAILABLE),
  );
  const verdict = checkBudget(asked.size === 1 ? [...asked][0]! : DEFAULT_MAX_UNAVAILABLE);
  return verdict.ok ? verdict.value : DEFAULT_MAX_UNAVAILABLE;
}

function pdbName(request: AdmissionRequest, pdb: PdbLike): string {
  return `PodDisruptionBudget ${pdb.metadata?.namespace ?? request.namespace ?? ""}/${pdb.metadata?.name ?? request.name ?? ""}`;
}

function stsNames(covered: readonly StatefulSetLike[]): string {
  return covered.map((s) => s.metadata?.name ?? "?").join(", ");
}

/**
 * /mutate/pdb: on a PDB over managed pods, default `unhealthyPodEvictionPolicy: AlwaysAllow`
 * (so a crash-looping new pod never blocks a rollback) and, when it sets no budget at all,
 * `maxUnavailable` from the StatefulSet's annotation. A user's minAvailable is never rewritten.
 */
export function mutatePdb(
  request: AdmissionRequest,
  managedInNamespace: readonly StatefulSetLike[],
): AdmissionDecision {
  const write = managedPdbWrite(request, managedInNamespace);
  if ("answer" in write) return write.answer;
  const { pdb, covered } = write;
  if (!pdb.spec || typeof pdb.spec !== "object") return allowed();

  const next = structuredClone(pdb) as PdbLike & { spec: NonNullable<PdbLike["spec"]> };
  next.spec.unhealthyPodEvictionPolicy ??= DEFAULT_UNHEALTHY_POD_EVICTION_POLICY;
  if (next.spec.maxUnavailable === undefined && next.spec.minAvailable === undefined) {
    next.spec.maxUnavailable = defaultBudget(covered);
  }
  return patched(jsonpatch.compare(pdb, next));
}

/** minAvailable that leaves no pod to disrupt: "100%", or a count at least the covered replicas. */
function minAvailableBlocksAll(value: number | string | undefined, covered: readonly StatefulSetLike[]): boolean {
  if (value === "100%") return true;
  const replicas = covered.reduce((sum, s) => sum + (s.spec?.replicas ?? 1), 0);
  const count =
    typeof value === "number" ? value : typeof value === "string" && /^[0-9]+$/.test(value) ? Number(value) : undefined;
  return count !== undefined && replicas > 0 && count >= replicas;
}

/**
 * /validate/pdb: on a PDB over managed pods, reject a budget that blocks every rollout
 * (maxUnavailable 0, or a minAvailable that leaves nothing to evict) unless the PDB carries
 * `bulkhead.dev/allow-zero-budget: "true"`; allow minAvailable with a warning.
 */
export function validatePdb(
  request: AdmissionRequest,
  managedInNamespace: readonly StatefulSetLike[],
): AdmissionDecision {
  const write = managedPdbWrite(request, managedInNamespace);
  if ("answer" in write) return write.answer;
  const { pdb, covered } = write;
  const what = pdbName(request, pdb);
  const zeroAllowed = pdb.metadata?.annotations?.[ALLOW_ZERO_BUDGET_ANNOTATION] === TRUE;
  const spec = pdb.spec ?? {};

  if (!zeroAllowed) {
    const blocks = isZeroBudget(spec.maxUnavailable)
      ? `maxUnavailable ${JSON.stringify(spec.maxUnavailable)}`
      : spec.maxUnavailable === undefined && minAvailableBlocksAll(spec.minAvailable, covered)
        ? `minAvailable ${JSON.stringify(spec.minAvailable)}`
        : undefined;
    if (blocks) {
      return denied(
        `${what} covers pods of Bulkhead-managed StatefulSet(s) ${stsNames(covered)} and its ${blocks} allows no disruption, ` +
          `so every rollout would stall. Use a maxUnavailable above 0 (e.g. "25%"), or annotate the PDB ` +
          `${ALLOW_ZERO_BUDGET_ANNOTATION}: "true" if blocking rollouts is intended.`,
      );
    }
  }

  if (spec.minAvailable !== undefined && spec.maxUnavailable === undefined) {
    return allowed([
      `${what} covers Bulkhead-managed StatefulSet(s) ${stsNames(covered)} with minAvailable; maxUnavailable is preferred: ` +
        `it keeps the same wave size when the StatefulSet is scaled and lets Bulkhead evict during a rollout.`,
    ]);
  }
  return allowed();
}
