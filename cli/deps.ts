// What the CLI needs from the outside world. main.ts wires the real ones (kubeconfig, the
// terminal, timers); tests pass fakes, so every command runs without a cluster or a TTY.
import type { DashboardFeed } from "./dashboard/feed.js";

export interface Output {
  write(text: string): void;
  readonly isTTY: boolean;
}

/** How to reach the cluster, as kubectl's own flags say. */
export interface ConnectionOptions {
  kubeconfig?: string;
  context?: string;
}

/** A pod of the rollout's StatefulSet, as `status` shows it. */
export interface PodSummary {
  name: string;
  revision?: string;
  ready: boolean;
  /** Pending, Running, ... or Terminating. */
  phase: string;
  /** Why a pod is not ready: CrashLoopBackOff, Unschedulable, ... */
  reason?: string;
}

/** StatefulsetRollout reads and writes; errors carry the HTTP status as `.code` (ApiException). */
export interface RolloutApi {
  get(namespace: string, name: string): Promise<unknown>;
  /** All namespaces when `namespace` is undefined. */
  list(namespace: string | undefined): Promise<unknown[]>;
  /** application/merge-patch+json */
  patch(namespace: string, name: string, patch: object): Promise<unknown>;
  create(namespace: string, body: object): Promise<unknown>;
  replace(namespace: string, name: string, body: object): Promise<unknown>;
  listPods(namespace: string, matchLabels: Record<string, string>): Promise<PodSummary[]>;
}

export interface Cluster {
  /** Watches for `kubectl sroll dashboard`: one namespace, or every one (undefined). */
  watchDashboard?(namespace: string | undefined): DashboardFeed;
  /** The context's namespace, or "default". */
  defaultNamespace: string;
  /** The kubeconfig name of the context's cluster (for a stage's `clusters`). */
  clusterName?: string;
  /** The API server, for messages about an unreachable cluster. */
  server?: string;
  rollouts: RolloutApi;
}

/** One look at a rollout, for the `status -w` display. */
export interface WatchSnapshot {
  phase: string;
  reason?: string;
  total: number;
  target: number;
  updated: number;
  ready: number;
  percent: number;
  paused: boolean;
  wave?: number;
}

export interface ProgressView {
  update(snapshot: WatchSnapshot): void;
  /** Ends the display (the bar's last state stays on screen). */
  stop(): void;
}

export interface CliDeps {
  stdout: Output;
  stderr: Output;
  /** Colour on stdout (a TTY, and NO_COLOR unset). */
  colour: boolean;
  readFile(path: string): Promise<string>;
  /** Loads the kubeconfig; throws an Error whose message says what is wrong with it. */
  connect(options: ConnectionOptions): Cluster;
  /** A fresh random spec.rolloutIdentity. */
  randomIdentity(): string;
  now(): Date;
  /** Resolves after `ms`, or early when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** Aborts on Ctrl-C (SIGINT). */
  interrupt: AbortSignal;
  /** The live display for `status -w`. */
  progress(stream: Output): ProgressView;
  /** Time between two looks at a watched rollout. */
  pollIntervalMs: number;
}
