// Who owns what: the one rule every process uses (DESIGN.md §2 "Lifecycle").
// A pod belongs to the StatefulSet named by its *controller* ownerReference; a StatefulSet (or a
// PDB) belongs to the StatefulsetRollout named by its controller ownerReference. Labels are
// selectors for watches, never proof of ownership: anyone can write a label.
import { GROUP, KIND, SHORT_NAME } from "./labels.js";

export interface OwnerReferenceLike {
  apiVersion?: string;
  kind?: string;
  name?: string;
  uid?: string;
  controller?: boolean;
}

export interface OwnedMeta {
  name?: string;
  namespace?: string;
  ownerReferences?: OwnerReferenceLike[] | null;
}

export interface OwnerName {
  name: string;
  uid?: string;
}

// Owner references come from request bodies too: any field may be of any type.
const groupOf = (apiVersion: unknown): string | undefined => {
  if (typeof apiVersion !== "string") return undefined;
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? "" : apiVersion.slice(0, slash);
};

/** The controller ownerReference of `kind` in API group `group` ("" for the core group). */
export function controllerOf(meta: OwnedMeta | undefined | null, kind: string, group: string): OwnerName | undefined {
  const refs = Array.isArray(meta?.ownerReferences) ? meta.ownerReferences : [];
  for (const ref of refs) {
    if (ref === null || typeof ref !== "object") continue;
    if (ref.controller !== true || ref.kind !== kind || groupOf(ref.apiVersion) !== group) continue;
    if (typeof ref.name !== "string" || ref.name === "") continue;
    return typeof ref.uid === "string" && ref.uid !== "" ? { name: ref.name, uid: ref.uid } : { name: ref.name };
  }
  return undefined;
}

/** The StatefulSet that controls this pod. */
export function owningStatefulSet(pod: { metadata?: OwnedMeta | null } | undefined | null): OwnerName | undefined {
  return controllerOf(pod?.metadata, "StatefulSet", "apps");
}

/** The StatefulsetRollout that controls this StatefulSet (or PDB). */
export function owningRollout(object: { metadata?: OwnedMeta | null } | undefined | null): OwnerName | undefined {
  return controllerOf(object?.metadata, KIND, GROUP);
}

/** True when `owner` names the StatefulSet `sts` (by uid when both carry one, else by name). */
export function isOwnedBy(owner: OwnerName | undefined, target: { name?: string; uid?: string }): boolean {
  if (!owner || !target.name) return false;
  return owner.uid && target.uid ? owner.uid === target.uid : owner.name === target.name;
}

/** What a rollout may do with the StatefulSet it names. */
export type OwnershipVerdict =
  /** No StatefulSet of that name: the rollout creates it. */
  | { verdict: "create" }
  /** The rollout already controls it. */
  | { verdict: "owned" }
  /** Unowned, and the rollout asked to adopt it (spec.adoptExisting): the reconciler takes it over. */
  | { verdict: "adopt" }
  /** Someone else controls it, or it is unowned and adoption was not asked for. */
  | { verdict: "refuse"; message: string };

export interface RolloutIdentity {
  namespace: string;
  name: string;
  /** Undefined before the apiserver has assigned one (admission of a CREATE). */
  uid?: string;
  adoptExisting: boolean;
}

export interface StatefulSetSeen {
  metadata?: OwnedMeta | null;
}

/**
 * One owner per StatefulSet. Admission (refuse the rollout) and the reconciler (never touch a
 * StatefulSet it may not own) both call this, so they cannot disagree and never flip-flop.
 */
export function ownershipOf(
  rollout: RolloutIdentity,
  stsName: string,
  sts: StatefulSetSeen | undefined,
): OwnershipVerdict {
  if (!sts) return { verdict: "create" };
  const what = `StatefulSet ${rollout.namespace}/${stsName}`;
  const rolloutOwner = owningRollout(sts);
  if (rolloutOwner) {
    const same =
      rolloutOwner.name === rollout.name && (!rolloutOwner.uid || !rollout.uid || rolloutOwner.uid === rollout.uid);
    if (same) return { verdict: "owned" };
    return {
      verdict: "refuse",
      message:
        `${what} is already rolled out by StatefulsetRollout ${rollout.namespace}/${rolloutOwner.name}` +
        (rolloutOwner.name === rollout.name
          ? ` (an earlier object of that name, uid ${rolloutOwner.uid ?? "unknown"})`
          : "") +
        `; a StatefulSet has one rollout. Edit that rollout instead, or delete it first ` +
        `(kubectl delete ${SHORT_NAME} ${rolloutOwner.name} -n ${rollout.namespace} leaves the StatefulSet and its pods running, unowned, unless that rollout sets deletionPolicy: Delete) ` +
        `and then adopt it with spec.adoptExisting: true.`,
    };
  }
  const otherController = (Array.isArray(sts.metadata?.ownerReferences) ? sts.metadata.ownerReferences : []).find(
    (ref) => ref !== null && typeof ref === "object" && ref.controller === true,
  );
  if (otherController) {
    return {
      verdict: "refuse",
      message:
        `${what} is controlled by ${otherController.kind ?? "an object"} ${otherController.name ?? ""} (${otherController.apiVersion ?? "unknown API"}); ` +
        `Bulkhead will not take a StatefulSet from another controller. Choose another StatefulSet name in spec.statefulset.metadata.name.`,
    };
  }
  if (rollout.adoptExisting) return { verdict: "adopt" };
  return {
    verdict: "refuse",
    message:
      `${what} already exists and no rollout owns it. To let this rollout take it over (its template is then rolled ` +
      `to spec.statefulset's), set spec.adoptExisting: true; otherwise choose another name in spec.statefulset.metadata.name.`,
  };
}
