// api/pinning.ts: every row of the revision-pinning table, from the cache and from a live read.
import { expect } from "chai";
import {
  decidePinning,
  type PinningDecision,
  type PinningRequest,
  type PinningSource,
  type PinningWorld,
} from "../../api/pinning.js";
import type { LeakProtectionMode } from "../../api/rollout.js";

const NS = "shop";
const OLD = "web-old";
const NEW = "web-new";
const NEWER = "web-newer";
const STS_OWNER = [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "web", uid: "sts-uid", controller: true }];

const rollout = (status: Record<string, unknown> | undefined, spec: Record<string, unknown> = {}) => ({
  apiVersion: "bulkhead.dev/v1alpha1",
  kind: "StatefulsetRollout",
  metadata: { name: "web", namespace: NS },
  spec: {
    statefulset: {
      metadata: { name: "web" },
      spec: { replicas: 8, selector: { matchLabels: { app: "web" } }, template: {} },
    },
    percent: 50,
    leakProtection: "pin",
    ...spec,
  },
  ...(status ? { status } : {}),
});

/** Split OLD → NEW at 50%: ordinals 7, 6, 5, 4 moved. */
const split = (extra: Record<string, unknown> = {}, spec: Record<string, unknown> = {}) =>
  rollout(
    { phase: "Progressing", currentRevision: OLD, updateRevision: NEW, updatedOrdinals: [7, 6, 5, 4], ...extra },
    spec,
  );
/** Done on OLD at 100%, not split. */
const doneOnOld = (extra: Record<string, unknown> = {}) =>
  rollout(
    {
      phase: "RolloutDone",
      currentRevision: OLD,
      updateRevision: OLD,
      updatedOrdinals: [0, 1, 2, 3, 4, 5, 6, 7],
      ...extra,
    },
    { percent: 100 },
  );

interface WorldSpec {
  synced?: boolean;
  statefulSet?: boolean;
  rolloutOwner?: boolean;
  rollout?: unknown;
}

function world(spec: WorldSpec = {}): PinningWorld {
  const sts = {
    metadata: {
      name: "web",
      namespace: NS,
      ownerReferences:
        spec.rolloutOwner === false
          ? []
          : [
              {
                apiVersion: "bulkhead.dev/v1alpha1",
                kind: "StatefulsetRollout",
                name: "web",
                uid: "r-uid",
                controller: true,
              },
            ],
    },
  };
  return {
    synced: spec.synced ?? true,
    statefulSet: (ns, name) => (spec.statefulSet === false || ns !== NS || name !== "web" ? undefined : sts),
    rollout: (ns, name) => (ns === NS && name === "web" ? ("rollout" in spec ? spec.rollout : split()) : undefined),
  };
}

const request = (
  podName: string,
  podRevision: string | undefined,
  owners: PinningRequest["ownerReferences"] = STS_OWNER,
): PinningRequest => ({
  namespace: NS,
  podName,
  podRevision,
  ownerReferences: owners,
});

/** What a decision comes to, in one comparable line. */
function summary(d: PinningDecision): string {
  switch (d.verdict) {
    case "allow":
      return `allow ${d.outcome} ${d.reason}`;
    case "pin":
      return `pin ${d.reason} ${d.fromRevision}→${d.toRevision}`;
    case "confirm":
      return `confirm, else ${summary(d.unconfirmed)}`;
  }
}

interface Row {
  name: string;
  request: PinningRequest;
  world?: WorldSpec;
  defaultMode?: LeakProtectionMode;
  /** From the cache. */
  cache: string;
  /** From a live read of the same rollout; default: the cache answer without "confirm, else". */
  live?: string;
}

const rows: Row[] = [
  // Something the decision needs is missing: fail open.
  {
    name: "caches not synced",
    request: request("web-2", NEW),
    world: { synced: false },
    cache: "allow fail-safe caches-not-synced",
  },
  {
    name: "StatefulSet not cached",
    request: request("web-2", NEW),
    world: { statefulSet: false },
    cache: "allow fail-safe statefulset-not-found",
  },
  {
    name: "rollout not cached (not found live)",
    request: request("web-2", NEW),
    world: { rollout: undefined },
    cache: "allow fail-safe rollout-not-found",
  },
  {
    name: "rollout does not parse",
    request: request("web-2", NEW),
    world: { rollout: split({}, { percent: 150 }) },
    cache: "allow fail-safe rollout-invalid",
  },
  // Not pinning's business.
  {
    name: "pod without a StatefulSet controller",
    request: request("web-2", NEW, []),
    cache: "allow not-pinned not-statefulset-pod",
  },
  {
    name: "owner reference without the controller flag",
    request: request("web-2", NEW, [{ ...STS_OWNER[0]!, controller: false }]),
    cache: "allow not-pinned not-statefulset-pod",
  },
  { name: "pod name without an ordinal", request: request("web-x", NEW), cache: "allow not-pinned no-ordinal" },
  {
    name: "StatefulSet without a rollout",
    request: request("web-2", NEW),
    world: { rolloutOwner: false },
    cache: "allow not-pinned no-rollout",
  },
  {
    name: "leakProtection off on the rollout",
    request: request("web-2", NEW),
    world: { rollout: split({}, { leakProtection: "off" }) },
    cache: "allow not-pinned protection-off",
  },
  {
    name: "leakProtection off by default",
    request: request("web-2", NEW),
    world: { rollout: split({}, { leakProtection: undefined }) },
    defaultMode: "off",
    cache: "allow not-pinned protection-off",
  },
  // The split, trusted from the cache: old-revision creates, and rollouts that are not split.
  {
    name: "not-moved ordinal already on the old revision",
    request: request("web-2", OLD),
    cache: "allow unchanged already-pinned",
  },
  {
    name: "not split: pod on the one revision",
    request: request("web-2", OLD),
    world: { rollout: doneOnOld() },
    cache: "allow not-pinned no-split",
  },
  {
    name: "moved ordinal on the old revision (nothing to rewrite it to)",
    request: request("web-5", OLD),
    cache: "allow not-pinned moved",
  },
  // The split, confirmed live: pins and new-revision pods.
  {
    name: "not-moved ordinal on the update revision",
    request: request("web-2", NEW),
    cache: `confirm, else pin not-moved ${NEW}→${OLD}`,
  },
  {
    name: "moved ordinal above a lowered percent",
    request: request("web-5", NEW),
    world: { rollout: split({}, { percent: 25 }) },
    cache: `confirm, else pin above-target ${NEW}→${OLD}`,
  },
  {
    name: "moved ordinal on the update revision (a back wave may be behind the cache)",
    request: request("web-5", NEW),
    cache: "confirm, else allow not-pinned moved",
  },
  {
    name: "rollback to 100%: everything may be new",
    request: request("web-2", NEW),
    world: { rollout: split({ rollback: true }, { percent: 100 }) },
    cache: "confirm, else allow not-pinned rollback",
  },
  {
    name: "done at 100% but the status still shows the split",
    request: request("web-2", NEW),
    world: { rollout: split({ phase: "RolloutDone" }, { percent: 100 }) },
    cache: "confirm, else allow not-pinned rollout-done",
  },
  {
    name: "old revision gone: cannot pin",
    request: request("web-2", NEW),
    world: { rollout: split({ revisionMissing: OLD }) },
    cache: "confirm, else allow not-pinned current-revision-missing",
  },
  // The status is behind the pod.
  {
    name: "no revision recorded yet",
    request: request("web-2", NEW),
    world: { rollout: rollout({ phase: "Pending" }) },
    cache: "confirm, else allow not-pinned no-revision-recorded",
  },
  {
    name: "no status at all",
    request: request("web-2", NEW),
    world: { rollout: rollout(undefined) },
    cache: "confirm, else allow not-pinned no-revision-recorded",
  },
  {
    name: "a revision the status does not know",
    request: request("web-2", NEWER),
    cache: "confirm, else allow fail-safe revision-unknown",
  },
  {
    name: "no revision label on the pod",
    request: request("web-2", undefined),
    cache: "confirm, else allow fail-safe revision-unknown",
  },
  // templatePending: the split was recorded before the new template was applied.
  {
    name: "template pending, not split: the new template's pod keeps the old revision",
    request: request("web-2", NEW),
    world: { rollout: doneOnOld({ templatePending: true }) },
    cache: `confirm, else pin template-pending ${NEW}→${OLD}`,
  },
  {
    name: "template pending, not split: a pod of the old template is left alone",
    request: request("web-2", OLD),
    world: { rollout: doneOnOld({ templatePending: true }) },
    cache: "allow not-pinned no-split",
  },
  {
    name: "template pending during a split: a not-moved ordinal keeps the old revision",
    request: request("web-2", NEWER),
    world: { rollout: split({ templatePending: true }) },
    cache: `confirm, else pin template-pending ${NEWER}→${OLD}`,
  },
  {
    name: "template pending during a split: a moved ordinal keeps the update revision",
    request: request("web-5", NEWER),
    world: { rollout: split({ templatePending: true }) },
    cache: `confirm, else pin template-pending ${NEWER}→${NEW}`,
  },
  {
    name: "template pending: not-moved ordinal on the recorded update revision",
    request: request("web-2", NEW),
    world: { rollout: split({ templatePending: true }) },
    cache: `confirm, else pin not-moved ${NEW}→${OLD}`,
  },
];

describe("decidePinning: the revision-pinning table", () => {
  for (const row of rows) {
    it(row.name, () => {
      const w = world(row.world);
      const policy = { defaultMode: row.defaultMode ?? "enforce" };
      expect(summary(decidePinning(row.request, w, policy, "cache")), "from the cache").to.equal(row.cache);
      const live = row.live ?? row.cache.replace(/^confirm, else /, "");
      expect(summary(decidePinning(row.request, w, policy, "live")), "from a live read").to.equal(live);
    });
  }

  it("a pin names the rollout, the StatefulSet and the ordinal", () => {
    const d = decidePinning(request("web-2", NEW), world(), { defaultMode: "enforce" }, "live");
    expect(d.verdict).to.equal("pin");
    if (d.verdict !== "pin") return;
    expect({ rollout: d.rollout.metadata.name, statefulSet: d.statefulSet, ordinal: d.ordinal }).to.deep.equal({
      rollout: "web",
      statefulSet: "web",
      ordinal: 2,
    });
  });

  it("confirm names the rollout to read", () => {
    const d = decidePinning(request("web-2", NEW), world(), { defaultMode: "enforce" }, "cache" as PinningSource);
    expect(d).to.include({ verdict: "confirm", rolloutName: "web" });
  });
});
