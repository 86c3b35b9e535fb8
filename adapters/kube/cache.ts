// Informer-backed read caches. Both processes answer from these and never list per request.
// Objects handed out are the cache's own: callers must treat them as read-only (clone to change).
import * as k8s from "@kubernetes/client-node";
import type { Clock, Timer } from "../../api/clock.js";
import { API_VERSION, MANAGED_LABEL, PLURAL, TRUE } from "../../api/labels.js";
import { systemClock } from "../clock.js";

export interface ReadCache<T> {
  get(namespace: string, name: string): T | undefined;
  list(namespace?: string): readonly T[];
  /** Resolves once the first list has been loaded (it waits through failed attempts). */
  readonly synced: Promise<void>;
  /**
   * False until the first list. After a watch error it stays true while the data is no older
   * than the cache's staleness bound (0, the default: false from the error until the restarted
   * watch is up).
   */
  isSynced(): boolean;
  onChange(listener: (obj: T, event: "add" | "update" | "delete") => void): void;
  stop(): Promise<void>;
}

/** How current an informer cache is; for readiness and the staleness gauge. */
export interface CacheHealth {
  /** The first list has been loaded (the data may since have gone stale). */
  hasLoaded(): boolean;
  /** Milliseconds since the watch went down; 0 while it is up (or before the first load). */
  stalenessMs(): number;
}

export type WatchedCache<T> = ReadCache<T> & CacheHealth;

export interface CacheOptions {
  onError?: (err: unknown) => void;
  /**
   * While the watch is down, the last-known data still counts as synced for this long: a watch
   * reconnect (an apiserver restart) does not throw away a valid cache. 0: not at all.
   */
  maxStalenessMs?: number;
  /** Staleness and informer restarts run on it; tests move a fake one. */
  clock?: Clock;
}

type ListFn<T extends k8s.KubernetesObject> = () => Promise<k8s.KubernetesListObject<T>>;

export function informerCache<T extends k8s.KubernetesObject>(
  kc: k8s.KubeConfig,
  path: string,
  listFn: ListFn<T>,
  labelSelector?: string,
  options: CacheOptions = {},
): WatchedCache<T> {
  const { onError = () => {}, maxStalenessMs = 0, clock = systemClock } = options;
  const now = () => clock.now();
  const informer = k8s.makeInformer<T>(kc, path, listFn, labelSelector);
  const listeners: Array<(obj: T, event: "add" | "update" | "delete") => void> = [];
  informer.on(k8s.ADD, (obj) => listeners.forEach((l) => l(obj, "add")));
  informer.on(k8s.UPDATE, (obj) => listeners.forEach((l) => l(obj, "update")));
  informer.on(k8s.DELETE, (obj) => listeners.forEach((l) => l(obj, "delete")));

  // client-node's ListWatch gives up for good on any error but 410 Gone and client timeouts
  // (a 429 "storage is initializing", a 404 before the CRD exists, a dropped connection), and
  // its start() resolves even when the first list failed. So the cache tracks errors itself and
  // restarts the informer with capped exponential backoff. The informer keeps its objects
  // across a restart, so until the staleness bound they are still answered from.
  let loaded = false;
  let watching = false;
  /** When the watch went down; undefined while it is up. */
  let downSince: number | undefined;
  let stopped = false;
  let failedSinceStart = false;
  let restartDelayMs = RESTART_BASE_MS;
  let restartTimer: Timer | undefined;
  let markFirstSync!: () => void;
  const firstSync = new Promise<void>((resolve) => (markFirstSync = resolve));

  const run = (): void => {
    failedSinceStart = false;
    informer.start().then(
      () => {
        if (failedSinceStart || stopped) return;
        loaded = true;
        watching = true;
        downSince = undefined;
        restartDelayMs = RESTART_BASE_MS;
        markFirstSync();
      },
      (err: unknown) => restartAfterError(err),
    );
  };
  const restartAfterError = (err: unknown): void => {
    failedSinceStart = true;
    if (watching || downSince === undefined) downSince = now();
    watching = false;
    onError(err);
    if (stopped || restartTimer !== undefined) return;
    restartTimer = clock.setTimer(() => {
      restartTimer = undefined;
      if (!stopped) run();
    }, restartDelayMs);
    restartDelayMs = Math.min(restartDelayMs * 2, RESTART_MAX_MS);
  };
  informer.on(k8s.ERROR, restartAfterError);
  run();

  return {
    get: (namespace, name) => informer.get(name, namespace),
    list: (namespace) => informer.list(namespace),
    synced: firstSync,
    isSynced: () =>
      loaded && !stopped && (watching || (maxStalenessMs > 0 && now() - (downSince ?? now()) <= maxStalenessMs)),
    hasLoaded: () => loaded,
    stalenessMs: () => (loaded && !watching && downSince !== undefined ? Math.max(0, now() - downSince) : 0),
    onChange: (listener) => listeners.push(listener),
    stop: async () => {
      stopped = true;
      restartTimer?.cancel();
      await informer.stop();
    },
  };
}

// The delay doubles with every failed attempt, so it is at its longest exactly when the apiserver
// comes back: with a 30 s cap a 20 s outage left the reconciler blind for up to 30 s after the
// apiserver was serving again (a Forbidden while its RBAC loads costs one more step). 5 s bounds
// that gap; one watch request per cache every 5 s is no load for a recovering apiserver.
const RESTART_BASE_MS = 500;
export const RESTART_MAX_MS = 5_000;

const MANAGED = `${MANAGED_LABEL}=${TRUE}`;

/** The caches Bulkhead needs, cluster-wide. Pods and StatefulSets are filtered to managed ones. */
export function managedPodsCache(kc: k8s.KubeConfig, options?: CacheOptions): WatchedCache<k8s.V1Pod> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return informerCache(
    kc,
    "/api/v1/pods",
    () => core.listPodForAllNamespaces({ labelSelector: MANAGED }),
    MANAGED,
    options,
  );
}

export function managedStatefulSetsCache(kc: k8s.KubeConfig, options?: CacheOptions): WatchedCache<k8s.V1StatefulSet> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  return informerCache(
    kc,
    "/apis/apps/v1/statefulsets",
    () => apps.listStatefulSetForAllNamespaces({ labelSelector: MANAGED }),
    MANAGED,
    options,
  );
}

export function controllerRevisionsCache(
  kc: k8s.KubeConfig,
  options?: CacheOptions,
): WatchedCache<k8s.V1ControllerRevision> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  return informerCache(
    kc,
    "/apis/apps/v1/controllerrevisions",
    () => apps.listControllerRevisionForAllNamespaces(),
    undefined,
    options,
  );
}

export function poddisruptionBudgetsCache(
  kc: k8s.KubeConfig,
  options?: CacheOptions,
): WatchedCache<k8s.V1PodDisruptionBudget> {
  const policy = kc.makeApiClient(k8s.PolicyV1Api);
  return informerCache(
    kc,
    "/apis/policy/v1/poddisruptionbudgets",
    () => policy.listPodDisruptionBudgetForAllNamespaces(),
    undefined,
    options,
  );
}

/** StatefulsetRollouts as raw objects; callers parse them with api/rollout.ts parseRollout. */
export function rolloutsCache(kc: k8s.KubeConfig, options?: CacheOptions): WatchedCache<k8s.KubernetesObject> {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const [group, version] = API_VERSION.split("/") as [string, string];
  return informerCache<k8s.KubernetesObject>(
    kc,
    `/apis/${API_VERSION}/${PLURAL}`,
    async () =>
      (await custom.listClusterCustomObject({
        group,
        version,
        plural: PLURAL,
      })) as k8s.KubernetesListObject<k8s.KubernetesObject>,
    undefined,
    options,
  );
}
