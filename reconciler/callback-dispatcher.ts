// The release-API callback queue: reconcile passes hand callbacks here and return at once, so a
// slow or dead release API never holds a reconcile worker and never delays any rollout's waves.
// - one entry per rollout (a re-submit of the same stage collapses; another stage replaces it);
//   at most `maxQueued` entries: beyond that submit() says no and the pass is retried later;
// - at most `concurrency` attempts in flight across all rollouts; each attempt is bounded by the
//   sender's own timeout; between attempts an entry holds no worker, only a timer;
// - retries back off exponentially with jitter (Retry-After honoured up to maxDelayMs) until the
//   retry age: an entry still failing `maxRetryAgeMs` after its rollout became terminal is given
//   up and recorded as failed (status.lastCallbackError), so it is never retried forever;
// - a destination outside the install's allow-list is never requested: the refusal is recorded;
// - before every attempt a live read of the rollout confirms the callback is still wanted (not
//   delivered already — lastCallbackStageId is the "at most once per stage id" memory, which
//   survives restarts — nor superseded by a spec change);
// - the outcome is written to status by re-reading and deciding again on a conflict, and an
//   Event says what happened with only a status code or error class, never a response body.
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import { backoffDelayMs } from "../adapters/callbacks/backoff.js";
import { systemClock } from "../adapters/clock.js";
import type { EventRecorder } from "../adapters/kube/events.js";
import type { RawRollout, RolloutApi } from "../adapters/kube/rollouts.js";
import {
  callbackDestination,
  callbackIdempotencyKey,
  callbackStillWanted,
  statusWithCallbackOutcome,
  type CallbackOutcome,
} from "../api/callback-payload.js";
import type { CallbackJob, CallbackQueue, CallbackSender } from "../api/integrations.js";
import type { Clock, Timer } from "../api/clock.js";
import { API_VERSION, KIND } from "../api/labels.js";
import { parseRollout } from "../api/rollout.js";
import type { CallbackQueueConfig } from "./config.js";

export interface CallbackDispatcherOptions extends CallbackQueueConfig {
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface CallbackDispatcherDeps {
  sender: CallbackSender;
  // Reads and status writes only.
  rollouts: Pick<RolloutApi, "get" | "replaceStatus">;
  events: EventRecorder;
  log: Logger;
  clock?: Clock;
  /** [0, 1), for backoff jitter. */
  random?: () => number;
  registry?: Registry;
  /** Asks for a reconcile pass of a rollout whose outcome could not be recorded: it re-queues the callback. */
  requeue?: (namespace: string, name: string) => void;
}

interface Entry {
  key: string;
  job: CallbackJob;
  /** The Idempotency-Key: stage, identity and phase. */
  id: string;
  /** The retry age counts from here (when the rollout became terminal, or when first queued). */
  since: number;
  attempts: number;
  timer?: Timer;
  cancelled: boolean;
}

/** Status writes of one outcome before it is left to the next pass (which re-queues it). */
const RECORD_ATTEMPTS = 5;

export class CallbackDispatcher implements CallbackQueue {
  private readonly entries = new Map<string, Entry>();
  private readonly ready: Entry[] = [];
  private busy = 0;
  private stopped = false;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly outcomes: Counter<"outcome">;

  constructor(
    private readonly options: CallbackDispatcherOptions,
    private readonly deps: CallbackDispatcherDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.random = deps.random ?? Math.random;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 60_000;
    const registers = deps.registry ? [deps.registry] : [];
    this.outcomes = new Counter({
      name: "bulkhead_callbacks_total",
      help: "Release-API callbacks by final outcome (delivered, failed, refused: destination not allowed, queue_full: a pass was told to retry later).",
      labelNames: ["outcome"] as const,
      registers,
    });
    const entries = this.entries;
    new Gauge({
      name: "bulkhead_callback_queue_depth",
      help: "Rollouts with a release-API callback queued or being retried.",
      registers,
      collect() {
        this.set(entries.size);
      },
    });
  }

  submit(job: CallbackJob): boolean {
    if (this.stopped) return false;
    const key = `${job.namespace}/${job.name}`;
    const id = callbackIdempotencyKey(job.payload);
    const existing = this.entries.get(key);
    if (existing && existing.id === id && existing.job.uid === job.uid) return true;
    if (!existing && this.entries.size >= this.options.maxQueued) {
      this.outcomes.inc({ outcome: "queue_full" });
      return false;
    }
    if (existing) this.cancel(existing);
    const now = this.clock.now();
    const dueSince = job.dueSince ? Date.parse(job.dueSince) : NaN;
    const entry: Entry = {
      key,
      job,
      id,
      since: Number.isNaN(dueSince) ? now : Math.min(now, dueSince),
      attempts: 0,
      cancelled: false,
    };
    this.entries.set(key, entry);
    const destination = callbackDestination(job.url, this.options.allowList);
    if (destination.allowed) {
      this.ready.push(entry);
      this.pump();
    } else {
      this.track(this.record(entry, { kind: "refused", reason: destination.reason }));
    }
    return true;
  }

  /** Resolves when nothing is in flight and nothing is ready to run (timers may be pending). */
  idle(): Promise<void> {
    if (this.busy === 0 && this.ready.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking work, drops the timers, and waits for attempts in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const entry of this.entries.values()) this.cancel(entry);
    this.entries.clear();
    this.ready.length = 0;
    await this.idle();
  }

  /** Rollouts with a callback queued or being retried. */
  get size(): number {
    return this.entries.size;
  }

  private cancel(entry: Entry): void {
    entry.cancelled = true;
    entry.timer?.cancel();
    entry.timer = undefined;
  }

  private drop(entry: Entry): void {
    this.cancel(entry);
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
  }

  private pump(): void {
    while (!this.stopped && this.busy < this.options.concurrency && this.ready.length > 0) {
      const entry = this.ready.shift()!;
      if (!entry.cancelled) this.track(this.run(entry));
    }
  }

  private track(work: Promise<void>): void {
    this.busy++;
    void work
      .catch((err: unknown) => this.deps.log.error({ err }, "callback queue: unexpected error"))
      .finally(() => {
        this.busy--;
        this.pump();
        if (this.busy === 0 && this.ready.length === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
  }

  private async run(entry: Entry): Promise<void> {
    const { job } = entry;
    const log = this.deps.log.child({ rollout: entry.key, stageId: job.payload.stageId });
    let live: RawRollout | undefined;
    try {
      live = await this.deps.rollouts.get(job.namespace, job.name);
    } catch (err) {
      log.warn({ err: (err as Error).message }, "callback: cannot read the rollout; retrying later");
      this.retryOrGiveUp(entry, "the rollout could not be read", undefined);
      return;
    }
    if (entry.cancelled) return;
    if (!this.stillWanted(entry, live)) {
      this.drop(entry);
      return;
    }
    entry.attempts++;
    const result = await this.deps.sender.attempt(job.url, job.payload, entry.attempts);
    if (entry.cancelled) return;
    if (result.ok) {
      log.info({ attempt: entry.attempts, status: result.status }, "callback accepted");
      await this.record(entry, { kind: "delivered", httpStatus: result.status, attempts: entry.attempts });
      return;
    }
    log.warn({ attempt: entry.attempts, error: result.error, retryable: result.retryable }, "callback attempt failed");
    if (!result.retryable) {
      await this.record(entry, { kind: "failed", error: `${result.error} (not retried)`, attempts: entry.attempts });
      return;
    }
    this.retryOrGiveUp(entry, result.error, result.retryAfterMs);
  }

  private retryOrGiveUp(entry: Entry, error: string, retryAfterMs: number | undefined): void {
    const backoff = backoffDelayMs(Math.max(1, entry.attempts), this.baseDelayMs, this.maxDelayMs, this.random);
    const delay = Math.min(this.maxDelayMs, Math.max(backoff, retryAfterMs ?? 0));
    const age = this.clock.now() - entry.since;
    if (entry.attempts > 0 && age + delay > this.options.maxRetryAgeMs) {
      const minutes = Math.round(this.options.maxRetryAgeMs / 60_000);
      this.track(
        this.record(entry, {
          kind: "failed",
          error: `${error}; gave up after ${entry.attempts} attempt(s) (retry age ${minutes} min)`,
          attempts: entry.attempts,
        }),
      );
      return;
    }
    entry.timer = this.clock.setTimer(() => {
      entry.timer = undefined;
      if (entry.cancelled || this.stopped) return;
      this.ready.push(entry);
      this.pump();
    }, delay);
  }

  private stillWanted(entry: Entry, live: RawRollout | undefined): boolean {
    if (!live || live.metadata?.deletionTimestamp) return false;
    if (entry.job.uid !== undefined && live.metadata?.uid !== entry.job.uid) return false;
    const parsed = parseRollout(live);
    return parsed.ok && callbackStillWanted(parsed.value, entry.job.payload);
  }

  /** Writes the outcome to status (re-reading on a conflict) and records its Event. */
  private async record(entry: Entry, outcome: CallbackOutcome): Promise<void> {
    const { job } = entry;
    const log = this.deps.log.child({ rollout: entry.key, stageId: job.payload.stageId });
    let recorded = false;
    for (let attempt = 1; attempt <= RECORD_ATTEMPTS && !entry.cancelled && !recorded; attempt++) {
      try {
        const live = await this.deps.rollouts.get(job.namespace, job.name);
        const parsed = live && this.stillWanted(entry, live) ? parseRollout(live) : undefined;
        if (!live || !parsed?.ok) {
          recorded = true; // nothing to record: gone, superseded or already recorded
          break;
        }
        const { status, event } = statusWithCallbackOutcome(
          parsed.value.status ?? {},
          job.payload.stageId,
          outcome,
          new Date(this.clock.now()).toISOString(),
        );
        await this.deps.rollouts.replaceStatus(job.namespace, job.name, { ...live, status });
        recorded = true;
        this.outcomes.inc({ outcome: outcome.kind });
        const ref = {
          apiVersion: API_VERSION,
          kind: KIND,
          name: job.name,
          namespace: job.namespace,
          ...(live.metadata?.uid ? { uid: live.metadata.uid } : {}),
        };
        await this.deps.events.record(ref, event.type, event.reason, event.note);
      } catch (err) {
        // A conflict means another writer got there first: read again and decide again.
        log.warn({ err: (err as Error).message, attempt }, "callback: status write failed; re-reading");
      }
    }
    // Either way the entry is done: if the outcome could not be recorded, a new pass finds the
    // callback still due and queues it again (the same Idempotency-Key).
    const cancelled = entry.cancelled;
    this.drop(entry);
    if (!recorded && !cancelled && !this.stopped) this.deps.requeue?.(job.namespace, job.name);
  }
}
