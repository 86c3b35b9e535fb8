// Revision pinning (DESIGN.md §4): which revision must a pod the StatefulSet controller is creating
// run? One pure decision behind /mutate/pod, every row a unit test (test/unit/pinning.test.ts).
// The webhook (webhook/pinning/) reads the world from its caches, rebuilds the pod when the
// verdict is "pin", and does the live read when the verdict is "confirm".
//
// No timing assumption between the reconciler and the webhook (DESIGN.md §2): the webhook's
// rollout cache may lag the status the reconciler has just written (a wave's ordinals, a new
// split). An answer from the cache is trusted as is only where a lagging cache cannot make it
// wrong: the pod is created on the old revision, or the cached rollout is not split and the pod
// is on its one revision. Every other answer — pin to the old revision, let a pod come up on the
// update revision of a split, or a revision the cached status does not know — is "confirm": the
// caller re-reads the rollout from the apiserver and asks this table again with source "live".
// Pods created on the update revision of a split are the pods of a wave (plus lost pods), so the
// live reads are bounded by the pods the waves move.
//
// A failed live read falls back to what the cache said (`unconfirmed`). For a pin that is the
// safe side: a pod wrongly pinned to the old revision is not Ready on the wave's revision, so the
// wave evicts it again and the (by then caught-up) cache lets it come back new — one extra
// eviction, no leak. Letting it come up new instead, when the cache was right (a lost pod of an
// ordinal no wave moved), is the version leak itself: the reconciler would count it as moved.
import { owningRollout, owningStatefulSet, type OwnedMeta, type OwnerReferenceLike } from "./ownership.js";
import { decideRevisionForOrdinal, podOrdinal, type RevisionReason } from "./revisions.js";
import { leakProtectionOf, parseRollout, type LeakProtectionMode, type StatefulsetRollout } from "./rollout.js";

/** The pod create being decided. */
export interface PinningRequest {
  namespace: string;
  podName: string;
  /** The pod's controller-revision-hash label (the revision the StatefulSet controller made it from). */
  podRevision: string | undefined;
  ownerReferences: OwnerReferenceLike[] | undefined;
}

/** A read-only view of the world: the caches, or (source "live") a fresh read of the rollout. */
export interface PinningWorld {
  /** All caches have loaded their first list. */
  synced: boolean;
  /** A managed StatefulSet. */
  statefulSet(namespace: string, name: string): { metadata?: OwnedMeta | null } | undefined;
  /** A StatefulsetRollout as stored (unparsed). */
  rollout(namespace: string, name: string): unknown;
}

/** Where the world's rollout came from. Only a cache answer can ask for confirmation. */
export type PinningSource = "cache" | "live";

export type PinningAllowReason =
  | "caches-not-synced"
  | "not-statefulset-pod"
  | "statefulset-not-found"
  | "no-ordinal"
  | "no-rollout"
  | "rollout-not-found"
  | "rollout-invalid"
  | "protection-off"
  /** The rollout has recorded no revision yet: nothing was ever rolled, so nothing to pin to. */
  | "no-revision-recorded"
  /** Neither revision of the rollout's status: the status is behind; do not guess a template. */
  | "revision-unknown"
  /** Already on the revision its ordinal should run (reinvocation, an old-revision create). */
  | "already-pinned"
  | Exclude<RevisionReason, "not-moved" | "above-target">;

export type PinReason =
  | "not-moved"
  | "above-target"
  /** status.templatePending: a new template is being applied; every ordinal keeps the revision the recorded split gives it. */
  | "template-pending";

/** allow outcomes: "not-pinned" (nothing to pin), "unchanged" (already right), "fail-safe" (something missing: fail open). */
export type PinningOutcome = "not-pinned" | "unchanged" | "fail-safe";

export interface PinTarget {
  rollout: StatefulsetRollout;
  statefulSet: string;
  ordinal: number;
}

export type PinningDecision =
  | { verdict: "allow"; outcome: PinningOutcome; reason: PinningAllowReason; detail: string; target?: PinTarget }
  | ({ verdict: "pin"; reason: PinReason; fromRevision: string; toRevision: string; detail: string } & PinTarget)
  /** Ask again with a live read of rollout `rolloutName`; `unconfirmed` is the answer if that read fails. */
  | {
      verdict: "confirm";
      rolloutName: string;
      why: string;
      unconfirmed: Exclude<PinningDecision, { verdict: "confirm" }>;
    };

export type FinalPinningDecision = Exclude<PinningDecision, { verdict: "confirm" }>;

/** The policy of the installation. */
export interface PinningPolicy {
  /** The mode for rollouts that set no spec.leakProtection; "off" also turns pinning off. */
  defaultMode: LeakProtectionMode;
}

/** The table. Never throws. */
export function decidePinning(
  req: PinningRequest,
  world: PinningWorld,
  policy: PinningPolicy,
  source: PinningSource,
): PinningDecision {
  const key = `${req.namespace}/${req.podName}`;
  const allow = (
    outcome: PinningOutcome,
    reason: PinningAllowReason,
    detail: string,
    target?: PinTarget,
  ): FinalPinningDecision => ({
    verdict: "allow",
    outcome,
    reason,
    detail,
    ...(target ? { target } : {}),
  });

  if (!world.synced) return allow("fail-safe", "caches-not-synced", "the informer caches have not loaded yet");
  const stsRef = owningStatefulSet({ metadata: { ownerReferences: req.ownerReferences ?? null } });
  if (!stsRef) return allow("not-pinned", "not-statefulset-pod", `pod ${key} has no StatefulSet controller`);
  const sts = world.statefulSet(req.namespace, stsRef.name);
  if (!sts)
    return allow(
      "fail-safe",
      "statefulset-not-found",
      `StatefulSet ${req.namespace}/${stsRef.name} is not in the managed StatefulSets cache`,
    );
  const ordinal = podOrdinal(req.podName, stsRef.name);
  if (ordinal === undefined)
    return allow("not-pinned", "no-ordinal", `pod name ${req.podName} is not <${stsRef.name}>-<ordinal>`);
  const rolloutRef = owningRollout(sts);
  if (!rolloutRef)
    return allow("not-pinned", "no-rollout", `StatefulSet ${req.namespace}/${stsRef.name} has no StatefulsetRollout`);
  const raw = world.rollout(req.namespace, rolloutRef.name);
  if (raw === undefined)
    return allow(
      "fail-safe",
      "rollout-not-found",
      `StatefulsetRollout ${req.namespace}/${rolloutRef.name} is not in the ${source === "live" ? "apiserver" : "cache"}`,
    );
  const parsed = parseRollout(raw);
  if (!parsed.ok)
    return allow(
      "fail-safe",
      "rollout-invalid",
      `StatefulsetRollout ${req.namespace}/${rolloutRef.name} does not parse: ${parsed.error}`,
    );
  const rollout = parsed.value;
  const target: PinTarget = { rollout, statefulSet: stsRef.name, ordinal };
  if (leakProtectionOf(rollout, policy.defaultMode) === "off") {
    return allow(
      "not-pinned",
      "protection-off",
      `rollout ${rolloutRef.name} has leakProtection "off": pods are created as the StatefulSet controller made them`,
      target,
    );
  }
  const confirm = (why: string, unconfirmed: FinalPinningDecision): PinningDecision =>
    source === "live" ? unconfirmed : { verdict: "confirm", rolloutName: rolloutRef.name, why, unconfirmed };

  const status = rollout.status ?? {};
  const current = status.currentRevision;
  const update = status.updateRevision;
  const revision = req.podRevision ?? "";
  if (!update || !current) {
    // The cache may not show the first status write yet (the one that records the split).
    return confirm(
      "the cached status records no revision",
      allow("not-pinned", "no-revision-recorded", `rollout ${rolloutRef.name} has recorded no revision yet`, target),
    );
  }
  const desired = decideRevisionForOrdinal(rollout, ordinal);
  const wanted = desired.revision === "update" ? update : current;
  const split = current !== update;

  if (revision === wanted) {
    // On the old revision, or on the one revision of a rollout that is not split: a status the
    // cache has not shown yet cannot make this pod wrong (it would carry a newer revision).
    if (!split || revision === current) {
      return allow(
        desired.revision === "update" ? "not-pinned" : "unchanged",
        desired.revision === "update" ? (desired.reason as PinningAllowReason) : "already-pinned",
        `ordinal ${ordinal} runs ${revision} (${desired.reason})`,
        target,
      );
    }
    // The update revision of a split: the cache may not show the back wave that took this
    // ordinal off updatedOrdinals.
    return confirm(
      `ordinal ${ordinal} comes up on the update revision of a split`,
      allow(
        "not-pinned",
        desired.reason as PinningAllowReason,
        `ordinal ${ordinal} runs the update revision ${revision} (${desired.reason})`,
        target,
      ),
    );
  }
  const pin = (reason: PinReason, why: string): PinningDecision =>
    confirm(why, { verdict: "pin", reason, fromRevision: revision, toRevision: wanted, detail: why, ...target });

  if (status.templatePending) {
    // The reconciler recorded the split before applying a new template: a pod of that template
    // (a revision the status does not know yet) gets back the revision its ordinal runs.
    if (revision !== current && revision !== update)
      return pin(
        "template-pending",
        `a new template is being applied; ordinal ${ordinal} keeps revision ${wanted} (${desired.reason})`,
      );
  }
  if (revision !== current && revision !== update) {
    return confirm(
      `revision ${revision || "(none)"} is unknown to the cached status`,
      allow(
        "fail-safe",
        "revision-unknown",
        `pod revision ${revision || "(none)"} is neither ${current} nor ${update} of rollout ${rolloutRef.name}: its status is behind the StatefulSet`,
        target,
      ),
    );
  }
  if (desired.revision === "update") {
    // On the old revision while the ordinal may run the new one: nothing to rewrite to the new
    // template (pinning only keeps pods back), and it is not a leak.
    return allow(
      "not-pinned",
      desired.reason as PinningAllowReason,
      `ordinal ${ordinal} may run ${update} (${desired.reason}); the pod keeps ${revision}`,
      target,
    );
  }
  const reason = desired.reason === "above-target" ? "above-target" : "not-moved";
  return pin(
    reason,
    `ordinal ${ordinal} is ${reason === "above-target" ? "above the rollout's target" : "not moved by the rollout yet"} (${rollout.spec.percent}%)`,
  );
}
