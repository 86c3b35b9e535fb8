// One reconcile pass for one rollout: read the rollout (live: status is the memory and must not
// be stale) and the world, decide (api/reconcile.ts), write status if it changed (on a conflict:
// read again and decide again), then take the one step. Slack and callbacks are called through the api/integrations.ts interfaces.
import type { Logger } from "pino";
import type { EventRecorder, ObjectRef } from "../adapters/kube/events.js";
import { writeStatus, writeStatusFields, type ClusterWriter, type RawRollout, type RolloutApi } from "../adapters/kube/rollouts.js";
import { statefulSetName } from "../api/desired.js";
import type { CallbackSender, HealthGate, RolloutNotifier } from "../api/integrations.js";
import { API_VERSION, KIND } from "../api/labels.js";
import { observePdb, observePod, observeStatefulSet, type ObservedHealth, type ObservedPod, type World } from "../api/observe.js";
import { decide, statusChanged, type Decision, type Step } from "../api/reconcile.js";
import { isTerminal, parseRollout, type RolloutStatus, type StatefulsetRollout } from "../api/rollout.js";
import type { ReconcilerMetrics } from "./metrics.js";
import type { WorldSource } from "./world.js";

export interface ReconcilerDeps {
  rollouts: RolloutApi;
  world: WorldSource;
  writer: ClusterWriter;
  events: EventRecorder;
  metrics: ReconcilerMetrics;
  log: Logger;
  now?: () => Date;
  /** Absent when Consul is not configured: serviceDiscovery is then reported, not gated. */
  health?: HealthGate;
  callbacks?: CallbackSender;
  notifier?: RolloutNotifier;
}

export const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf("/");
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export class Reconciler {
  private readonly now: () => Date;

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
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
    const recorded = await this.decideAndRecord(namespace, name, log);
    if (recorded.kind === "stop") return recorded.requeueAfterMs;
    const { rollout, decision, ref } = recorded;
    let current = recorded.current;
    for (const e of decision.events) await deps.events.record(ref, e.type, e.reason, e.note);
    if (decision.events.length > 0 || decision.step.kind !== "none") {
      log.info({ step: decision.step.kind, phase: decision.status.phase, reason: decision.status.reason }, "reconcile step");
    }
    this.recordWave(rollout.status, decision.status, namespace, name, this.now());
    const after = await this.execute(decision.step, rollout, namespace, name, log);
    let status = decision.status;
    if (after) {
      status = { ...status, ...after };
      const written = await writeStatusFields(deps.rollouts, current, after);
      if (written.outcome === "written") current = written.rollout;
    }
    await this.notify(rollout, status, current, log);
    return decision.requeueAfterMs;
  }

  // --- status conflicts (issue 13) ---
  /**
   * Reads the rollout live (status is the memory and must not be stale), decides, and records the
   * decision's status. A 409 means another writer changed the rollout after the read — a spec
   * change, or another reconciler's status (a new leader's updatedOrdinals while this one drains
   * its passes). That update must survive: the pass re-reads and decides again on the fresh
   * object, never re-applying the stale decision. Bounded; past it the queue retries with backoff.
   */
  private async decideAndRecord(namespace: string, name: string, log: Logger): Promise<Recorded> {
    const { deps } = this;
    for (let attempt = 1; ; attempt++) {
      const raw = await deps.rollouts.get(namespace, name);
      if (!raw || raw.metadata?.deletionTimestamp) return { kind: "stop", requeueAfterMs: undefined };
      const parsed = parseRollout(raw);
      const ref = refOf(raw);
      if (!parsed.ok) {
        // Cannot happen through the CRD's schema; a spec change enqueues the rollout again.
        log.error({ error: parsed.error }, "invalid StatefulsetRollout");
        await deps.events.record(ref, "Warning", "InvalidSpec", parsed.error);
        return { kind: "stop", requeueAfterMs: undefined };
      }
      const rollout = parsed.value;
      const world = await this.observe(rollout, namespace);
      const decision = decide(rollout, world, this.now());
      if (!statusChanged(rollout.status, decision.status)) return { kind: "decided", rollout, decision, ref, current: raw };
      const written = await writeStatus(deps.rollouts, raw, decision.status);
      deps.metrics.statusWrites.inc({ outcome: written.outcome });
      if (written.outcome === "gone") return { kind: "stop", requeueAfterMs: undefined };
      if (written.outcome === "written") return { kind: "decided", rollout, decision, ref, current: written.rollout };
      if (attempt >= STATUS_CONFLICT_ATTEMPTS) throw new Error(`status write conflicted ${attempt} times in a row (other writers); retrying the pass`);
      log.debug({ attempt }, "status write conflicted; deciding again on the fresh rollout");
    }
  }

  private async observe(rollout: StatefulsetRollout, namespace: string): Promise<World> {
    const { deps } = this;
    const stsName = statefulSetName(rollout);
    const sts = await deps.world.statefulSet(namespace, stsName);
    const pods = deps.world
      .pods(namespace, stsName)
      .map((p) => observePod(p, stsName))
      .filter((p): p is ObservedPod => p !== undefined);
    const pdb = deps.world.pdb(namespace, stsName);
    const world: World = { pods };
    if (sts) world.statefulSet = observeStatefulSet(sts);
    if (pdb) world.pdb = observePdb(pdb);
    const health = await this.checkHealth(rollout, pods, namespace);
    if (health) world.health = health;
    return world;
  }

  private async checkHealth(rollout: StatefulsetRollout, pods: ObservedPod[], namespace: string): Promise<ObservedHealth | undefined> {
    const gate = this.deps.health;
    if (!gate || !rollout.spec.serviceDiscovery || isTerminal(rollout.status?.phase)) return undefined;
    try {
      const result = await gate.check(
        rollout,
        // The uid tells a recreated pod from its predecessor when it gets the same IP.
        pods.map((p) => ({ name: p.name, namespace, ...(p.uid ? { uid: p.uid } : {}), ...(p.ip ? { ip: p.ip } : {}), ...(p.nodeName ? { nodeName: p.nodeName } : {}) })),
      );
      return result.ok ? { ok: true, ...result.report } : { ok: false, error: result.error };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  }

  /** Runs the step; returns status fields to record after it (callback outcome), if any. */
  private async execute(step: Step, rollout: StatefulsetRollout, namespace: string, name: string, log: Logger): Promise<Partial<RolloutStatus> | undefined> {
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
        const blocked: string[] = [];
        // A wave of 100 pods is 100 API calls: run them a few at a time, not one by one.
        await forEachLimited(step.pods, EVICTION_CONCURRENCY, async (pod) => {
          const result = await deps.writer.evict(namespace, pod.name, pod.uid);
          if (result === "evicted") deps.metrics.podsEvicted.inc({ namespace, rollout: name });
          if (result === "blocked") {
            blocked.push(pod.name);
            deps.metrics.evictionsBlocked.inc({ namespace, rollout: name });
          }
          log.info({ pod: pod.name, wave: step.wave, result }, "eviction");
        });
        if (blocked.length > 0) {
          await deps.events.record(refOf(rollout), "Normal", "EvictionBlocked", `wave ${step.wave}: eviction of ${blocked.join(", ")} refused (429); retrying`);
        }
        return undefined;
      }
      case "callback": {
        if (!deps.callbacks) {
          log.warn({ stageId: step.payload.stageId }, "spec.bapi is set but no callback sender is configured");
          return { lastCallbackError: `${step.payload.stageId}: no callback sender configured` };
        }
        const result = await deps.callbacks.send(step.url, step.payload);
        if (result.ok) {
          await deps.events.record(refOf(rollout), "Normal", "CallbackSent", `stage ${step.payload.stageId}: ${step.payload.phase} (HTTP ${result.status})`);
          return { lastCallbackStageId: step.payload.stageId };
        }
        if (result.retryable) throw new Error(`callback for stage ${step.payload.stageId} failed: ${result.error}`);
        await deps.events.record(refOf(rollout), "Warning", "CallbackFailed", `stage ${step.payload.stageId}: ${result.error}`);
        return { lastCallbackError: `${step.payload.stageId}: ${result.error}` };
      }
    }
  }

  /** A wave completed in this pass (the next may already be recorded): observe its duration. */
  private recordWave(before: RolloutStatus | undefined, after: RolloutStatus, namespace: string, name: string, now: Date): void {
    const wave = before?.currentWave;
    if (!wave || wave.completedAt || (after.wavesCompleted ?? 0) <= (before?.wavesCompleted ?? 0)) return;
    this.deps.metrics.waveDuration.observe({ namespace, rollout: name }, (now.getTime() - Date.parse(wave.startedAt)) / 1000);
  }

  /**
   * Hands the rollout to the Slack notifier every pass (it sends only what changed and throttles
   * itself); records the message ref when it is new. Never fails the pass.
   */
  private async notify(rollout: StatefulsetRollout, status: RolloutStatus, current: RawRollout, log: Logger): Promise<void> {
    const notifier = this.deps.notifier;
    if (!notifier || !rollout.spec.channel) return;
    try {
      const ref = await notifier.publish({ ...rollout, status }, status.slackMessage);
      if (ref && (ref.ts !== status.slackMessage?.ts || ref.channel !== status.slackMessage?.channel || (ref.pageTs ?? []).join() !== (status.slackMessage?.pageTs ?? []).join())) {
        await writeStatusFields(this.deps.rollouts, current, { slackMessage: ref });
      }
    } catch (err) {
      log.warn({ err }, "Slack notification failed");
    }
  }
}

const EVICTION_CONCURRENCY = 10;
/** Decide-and-write attempts per pass when other writers keep changing the rollout. */
const STATUS_CONFLICT_ATTEMPTS = 4;

type Recorded =
  | { kind: "decided"; rollout: StatefulsetRollout; decision: Decision; ref: ObjectRef; current: RawRollout }
  /** Nothing more to do in this pass; requeueAfterMs as pass() returns it. */
  | { kind: "stop"; requeueAfterMs: number | undefined };

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects with the first error. */
async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function refOf(raw: RawRollout | StatefulsetRollout): ObjectRef {
  const ref: ObjectRef = { apiVersion: API_VERSION, kind: KIND, name: raw.metadata?.name ?? "", namespace: raw.metadata?.namespace ?? "" };
  if (raw.metadata?.uid) ref.uid = raw.metadata.uid;
  return ref;
}
