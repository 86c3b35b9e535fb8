// One reconcile pass for one rollout: read the rollout (live: status is the memory and must not
// be stale) and the world, decide (api/reconcile.ts), write status if it changed (on a conflict:
// read again and decide again), then take the one step. Slack and callbacks are called through
// the api/integrations.ts interfaces; both get only a hand-over (they run outside the pass).
import type { Logger } from "pino";
import { rateLimitedEventRecorder, type EventRecorder, type ObjectRef } from "../adapters/kube/events.js";
import { systemClock } from "../adapters/clock.js";
import {
  writeFinalizers,
  writeStatus,
  type ClusterWriter,
  type StatusWriteResult,
  type RawRollout,
  type RolloutApi,
  type TakeDownOutcome,
} from "../adapters/kube/rollouts.js";
import { buildMetadata, type BuildMetadataKeys } from "../api/build-metadata.js";
import type { Clock } from "../api/clock.js";
import { statefulSetName } from "../api/desired.js";
import { callbackDueSince } from "../api/callback-payload.js";
import type { CallbackJob, CallbackQueue, HealthGate, RolloutNotifier } from "../api/integrations.js";
import { API_VERSION, KIND } from "../api/labels.js";
import {
  hasRolloutFinalizer,
  releaseMode,
  withoutRolloutFinalizer,
  withRolloutFinalizer,
  type RolloutMetaLike,
} from "../api/lifecycle.js";
import {
  observePdb,
  observePod,
  observeStatefulSet,
  type ObservedHealth,
  type ObservedPod,
  type StatefulSetObject,
  type World,
} from "../api/observe.js";
import type { TakeDownRequest } from "../api/take-down.js";
import { decide, statusChanged, type Decision, type Step } from "../api/reconcile.js";
import { groupMembers } from "../api/group-disruption.js";
import { compareMembers, groupNameOf, memberViewOf, type GroupView } from "../api/groups.js";
import { wavesInFlight } from "../api/waves.js";
import { healthGateOf, type UncheckedHealthGateMode } from "../api/rollout-admission.js";
import { isSplitRecorded } from "../api/revisions.js";
import {
  GROUP_MEMBERS_MAX,
  isTerminal,
  parseRollout,
  type RolloutStatus,
  type StatefulsetRollout,
} from "../api/rollout.js";
import type { ReconcilerMetrics } from "./metrics.js";
import type { WorldSource } from "./world.js";
import { KeyedLock } from "./keyed-lock.js";

export interface ReconcilerDeps {
  rollouts: RolloutApi;
  world: WorldSource;
  writer: ClusterWriter;
  events: EventRecorder;
  metrics: ReconcilerMetrics;
  log: Logger;
  clock?: Clock;
  /** Absent when Consul is not configured: serviceDiscovery is then reported, not gated. */
  health?: HealthGate;
  /** The install's consul.uncheckedServiceDiscovery (default refuse); the condition is written either way. */
  uncheckedServiceDiscovery?: UncheckedHealthGateMode;
  /** The callback queue (callback-dispatcher.ts); a pass only submits to it. */
  callbacks: CallbackQueue;
  notifier?: RolloutNotifier;
  /** Annotations status.buildMetadata reads git branch, commit and origin from (default: the seed's). */
  buildMetadataKeys?: BuildMetadataKeys;
}

export const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf("/");
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/**
 * A take-down the budget refuses is retried on every pass until room opens, and each attempt
 * would write an EvictionBlocked Event: one per rollout per window instead (issue 13 item 7).
 * The status reason and bulkhead_evictions_blocked_total show every attempt.
 */
export const BLOCKED_EVENT_WINDOW_MS = 5 * 60_000;
/** Rollouts remembered per window; past it new ones get no EvictionBlocked Event until keys expire. */
const BLOCKED_EVENT_MAX_KEYS = 10_000;

export class Reconciler {
  private readonly now: () => Date;
  /** Event writes handed over and not finished yet (recordEvents). */
  private readonly eventWrites = new Set<Promise<void>>();
  /** Serialises group members' wave decisions (keyed by namespace/group). */
  private readonly groupLocks: KeyedLock;
  /** For Events that repeat while a wait lasts (EvictionBlocked). */
  private readonly repeatingEvents: EventRecorder;
  /**
   * Per rollout, what its last pass read live besides the rollout (the StatefulSet's name, the old
   * revision asked about): the next pass reads them at the same time as the rollout instead of
   * after it, and reads again if the rollout names others. One entry per rollout that exists.
   */
  private readonly liveReadHints = new Map<string, LiveReadHint>();

  constructor(private readonly deps: ReconcilerDeps) {
    const clock = deps.clock ?? systemClock;
    this.now = () => new Date(clock.now());
    this.groupLocks = new KeyedLock({ clock, waitLimitMs: GROUP_LOCK_WAIT_MS });
    this.repeatingEvents = rateLimitedEventRecorder(deps.events, {
      windowMs: BLOCKED_EVENT_WINDOW_MS,
      maxKeys: BLOCKED_EVENT_MAX_KEYS,
      clock,
      onSuppressed: (reason) => deps.metrics.eventsSuppressed.inc({ reason }),
    });
  }

  /** One pass; returns ms until the next one (undefined: none). Throws on transient errors. */
  async reconcile(key: string): Promise<number | undefined> {
    const started = process.hrtime.bigint();
    const { namespace, name } = splitKey(key);
    const log = this.deps.log.child({ rollout: key });
    try {
      const result = await this.pass(namespace, name, log);
      this.observeDuration(started, "ok");
      return result;
    } catch (err) {
      this.observeDuration(started, "error");
      this.deps.metrics.reconcileErrors.inc({ namespace, rollout: name });
      log.warn({ err }, "reconcile pass failed; retrying with backoff");
      throw err;
    }
  }

  private observeDuration(started: bigint, outcome: string): void {
    this.deps.metrics.reconcileDuration.observe({ outcome }, Number(process.hrtime.bigint() - started) / 1e9);
  }

  private async pass(namespace: string, name: string, log: Logger): Promise<number | undefined> {
    const { deps } = this;
    const key = keyOf(namespace, name);
    const hint = this.liveReadHints.get(key);
    const early = hint ? this.readLive(namespace, hint) : undefined;
    const raw = await deps.rollouts.get(namespace, name);
    if (!raw) {
      this.liveReadHints.delete(key);
      return undefined;
    }
    if (raw.metadata?.deletionTimestamp) return this.release(raw, log);
    // The finalizer goes on before anything is created or adopted, so that deleting the rollout
    // can never cascade to a workload the reconciler has not released (api/lifecycle.ts).
    const finalizers = withRolloutFinalizer(raw.metadata?.finalizers);
    if (finalizers) {
      await writeFinalizers(deps.rollouts, raw, finalizers);
      return 0;
    }
    const recorded = await this.decideAndRecord(raw, namespace, name, log, early);
    if (recorded.kind === "stop") return recorded.requeueAfterMs;
    const { rollout, decision, ref, takingDown } = recorded;
    if (decision.events.length > 0 || decision.step.kind !== "none") {
      log.info(
        { step: decision.step.kind, phase: decision.status.phase, reason: decision.status.reason },
        "reconcile step",
      );
    }
    this.recordWave(rollout.status, decision.status, namespace, name, this.now());
    try {
      await this.execute(decision.step, rollout, decision.status, namespace, name, log, takingDown);
    } finally {
      // After the step, so writing Events never delays taking pods down; written even if it failed.
      await this.recordEvents(ref, decision.events);
    }
    // Handed over, not awaited: Slack never delays a pass.
    deps.notifier?.notify({ ...rollout, status: decision.status });
    return decision.requeueAfterMs;
  }

  /**
   * Hands the pass's Events to the apiserver without waiting for them (in the order decided; each
   * carries its own time), so the next pass (the next Ready pod's take-down) does not wait on
   * Event writes. Bounded: past EVENT_WRITES_MAX writes in flight, the pass waits for room.
   */
  private async recordEvents(ref: ObjectRef, events: Decision["events"]): Promise<void> {
    for (const e of events) {
      while (this.eventWrites.size >= EVENT_WRITES_MAX) await Promise.race(this.eventWrites);
      const write: Promise<void> = this.deps.events
        .record(ref, e.type, e.reason, e.note)
        .catch(() => undefined)
        .finally(() => this.eventWrites.delete(write));
      this.eventWrites.add(write);
    }
  }

  /**
   * The rollout is being deleted: let go of its StatefulSet and PDB as deletionPolicy says
   * (api/lifecycle.ts), then remove the finalizer. Each step is idempotent, so a pass that fails
   * half-way is simply repeated.
   */
  private async release(raw: RawRollout, log: Logger): Promise<number | undefined> {
    const { deps } = this;
    const meta: RolloutMetaLike = {
      name: raw.metadata?.name ?? "",
      ...(raw.metadata?.uid ? { uid: raw.metadata.uid } : {}),
      finalizers: raw.metadata?.finalizers ?? [],
    };
    if (!hasRolloutFinalizer(meta)) return undefined;
    this.liveReadHints.delete(keyOf(raw.metadata?.namespace ?? "", meta.name));
    const parsed = parseRollout(raw);
    // An unparsable rollout (cannot pass the CRD's schema) is released the safe way: orphaned.
    const mode = releaseMode(parsed.ok ? parsed.value.spec.deletionPolicy : "Orphan", meta);
    const namespace = raw.metadata?.namespace ?? "";
    const stsName = parsed.ok ? statefulSetName(parsed.value) : meta.name;
    const ref = refOf(raw);
    // Cascade: what still references the rollout is left to the garbage collector; what it has
    // already orphaned (kubectl delete --cascade=orphan raced us) loses Bulkhead's labels.
    const sts = await deps.writer.releaseStatefulSet(namespace, stsName, meta, mode);
    const pdb = await deps.writer.releasePdb(namespace, stsName, meta, mode);
    log.info({ mode, statefulSet: sts, pdb }, "rollout deleted: workload released");
    if (mode === "orphan") {
      await deps.events.record(
        ref,
        "Normal",
        "WorkloadOrphaned",
        `rollout deleted (deletionPolicy Orphan or --cascade=orphan): StatefulSet ${stsName}, its pods and PodDisruptionBudget ${stsName} keep running, no longer managed by Bulkhead; the StatefulSet keeps updateStrategy OnDelete`,
      );
    } else {
      await deps.events.record(
        ref,
        "Normal",
        "WorkloadDeleted",
        `rollout deleted (deletionPolicy Delete): the garbage collector deletes StatefulSet ${stsName}, its pods and PodDisruptionBudget ${stsName}`,
      );
    }
    const remaining = withoutRolloutFinalizer(meta.finalizers);
    if (remaining) await writeFinalizers(deps.rollouts, raw, remaining);
    return undefined;
  }

  // --- status conflicts (issue 13) ---
  /**
   * Reads the rollout live (status is the memory and must not be stale), decides, and records the
   * decision's status. A 409 means another writer changed the rollout after the read — a spec
   * change, or another reconciler's status (a new leader's updatedOrdinals while this one drains
   * its passes). That update must survive: the pass re-reads and decides again on the fresh
   * object, never re-applying the stale decision. Bounded; past it the queue retries with backoff.
   */
  private async decideAndRecord(
    first: RawRollout,
    namespace: string,
    name: string,
    log: Logger,
    early: LiveReads | undefined,
  ): Promise<Recorded> {
    const { deps } = this;
    for (let attempt = 1; ; attempt++) {
      const raw = attempt === 1 ? first : await deps.rollouts.get(namespace, name);
      // Deleted meanwhile: the next pass releases the workload (release()).
      if (!raw || raw.metadata?.deletionTimestamp) return { kind: "stop", requeueAfterMs: raw ? 0 : undefined };
      const parsed = parseRollout(raw);
      const ref = refOf(raw);
      if (!parsed.ok) {
        // Cannot happen through the CRD's schema; a spec change enqueues the rollout again.
        log.error({ error: parsed.error }, "invalid StatefulsetRollout");
        await deps.events.record(ref, "Warning", "InvalidSpec", parsed.error);
        return { kind: "stop", requeueAfterMs: undefined };
      }
      const rollout = parsed.value;
      let world = await this.observe(rollout, namespace, attempt === 1 ? early : undefined);
      const now = this.now();
      let decision = decide(rollout, world, now);
      let releaseGroup: (() => void) | undefined;
      let written: StatusWriteResult;
      let takingDown: Promise<TakeDownOutcome[]> | undefined;
      try {
        if (world.group && recordsWave(rollout.status, decision.status)) {
          // The members came from the informer cache, which may lag: before this member records a
          // wave (its pods go down in this pass), read the other members live and decide again,
          // holding the group's lock until the wave is recorded, so that no other member of the
          // group reads, decides and records in between.
          releaseGroup = await this.groupLocks.acquire(keyOf(namespace, world.group.name));
          const live = await this.groupView(rollout, namespace, world.group.name, "live");
          if (live) world = { ...world, group: live };
          decision = decide(rollout, world, now);
        }
        this.recordBuildMetadata(rollout, decision.status);
        if (!statusChanged(rollout.status, decision.status))
          return { kind: "decided", rollout, decision, ref, current: raw };
        // Pods this status records are read for their take-down while it is written; nothing is
        // deleted unless the write lands (crash safety: the status names them first).
        let landed: (ok: boolean) => void = () => undefined;
        const recordedFirst = new Promise<boolean>((resolve) => (landed = resolve));
        if (decision.step.kind === "evict") {
          takingDown = deps.writer.takeDown(namespace, takeDownRequests(decision.step), recordedFirst);
          // Handled here: a take-down whose status did not land is dropped, not awaited.
          void takingDown.catch(() => undefined);
        }
        written = await writeStatus(deps.rollouts, raw, decision.status).catch((err: unknown) => {
          landed(false);
          throw err;
        });
        landed(written.outcome === "written");
      } finally {
        releaseGroup?.();
      }
      deps.metrics.statusWrites.inc({ outcome: written.outcome });
      if (written.outcome === "gone") return { kind: "stop", requeueAfterMs: undefined };
      if (written.outcome === "written")
        return { kind: "decided", rollout, decision, ref, current: written.rollout, takingDown };
      if (attempt >= STATUS_CONFLICT_ATTEMPTS)
        throw new Error(`status write conflicted ${attempt} times in a row (other writers); retrying the pass`);
      log.debug({ attempt }, "status write conflicted; deciding again on the fresh rollout");
    }
  }

  /**
   * The StatefulSet and, while split, whether the old revision still exists, both read live at
   * once (api/revisions.ts revisionHistoryChange): a pass's reads are one round trip, not two.
   */
  private readLive(namespace: string, hint: LiveReadHint): LiveReads {
    const { world } = this.deps;
    const statefulSet = world.statefulSet(namespace, hint.statefulSet);
    const revisionExists = hint.revision ? world.revisionExists(namespace, hint.revision) : Promise.resolve(true);
    // Reads started for a hint the rollout no longer matches are dropped: handled, not awaited.
    void statefulSet.catch(() => undefined);
    void revisionExists.catch(() => undefined);
    return { hint, statefulSet, revisionExists };
  }

  /** `early`: the reads started with the rollout's (pass()); used when the rollout asks for the same. */
  private async observe(rollout: StatefulsetRollout, namespace: string, early?: LiveReads): Promise<World> {
    const { deps } = this;
    const stsName = statefulSetName(rollout);
    // While split: is the old revision still there? (api/revisions.ts revisionHistoryChange)
    const current = rollout.status?.currentRevision;
    const hint: LiveReadHint = { statefulSet: stsName };
    if (current && isSplitRecorded(rollout)) hint.revision = current;
    // Only a head start: past the bound (rollouts deleted without their finalizer) start afresh.
    if (this.liveReadHints.size >= LIVE_READ_HINTS_MAX) this.liveReadHints.clear();
    this.liveReadHints.set(keyOf(namespace, rollout.metadata.name), hint);
    const reads =
      early && early.hint.statefulSet === hint.statefulSet && early.hint.revision === hint.revision
        ? early
        : this.readLive(namespace, hint);
    const [sts, currentRevisionExists] = await Promise.all([reads.statefulSet, reads.revisionExists]);
    const pods = deps.world
      .pods(namespace, stsName)
      .map((p) => observePod(p, stsName))
      .filter((p): p is ObservedPod => p !== undefined);
    const pdb = deps.world.pdb(namespace, stsName);
    const world: World = { pods };
    if (sts) world.statefulSet = observeStatefulSet(sts);
    if (pdb) world.pdb = observePdb(pdb);
    if (sts && current && !currentRevisionExists) world.revisionGone = current;
    const health = await this.checkHealth(rollout, pods, namespace);
    if (health) world.health = health;
    const gate = healthGateOf(rollout.spec, {
      consulConfigured: deps.health !== undefined,
      unchecked: deps.uncheckedServiceDiscovery ?? "refuse",
    });
    if (gate.verdict === "unchecked") world.healthGateUnchecked = gate.message;
    const group = groupNameOf(rollout);
    const view = group ? await this.groupView(rollout, namespace, group, "cache") : undefined;
    if (view) world.group = view;
    return world;
  }

  /**
   * The rollout's group (api/groups.ts): its members from the rollouts cache (`live`: each other
   * member read again from the API), each with its pods as the zone-aware guard sees them
   * (api/group-disruption.ts groupMembers, from the pods and StatefulSets caches, as the webhook
   * builds them). The rollout deciding now is taken as read at the start of the pass.
   */
  private async groupView(
    rollout: StatefulsetRollout,
    namespace: string,
    group: string,
    source: "cache" | "live",
  ): Promise<GroupView | undefined> {
    const guard = this.deps.world.groupGuard;
    if (!guard) return undefined;
    const named = (raw: unknown) => groupNameOf(raw as { spec?: { group?: { name?: string } } }) === group;
    let others: unknown[] = guard
      .rollouts(namespace)
      .filter((raw) => named(raw) && (raw as RawRollout).metadata?.name !== rollout.metadata.name);
    // Past the bound the group is not judged at all (GroupTooLarge), so nothing is read live.
    if (source === "live" && others.length < GROUP_MEMBERS_MAX) {
      const read = await Promise.all(
        others.map((raw) => this.deps.rollouts.get(namespace, (raw as RawRollout).metadata?.name ?? "")),
      );
      others = read.filter((raw) => raw !== undefined && !raw.metadata?.deletionTimestamp && named(raw));
    }
    const parsed = new Map<string, StatefulsetRollout>([[rollout.metadata.name, rollout]]);
    for (const raw of others) {
      const p = parseRollout(raw);
      if (p.ok) parsed.set(p.value.metadata.name, p.value);
    }
    const views = groupMembers(namespace, group, { ...guard, rollouts: () => [...parsed.values()] });
    const members = views.flatMap((view) => {
      const member = parsed.get(view.rollout);
      return member ? [memberViewOf(member, member.status, view)] : [];
    });
    return { name: group, members: members.sort(compareMembers) };
  }

  private async checkHealth(
    rollout: StatefulsetRollout,
    pods: ObservedPod[],
    namespace: string,
  ): Promise<ObservedHealth | undefined> {
    const gate = this.deps.health;
    if (!gate || !rollout.spec.serviceDiscovery || isTerminal(rollout.status?.phase)) return undefined;
    try {
      const result = await gate.check(
        rollout,
        // The uid tells a recreated pod from its predecessor when it gets the same IP.
        pods.map((p) => ({
          name: p.name,
          namespace,
          ...(p.uid ? { uid: p.uid } : {}),
          ...(p.ip ? { ip: p.ip } : {}),
          ...(p.nodeName ? { nodeName: p.nodeName } : {}),
        })),
      );
      return result.ok ? { ok: true, ...result.report } : { ok: false, error: result.error };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  }

  /** Runs the step. */
  private async execute(
    step: Step,
    rollout: StatefulsetRollout,
    status: RolloutStatus,
    namespace: string,
    name: string,
    log: Logger,
    takingDown?: Promise<TakeDownOutcome[]>,
  ): Promise<void> {
    const { deps } = this;
    switch (step.kind) {
      case "none":
        return undefined;
      case "createStatefulSet":
        await deps.writer.createStatefulSet(namespace, step.statefulSet);
        return undefined;
      case "updateStatefulSet":
        await deps.writer.updateStatefulSet(namespace, step.name, step.changes);
        return undefined;
      case "applyPdb":
        await deps.writer.applyPdb(namespace, step.pdb);
        return undefined;
      case "evict": {
        // One batch: one PDB reservation for the Ready pods, then the deletes (api/take-down.ts).
        // Started while the status was written (decideAndRecord) unless the status did not change.
        const outcomes = await (takingDown ?? deps.writer.takeDown(namespace, takeDownRequests(step)));
        const waveOf = new Map(step.pods.map((p) => [p.name, p.wave]));
        const blocked: string[] = [];
        for (const outcome of outcomes) {
          if (outcome.result === "evicted") deps.metrics.podsEvicted.inc({ namespace, rollout: name });
          if (outcome.result === "blocked") {
            blocked.push(outcome.name);
            deps.metrics.evictionsBlocked.inc({ namespace, rollout: name });
          }
          log.info(
            { pod: outcome.name, wave: waveOf.get(outcome.name), result: outcome.result, why: outcome.why },
            "take down",
          );
        }
        if (blocked.length > 0) {
          const why = outcomes.find((o) => o.result === "blocked")?.why ?? "the budget says wait";
          await this.repeatingEvents.record(
            refOf(rollout),
            "Normal",
            "EvictionBlocked",
            `taking down ${blocked.join(", ")} must wait (${why}); retrying`,
          );
        }
        return undefined;
      }
      case "callback": {
        // Queued, never awaited: the release API cannot hold this worker (callback-dispatcher.ts).
        const job: CallbackJob = { namespace, name, url: step.url, payload: step.payload };
        if (rollout.metadata.uid) job.uid = rollout.metadata.uid;
        const dueSince = callbackDueSince(status);
        if (dueSince) job.dueSince = dueSince;
        if (!deps.callbacks.submit(job))
          throw new Error(`callback queue full; stage ${step.payload.stageId} is queued by a later pass`);
        return undefined;
      }
    }
  }

  /** Waves completed in this pass (several can be in flight; the next may already be recorded): observe their durations. */
  private recordWave(
    before: RolloutStatus | undefined,
    after: RolloutStatus,
    namespace: string,
    name: string,
    now: Date,
  ): void {
    if (!before || (after.wavesCompleted ?? 0) <= (before.wavesCompleted ?? 0)) return;
    const still = new Set(wavesInFlight(after).map((w) => w.number));
    for (const wave of wavesInFlight(before)) {
      if (still.has(wave.number)) continue;
      this.deps.metrics.waveDuration.observe(
        { namespace, rollout: name },
        (now.getTime() - Date.parse(wave.startedAt)) / 1000,
      );
    }
  }

  /** status.buildMetadata follows the rollout's labels and annotations (api/build-metadata.ts). */
  private recordBuildMetadata(rollout: StatefulsetRollout, status: RolloutStatus): void {
    const meta = buildMetadata(rollout, this.deps.buildMetadataKeys);
    if (meta) status.buildMetadata = meta;
    else delete status.buildMetadata;
  }
}

/** Rollouts whose last live reads are remembered (liveReadHints). */
const LIVE_READ_HINTS_MAX = 10_000;

/** Event writes in flight at once (all rollouts); more wait (recordEvents). */
const EVENT_WRITES_MAX = 64;

/**
 * How long a group member's pass waits for another member's decision (a live read and a status
 * write) before it gives up and is retried, so a call that hangs cannot hold every member's worker.
 */
const GROUP_LOCK_WAIT_MS = 30_000;

/** Decide-and-write attempts per pass when other writers keep changing the rollout. */
const STATUS_CONFLICT_ATTEMPTS = 4;

/** What a pass read live besides the rollout: the StatefulSet's name and the old revision asked about. */
interface LiveReadHint {
  statefulSet: string;
  revision?: string;
}

interface LiveReads {
  hint: LiveReadHint;
  statefulSet: Promise<StatefulSetObject | undefined>;
  revisionExists: Promise<boolean>;
}

function takeDownRequests(step: Extract<Step, { kind: "evict" }>): TakeDownRequest[] {
  return step.pods.map((p) => ({ name: p.name, uid: p.uid }));
}

type Recorded =
  | {
      kind: "decided";
      rollout: StatefulsetRollout;
      decision: Decision;
      ref: ObjectRef;
      current: RawRollout;
      /** The take-down started while the status was written (its writes wait for the status). */
      takingDown?: Promise<TakeDownOutcome[]>;
    }
  /** Nothing more to do in this pass; requeueAfterMs as pass() returns it. */
  | { kind: "stop"; requeueAfterMs: number | undefined };

/** Whether a decision records a new wave (its pods are taken down from the next pass on). */
function recordsWave(before: RolloutStatus | undefined, after: RolloutStatus): boolean {
  const next = after.currentWave;
  if (!next || next.completedAt) return false;
  const prev = before?.currentWave;
  return !prev || prev.completedAt !== undefined || prev.number !== next.number;
}

function refOf(raw: RawRollout | StatefulsetRollout): ObjectRef {
  const ref: ObjectRef = {
    apiVersion: API_VERSION,
    kind: KIND,
    name: raw.metadata?.name ?? "",
    namespace: raw.metadata?.namespace ?? "",
  };
  if (raw.metadata?.uid) ref.uid = raw.metadata.uid;
  return ref;
}
