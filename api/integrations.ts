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

export type CallbackResult = { ok: true; status: number } | { ok: false; retryable: boolean; error: string };

export interface CallbackSender {
  /** Sends once (with its own bounded retries); the caller records success in status. */
  send(url: string, payload: CallbackPayload): Promise<CallbackResult>;
}

export interface RolloutNotifier {
  /**
   * Hands the newest state of a rollout to the Slack notifier. Returns at once and never throws:
   * Slack is called outside the reconcile pass (adapters/slack/rollout-outbox.ts), so a slow or
   * rate-limited Slack changes no rollout's timing.
   */
  notify(rollout: StatefulsetRollout): void;
}
