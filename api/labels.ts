// Names shared by every process: the API group, labels and annotations (DESIGN.md §2).

export const GROUP = "bulkhead.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = "StatefulsetRollout";
export const PLURAL = "statefulsetrollouts";
export const SINGULAR = "statefulsetrollout";
export const SHORT_NAME = "sroll";

/** On a Namespace: opts it in to Bulkhead's webhooks. */
export const NAMESPACE_ENABLED_LABEL = "bulkhead.dev/enabled";
/** On a StatefulSet and its pod template: Bulkhead manages it. */
export const MANAGED_LABEL = "bulkhead.dev/managed";
/** On a StatefulSet: the disruption budget Bulkhead derives the PDB from. */
export const MAX_UNAVAILABLE_ANNOTATION = "bulkhead.dev/max-unavailable";
export const DEFAULT_MAX_UNAVAILABLE = "25%";
/** On a PDB: lets a budget of maxUnavailable 0 through (it blocks every rollout). */
export const ALLOW_ZERO_BUDGET_ANNOTATION = "bulkhead.dev/allow-zero-budget";
/** On webhook configurations: the CA bundle is patched in by certs/. */
export const INJECT_CA_LABEL = "bulkhead.dev/inject-ca";
/** On the StatefulSet and PDB Bulkhead creates: the rollout that owns them. */
export const ROLLOUT_LABEL = "bulkhead.dev/rollout";

/** Set by the StatefulSet controller on every pod: the ControllerRevision it was made from. */
export const REVISION_LABEL = "controller-revision-hash";
/** Set by the StatefulSet controller on every pod: its stable name. */
export const POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name";
/** Set by the StatefulSet controller (1.28+): the pod's ordinal. */
export const POD_INDEX_LABEL = "apps.kubernetes.io/pod-index";

export const TRUE = "true";

export function isManaged(labels: Record<string, string> | undefined): boolean {
  return labels?.[MANAGED_LABEL] === TRUE;
}
