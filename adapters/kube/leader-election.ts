// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the leader renews
// the Lease every retry period; a candidate takes it over once it has seen the same holder and
// renewTime unchanged for a whole lease duration (measured on its own clock, so clock skew
// between replicas does not matter). A leader that cannot renew within the renew deadline
// stops leading (the process should exit and restart as a candidate). Releasing on shutdown
// hands over at once instead of after the lease duration.
import * as k8s from "@kubernetes/client-node";
import type { Clock, Timer } from "../../api/clock.js";
import { systemClock } from "../clock.js";
import { apiStatusCode, isNotFound } from "./client.js";

export interface LeaseApi {
  read(namespace: string, name: string): Promise<k8s.V1Lease | undefined>;
  create(namespace: string, lease: k8s.V1Lease): Promise<void>;
  replace(namespace: string, name: string, lease: k8s.V1Lease): Promise<void>;
}

export function kubeLeaseApi(coordination: k8s.CoordinationV1Api): LeaseApi {
  return {
    async read(namespace, name) {
      try {
        return await coordination.readNamespacedLease({ name, namespace });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async create(namespace, lease) {
      await coordination.createNamespacedLease({ namespace, body: lease });
    },
    async replace(namespace, name, lease) {
      await coordination.replaceNamespacedLease({ name, namespace, body: lease });
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
  private lastRenew = 0;
  private observed = "";
  private observedAt = 0;
  private lastLeader = "";
  private readonly leaseDurationSeconds: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly clock: Clock;

  constructor(
    private readonly api: LeaseApi,
    private readonly options: LeaderElectionOptions,
    private readonly callbacks: LeaderCallbacks,
  ) {
    this.leaseDurationSeconds = options.leaseDurationSeconds ?? 15;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.clock = options.clock ?? systemClock;
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
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.api.read(this.options.namespace, this.options.name);
      if (lease?.spec?.holderIdentity === this.options.identity) {
        const released = structuredClone(lease);
        released.spec = {
          ...released.spec,
          holderIdentity: undefined,
          leaseDurationSeconds: 1,
          renewTime: new k8s.V1MicroTime(this.clock.now()),
        };
        await this.api.replace(this.options.namespace, this.options.name, released);
      }
    } catch (err) {
      this.callbacks.onError?.(err);
    }
  }

  /** One attempt to acquire or renew; true when this replica holds the Lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const now = this.clock.now();
    const lease = await this.api.read(namespace, name);
    if (!lease) {
      try {
        await this.api.create(namespace, {
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
        });
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
      await this.api.replace(namespace, name, next);
      return true;
    } catch (err) {
      if (apiStatusCode(err) === 409) return false;
      throw err;
    }
  }

  private async loop(): Promise<void> {
    if (this.stopped) return;
    let held = false;
    try {
      held = await this.tryAcquireOrRenew();
    } catch (err) {
      this.callbacks.onError?.(err);
    }
    if (this.stopped) return;
    const now = this.clock.now();
    if (held) {
      this.lastRenew = now;
      if (!this.leading) {
        this.leading = true;
        this.lastLeader = this.options.identity;
        this.callbacks.onStartedLeading();
      }
    } else if (this.leading && now - this.lastRenew > this.renewDeadlineMs) {
      this.leading = false;
      this.callbacks.onStoppedLeading();
    }
    this.timer = this.clock.setTimer(() => void this.loop(), this.retryPeriodMs);
  }
}
