// What the dashboard pages show, computed from the watched objects: pure functions, so the
// browser only draws (app.js) and the tests check the facts here. Phases, revisions and pod
// states come from the rollout's status and the pods; nothing is decided here that api/ decides.
import { observePod } from "../../api/observe.js";
import { readPodsOfStatus } from "../../api/pod-summary.js";
import type { PodObject } from "../../api/observe.js";
import { templateImages } from "../../api/history.js";
import { statefulSetName } from "../../api/desired.js";
import type { HistoryEntry, RolloutStatus, StatefulsetRollout } from "../../api/rollout.js";
import { wavesInFlight } from "../../api/waves.js";
import type { FeedEvent } from "./feed.js";

export interface OverviewRow {
  namespace: string;
  name: string;
  phase: string;
  paused: boolean;
  /** spec.percent */
  percent: number;
  /** status.percentDeployed */
  deployed: number | undefined;
  updated: number;
  ready: number;
  total: number;
  group?: string;
  createdAt?: string;
  reason?: string;
}

export function overviewRow(rollout: StatefulsetRollout, group?: string): OverviewRow {
  const status = rollout.status ?? {};
  const created = rollout.metadata.creationTimestamp;
  return {
    namespace: rollout.metadata.namespace ?? "",
    name: rollout.metadata.name,
    phase: status.phase ?? "Pending",
    paused: status.paused ?? false,
    percent: rollout.spec.percent,
    deployed: status.percentDeployed,
    updated: status.updatedReplicas ?? 0,
    ready: status.readyReplicas ?? 0,
    total: rollout.spec.statefulset.spec.replicas ?? 1,
    ...(group ? { group } : {}),
    ...(created !== undefined ? { createdAt: new Date(created).toISOString() } : {}),
    ...(status.reason ? { reason: status.reason } : {}),
  };
}

export function sortRows(rows: OverviewRow[]): OverviewRow[] {
  return [...rows].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

/** new: on the update revision; old: on the revision pods move away from; other: anything else. */
export type TileRevision = "new" | "old" | "other" | "unknown";
export type TileState = "ready" | "not-ready" | "stuck" | "terminating" | "missing";

export interface Tile {
  ordinal: number;
  name: string;
  revision?: string;
  rev: TileRevision;
  state: TileState;
  consulFailing: boolean;
  /** A member of a wave in flight. */
  inWave: boolean;
  /** Why a pod is stuck or not ready: CrashLoopBackOff, Unschedulable, ... */
  detail?: string;
}

export interface PhaseStep {
  percent: number;
  state: "done" | "current" | "next";
}

export interface WaveRecord {
  number: number;
  direction: "forward" | "back";
  pods: number;
  startedAt: string;
  completedAt?: string;
}

export interface RolloutView {
  namespace: string;
  name: string;
  phase: string;
  reason?: string;
  paused: boolean;
  pauseRequested: boolean;
  percent: number;
  deployed?: number;
  total: number;
  updated: number;
  ready: number;
  target: number;
  updateRevision?: string;
  currentRevision?: string;
  image: string;
  previousImage?: string;
  phases: PhaseStep[];
  wavesCompleted: number;
  waves: WaveRecord[];
  /** Waves completed before the dashboard saw them (not timed). */
  wavesUnseen: number;
  tiles: Tile[];
  /** Where tiles came from: live pods, or the rollout's status when pods cannot be watched. */
  podsFrom: "pods" | "status";
  events: FeedEvent[];
  history: HistoryEntry[];
  identity?: string;
  observedGeneration?: number;
  generation?: number;
}

function tileRevision(revision: string | undefined, status: RolloutStatus): TileRevision {
  if (revision === undefined) return "unknown";
  if (revision === status.updateRevision) return "new";
  if (revision === status.currentRevision) return "old";
  return "other";
}

/**
 * One tile per ordinal 0..replicas-1 (and any extra pod still there): from live pods when they
 * are watched, else from status (api/pod-summary.ts podsOfStatus); Consul health always from status.
 */
export function podTiles(rollout: StatefulsetRollout, pods: readonly PodObject[] | undefined): Tile[] {
  const status = rollout.status ?? {};
  const stsName = statefulSetName(rollout);
  const recorded = new Map(readPodsOfStatus(status, stsName).pods.map((p) => [p.ordinal, p]));
  const wave = new Set(wavesInFlight(status).flatMap((w) => w.pods));
  const tiles = new Map<number, Tile>();
  const replicas = rollout.spec.statefulset.spec.replicas ?? 1;
  const base = (ordinal: number, name: string): Tile => ({
    ordinal,
    name,
    rev: "unknown",
    state: "missing",
    consulFailing: recorded.get(ordinal)?.consulPassing === false,
    inWave: wave.has(name),
  });
  if (pods) {
    for (const object of pods) {
      const pod = observePod(object, stsName);
      if (!pod) continue;
      // Of two pods with one ordinal (one terminating), show the live one.
      const seen = tiles.get(pod.ordinal);
      if (seen && seen.state !== "terminating") continue;
      const tile = base(pod.ordinal, pod.name);
      if (pod.revision !== undefined) tile.revision = pod.revision;
      tile.rev = tileRevision(pod.revision, status);
      tile.state = pod.terminating ? "terminating" : pod.problem ? "stuck" : pod.ready ? "ready" : "not-ready";
      const detail = pod.problem ?? (!pod.ready && !pod.terminating ? pod.phase : undefined);
      if (detail) tile.detail = detail;
      tiles.set(pod.ordinal, tile);
    }
  } else {
    for (const p of recorded.values()) {
      const tile = base(p.ordinal, p.name);
      if (p.revision !== undefined) tile.revision = p.revision;
      tile.rev = tileRevision(p.revision, status);
      tile.state = p.terminating ? "terminating" : p.stuck ? "stuck" : p.ready ? "ready" : "not-ready";
      if (p.stuck) tile.detail = p.stuck;
      tiles.set(p.ordinal, tile);
    }
  }
  for (let ordinal = 0; ordinal < replicas; ordinal++) {
    if (!tiles.has(ordinal)) tiles.set(ordinal, base(ordinal, `${stsName}-${ordinal}`));
  }
  return [...tiles.values()].sort((a, b) => a.ordinal - b.ordinal);
}

/** spec.phases as steps: done below the phase being rolled out, current at it, next above. */
export function phaseSteps(rollout: StatefulsetRollout): PhaseStep[] {
  const phases = rollout.spec.phases && rollout.spec.phases.length > 0 ? rollout.spec.phases : [rollout.spec.percent];
  const status = rollout.status ?? {};
  const done = status.phase === "RolloutDone";
  const index = Math.min(status.phaseIndex ?? 0, phases.length - 1);
  return phases.map((percent, i) => {
    if (percent > rollout.spec.percent) return { percent, state: "next" as const };
    if (i < index || (done && percent <= rollout.spec.percent)) return { percent, state: "done" as const };
    return { percent, state: i === index ? ("current" as const) : ("next" as const) };
  });
}

/** The dashboard's memory of the waves it has seen (status keeps only those in flight and the newest). */
export interface WaveLog {
  updateRevision?: string;
  waves: WaveRecord[];
  /** wavesCompleted when the log started for this revision: waves the dashboard never saw. */
  unseen: number;
}

export const WAVES_KEPT = 100;

/** The log after seeing `status`; a new update revision starts a new log. Bounded to WAVES_KEPT. */
export function recordWave(log: WaveLog | undefined, status: RolloutStatus): WaveLog {
  let next: WaveLog =
    log && log.updateRevision === status.updateRevision
      ? { ...log, waves: [...log.waves] }
      : {
          ...(status.updateRevision !== undefined ? { updateRevision: status.updateRevision } : {}),
          waves: [],
          unseen: Math.max(0, (status.wavesCompleted ?? 0) - (status.currentWave?.completedAt ? 1 : 0)),
        };
  // Waves are a pipeline: every wave in flight, and the newest (which may have completed).
  const wave = status.currentWave;
  const inFlight = wavesInFlight(status);
  const shown = wave && !inFlight.some((w) => w.number === wave.number) ? [...inFlight, wave] : inFlight;
  for (const w of shown) {
    const record: WaveRecord = {
      number: w.number,
      direction: w.direction ?? "forward",
      pods: w.pods.length,
      startedAt: w.startedAt,
      ...(w.completedAt ? { completedAt: w.completedAt } : {}),
    };
    const at = next.waves.findIndex((r) => r.number === record.number && r.startedAt === record.startedAt);
    if (at >= 0) next.waves[at] = record;
    else next.waves.push(record);
  }
  // A wave seen in flight that no longer is has completed (status keeps no record of older waves).
  const running = new Set(inFlight.map((w) => w.number));
  const completedBy = status.lastUpdated ?? wave?.startedAt;
  next.waves = next.waves.map((r) =>
    r.completedAt || running.has(r.number) || !completedBy ? r : { ...r, completedAt: completedBy },
  );
  if (next.waves.length > WAVES_KEPT)
    next = { ...next, unseen: next.unseen + (next.waves.length - WAVES_KEPT), waves: next.waves.slice(-WAVES_KEPT) };
  return next;
}

export function rolloutView(
  rollout: StatefulsetRollout,
  pods: readonly PodObject[] | undefined,
  events: readonly FeedEvent[],
  waves: WaveLog | undefined,
): RolloutView {
  const status = rollout.status ?? {};
  const total = rollout.spec.statefulset.spec.replicas ?? 1;
  const previous =
    status.previousTemplate && Object.keys(status.previousTemplate).length > 0
      ? templateImages(status.previousTemplate)
      : undefined;
  return {
    namespace: rollout.metadata.namespace ?? "",
    name: rollout.metadata.name,
    phase: status.phase ?? "Pending",
    ...(status.reason ? { reason: status.reason } : {}),
    paused: status.paused ?? false,
    pauseRequested: rollout.spec.pauseRequested,
    percent: rollout.spec.percent,
    ...(status.percentDeployed !== undefined ? { deployed: status.percentDeployed } : {}),
    total,
    updated: status.updatedReplicas ?? 0,
    ready: status.readyReplicas ?? 0,
    target: status.targetReplicas ?? Math.ceil((total * rollout.spec.percent) / 100),
    ...(status.updateRevision ? { updateRevision: status.updateRevision } : {}),
    ...(status.currentRevision ? { currentRevision: status.currentRevision } : {}),
    image: templateImages(rollout.spec.statefulset.spec.template),
    ...(previous ? { previousImage: previous } : {}),
    phases: phaseSteps(rollout),
    wavesCompleted: status.wavesCompleted ?? 0,
    waves: waves?.waves ?? [],
    wavesUnseen: waves?.unseen ?? status.wavesCompleted ?? 0,
    tiles: podTiles(rollout, pods),
    podsFrom: pods ? "pods" : "status",
    events: [...events],
    history: status.history ?? [],
    ...(rollout.spec.rolloutIdentity ? { identity: rollout.spec.rolloutIdentity } : {}),
    ...(status.observedGeneration !== undefined ? { observedGeneration: status.observedGeneration } : {}),
    ...(rollout.metadata.generation !== undefined ? { generation: rollout.metadata.generation } : {}),
  };
}
