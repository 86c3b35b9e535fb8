// How the reconciler takes a wave's pods down (docs/design.md, "Taking pods down"): what the
// Eviction API does for one pod, done for a batch with one write to the PodDisruptionBudget.
//
// The Eviction API decrements the PDB's status.disruptionsAllowed and records the pod in
// status.disruptedPods (one optimistic-concurrency write per pod), then deletes the pod. Every
// eviction of a rollout writes the same PDB status, so evictions in parallel conflict with each
// other and with the disruption controller, and the apiserver waits a fixed 500 ms before each
// retry. Here the reconciler reads the PDB and the pods live, reserves the disruptions of all the
// Ready pods of the batch in ONE status write (guarded by the PDB's resourceVersion), and then
// deletes the pods with preconditions. A concurrent `kubectl drain` evicts through the same PDB
// status: whichever write lands second reads the first one's reservation or conflicts and
// re-reads, so the budget holds exactly as it does between two evictions.
//
// Pure: the adapter (adapters/kube/rollouts.ts) does the reads and writes.
import { selectorMatches, type LabelSelector } from "./pdb-policy.js";

/** A pod the decision asks to take down: the uid it saw (a recreated pod is never taken by mistake). */
export interface TakeDownRequest {
  name: string;
  uid: string;
}

/** The pod as read live just before the reservation. */
export interface LivePod {
  name: string;
  uid: string;
  resourceVersion: string;
  labels: Record<string, string>;
  ready: boolean;
  terminating: boolean;
  /** Succeeded or Failed: nothing is running, the budget is not involved. */
  finished: boolean;
}

/** A PodDisruptionBudget of the namespace, as read live. */
export interface LivePdb {
  name: string;
  generation: number;
  selector: LabelSelector | null | undefined;
  status: {
    observedGeneration: number;
    disruptionsAllowed: number;
    /** Pod name → when its disruption was granted (RFC 3339), as the Eviction API keeps it. */
    disruptedPods: Record<string, string>;
  };
}

/** What happens to one requested pod. */
export type TakeDownVerdict =
  /** Delete it; `resourceVersion` set: only if it has not changed since read (it was not Ready, so it cost no budget). */
  | { name: string; action: "delete"; uid: string; resourceVersion?: string; reserved: boolean }
  /** Nothing to do: it is gone, recreated (another uid) or already terminating. */
  | { name: string; action: "skip"; why: "gone" | "replaced" | "terminating" }
  /** Not now: the budget has no room (the decision asks again on a later pass). */
  | { name: string; action: "wait"; why: string };

export interface TakeDownPlan {
  verdicts: TakeDownVerdict[];
  /** The PDB status to write before any delete (undefined: no reservation needed). */
  reserve?: { pdb: string; disruptionsAllowed: number; disruptedPods: Record<string, string> };
}

/** The Eviction API refuses more unconfirmed disruptions than this (MaxDisruptedPodSize). */
export const MAX_DISRUPTED_PODS = 2000;

/**
 * Which of `requests` may be taken down now, in order, and the PDB reservation that pays for the
 * Ready ones. The rules are the Eviction API's for a PDB with unhealthyPodEvictionPolicy
 * AlwaysAllow (the one Bulkhead writes): a pod that is not Ready (or has finished) costs nothing
 * and is deleted only if unchanged since read (so one that became Ready meanwhile is not taken
 * without budget); a Ready pod needs exactly one PDB selecting it, observed at its generation,
 * with a disruption left. `pdbs` are the namespace's PDBs; `live` maps a name to the pod read
 * live (absent: gone).
 */
export function planTakeDown(
  requests: readonly TakeDownRequest[],
  live: ReadonlyMap<string, LivePod>,
  pdbs: readonly LivePdb[],
  nowIso: string,
): TakeDownPlan {
  const verdicts: TakeDownVerdict[] = [];
  let budget: { pdb: LivePdb; allowed: number; disrupted: Record<string, string> } | undefined;
  let reserved = false;
  for (const request of requests) {
    const pod = live.get(request.name);
    if (!pod) {
      verdicts.push({ name: request.name, action: "skip", why: "gone" });
      continue;
    }
    if (pod.uid !== request.uid) {
      verdicts.push({ name: request.name, action: "skip", why: "replaced" });
      continue;
    }
    if (pod.terminating) {
      verdicts.push({ name: request.name, action: "skip", why: "terminating" });
      continue;
    }
    if (!pod.ready || pod.finished) {
      verdicts.push({
        name: pod.name,
        action: "delete",
        uid: pod.uid,
        resourceVersion: pod.resourceVersion,
        reserved: false,
      });
      continue;
    }
    const covering = pdbs.filter((p) => selectorMatches(p.selector, pod.labels));
    if (covering.length !== 1) {
      verdicts.push({
        name: pod.name,
        action: "wait",
        why:
          covering.length === 0
            ? "no PodDisruptionBudget selects it"
            : `${covering.length} PodDisruptionBudgets select it (${covering.map((p) => p.name).join(", ")}); the Eviction API refuses that too`,
      });
      continue;
    }
    const pdb = covering[0]!;
    if (alreadyDisrupted(pdb, pod.name, nowIso)) {
      // Paid for already (an earlier reservation whose delete did not happen): its disruption
      // controller counts it as unavailable, so deleting it costs nothing more.
      verdicts.push({ name: pod.name, action: "delete", uid: pod.uid, reserved: false });
      continue;
    }
    if (budget && budget.pdb.name !== pdb.name) {
      verdicts.push({ name: pod.name, action: "wait", why: `its PodDisruptionBudget ${pdb.name} is not the batch's` });
      continue;
    }
    budget ??= { pdb, allowed: pdb.status.disruptionsAllowed, disrupted: { ...pdb.status.disruptedPods } };
    const why = refusal(pdb, budget.allowed, Object.keys(budget.disrupted).length);
    if (why) {
      verdicts.push({ name: pod.name, action: "wait", why });
      continue;
    }
    budget.allowed -= 1;
    budget.disrupted[pod.name] = nowIso;
    reserved = true;
    verdicts.push({ name: pod.name, action: "delete", uid: pod.uid, reserved: true });
  }
  const plan: TakeDownPlan = { verdicts };
  if (budget && reserved)
    plan.reserve = { pdb: budget.pdb.name, disruptionsAllowed: budget.allowed, disruptedPods: budget.disrupted };
  return plan;
}

/**
 * The disruption controller forgets a disrupted pod that was not deleted within 2 minutes
 * (DeletionTimeout); a younger entry than this still holds its disruption.
 */
const DISRUPTION_HELD_MS = 60_000;

function alreadyDisrupted(pdb: LivePdb, podName: string, nowIso: string): boolean {
  const since = pdb.status.disruptedPods[podName];
  if (since === undefined) return false;
  const age = Date.parse(nowIso) - Date.parse(since);
  return Number.isFinite(age) && age >= 0 && age < DISRUPTION_HELD_MS;
}

function refusal(pdb: LivePdb, allowed: number, disrupted: number): string | undefined {
  if (pdb.status.observedGeneration < pdb.generation)
    return `PodDisruptionBudget ${pdb.name} is still being processed by the disruption controller`;
  if (disrupted >= MAX_DISRUPTED_PODS)
    return `PodDisruptionBudget ${pdb.name} has ${disrupted} disruptions its controller has not confirmed yet`;
  if (allowed <= 0) return `PodDisruptionBudget ${pdb.name} allows no more disruptions`;
  return undefined;
}
