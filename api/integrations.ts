// The interfaces the reconciler loop calls for its integrations (DESIGN.md §2). Implementations
// live in adapters/ (Consul, release-API callbacks, Slack); tests use fakes.
import type { StatefulsetRollout } from "./rollout.js";

/** A pod as the health gate needs it to match Consul instances. */
export interface PodIdentity {
  name: string;
  namespace: string;
  /** Tells a recreated StatefulSet pod (same name, maybe the same IP) from the one it replaced. */
  uid?: string;
  ip?: string;
  nodeName?: string;
}

export interface HealthReport {
  /** Names of the pods with every check passing in all of spec.serviceDiscovery.serviceNames. */
  passingPods: string[];
  /** Services found in Consul (status.consulServices). */
  services: string[];
  /** Services named in the spec that Consul does not know. */
  missingServices: string[];
}

export type HealthResult = { ok: true; report: HealthReport } | { ok: false; error: string };

export interface HealthGate {
  check(rollout: StatefulsetRollout, pods: PodIdentity[]): Promise<HealthResult>;
}

export interface CallbackPayload {
  stageId: string;
  rolloutIdentity?: string;
  namespace: string;
  name: string;
  phase: "RolloutDone" | "RolloutFailed";
  reason?: string;
  percent: number;
  replicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  currentRevision?: string;
  updateRevision?: string;
  startedAt?: string;
  finishedAt: string;
}

/**
 * The outcome of one attempt. `error` is a class of failure ("HTTP 503", "timeout", "network
 * (ECONNREFUSED)", "redirect (HTTP 302) not followed"): never the response body or a Location,
 * which would hand whatever the URL answered back to the rollout's author.
 */
export type CallbackResult =
  { ok: true; status: number } | { ok: false; retryable: boolean; error: string; retryAfterMs?: number };

export interface CallbackSender {
  /** One POST (attempt number `attempt`, from 1), bounded by its own timeout; never throws. */
  attempt(url: string, payload: CallbackPayload, attempt: number): Promise<CallbackResult>;
}

/** A callback handed from a reconcile pass to the callback queue. */
export interface CallbackJob {
  namespace: string;
  name: string;
  /** The rollout's uid: a rollout deleted and re-created under the same name is another one. */
  uid?: string;
  url: string;
  payload: CallbackPayload;
  /** When the rollout became terminal (ISO-8601): the callback's retry age counts from here. */
  dueSince?: string;
}

export interface CallbackQueue {
  /**
   * Queues the callback and returns at once (the pass never waits for the release API). A job
   * already queued for the same rollout and stage is not queued twice. False when the queue is
   * full: the pass should be retried later.
   */
  submit(job: CallbackJob): boolean;
}

export interface RolloutNotifier {
  /**
   * Hands the newest state of a rollout to the Slack notifier. Returns at once and never throws:
   * Slack is called outside the reconcile pass (adapters/slack/rollout-outbox.ts), so a slow or
   * rate-limited Slack changes no rollout's timing.
   */
  notify(rollout: StatefulsetRollout): void;
}
