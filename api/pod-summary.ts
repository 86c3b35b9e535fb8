// status.podSummary: the pods of the last pass, compact (api/rollout.ts podSummarySchema).
// A full per-pod list costs ~75-100 KB at 1,000 pods and was rewritten on every change; the
// summary keeps every pod's revision and readiness exact as ordinal ranges ("0-449,451") and
// free text only for pods that are not settled, bounded. summarizePods writes it (the reconciler,
// api/reconcile.ts); podsOfStatus is the one reader every process uses to get one entry per pod
// back, from the summary or from a status written before it (status.pods).
import type { ObservedPod } from "./observe.js";
import { ORDINAL_MAX } from "./revisions.js";
import { POD_SUMMARY_LIMITS, type PodSummaryStatus, type RolloutStatus } from "./rollout.js";

/** One pod as status shows it (expanded from status.podSummary, or an entry of the older status.pods). */
export interface PodView {
  name: string;
  ordinal: number;
  revision?: string;
  ready: boolean;
  /** Why its containers cannot run (CrashLoopBackOff, ...); absent when not known. */
  stuck?: string;
  /** Consul health when it was checked. */
  consulPassing?: boolean;
  terminating?: boolean;
}

/** Ordinals expanded per status at most: beyond it a corrupt range ("0-999999999") is cut off. */
export const POD_VIEW_MAX = 100_000;

/** "0-3,5,7-8" for [0,1,2,3,5,7,8] (any order, duplicates ignored). */
export function formatOrdinalRanges(ordinals: Iterable<number>): string {
  const sorted = [...new Set(ordinals)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j === i ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/**
 * The ordinals of "0-3,5" ([0,1,2,3,5]), at most `max` of them; throws naming the bad part when
 * the text is not ascending, disjoint ranges (the CRD's pattern admits only digits, "-" and ",").
 */
export function parseOrdinalRanges(text: string | undefined, max = POD_VIEW_MAX): number[] {
  const out: number[] = [];
  if (!text) return out;
  let last = -1;
  for (const part of text.split(",")) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part);
    const from = match ? Number(match[1]) : NaN;
    const to = match?.[2] !== undefined ? Number(match[2]) : from;
    if (!match || !(from > last) || to < from) {
      throw new Error(`ordinal ranges "${clip(text)}": "${part}" is not an ascending range after ${last}`);
    }
    // Past 2^53 a number no longer counts up by one; no pod has an ordinal beyond ORDINAL_MAX.
    if (to > ORDINAL_MAX) {
      throw new Error(`ordinal ranges "${clip(text)}": "${clip(part)}" is beyond the largest ordinal ${ORDINAL_MAX}`);
    }
    if (out.length + (to - from + 1) > max) {
      throw new Error(`ordinal ranges "${clip(text)}" hold more than ${max} ordinals`);
    }
    for (let o = from; o <= to; o++) out.push(o);
    last = to;
  }
  return out;
}

/**
 * The compact form of the pods of one pass. `passing`: the pods Consul reports passing, when
 * Consul was checked. Pods are expected to have distinct ordinals (pod names are unique).
 */
export function summarizePods(
  pods: readonly ObservedPod[],
  passing: ReadonlySet<string> | undefined,
): PodSummaryStatus {
  const sorted = [...pods].sort((a, b) => a.ordinal - b.ordinal);
  const byRevision = new Map<string | undefined, number[]>();
  for (const p of sorted) {
    const list = byRevision.get(p.revision) ?? [];
    list.push(p.ordinal);
    byRevision.set(p.revision, list);
  }
  // Revisions in the order of their lowest ordinal: stable from pass to pass.
  const summary: PodSummaryStatus = {
    revisions: [...byRevision].map(([revision, ordinals]) => ({
      ...(revision !== undefined ? { revision } : {}),
      ordinals: formatOrdinalRanges(ordinals),
    })),
  };
  const ranges = (keep: (p: ObservedPod) => boolean) => formatOrdinalRanges(sorted.filter(keep).map((p) => p.ordinal));
  const notReady = ranges((p) => !p.ready);
  if (notReady) summary.notReady = notReady;
  const terminating = ranges((p) => p.terminating);
  if (terminating) summary.terminating = terminating;
  if (passing) {
    summary.consulChecked = true;
    const failing = ranges((p) => !passing.has(p.name));
    if (failing) summary.consulNotPassing = failing;
  }
  const stuck = sorted.filter((p) => p.problem !== undefined);
  if (stuck.length > 0) {
    summary.stuck = stuck
      .slice(0, POD_SUMMARY_LIMITS.stuckDetails)
      .map((p) => ({ ordinal: p.ordinal, reason: p.problem!.slice(0, POD_SUMMARY_LIMITS.reasonLength) }));
    const omitted = stuck.length - summary.stuck.length;
    if (omitted > 0) summary.stuckOmitted = omitted;
  }
  return summary;
}

/**
 * Every pod status shows, one entry each, lowest ordinal first: expanded from status.podSummary,
 * or status.pods as a status written before the summary has it (until the reconciler rewrites
 * it). Pod names are `${statefulSetName}-${ordinal}`. A summary that cannot be read (not
 * written by the reconciler) throws, saying which range is wrong.
 */
export function podsOfStatus(status: RolloutStatus | undefined, statefulSetName: string): PodView[] {
  const summary = status?.podSummary;
  if (!summary) return [...(status?.pods ?? [])].sort((a, b) => a.ordinal - b.ordinal);
  const set = (text: string | undefined) => new Set(parseOrdinalRanges(text));
  const notReady = set(summary.notReady);
  const terminating = set(summary.terminating);
  const consulNotPassing = set(summary.consulNotPassing);
  const stuck = new Map((summary.stuck ?? []).map((s) => [s.ordinal, s.reason]));
  const out: PodView[] = [];
  const seen = new Set<number>();
  for (const { revision, ordinals } of summary.revisions) {
    for (const ordinal of parseOrdinalRanges(ordinals, POD_VIEW_MAX - out.length)) {
      if (seen.has(ordinal)) throw new Error(`ordinal ${ordinal} is listed under two revisions in status.podSummary`);
      seen.add(ordinal);
      const pod: PodView = { name: `${statefulSetName}-${ordinal}`, ordinal, ready: !notReady.has(ordinal) };
      if (revision !== undefined) pod.revision = revision;
      const reason = stuck.get(ordinal);
      if (reason !== undefined) pod.stuck = reason;
      if (summary.consulChecked) pod.consulPassing = !consulNotPassing.has(ordinal);
      if (terminating.has(ordinal)) pod.terminating = true;
      out.push(pod);
    }
  }
  return out.sort((a, b) => a.ordinal - b.ordinal);
}

/**
 * podsOfStatus for a display (CLI, dashboard, Slack pages): a status it cannot read (edited by
 * hand, not written by the reconciler) shows no recorded pods and says why, instead of throwing.
 */
export function readPodsOfStatus(
  status: RolloutStatus | undefined,
  statefulSetName: string,
): { pods: PodView[]; unreadable?: string } {
  try {
    return { pods: podsOfStatus(status, statefulSetName) };
  } catch (err) {
    return { pods: [], unreadable: `status.podSummary cannot be read: ${(err as Error).message}` };
  }
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
