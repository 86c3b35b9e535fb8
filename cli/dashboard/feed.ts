// What the dashboard watches: StatefulsetRollouts, their pods and the Events about them, kept
// current by watches (kube-feed.ts) with the user's own kubeconfig. The server only reads this
// interface, so tests can hand it a fake.
import type { PodObject } from "../../api/observe.js";

export interface FeedEvent {
  uid: string;
  type: string;
  reason: string;
  message: string;
  /** ISO time of the last occurrence. */
  time: string;
  count: number;
  /** Who reported it: bulkhead-reconciler, bulkhead-webhook, ... */
  source?: string;
}

export type FeedChange = { kind: "rollout" | "pod" | "event"; namespace: string };

export interface DashboardFeed {
  /** Raw StatefulsetRollout objects (parse with api/rollout.ts). */
  rollouts(): readonly unknown[];
  /** Managed pods in a namespace. */
  pods(namespace: string): readonly PodObject[];
  /** False while pods cannot be watched (RBAC, or not synced yet): use status.pods instead. */
  podsWatched(): boolean;
  /** Recent Events regarding one rollout, oldest first (bounded). */
  events(namespace: string, name: string): readonly FeedEvent[];
  onChange(listener: (change: FeedChange) => void): void;
  /** Resolves once rollouts are listed. */
  readonly synced: Promise<void>;
  stop(): Promise<void>;
}
