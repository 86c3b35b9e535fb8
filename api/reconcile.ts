// The reconciler's decision: decide(rollout, world, now) → at most one step + the new status.
// Pure. The status is the reconciler's only memory: a restarted reconciler reads it back and
// carries on, and no completed step is repeated (DESIGN.md §2). The reconciler writes a pass's
// status before it takes the pass's step (reconciler/controller.ts).
//
// Order of a pass (the first that applies wins):
//   terminal phase, unchanged spec and identity → nothing (or the pending release callback);
//   no StatefulSet → create it;  another owner → OwnershipConflict;  selector changed → fail;
//   a new template, split not yet recorded → record it (status only: templatePending);
//   StatefulSet differs → update it (remember the old template);
//   PDB missing/different → apply it;  StatefulSet/PDB controllers behind → wait;
//   a new update revision → start a rollout (status only; clears templatePending);
//   a new-revision pod crash-looping, or not Ready past the deadline → RolloutFailed;
//   waves in flight: complete those whose pods are all Ready on their goal revision (a wave past
//     the deadline fails the rollout);
//   paused → finish the waves in flight, then Paused;
//   pods still to move (forward, or back after percent was lowered) → the wave-start gate
//     (waveStartGate: one direction at a time, minPodEvictionIntervalSeconds, service discovery),
//     then, as soon as the budget has room, record a new wave AND take its pods down in the same
//     pass, together with in-flight pods still up — waves are a pipeline, not a barrier;
//   waves in flight → take down what they still have up, or wait for their pods;
//   target reached → wait for readiness, advance spec.phases, or RolloutDone.
// No timing assumption between this process and the webhook (DESIGN.md §2): what pinning needs
// is in status *before* the cluster changes — a wave's ordinals in the status written before its
// pods are taken down, the split (templatePending) one pass before a new template — and the
// webhook confirms with a live read any answer its cache could be behind on (api/pinning.ts).
import { buildCallbackPayload, callbackDue } from "./callback-payload.js";
import { nextHistory } from "./history.js";
import type { CallbackPayload } from "./integrations.js";
import {
  canonicalJson,
  desiredPdb,
  pdbDiffers,
  statefulSetDrift,
  desiredStatefulSet,
  statefulSetName,
  type DesiredPdb,
  type StatefulSetChanges,
} from "./desired.js";
import {
  CONDITION_GROUP_TOO_LARGE,
  groupGate,
  groupStatusOf,
  groupTooLarge,
  memberViewOf,
  tooLargeMessage,
  withMember,
  type GroupView,
} from "./groups.js";
import type { ObservedPod, World } from "./observe.js";
import { ownershipOf } from "./ownership.js";
import { summarizePods } from "./pod-summary.js";
import { isSplitRecorded, keptOrdinals, podOrdinal, targetUpdatedCount } from "./revisions.js";
import { HEALTH_GATE_UNCHECKED_CONDITION } from "./rollout-admission.js";
import {
  isTerminal,
  type Condition,
  type RolloutPhase,
  type RolloutStatus,
  type StatefulsetRollout,
  type Wave,
} from "./rollout.js";
import { appendOrdinals, countUpdated, planBackWave, planWave, wavesInFlight, type WavePod } from "./waves.js";

export type Step =
  | { kind: "none" }
  | { kind: "createStatefulSet"; statefulSet: Record<string, unknown> }
  | { kind: "updateStatefulSet"; name: string; changes: StatefulSetChanges }
  | { kind: "applyPdb"; pdb: DesiredPdb }
  /** Take these pods down (api/take-down.ts): each is recorded in a wave of status already. */
  | { kind: "evict"; pods: Array<{ name: string; uid: string; wave: number }> }
  | { kind: "callback"; url: string; payload: CallbackPayload };

export interface DecisionEvent {
  type: "Normal" | "Warning";
  reason: string;
  note: string;
}

export interface Decision {
  step: Step;
  status: RolloutStatus;
  /** Milliseconds until the next pass; undefined: none (terminal, wait for a spec change). */
  requeueAfterMs?: number;
  events: DecisionEvent[];
}

/** Requeue delays (ms). Informer events also enqueue a pass, so these are upper bounds. */
export const REQUEUE = {
  now: 0,
  apply: 1000,
  controllerLag: 1000,
  waitPods: 2000,
  waitBudget: 3000,
  paused: 30_000,
  idle: 60_000,
  /** Another owner holds the StatefulSet: only a change on either side resolves it. */
  ownershipConflict: 60_000,
} as const;

/** Conditions beside Progressing/Complete/Failed: present once they have been True. */
export const CONDITION_OWNERSHIP_CONFLICT = "OwnershipConflict";
export const CONDITION_REVISION_MISSING = "RevisionMissing";
const FLAG_CONDITIONS = [CONDITION_OWNERSHIP_CONFLICT, CONDITION_REVISION_MISSING, CONDITION_GROUP_TOO_LARGE] as const;
type FlagCondition = (typeof FLAG_CONDITIONS)[number];

const NONE: Step = { kind: "none" };

export function decide(rollout: StatefulsetRollout, world: World, now: Date): Decision {
  return new Pass(rollout, world, now).run();
}

class Pass {
  private readonly prev: RolloutStatus;
  private readonly status: RolloutStatus;
  private readonly events: DecisionEvent[] = [];
  private readonly nowIso: string;

  constructor(
    private readonly rollout: StatefulsetRollout,
    private readonly world: World,
    private readonly now: Date,
  ) {
    this.prev = rollout.status ?? {};
    this.status = structuredClone(this.prev);
    this.nowIso = now.toISOString();
  }

  run(): Decision {
    const { rollout, world, status, prev } = this;
    const spec = rollout.spec;
    const generation = rollout.metadata.generation ?? 0;
    this.observe();

    if (isTerminal(prev.phase)) {
      const newSpec = prev.observedGeneration !== generation;
      const newIdentity = (spec.rolloutIdentity ?? "") !== (prev.rolloutIdentity ?? "");
      if (!newSpec && !newIdentity) return this.terminal();
      this.event(
        "Normal",
        "RolloutRestarted",
        newSpec ? `spec changed (generation ${generation})` : `new rolloutIdentity ${spec.rolloutIdentity ?? ""}`,
      );
      status.attemptStartedAt = this.nowIso;
      // Waves in flight get a fresh deadline with the new attempt.
      const inFlight = wavesInFlight(status);
      if (inFlight.length > 0) status.wavesInFlight = inFlight.map((w) => ({ ...w, startedAt: this.nowIso }));
      if (status.currentWave && !status.currentWave.completedAt)
        status.currentWave = { ...status.currentWave, startedAt: this.nowIso };
      this.setPhase("Progressing", "Restarted", "restarting the rollout");
    }
    status.observedGeneration = generation;
    if (spec.rolloutIdentity === undefined) delete status.rolloutIdentity;
    else status.rolloutIdentity = spec.rolloutIdentity;

    const sts = world.statefulSet;
    const stsName = statefulSetName(rollout);
    if (!sts) {
      status.deleted = prev.updateRevision !== undefined ? true : undefined;
      if (status.deleted === undefined) delete status.deleted;
      this.setPhase("Pending", "CreatingStatefulSet", `creating StatefulSet ${stsName}`);
      return this.done({ kind: "createStatefulSet", statefulSet: desiredStatefulSet(rollout) }, REQUEUE.apply);
    }
    delete status.deleted;
    if (sts.deleting) {
      this.setPhase(
        "Pending",
        "StatefulSetDeleting",
        `StatefulSet ${stsName} is being deleted; it is recreated once gone`,
      );
      return this.done(NONE, REQUEUE.apply);
    }
    // --- ownership (issue 12): one owner per StatefulSet, the same rule as admission ---------
    const identity = {
      namespace: rollout.metadata.namespace ?? "",
      name: rollout.metadata.name,
      adoptExisting: spec.adoptExisting,
      ...(rollout.metadata.uid ? { uid: rollout.metadata.uid } : {}),
    };
    const ownership = ownershipOf(identity, stsName, { metadata: { ownerReferences: sts.ownerReferences } });
    if (ownership.verdict === "refuse") return this.ownershipConflict(ownership.message);
    if (ownership.verdict === "adopt") {
      if (!status.adoptedAt)
        this.event(
          "Normal",
          "Adopting",
          `adopting StatefulSet ${rollout.metadata.namespace ?? ""}/${stsName} (spec.adoptExisting): it is rolled to spec.statefulset from now on`,
        );
      status.adoptedAt ??= this.nowIso;
    }
    // ------------------------------------------------------------------------------------------
    const wantSelector = spec.statefulset.spec.selector.matchLabels ?? {};
    if (canonicalJson(sts.selector) !== canonicalJson(wantSelector)) {
      return this.fail(
        "SelectorMismatch",
        `StatefulSet ${stsName} selects ${canonicalJson(sts.selector)} but the rollout asks for ${canonicalJson(wantSelector)}; a selector cannot change: restore spec.statefulset.spec.selector, or delete the StatefulSet yourself (kubectl delete sts ${stsName} also deletes its pods; the reconciler then creates it anew with new pods)`,
      );
    }
    // While split, the old ControllerRevision is kept (api/revisions.ts revisionHistoryChange).
    // A new template being applied (templatePending) is about to split the rollout: the history
    // is raised in the same StatefulSet write as the template, not one controller round after it.
    const drift = statefulSetDrift(rollout, sts, isSplitRecorded(rollout) || prev.templatePending === true);
    status.statefulsetSpecCurrent = drift === undefined;
    if (drift) {
      // --- split before template (issue 13) ---
      if (drift.changes.template && !prev.templatePending) return this.recordSplitBeforeTemplate(sts.updateRevision);
      if (drift.changes.template) status.previousTemplate = structuredClone(sts.template) as Record<string, unknown>;
      const phase = prev.phase === undefined || prev.phase === "Pending" ? "Pending" : "Progressing";
      this.setPhase(phase, "UpdatingStatefulSet", `applying ${drift.what.join(", ")} to StatefulSet ${stsName}`);
      return this.done({ kind: "updateStatefulSet", name: stsName, changes: drift.changes }, REQUEUE.apply);
    }
    const pdb = desiredPdb(rollout, sts);
    if (pdbDiffers(pdb, world.pdb)) {
      this.setPhase(
        this.phaseOr("Pending"),
        "ApplyingDisruptionBudget",
        `applying PodDisruptionBudget ${pdb.name} (maxUnavailable ${pdb.maxUnavailable})`,
      );
      return this.done({ kind: "applyPdb", pdb }, REQUEUE.apply);
    }
    if (sts.observedGeneration < sts.generation || !sts.updateRevision) {
      this.setPhase(
        this.phaseOr("Pending"),
        "WaitingForStatefulSetController",
        `waiting for the StatefulSet controller to observe generation ${sts.generation}`,
      );
      return this.done(NONE, REQUEUE.controllerLag);
    }
    if (world.pdb && world.pdb.observedGeneration < world.pdb.generation) {
      this.setPhase(
        this.phaseOr("Pending"),
        "WaitingForDisruptionController",
        `waiting for the disruption controller to compute PodDisruptionBudget ${pdb.name}`,
      );
      return this.done(NONE, REQUEUE.controllerLag);
    }
    if (sts.updateRevision !== prev.updateRevision) return this.startRevision(sts.updateRevision);
    return this.progress(sts.replicas, sts.updateRevision);
  }

  /**
   * Before a new template reaches the StatefulSet: record the split as it stands and mark that a
   * new template is being applied (status only); the next pass applies it. Until the pass that
   * records the new update revision, pinning gives a pod of the new template the revision its
   * ordinal runs, and the leak guard counts the rollout as split, so no pod can come up new in
   * between and count as moved.
   */
  private recordSplitBeforeTemplate(liveRevision: string | undefined): Decision {
    const { status, prev } = this;
    if (prev.updateRevision === undefined && liveRevision) {
      // Nothing rolled yet (an adopted StatefulSet): the live revision is the one to keep.
      status.currentRevision = liveRevision;
      status.updateRevision = liveRevision;
    }
    status.templatePending = true;
    const stsName = statefulSetName(this.rollout);
    const phase = prev.phase === undefined || prev.phase === "Pending" ? "Pending" : "Progressing";
    this.setPhase(
      phase,
      "RecordingSplit",
      `recording the split before applying a new template to StatefulSet ${stsName}`,
    );
    return this.done(NONE, REQUEUE.now);
  }

  /** A new update revision: reset the per-rollout memory (status only, no cluster change). */
  private startRevision(updateRevision: string): Decision {
    const { status, prev } = this;
    const pods = this.livePods();
    const from =
      prev.updateRevision ?? dominantRevision(pods.filter((p) => p.revision !== updateRevision)) ?? updateRevision;
    status.rollback =
      prev.currentRevision !== undefined &&
      prev.currentRevision !== prev.updateRevision &&
      prev.currentRevision === updateRevision;
    status.updateRevision = updateRevision;
    status.currentRevision = from;
    delete status.templatePending;
    status.updatedOrdinals = appendOrdinals(
      [],
      pods
        .filter((p) => p.revision === updateRevision)
        .map((p) => p.ordinal)
        .sort((a, b) => a - b),
    );
    delete status.currentWave;
    delete status.wavesInFlight;
    delete status.phaseReachedAt;
    delete status.revisionMissing;
    status.wavesCompleted = 0;
    status.phaseIndex = 0;
    status.attemptStartedAt = this.nowIso;
    status.paused = false;
    const what = status.rollback
      ? `rolling back to revision ${updateRevision} (from ${from})`
      : from === updateRevision
        ? `revision ${updateRevision}`
        : `rolling out revision ${updateRevision} (from ${from})`;
    this.event("Normal", status.rollback ? "RollbackStarted" : "RolloutStarted", what);
    this.setPhase("Progressing", "RevisionStarted", what);
    return this.done(NONE, REQUEUE.now);
  }

  private progress(replicas: number, updateRevision: string): Decision {
    const { rollout, status } = this;
    const spec = rollout.spec;
    const pods = this.livePods();
    // The template was applied but made no new revision: nothing is pending any more.
    delete status.templatePending;
    const split = status.currentRevision !== updateRevision;
    this.noteRevisionMissing(split);
    // Pods found on the update revision count as moved (appended), so a forward wave never
    // evicts them — except pods a back wave is moving away from it.
    const inFlight = status.currentWave && !status.currentWave.completedAt ? status.currentWave : undefined;
    const goingBack = new Set(inFlight?.direction === "back" ? inFlight.pods : []);
    const found = pods
      .filter((p) => p.revision === updateRevision && !goingBack.has(p.name))
      .map((p) => p.ordinal)
      .sort((a, b) => a - b);
    status.updatedOrdinals = appendOrdinals(status.updatedOrdinals ?? [], found).filter((o) => o < replicas);
    const updated = countUpdated(status.updatedOrdinals, replicas);
    const finalPercent = spec.percent;
    const percent = effectivePercent(rollout, status);
    const target = targetUpdatedCount(replicas, percent);
    const finalTarget = targetUpdatedCount(replicas, finalPercent);
    status.updatedReplicas = pods.filter((p) => p.revision === updateRevision && p.ordinal < replicas).length;
    status.targetReplicas = finalTarget;
    status.percentDeployed =
      updated === finalTarget
        ? finalPercent
        : replicas === 0
          ? 0
          : Math.min(100, Math.floor((updated * 100) / replicas));

    const broken = this.brokenNewPod(updateRevision);
    if (broken) return broken;

    // Waves in flight: complete those whose pods are all where they go. A completion falls through:
    // the same pass pauses, starts the next wave (and takes its pods down) or finishes.
    const flight = this.settleWaves(updateRevision);
    if (!isInFlight(flight)) return flight;

    if (spec.pauseRequested) {
      if (flight.pending.length > 0) return this.awaitFlight(flight, "pause requested, finishing ");
      if (!this.prev.paused)
        this.event("Normal", "Paused", `paused with ${updated} of ${replicas} pods on revision ${updateRevision}`);
      status.paused = true;
      this.setPhase(
        "Paused",
        "Paused",
        `paused at ${status.percentDeployed}%: ${updated} of ${replicas} pods on revision ${updateRevision}; set pauseRequested: false to resume`,
      );
      return this.done(NONE, REQUEUE.paused);
    }
    if (this.prev.paused) this.event("Normal", "Resumed", "pauseRequested cleared");
    status.paused = false;

    if (updated < target) return this.forwardWave(replicas, target, updateRevision, flight);
    if (split && updated > finalTarget) return this.backWave(replicas, finalTarget, updateRevision, flight);
    if (flight.pending.length > 0) return this.awaitFlight(flight);

    const moved = new Set(status.updatedOrdinals);
    const notReady = pods.filter(
      (p) => moved.has(p.ordinal) && !(p.revision === updateRevision && p.ready && this.healthy(p)),
    );
    const missing = replicas - pods.filter((p) => p.ordinal < replicas).length;
    if (notReady.length > 0 || missing > 0) {
      const first = notReady[0];
      const why = first ? `${first.name} ${this.podState(first, updateRevision)}` : `${missing} pod(s) not created yet`;
      this.setPhase(
        "Progressing",
        "WaitingForPods",
        `waiting for ${notReady.length + Math.max(0, missing)} pod(s): ${why}`,
      );
      return this.done(NONE, REQUEUE.waitPods);
    }
    // Invariant (issue 12): RolloutDone only at the last step of phasePlan, which is
    // spec.percent itself, with `updated >= target` established above.
    const phases = phasePlan(spec);
    const index = Math.min(status.phaseIndex ?? 0, phases.length - 1);
    if (!status.rollback && index < phases.length - 1) {
      const reached = status.phaseReachedAt ?? this.nowIso;
      status.phaseReachedAt = reached;
      const waitMs = Date.parse(reached) + (spec.autoPromoteSeconds ?? 0) * 1000 - this.now.getTime();
      if (waitMs > 0) {
        this.setPhase(
          "Progressing",
          "PhaseReached",
          `phase ${index + 1} of ${phases.length} (${percent}%) reached; next phase in ${Math.ceil(waitMs / 1000)}s`,
        );
        return this.done(NONE, waitMs);
      }
      status.phaseIndex = index + 1;
      delete status.phaseReachedAt;
      const next = effectivePercent(rollout, status);
      this.event("Normal", "PhasePromoted", `phase ${index + 2} of ${phases.length}: ${next}%`);
      this.setPhase("Progressing", "PhasePromoted", `promoted to phase ${index + 2} of ${phases.length} (${next}%)`);
      return this.done(NONE, REQUEUE.now);
    }
    if (updated < finalTarget) {
      // Cannot happen (the target is spec.percent's here); never report done short of it.
      return this.forwardWave(replicas, finalTarget, updateRevision, flight);
    }
    if (updated >= replicas) status.currentRevision = updateRevision;
    this.event(
      "Normal",
      "RolloutDone",
      `${updated} of ${replicas} pods on revision ${updateRevision} (${finalPercent}%)`,
    );
    this.setPhase(
      "RolloutDone",
      "Done",
      `${updated} of ${replicas} pods on revision ${updateRevision} (${finalPercent}%)`,
    );
    return this.done(NONE, this.callbackPending() ? REQUEUE.now : undefined);
  }

  /** Crash-looping new pods fail at once; new pods not Ready past the deadline fail too. */
  private brokenNewPod(updateRevision: string): Decision | undefined {
    const pods = this.livePods().filter((p) => p.revision === updateRevision);
    const crashing = pods.find((p) => p.crashLooping);
    if (crashing)
      return this.fail(
        "CrashLooping",
        `pod ${crashing.name} on revision ${updateRevision} is crash-looping (${crashing.problem ?? "CrashLoopBackOff"}); roll back by applying status.previousTemplate`,
      );
    const attempt = Date.parse(this.status.attemptStartedAt ?? this.nowIso);
    const late = pods.find(
      (p) => !p.ready && this.pastDeadline(Math.max(attempt, Date.parse(p.createdAt ?? this.nowIso))),
    );
    if (late)
      return this.fail(
        "ProgressDeadlineExceeded",
        `pod ${late.name} on revision ${updateRevision} not Ready within progressDeadlineSeconds (${this.rollout.spec.progressDeadlineSeconds}s): ${late.problem ?? "not ready"}; roll back by applying status.previousTemplate`,
      );
    return undefined;
  }

  // --- waves: a continuous pipeline (docs/design.md, "Taking pods down") -------------------
  // Several waves may be in flight at once (status.wavesInFlight). A pass completes the waves
  // whose pods are all where they go, retries taking down recorded pods that are still up, and,
  // as soon as the budget has room, starts the next wave: its ordinals are recorded in this
  // pass's status, which the reconciler writes before it takes any pod down (one pass, no wait).

  /** Completes finished waves; what is still in flight, or a failure (deadline, pinning inactive). */
  private settleWaves(updateRevision: string): Decision | InFlight {
    const { status, rollout } = this;
    const replicas = this.world.statefulSet?.replicas ?? 0;
    const stsName = statefulSetName(rollout);
    const byName = new Map(this.world.pods.map((p) => [p.name, p]));
    // Not waited for: pods scaled away since the wave began, and (forward) ordinals that a
    // lowered percent no longer keeps — a back wave takes those.
    const kept = new Set(
      keptOrdinals(status.updatedOrdinals ?? [], replicas, targetUpdatedCount(replicas, rollout.spec.percent)),
    );
    const flight: InFlight = { waves: [], pending: [], takeDown: [] };
    for (const wave of wavesInFlight(status)) {
      const back = wave.direction === "back";
      // The revision this wave moves its pods to.
      const goal = back ? (status.currentRevision ?? updateRevision) : updateRevision;
      const members = wave.pods.filter((name) => {
        const ordinal = podOrdinal(name, stsName) ?? 0;
        return ordinal < replicas && (back || kept.has(ordinal));
      });
      const pending = members
        .map((name) => ({ name, pod: byName.get(name), wave, goal }))
        .filter(({ pod }) => !pod || pod.terminating || pod.revision !== goal || !pod.ready || !this.healthy(pod));
      if (pending.length === 0) {
        this.completeWave(wave, members, goal);
        continue;
      }
      flight.waves.push(wave);
      flight.pending.push(...pending);
      flight.direction = wave.direction ?? "forward";
      // Only live pods not yet on the goal revision are taken down: a forward wave never takes
      // a pod already on the update revision. One taken down already but still seen up (a cache
      // behind) is asked again: the live read in the step skips it.
      for (const { pod } of pending)
        if (pod && !pod.terminating && pod.revision !== goal)
          flight.takeDown.push({ name: pod.name, uid: pod.uid, wave: wave.number, ready: pod.ready });
    }
    if (flight.waves.length > 0) status.wavesInFlight = flight.waves;
    else delete status.wavesInFlight;
    if (flight.direction === "back") {
      const gone = this.revisionGoneFailure();
      if (gone) return gone;
      // A pod recreated after its wave began but on the update revision again: nothing pins.
      const unpinned = flight.pending.find(
        ({ pod, wave }) =>
          pod &&
          !pod.terminating &&
          pod.revision === updateRevision &&
          Date.parse(pod.createdAt ?? "") > Date.parse(wave.startedAt),
      );
      if (unpinned) {
        return this.fail(
          "PinningInactive",
          `pod ${unpinned.name} was moved back but came back on revision ${updateRevision}: revision pinning (the webhook's /mutate/pod) is not active, so lowering percent cannot move pods back; raise percent again or install the webhook`,
        );
      }
    }
    const late = flight.pending.find(({ wave }) => this.pastDeadline(Date.parse(wave.startedAt)));
    if (late) {
      const state = late.pod ? this.podState(late.pod, late.goal) : "not recreated";
      return this.fail(
        "ProgressDeadlineExceeded",
        `wave ${late.wave.number} not finished within progressDeadlineSeconds (${rollout.spec.progressDeadlineSeconds}s): pod ${late.name} ${state}`,
      );
    }
    return flight;
  }

  private completeWave(wave: Wave, members: readonly string[], goal: string): void {
    const { status } = this;
    status.wavesCompleted = (status.wavesCompleted ?? 0) + 1;
    if (status.currentWave?.number === wave.number)
      status.currentWave = { ...status.currentWave, completedAt: this.nowIso };
    this.event("Normal", "WaveCompleted", `wave ${wave.number}: ${members.length} pod(s) on revision ${goal}`);
    this.setPhase(
      "Progressing",
      "WaveCompleted",
      `wave ${wave.number} complete: ${members.join(", ") || "no pod left to move"}`,
    );
  }

  /** No new wave in this pass: take down what in-flight waves still have up, or wait for their pods. */
  private awaitFlight(flight: InFlight, prefix = ""): Decision {
    if (flight.takeDown.length > 0) return this.takeDown(flight.takeDown, prefix);
    const first = flight.pending[0]!;
    const state = first.pod ? this.podState(first.pod, first.goal) : "being recreated";
    this.setPhase(
      "Progressing",
      "WaitingForPods",
      `${prefix}${describeWaves(flight.waves)}: waiting for ${flight.pending.length} pod(s); ${first.name} ${state}`,
    );
    return this.done(NONE, REQUEUE.waitPods);
  }

  private takeDown(pods: readonly TakeDownPod[], prefix: string): Decision {
    const { status } = this;
    const goal = status.currentWave?.direction === "back" ? ` back to revision ${status.currentRevision ?? "?"}` : "";
    this.setPhase(
      "Progressing",
      "Evicting",
      `${prefix}${describeWaves(wavesInFlight(status))}: taking down ${pods.map((p) => p.name).join(", ")}${goal}`,
    );
    return this.done(
      { kind: "evict", pods: pods.map(({ name, uid, wave }) => ({ name, uid, wave })) },
      REQUEUE.waitPods,
    );
  }

  /**
   * The one point where a new wave (forward or back) may start: every rule that holds a new wave
   * back is here, and in-flight waves carry on meanwhile. Undefined: a wave may start.
   */
  private waveStartGate(direction: WaveDirection, flight: InFlight): Decision | undefined {
    const { rollout, status } = this;
    // One direction at a time: a lowered (or raised) percent waits for the waves in flight.
    if (flight.direction !== undefined && flight.direction !== direction) return this.awaitFlight(flight);
    // An interval asks for settled waves: one at a time, the next one the interval after.
    const interval = rollout.spec.minPodEvictionIntervalSeconds;
    if (interval > 0) {
      if (flight.pending.length > 0) return this.awaitFlight(flight);
      const last = status.currentWave?.completedAt;
      const waitMs = last ? Date.parse(last) + interval * 1000 - this.now.getTime() : 0;
      if (waitMs > 0) {
        const lowered = direction === "back" ? "percent lowered; " : "";
        this.setPhase(
          "Progressing",
          "EvictionInterval",
          `${lowered}next wave in ${Math.ceil(waitMs / 1000)}s (minPodEvictionIntervalSeconds ${interval})`,
        );
        return this.done(NONE, waitMs);
      }
    }
    // Service discovery gates forward waves (a percent lowered moves pods back regardless).
    if (direction === "forward" && this.serviceDiscoveryProblem()) {
      return flight.pending.length > 0 ? this.awaitFlight(flight) : this.serviceDiscoveryBlocks();
    }
    // With service discovery, each forward wave waits for the one before to pass in Consul (the
    // seed's gate): a pod Ready but not yet passing keeps its wave in flight, and no wave is
    // pipelined past it, however much room the budget has.
    if (direction === "forward" && this.rollout.spec.serviceDiscovery && flight.pending.length > 0) {
      return this.awaitFlight(flight);
    }
    // A group member starts a wave only when the group lets it (api/groups.ts groupGate).
    const held = this.groupHolds();
    if (held) return flight.pending.length > 0 ? this.awaitFlight(flight) : held;
    return undefined;
  }

  /** Records a new wave (status: ordinals, currentWave, wavesInFlight); returns its pods to take down. */
  private startWave(direction: WaveDirection, pods: readonly WavePod[], detail: string): TakeDownPod[] {
    const { status } = this;
    const number = Math.max(status.currentWave?.number ?? 0, status.wavesCompleted ?? 0) + 1;
    const names = pods.map((p) => p.name);
    const wave: Wave = { number, pods: names, startedAt: this.nowIso, direction };
    status.currentWave = wave;
    status.wavesInFlight = [...(status.wavesInFlight ?? []), wave];
    this.event("Normal", "WaveStarted", `wave ${number}${detail}: ${names.join(", ")}`);
    const uids = new Map(this.livePods().map((p) => [p.name, p.uid]));
    return pods.map((p) => ({ name: p.name, uid: uids.get(p.name) ?? "", wave: number, ready: p.ready }));
  }

  /**
   * What the budget leaves for a new wave in this pass: the budget, less the Ready pods of waves
   * in flight that this pass takes down; and maxParallel less the pods in flight.
   */
  private room(flight: InFlight): { disruptionsAllowed: number; maxParallel?: number } {
    const taking = flight.takeDown.filter((p) => p.ready).length;
    const max = this.rollout.spec.maxParallel;
    return {
      disruptionsAllowed: Math.max(0, this.budget() - taking),
      ...(max !== undefined ? { maxParallel: Math.max(0, max - flight.pending.length) } : {}),
    };
  }

  /** percent was lowered below what is moved: move the excess back, within the same budget. */
  private backWave(replicas: number, target: number, updateRevision: string, flight: InFlight): Decision {
    const { status, rollout, world } = this;
    const spec = rollout.spec;
    const gone = this.revisionGoneFailure();
    if (gone) return gone;
    const moved = status.updatedOrdinals ?? [];
    const kept = new Set(keptOrdinals(moved, replicas, target));
    const byOrdinal = new Map(this.livePods().map((p) => [p.ordinal, p]));
    // Excess ordinals whose pod is not on the update revision cost nothing: forget them.
    const free = moved.filter((o) => o < replicas && !kept.has(o) && byOrdinal.get(o)?.revision !== updateRevision);
    if (free.length > 0) {
      status.updatedOrdinals = moved.filter((o) => !free.includes(o));
      this.setPhase(
        "Progressing",
        "PercentLowered",
        `percent lowered to ${spec.percent}%: ordinals ${free.join(", ")} no longer count as moved`,
      );
      return this.done(NONE, REQUEUE.now);
    }
    const gate = this.waveStartGate("back", flight);
    if (gate) return gate;
    const plan = planBackWave({
      replicas,
      target,
      updatedOrdinals: moved,
      updateRevision,
      pods: this.livePods(),
      ...this.room(flight),
    });
    if (plan.pods.length === 0) {
      if (flight.pending.length > 0) return this.awaitFlight(flight);
      this.setPhase(
        "Progressing",
        "WaitingForBudget",
        `percent lowered to ${spec.percent}%: ${plan.remaining} pod(s) to move back; waiting: PodDisruptionBudget ${world.pdb?.name ?? ""} allows 0 disruptions`,
      );
      return this.done(NONE, REQUEUE.waitBudget);
    }
    const leaving = new Set(plan.pods.map((p) => p.ordinal));
    status.updatedOrdinals = moved.filter((o) => !leaving.has(o));
    const pods = this.startWave(
      "back",
      plan.pods,
      ` (back to revision ${status.currentRevision ?? "?"}, percent lowered to ${spec.percent}%)`,
    );
    return this.takeDown([...flight.takeDown, ...pods], "");
  }

  private forwardWave(replicas: number, target: number, updateRevision: string, flight: InFlight): Decision {
    const { status, rollout, world } = this;
    const spec = rollout.spec;
    const gate = this.waveStartGate("forward", flight);
    if (gate) return gate;
    const plan = planWave({
      replicas,
      target,
      updatedOrdinals: status.updatedOrdinals ?? [],
      updateRevision,
      pods: this.livePods(),
      ...this.room(flight),
    });
    if (plan.pods.length === 0) {
      // The budget (or maxParallel) is taken by the waves in flight: they make room.
      if (flight.pending.length > 0) return this.awaitFlight(flight);
      if (plan.limitedBy !== "budget") {
        // Nothing to take down: the pods still to move do not exist yet (the StatefulSet
        // controller is creating them, on the update revision) or are terminating. A pod that
        // never gets Ready fails the rollout through its own deadline (brokenNewPod).
        const existing = this.livePods().filter((p) => p.ordinal < replicas).length;
        const why =
          existing < replicas
            ? `the StatefulSet controller is creating pods (${existing} of ${replicas} exist)`
            : "the remaining old pods are terminating";
        this.setPhase("Progressing", "WaitingForPods", `${plan.remaining} pod(s) to go; waiting: ${why}`);
        return this.done(NONE, REQUEUE.waitPods);
      }
      const why = `PodDisruptionBudget ${world.pdb?.name ?? ""} allows 0 disruptions`;
      if (this.pastDeadline(this.progressSince()))
        return this.fail(
          "ProgressDeadlineExceeded",
          `no progress within progressDeadlineSeconds (${spec.progressDeadlineSeconds}s): ${why}`,
        );
      this.setPhase("Progressing", "WaitingForBudget", `${plan.remaining} pod(s) to move; waiting: ${why}`);
      return this.done(NONE, REQUEUE.waitBudget);
    }
    status.updatedOrdinals = appendOrdinals(
      status.updatedOrdinals ?? [],
      plan.pods.map((p) => p.ordinal),
    );
    const pods = this.startWave(
      "forward",
      plan.pods,
      ` (${plan.pods.length} of ${plan.remaining} remaining; limited by ${plan.limitedBy})`,
    );
    return this.takeDown([...flight.takeDown, ...pods], "");
  }

  /** Since when the rollout has made no progress: the attempt's start or the last completed wave. */
  private progressSince(): number {
    const last = this.status.currentWave?.completedAt;
    return Math.max(Date.parse(this.status.attemptStartedAt ?? this.nowIso), last ? Date.parse(last) : 0);
  }

  /** More than progressDeadlineSeconds since `since` (ms): the one deadline rule of a pass. */
  private pastDeadline(since: number): boolean {
    return this.now.getTime() - since > this.rollout.spec.progressDeadlineSeconds * 1000;
  }

  /**
   * The budget a wave is sized from: the PDB's disruptionsAllowed, corrected by the pods Ready
   * here that the disruption controller has not counted yet (or no longer counts). Its status
   * lags the pods — under load by seconds — and a stale-low budget makes small extra waves; a
   * stale-high one is made conservative. The Eviction API still enforces the PDB itself.
   */
  private budget(): number {
    const pdb = this.world.pdb;
    if (!pdb) return 0;
    if (pdb.currentHealthy === undefined) return Math.max(0, pdb.disruptionsAllowed);
    const ready = this.livePods().filter((p) => p.ready).length;
    return Math.max(0, pdb.disruptionsAllowed + ready - pdb.currentHealthy);
  }

  /** This rollout's group as this pass leaves it (api/groups.ts); undefined when it names none. */
  private groupView(): GroupView | undefined {
    const group = this.world.group;
    if (!group) return undefined;
    const observed = group.members.find((m) => m.name === this.rollout.metadata.name);
    return observed ? withMember(group, memberViewOf(this.rollout, this.status, observed.disruption)) : group;
  }

  /** Issue 16: no wave starts while the group holds this member back (api/groups.ts groupGate). */
  private groupHolds(): Decision | undefined {
    const view = this.groupView();
    if (!view) return undefined;
    const gate = groupGate(view, this.rollout.metadata.name);
    if (gate.go) return undefined;
    this.setPhase("Progressing", gate.code, `next wave waits for ${gate.waitingFor}`);
    return this.done(NONE, REQUEUE.waitBudget);
  }

  private terminal(): Decision {
    const callback = this.callbackStep();
    return this.done(callback ?? NONE, undefined);
  }

  private callbackPending(): boolean {
    return this.callbackStep() !== undefined;
  }

  private callbackStep(): Step | undefined {
    const { rollout, status } = this;
    const bapi = rollout.spec.bapi;
    const decided: StatefulsetRollout = { ...rollout, status };
    if (!bapi || !callbackDue(decided)) return undefined;
    const payload = buildCallbackPayload(decided, this.nowIso, status.attemptStartedAt);
    return payload ? { kind: "callback", url: bapi.bapiUrl, payload } : undefined;
  }

  /** Why Consul holds new waves back: it cannot be asked, or lacks a service the rollout names. */
  private serviceDiscoveryProblem(): string | undefined {
    const health = this.world.health;
    const dc = this.rollout.spec.serviceDiscovery?.dc ?? "";
    if (health && !health.ok) return `Consul cannot be checked (${health.error})`;
    if (health && health.missingServices.length > 0)
      return `Consul datacenter ${dc} has no service ${health.missingServices.join(", ")}`;
    return undefined;
  }

  /** No wave starts while serviceDiscoveryProblem(): wait, with the reason, and fail only past the deadline. */
  private serviceDiscoveryBlocks(): Decision {
    const why = this.serviceDiscoveryProblem() ?? "";
    const deadlineSeconds = this.rollout.spec.progressDeadlineSeconds;
    if (this.pastDeadline(this.progressSince())) {
      return this.fail(
        "ServiceDiscoveryUnavailable",
        `no progress within progressDeadlineSeconds (${deadlineSeconds}s): ${why}`,
      );
    }
    this.setPhase("Progressing", "WaitingForServiceDiscovery", `next wave waits: ${why}`);
    return this.done(NONE, REQUEUE.waitPods);
  }

  /** Another rollout or controller owns the StatefulSet: touch nothing, say so, retry slowly. */
  private ownershipConflict(message: string): Decision {
    const before = (this.prev.conditions ?? []).find((c) => c.type === CONDITION_OWNERSHIP_CONFLICT);
    if (before?.status !== "True" || before.message !== message) this.event("Warning", "OwnershipConflict", message);
    // The pods seen are the other owner's: this rollout reports none.
    delete this.status.pods;
    delete this.status.podSummary;
    delete this.status.readyReplicas;
    this.flag(CONDITION_OWNERSHIP_CONFLICT, "StatefulSetOwnedElsewhere", message);
    this.setPhase("Pending", "OwnershipConflict", message);
    return this.done(NONE, REQUEUE.ownershipConflict);
  }

  /**
   * The old ControllerRevision is gone although it was kept (revisionHistoryLimit is raised while
   * split): record it once. Pinning then lets pods come back on the update revision, and a
   * back wave fails with this reason.
   */
  private noteRevisionMissing(split: boolean): void {
    const { status, world } = this;
    if (!split) {
      delete status.revisionMissing;
      return;
    }
    const gone = world.revisionGone;
    if (gone === undefined || gone !== status.currentRevision || status.revisionMissing === gone) return;
    status.revisionMissing = gone;
    this.event("Warning", "RevisionMissing", this.revisionMissingMessage());
  }

  private revisionMissingMessage(): string {
    const rev = this.status.revisionMissing ?? "";
    return (
      `ControllerRevision ${rev} (the revision pods are moved away from) no longer exists: it was deleted although Bulkhead raised ` +
      `revisionHistoryLimit during the split. Pods of revision ${rev} that are deleted now come back on the update revision, ` +
      `and lowering percent cannot move pods back to it. To go back, apply the old template as a new revision (status.previousTemplate).`
    );
  }

  private revisionGoneFailure(): Decision | undefined {
    const { status } = this;
    if (!status.revisionMissing || status.revisionMissing !== status.currentRevision) return undefined;
    return this.fail(
      "RevisionMissing",
      `percent lowered to ${this.rollout.spec.percent}% but pods cannot be moved back: ${this.revisionMissingMessage()}`,
    );
  }

  private fail(code: string, message: string): Decision {
    this.event("Warning", "RolloutFailed", message);
    this.status.paused = false;
    this.setPhase("RolloutFailed", code, message);
    return this.done(NONE, this.callbackPending() ? REQUEUE.now : undefined);
  }

  // --- helpers --------------------------------------------------------------------------

  /** Observed fields every pass refreshes: pods, readiness, Consul. */
  private observe(): void {
    const { status, world } = this;
    const stsName = statefulSetName(this.rollout);
    status.statefulsetName = stsName;
    const passing = world.health?.ok ? new Set(world.health.passingPods) : undefined;
    // The compact list replaces the per-pod one a status of an earlier version may still have.
    delete status.pods;
    status.podSummary = summarizePods(world.pods, passing);
    status.readyReplicas = world.pods.filter((p) => p.ready && !p.terminating).length;
    if (world.health?.ok) {
      status.readyReplicasServiceDiscovery = world.pods.filter((p) => passing!.has(p.name)).length;
      status.consulServices = [...world.health.services];
    }
  }

  private livePods(): ObservedPod[] {
    return this.world.pods.filter((p) => !p.terminating);
  }

  private healthy(pod: ObservedPod): boolean {
    const health = this.world.health;
    if (!health) return true;
    return health.ok && health.passingPods.includes(pod.name);
  }

  private podState(pod: ObservedPod, goalRevision: string): string {
    if (pod.terminating) return "is terminating";
    if (pod.revision !== goalRevision) return `is still on revision ${pod.revision ?? "?"}`;
    if (!pod.ready) return `is not Ready${pod.problem ? ` (${pod.problem})` : ""}`;
    if (!this.healthy(pod)) {
      const health = this.world.health;
      return health && !health.ok ? `cannot be checked in Consul (${health.error})` : "is not passing in Consul";
    }
    return "is ready";
  }

  private phaseOr(fallback: RolloutPhase): RolloutPhase {
    const phase = this.status.phase;
    return phase === undefined || isTerminal(phase) ? fallback : phase;
  }

  private event(type: DecisionEvent["type"], reason: string, note: string): void {
    this.events.push({ type, reason, note });
  }

  private setPhase(phase: RolloutPhase, code: string, message: string): void {
    if (this.status.phase !== phase && phase !== "RolloutDone" && phase !== "RolloutFailed" && phase !== "Paused") {
      this.event("Normal", phase, message);
    }
    this.status.phase = phase;
    this.status.reason = message;
    this.code = code;
    this.refreshConditions();
  }

  private code = "";
  private readonly flags = new Map<FlagCondition, { reason: string; message: string }>();

  private flag(type: FlagCondition, reason: string, message: string): void {
    this.flags.set(type, { reason, message });
    this.refreshConditions();
  }

  /** A flag condition is True while it applies; once it has been set, False after. */
  private flagConditions(): Array<Omit<Condition, "lastTransitionTime">> {
    if (this.status.revisionMissing && !this.flags.has(CONDITION_REVISION_MISSING)) {
      this.flags.set(CONDITION_REVISION_MISSING, {
        reason: "ControllerRevisionGone",
        message: this.revisionMissingMessage(),
      });
    }
    return FLAG_CONDITIONS.flatMap((type): Array<Omit<Condition, "lastTransitionTime">> => {
      const set = this.flags.get(type);
      if (set) return [{ type, status: "True" as const, reason: set.reason, message: set.message }];
      const before = (this.prev.conditions ?? []).find((c) => c.type === type);
      return before ? [{ type, status: "False" as const, reason: "Resolved", message: "" }] : [];
    });
  }

  private refreshConditions(): void {
    const phase = this.status.phase;
    const message = this.status.reason ?? "";
    const code = this.code || phase || "Unknown";
    const unchecked = this.world.healthGateUnchecked;
    // Admission refuses such a rollout (or, in a report-only install, warns); one that got in anyway
    // is not stopped here — stranding a split on an install setting would be worse — but status says it.
    if (
      unchecked &&
      !(this.prev.conditions ?? []).some((c) => c.type === HEALTH_GATE_UNCHECKED_CONDITION && c.status === "True")
    ) {
      this.event("Warning", HEALTH_GATE_UNCHECKED_CONDITION, unchecked);
    }
    this.status.conditions = mergeConditions(
      this.prev.conditions ?? [],
      [
        {
          type: "Progressing",
          status: phase === "Progressing" || phase === "Pending" ? "True" : "False",
          reason: code,
          message,
        },
        { type: "Complete", status: phase === "RolloutDone" ? "True" : "False", reason: code, message },
        { type: "Failed", status: phase === "RolloutFailed" ? "True" : "False", reason: code, message },
        ...(unchecked
          ? [
              {
                type: HEALTH_GATE_UNCHECKED_CONDITION,
                status: "True" as const,
                reason: "NoConsulConfigured",
                message: unchecked,
              },
            ]
          : []),
        ...this.flagConditions(),
      ],
      this.nowIso,
      this.rollout.metadata.generation,
    );
  }

  private done(step: Step, requeueAfterMs: number | undefined): Decision {
    const status = this.status;
    if (requeueAfterMs === undefined) delete status.reconcileAfter;
    else status.reconcileAfter = new Date(this.now.getTime() + Math.max(0, requeueAfterMs)).toISOString();
    const group = this.groupView();
    if (group) {
      if (groupTooLarge(group)) this.flag(CONDITION_GROUP_TOO_LARGE, "TooManyMembers", tooLargeMessage(group));
      status.group = groupStatusOf(group, this.rollout.metadata.name);
    } else delete status.group;
    // Issue 17: every pass records the rollout it worked on in status.history (api/history.ts).
    const history = nextHistory(this.rollout, this.prev, status, this.nowIso);
    if (history.length > 0) status.history = history;
    else delete status.history;
    if (statusChanged(this.prev, status)) status.lastUpdated = this.nowIso;
    const decision: Decision = { step, status, events: this.events };
    if (requeueAfterMs !== undefined) decision.requeueAfterMs = Math.max(0, Math.round(requeueAfterMs));
    return decision;
  }
}

/**
 * The percent this pass works towards: the current entry of spec.phases (capped by
 * spec.percent), or spec.percent. A rollback skips the phases: it goes straight to
 * spec.percent, so no pod is left on the bad revision (DESIGN.md §2).
 */
export function effectivePercent(rollout: StatefulsetRollout, status: RolloutStatus): number {
  if (status.rollback) return rollout.spec.percent;
  const plan = phasePlan(rollout.spec);
  return plan[Math.min(status.phaseIndex ?? 0, plan.length - 1)] ?? rollout.spec.percent;
}

/**
 * The percents a rollout moves through (status.phaseIndex indexes this): the entries of
 * spec.phases below spec.percent, ascending and without repeats, then spec.percent itself. So
 * whatever order or duplicates spec.phases has, the last step is always spec.percent and a
 * rollout never ends short of it (`percent: 100, phases: [1, 50]` goes 1 → 50 → 100).
 */
export function phasePlan(spec: Pick<StatefulsetRollout["spec"], "percent" | "phases">): number[] {
  const below = [...new Set(spec.phases ?? [])].filter((p) => p < spec.percent).sort((a, b) => a - b);
  return [...below, spec.percent];
}

/** Keeps lastTransitionTime when a condition's status did not change. */
export function mergeConditions(
  previous: readonly Condition[],
  next: Array<Omit<Condition, "lastTransitionTime">>,
  nowIso: string,
  generation?: number,
): Condition[] {
  return next.map((c) => {
    const before = previous.find((p) => p.type === c.type);
    const merged: Condition = {
      ...c,
      lastTransitionTime: before && before.status === c.status ? (before.lastTransitionTime ?? nowIso) : nowIso,
    };
    if (generation !== undefined) merged.observedGeneration = generation;
    return merged;
  });
}

/** Whether a status write is needed: anything but lastUpdated and reconcileAfter changed. */
export function statusChanged(previous: RolloutStatus | undefined, next: RolloutStatus): boolean {
  const strip = (s: RolloutStatus | undefined) => {
    const copy: RolloutStatus = { ...(s ?? {}) };
    delete copy.lastUpdated;
    delete copy.reconcileAfter;
    return canonicalJson(copy);
  };
  return strip(previous) !== strip(next);
}

type WaveDirection = "forward" | "back";

/** A pod a pass takes down, and the wave it belongs to. */
interface TakeDownPod {
  name: string;
  uid: string;
  wave: number;
  /** Ready now: taking it down costs one disruption of the budget. */
  ready: boolean;
}

/** The waves in flight after a pass has completed those that are done. */
interface InFlight {
  waves: Wave[];
  /** Their members not yet on their goal revision, Ready and healthy. */
  pending: Array<{ name: string; pod: ObservedPod | undefined; wave: Wave; goal: string }>;
  /** Pending members still up on the wrong revision: to take down. */
  takeDown: TakeDownPod[];
  /** Every wave in flight goes one way (a new wave waits for the other way to finish). */
  direction?: WaveDirection;
}

function isInFlight(value: Decision | InFlight): value is InFlight {
  return "pending" in value;
}

function describeWaves(waves: readonly Wave[]): string {
  if (waves.length === 0) return "no wave in flight";
  if (waves.length === 1) return `wave ${waves[0]!.number}`;
  return `waves ${waves[0]!.number}–${waves[waves.length - 1]!.number}`;
}

/** The revision most old pods run: what a first rollout moves pods away from. */
function dominantRevision(pods: readonly ObservedPod[]): string | undefined {
  const counts = new Map<string, number>();
  for (const p of pods) if (p.revision) counts.set(p.revision, (counts.get(p.revision) ?? 0) + 1);
  let best: string | undefined;
  let bestCount = 0;
  for (const [rev, n] of [...counts].sort(([a], [b]) => a.localeCompare(b))) {
    if (n > bestCount) {
      best = rev;
      bestCount = n;
    }
  }
  return best;
}
