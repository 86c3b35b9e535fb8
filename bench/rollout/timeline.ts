// Where a rollout's time goes, from one pod watch: when each old pod was taken down (its
// deletionTimestamp first seen, or its removal when it went without one) and removed, when each
// new pod was created, bound to a node and turned Ready, and from those
//   - what the control plane itself takes to replace one pod, step by step: the old pod's
//     removal (KWOK), the replacement's creation (StatefulSet controller), its binding
//     (scheduler), its Ready (KWOK, including the configured Ready delay),
//   - how long a Ready pod waited until the contender took the next pod down (the dead time a
//     pipeline should not have while pods are left to move),
//   - how full the budget was: the pods unavailable (taken down and not yet Ready again),
//     averaged over the roll.
// Times are this process's receive times of watch events (ms), the same clock for every
// contender; the watch's own delay is in every figure alike.
import { Watch, type KubeConfig, type V1Pod } from "@kubernetes/client-node";

interface PodRecord {
  name: string;
  revision: string;
  created: number;
  scheduled?: number;
  ready?: number;
  down?: number;
  gone?: number;
}

/** Quantiles of a duration, ms. */
export interface Spread {
  p50: number;
  p90: number;
  samples: number;
}

export interface TimelineSummary {
  /** Old pods seen taken down, new pods seen Ready. */
  takenDown: number;
  becameReady: number;
  /** For each new pod turning Ready while old pods were left: ms until the next take-down. */
  readyToNextTakeDownMs: { p50: number; p90: number; max: number; samples: number };
  /** Mean pods unavailable (taken down, replacement not yet Ready) from the first take-down to the last Ready. */
  meanUnavailable: number;
  maxUnavailable: number;
  /** From an old pod's take-down to its replacement (same name) Ready, and the steps between. */
  downToReadyMs: Spread;
  steps: {
    /** Take-down to the old pod's removal (KWOK's delete stage). */
    removal: Spread;
    /** Removal to the replacement's creation (StatefulSet controller). */
    creation: Spread;
    /** Creation to binding (scheduler). */
    binding: Spread;
    /** Binding to Ready (KWOK's stages, the Ready delay included). */
    ready: Spread;
  };
  /** ms from the start mark to the first take-down. */
  firstTakeDownMs: number;
}

const ready = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

/** The middle value of some numbers (the mean of the middle two for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function spread(values: number[]): Spread {
  const sorted = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), samples: sorted.length };
}

/** The pure part: pod events in, the summary out (the watch below feeds it). */
export class RolloutTimes {
  private readonly pods = new Map<string, PodRecord>();
  startedAt = 0;

  constructor(private readonly fromRevision: string) {}

  seen(type: string, pod: V1Pod, now: number): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    let t = this.pods.get(uid);
    if (!t) {
      t = {
        name: pod.metadata?.name ?? "",
        revision: pod.metadata?.labels?.["controller-revision-hash"] ?? "",
        created: now,
      };
      this.pods.set(uid, t);
    }
    if (t.scheduled === undefined && pod.spec?.nodeName) t.scheduled = now;
    if (t.ready === undefined && ready(pod)) t.ready = now;
    if (t.down === undefined && (pod.metadata?.deletionTimestamp || type === "DELETED")) t.down = now;
    if (type === "DELETED") t.gone = now;
  }

  summary(): TimelineSummary {
    const all = [...this.pods.values()];
    const old = all.filter((p) => p.revision === this.fromRevision && p.down !== undefined);
    const fresh = all.filter((p) => p.revision !== this.fromRevision && p.ready !== undefined);
    const downs = old.map((p) => p.down!).sort((a, b) => a - b);
    const readies = fresh.map((p) => p.ready!).sort((a, b) => a - b);
    const gaps: number[] = [];
    for (const r of readies) {
      const next = downs.find((d) => d >= r);
      if (next !== undefined) gaps.push(next - r);
    }
    gaps.sort((a, b) => a - b);
    // Unavailable over time: +1 at each take-down, −1 when a new pod turns Ready.
    const events = [...downs.map((t) => ({ t, d: 1 })), ...readies.map((t) => ({ t, d: -1 }))].sort(
      (a, b) => a.t - b.t || b.d - a.d,
    );
    let level = 0;
    let maxLevel = 0;
    let area = 0;
    let last = events[0]?.t ?? 0;
    for (const e of events) {
      area += level * (e.t - last);
      last = e.t;
      level += e.d;
      maxLevel = Math.max(maxLevel, level);
    }
    const span = (events.at(-1)?.t ?? 0) - (events[0]?.t ?? 0);
    const byName = new Map(all.filter((p) => p.revision !== this.fromRevision).map((p) => [p.name, p]));
    const pairs = old.map((p) => ({ old: p, fresh: byName.get(p.name) }));
    const diff = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? NaN : b - a);
    return {
      takenDown: downs.length,
      becameReady: readies.length,
      readyToNextTakeDownMs: {
        p50: quantile(gaps, 0.5),
        p90: quantile(gaps, 0.9),
        max: gaps.at(-1) ?? 0,
        samples: gaps.length,
      },
      meanUnavailable: span > 0 ? Math.round((area / span) * 10) / 10 : 0,
      maxUnavailable: maxLevel,
      downToReadyMs: spread(pairs.map((x) => diff(x.old.down, x.fresh?.ready))),
      steps: {
        removal: spread(pairs.map((x) => diff(x.old.down, x.old.gone))),
        creation: spread(pairs.map((x) => diff(x.old.gone, x.fresh?.created))),
        binding: spread(pairs.map((x) => diff(x.fresh?.created, x.fresh?.scheduled))),
        ready: spread(pairs.map((x) => diff(x.fresh?.scheduled, x.fresh?.ready))),
      },
      firstTakeDownMs: downs.length ? downs[0]! - this.startedAt : 0,
    };
  }
}

/** Watches a namespace's pods from now; pods existing now are the old ones (fromRevision). */
export class PodTimeline {
  private abort: AbortController | undefined;

  private constructor(private readonly times: RolloutTimes) {}

  static async start(kc: KubeConfig, namespace: string, fromRevision: string): Promise<PodTimeline> {
    const t = new PodTimeline(new RolloutTimes(fromRevision));
    t.abort = await new Watch(kc).watch(
      `/api/v1/namespaces/${namespace}/pods`,
      {},
      (type: string, pod: V1Pod) => t.times.seen(type, pod, Date.now()),
      () => undefined,
    );
    return t;
  }

  /** The clock's zero (the template change). */
  mark(): void {
    this.times.startedAt = Date.now();
  }

  stop(): TimelineSummary {
    this.abort?.abort();
    return this.times.summary();
  }
}
