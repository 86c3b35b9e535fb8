// /validate/pod-update (DESIGN.md §2): a managed pod's two labels that the leak guard and the
// reconciler read — bulkhead.dev/managed (is it guarded?) and controller-revision-hash (which
// revision is it on?) — are never rewritten on a live pod. Removing the first hides the pod
// from the leak guard; rewriting the second makes an old pod look moved (or a new one old).
//
// Who legitimately changes them: the StatefulSet controller sets controller-revision-hash only
// when it creates a pod (its later pod updates touch the pod-name/pod-index labels, ownerReferences
// and volumes, never the revision), and revision pinning rewrites it at CREATE, which is not an
// UPDATE. The only writer allowed is the Bulkhead reconciler, which removes the managed label when
// a deleted rollout orphans its pods.
import { allowed, denied, type AdmissionRequest, type AdmissionDecision } from "./admission.js";
import { MANAGED_LABEL, REVISION_LABEL, isManaged } from "./labels.js";

interface PodLike {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> | null };
}

export interface PodUpdateFacts {
  /** The username the reconciler's requests carry (its ServiceAccount). */
  reconcilerUsername: string;
}

function asPod(value: unknown): PodLike | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as PodLike) : undefined;
}

/** The labels a pod UPDATE may not change on a managed pod, and what changed; empty when none. */
export function protectedLabelChanges(
  oldLabels: Record<string, string> | undefined,
  newLabels: Record<string, string> | undefined,
): string[] {
  const before = oldLabels ?? {};
  const after = newLabels ?? {};
  const changes: string[] = [];
  if (isManaged(before) && !isManaged(after)) {
    changes.push(
      after[MANAGED_LABEL] === undefined
        ? `removes the ${MANAGED_LABEL} label (the leak guard would stop protecting the pod)`
        : `changes ${MANAGED_LABEL} to "${after[MANAGED_LABEL]}" (the leak guard would stop protecting the pod)`,
    );
  }
  if (before[REVISION_LABEL] !== after[REVISION_LABEL]) {
    const from = before[REVISION_LABEL] === undefined ? "unset" : `"${before[REVISION_LABEL]}"`;
    const to = after[REVISION_LABEL] === undefined ? "removes it" : `sets it to "${after[REVISION_LABEL]}"`;
    changes.push(
      `changes ${REVISION_LABEL} (${from}; the update ${to}), so the pod would be counted on a revision it does not run`,
    );
  }
  return changes;
}

export function validatePodUpdate(request: AdmissionRequest, facts: PodUpdateFacts): AdmissionDecision {
  if (request.operation !== "UPDATE" || request.subResource) return allowed();
  const pod = asPod(request.object);
  const old = asPod(request.oldObject);
  if (!pod || !old)
    return denied("request.object or request.oldObject is missing or not an object: a pod UPDATE carries both", 400);
  // Only a pod that was managed is protected; labelling a pod as managed is always allowed.
  if (!isManaged(old.metadata?.labels ?? undefined)) return allowed();
  if (request.userInfo?.username === facts.reconcilerUsername) return allowed();
  const changes = protectedLabelChanges(old.metadata?.labels ?? undefined, pod.metadata?.labels ?? undefined);
  if (changes.length === 0) return allowed();
  const name = `${old.metadata?.namespace ?? request.namespace ?? ""}/${old.metadata?.name ?? request.name ?? ""}`;
  return denied(
    `pod ${name} is managed by Bulkhead and this update ${changes.join("; and ")}. These labels are written only by Kubernetes when ` +
      `the pod is created and by the Bulkhead reconciler. To replace the pod on another revision, change the StatefulsetRollout ` +
      `(percent, or its template) and let it roll; to stop managing the pod, delete its StatefulsetRollout (by default the pods keep running, unowned).`,
  );
}
