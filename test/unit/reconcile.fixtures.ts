// Builders for decide() tests: a parsed rollout and a settled world around it.
import { desiredPdb, desiredTemplate, TEMPLATE_HASH_ANNOTATION, templateHash } from "../../api/desired.js";
import { MANAGED_LABEL, ROLLOUT_LABEL } from "../../api/labels.js";
import type { ObservedPdb, ObservedPod, ObservedStatefulSet, World } from "../../api/observe.js";
import { isSplitRecorded, REVISION_HISTORY_ANNOTATION, SPLIT_REVISION_HISTORY_LIMIT } from "../../api/revisions.js";
import { parseRollout, type RolloutStatus, type StatefulsetRollout } from "../../api/rollout.js";

export const NOW = new Date("2026-11-23T12:00:00.000Z");
export const OLD = "web-aaa";
export const NEW = "web-bbb";
export const UID = "uid-rollout";

export function at(secondsFromNow: number): string {
  return new Date(NOW.getTime() + secondsFromNow * 1000).toISOString();
}

export function makeRollout(
  spec: Record<string, unknown> = {},
  status?: RolloutStatus,
  generation = 1,
  replicas = 10,
): StatefulsetRollout {
  const parsed = parseRollout({
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: { name: "web", namespace: "ns", uid: UID, generation },
    spec: {
      statefulset: {
        metadata: { name: "web" },
        spec: {
          replicas,
          selector: { matchLabels: { app: "web" } },
          template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "app", image: "app:v2" }] } },
        },
      },
      ...spec,
    },
    status,
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

/**
 * Settled: while the rollout's status is split (or a new template is being applied, which raises
 * it in the same write), its revision history limit is already raised.
 */
export function makeSts(rollout: StatefulsetRollout, over: Partial<ObservedStatefulSet> = {}): ObservedStatefulSet {
  const split = isSplitRecorded(rollout) || rollout.status?.templatePending === true;
  return {
    name: "web",
    uid: "uid-sts",
    generation: 2,
    observedGeneration: 2,
    replicas: rollout.spec.statefulset.spec.replicas ?? 1,
    updateRevision: NEW,
    currentRevision: OLD,
    labels: { app: "web", [MANAGED_LABEL]: "true", [ROLLOUT_LABEL]: "web" },
    annotations: {
      [TEMPLATE_HASH_ANNOTATION]: templateHash(desiredTemplate(rollout)),
      ...(split ? { [REVISION_HISTORY_ANNOTATION]: "10" } : {}),
    },
    ...(split ? { revisionHistoryLimit: SPLIT_REVISION_HISTORY_LIMIT } : {}),
    ownerReferences: [
      { apiVersion: "bulkhead.dev/v1alpha1", kind: "StatefulsetRollout", name: "web", uid: UID, controller: true },
    ],
    updateStrategy: "OnDelete",
    selector: { app: "web" },
    template: { spec: { containers: [{ name: "app", image: "app:v1" }] } },
    deleting: false,
    ...over,
  };
}

export function makePod(ordinal: number, revision: string, over: Partial<ObservedPod> = {}): ObservedPod {
  return {
    name: `web-${ordinal}`,
    uid: `uid-${ordinal}-${revision}`,
    ordinal,
    revision,
    ready: true,
    terminating: false,
    phase: "Running",
    createdAt: at(-3600),
    crashLooping: false,
    ...over,
  };
}

/** n pods; ordinals in `onNew` run the update revision. */
export function makePods(
  n: number,
  onNew: number[] = [],
  over: Record<number, Partial<ObservedPod>> = {},
): ObservedPod[] {
  return Array.from({ length: n }, (_, i) => makePod(i, onNew.includes(i) ? NEW : OLD, over[i]));
}

export function makePdb(
  rollout: StatefulsetRollout,
  disruptionsAllowed: number,
  over: Partial<ObservedPdb> = {},
): ObservedPdb {
  const want = desiredPdb(rollout);
  return {
    name: want.name,
    generation: 1,
    observedGeneration: 1,
    maxUnavailable: want.maxUnavailable,
    selector: want.selector,
    unhealthyPodEvictionPolicy: "AlwaysAllow",
    disruptionsAllowed,
    labels: want.labels,
    ...over,
  };
}

/** A status in the middle of rolling OLD → NEW. */
export function rollingStatus(over: RolloutStatus = {}): RolloutStatus {
  return {
    phase: "Progressing",
    observedGeneration: 1,
    updateRevision: NEW,
    currentRevision: OLD,
    updatedOrdinals: [],
    wavesCompleted: 0,
    attemptStartedAt: at(-60),
    ...over,
  };
}

export function world(
  rollout: StatefulsetRollout,
  pods: ObservedPod[],
  disruptionsAllowed = 3,
  over: Partial<World> = {},
): World {
  return { statefulSet: makeSts(rollout), pods, pdb: makePdb(rollout, disruptionsAllowed), ...over };
}
