// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the leader renews
// the Lease every retry period; a candidate takes it over once it has seen the same holder and
// renewTime unchanged for a whole lease duration (measured on its own clock, so clock skew
// between replicas does not matter). A leader that cannot renew within the renew deadline
// stops leading (the process should exit and restart as a candidate). Releasing on shutdown
// hands over at once instead of after the lease duration.
// Every Lease call is bounded (requestTimeoutMs, at most half the renew deadline, so a read and
// a replace fit in it): a hung apiserver connection fails the attempt and is closed, instead of
// holding the loop so the renew deadline is never checked and a stale leader goes on leading.
import * as k8s from "@kubernetes/client-node";
import type { Clock, Timer } from "../../api/clock.js";
import { systemClock } from "../clock.js";
import { apiStatusCode, isNotFound } from "./client.js";

/** Lease calls; `signal` aborts the request (its socket is closed) when the elector gives up on it. */
export interface LeaseApi {
  read(namespace: string, name: string, signal: AbortSignal): Promise<k8s.V1Lease | undefined>;
  create(namespace: string, lease: k8s.V1Lease, signal: AbortSignal): Promise<void>;
  replace(namespace: string, name: string, lease: k8s.V1Lease, signal: AbortSignal): Promise<void>;
}

/** Per-call client options that attach `signal` to the request (client-node has no per-call timeout). */
function abortable(signal: AbortSignal): k8s.ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (context) => {
          context.setSignal(signal);
          return new k8s.Observable(Promise.resolve(context));
        },
        post: (response) => new k8s.Observable(Promise.resolve(response)),
      },
    ],
    middlewareMergeStrategy: "append",
  };
}

export function kubeLeaseApi(coordination: k8s.CoordinationV1Api): LeaseApi {
  return {
    async read(namespace, name, signal) {
      try {
        return await coordination.readNamespacedLease({ name, namespace }, abortable(signal));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async create(namespace, lease, signal) {
      await coordination.createNamespacedLease({ namespace, body: lease }, abortable(signal));
    },
    async replace(namespace, name, lease, signal) {
      await coordination.replaceNamespacedLease({ name, namespace, body: lease }, abortable(signal));
    },
  };
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Bound on each Lease call (default and maximum: half the renew deadline). */
  requestTimeoutMs?: number;
  clock?: Clock;
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
  onNewLeader?(identity: string): void;
  onError?(err: unknown): void;
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer: Timer | undefined;
  private deadlineTimer: Timer | undefined;
  private lastRenew = 0;
  private observed = "";
  private observedAt = 0;
  private lastLeader = "";
  private readonly leaseDurationSeconds: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly requestTimeoutMs: number;
  private readonly clock: Clock;

  constructor(
    private readonly api: LeaseApi,
    private readonly options: LeaderElectionOptions,
    private readonly callbacks: LeaderCallbacks,
  ) {
    this.leaseDurationSeconds = options.leaseDurationSeconds ?? 15;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    const half = Math.max(1, Math.floor(this.renewDeadlineMs / 2));
    this.requestTimeoutMs = Math.min(options.requestTimeoutMs ?? half, half);
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Runs one Lease call with a deadline: past it the call's signal aborts the request and the
   * attempt fails, even if the LeaseApi ignores the signal.
   */
  private async bounded<T>(what: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    let timer: Timer | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = this.clock.setTimer(() => {
        const err = new Error(`Lease ${what} got no answer within ${this.requestTimeoutMs} ms; request aborted`);
        controller.abort(err);
        reject(err);
      }, this.requestTimeoutMs);
    });
    try {
      return await Promise.race([call(controller.signal), expired]);
    } finally {
      timer?.cancel();
    }
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.loop();
  }

  /** Stops campaigning; a leader releases the Lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.deadlineTimer?.cancel();
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.bounded("read", (signal) =>
        this.api.read(this.options.namespace, this.options.name, signal),
      );
      if (lease?.spec?.holderIdentity === this.options.identity) {
        const released = structuredClone(lease);
        released.spec = {
          ...released.spec,
          holderIdentity: undefined,
          leaseDurationSeconds: 1,
          renewTime: new k8s.V1MicroTime(this.clock.now()),
        };
        await this.bounded("release", (signal) =>
          this.api.replace(this.options.namespace, this.options.name, released, signal),
        );
      }
    } catch (err) {
      this.callbacks.onError?.(err);
    }
  }

  /** One attempt to acquire or renew; true when this replica holds the Lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const now = this.clock.now();
    const lease = await this.bounded("read", (signal) => this.api.read(namespace, name, signal));
    if (!lease) {
      try {
        await this.bounded("create", (signal) =>
          this.api.create(
            namespace,
            {
              apiVersion: "coordination.k8s.io/v1",
              kind: "Lease",
              metadata: { name, namespace },
              spec: {
                holderIdentity: identity,
                leaseDurationSeconds: this.leaseDurationSeconds,
                acquireTime: new k8s.V1MicroTime(now),
                renewTime: new k8s.V1MicroTime(now),
                leaseTransitions: 0,
              },
            },
            signal,
          ),
        );
        return true;
      } catch (err) {
        if (apiStatusCode(err) === 409) return false;
        throw err;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const record = `${holder}|${spec.renewTime ? new Date(spec.renewTime).getTime() : ""}`;
    if (record !== this.observed) {
      this.observed = record;
      this.observedAt = now;
    }
    if (holder && holder !== this.lastLeader) {
      this.lastLeader = holder;
      this.callbacks.onNewLeader?.(holder);
    }
    const duration = (spec.leaseDurationSeconds ?? this.leaseDurationSeconds) * 1000;
    if (holder && holder !== identity && now - this.observedAt < duration) return false;
    const next = structuredClone(lease);
    const takingOver = holder !== identity;
    next.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: this.leaseDurationSeconds,
      renewTime: new k8s.V1MicroTime(now),
      acquireTime: takingOver ? new k8s.V1MicroTime(now) : spec.acquireTime,
      leaseTransitions: (spec.leaseTransitions ?? 0) + (takingOver && holder ? 1 : 0),
    };
    try {
      await this.bounded("renew", (signal) => this.api.replace(namespace, name, next, signal));
      return true;
    } catch (err) {
      if (apiStatusCode(err) === 409) return false;
      throw err;
    }
  }

  private async loop(): Promise<void> {
    if (this.stopped) return;
    // A renewal counts from when it was sent: the Lease records that time as renewTime.
    const attemptedAt = this.clock.now();
    let held = false;
    try {
      held = await this.tryAcquireOrRenew();
    } catch (err) {
      this.callbacks.onError?.(err);
    }
    if (this.stopped) return;
    if (held) {
      this.lastRenew = attemptedAt;
      if (!this.leading) {
        this.leading = true;
        this.lastLeader = this.options.identity;
        this.callbacks.onStartedLeading();
      }
      this.armRenewDeadline();
    } else this.checkRenewDeadline();
    this.timer = this.clock.setTimer(() => void this.loop(), this.retryPeriodMs);
  }

  /** Stops leading at the renew deadline even while an attempt is still waiting for an answer. */
  private armRenewDeadline(): void {
    this.deadlineTimer?.cancel();
    const left = this.renewDeadlineMs - (this.clock.now() - this.lastRenew);
    this.deadlineTimer = this.clock.setTimer(() => this.checkRenewDeadline(), Math.max(0, left) + 1);
  }

  private checkRenewDeadline(): void {
    if (this.stopped || !this.leading || this.clock.now() - this.lastRenew <= this.renewDeadlineMs) return;
    this.leading = false;
    this.callbacks.onStoppedLeading();
  }
}
