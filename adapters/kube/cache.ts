// Informer-backed read caches. Both processes answer from these and never list per request.
// Objects handed out are the cache's own: callers must treat them as read-only (clone to change).
// Each cache watches managed objects only (a label selector) and keeps only the fields decisions
// read (./trim.ts, applied as objects are received).
import * as k8s from "@kubernetes/client-node";
import type { Clock, Timer } from "../../api/clock.js";
import { API_VERSION, MANAGED_LABEL, PLURAL, ROLLOUT_LABEL, TRUE } from "../../api/labels.js";
import { systemClock } from "../clock.js";
import { trimControllerRevision, trimPdb, trimPod, trimRollout, trimStatefulSet, type CachedPod } from "./trim.js";

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

/** A watch that hands the informer each object already trimmed (bookmarks and errors as they are). */
class TrimmingWatch<T, C> extends k8s.Watch {
  constructor(
    kc: k8s.KubeConfig,
    private readonly trim: (obj: T) => C,
  ) {
    super(kc);
  }
  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const objectEvent = (phase: string) => phase === "ADDED" || phase === "MODIFIED" || phase === "DELETED";
    return super.watch(
      path,
      queryParams,
      (phase, obj) => callback(phase, objectEvent(phase) ? this.trim(obj as T) : obj),
      done,
    );
  }
}

export function informerCache<T extends k8s.KubernetesObject, C extends k8s.KubernetesObject = T>(
  kc: k8s.KubeConfig,
  path: string,
  listFn: ListFn<T>,
  labelSelector?: string,
  options: CacheOptions & {
    /** Applied to every object received, before it enters the cache (./trim.ts). */
    trim?: (obj: T) => C;
  } = {},
): WatchedCache<C> {
  const { onError = () => {}, maxStalenessMs = 0, clock = systemClock } = options;
  const now = () => clock.now();
  const trim = options.trim ?? ((obj: T) => obj as unknown as C);
  const trimmedList: ListFn<C> = async () => {
    const list = await listFn();
    return { ...list, items: list.items.map(trim) };
  };
  const informer = new k8s.ListWatch<C>(path, new TrimmingWatch(kc, trim), trimmedList, false, labelSelector);
  const listeners: Array<(obj: C, event: "add" | "update" | "delete") => void> = [];
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

/**
 * Pods of managed StatefulSets (the template carries the managed label: api/desired.ts), trimmed
 * to what the leak guard and the reconciler read.
 */
export function managedPodsCache(kc: k8s.KubeConfig, options?: CacheOptions): WatchedCache<CachedPod> {
  return watchManagedPods(kc, undefined, { ...options, trim: trimPod });
}

/**
 * The list+watch of managed pods in one namespace or all (undefined): the webhook's and the
 * reconciler's cache (trimmed) and the dashboard's (the user's kubeconfig, whole pods).
 */
export function watchManagedPods<C extends k8s.KubernetesObject = k8s.V1Pod>(
  kc: k8s.KubeConfig,
  namespace: string | undefined,
  options: CacheOptions & { trim?: (pod: k8s.V1Pod) => C } = {},
): WatchedCache<C> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return namespace === undefined
    ? informerCache<k8s.V1Pod, C>(
        kc,
        "/api/v1/pods",
        () => core.listPodForAllNamespaces({ labelSelector: MANAGED }),
        MANAGED,
        options,
      )
    : informerCache<k8s.V1Pod, C>(
        kc,
        `/api/v1/namespaces/${namespace}/pods`,
        () => core.listNamespacedPod({ namespace, labelSelector: MANAGED }),
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
    { ...options, trim: trimStatefulSet },
  );
}

/**
 * ControllerRevisions of managed StatefulSets: the StatefulSet controller labels a revision with
 * its template's labels, managed label included. A revision made before the label was on the
 * template (an adopted StatefulSet's) is not here: pinning reads it live (webhook/pinning).
 */
export function managedControllerRevisionsCache(
  kc: k8s.KubeConfig,
  options?: CacheOptions,
): WatchedCache<k8s.V1ControllerRevision> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  return informerCache(
    kc,
    "/apis/apps/v1/controllerrevisions",
    () => apps.listControllerRevisionForAllNamespaces({ labelSelector: MANAGED }),
    MANAGED,
    { ...options, trim: trimControllerRevision },
  );
}

/**
 * The PDBs Bulkhead made (they carry the rollout label: api/desired.ts desiredPdb). One that
 * predates the label is not here; the reconciler's apply reads it live and labels it.
 */
export function rolloutPdbsCache(kc: k8s.KubeConfig, options?: CacheOptions): WatchedCache<k8s.V1PodDisruptionBudget> {
  const policy = kc.makeApiClient(k8s.PolicyV1Api);
  return informerCache(
    kc,
    "/apis/policy/v1/poddisruptionbudgets",
    () => policy.listPodDisruptionBudgetForAllNamespaces({ labelSelector: ROLLOUT_LABEL }),
    ROLLOUT_LABEL,
    { ...options, trim: trimPdb },
  );
}

/** StatefulsetRollouts as raw objects; callers parse them with api/rollout.ts parseRollout. */
export function rolloutsCache(kc: k8s.KubeConfig, options?: CacheOptions): WatchedCache<k8s.KubernetesObject> {
  return watchRollouts(kc, undefined, { ...options, trim: trimRollout });
}

/**
 * The list+watch of StatefulsetRollouts in one namespace or all (undefined): the webhook's and
 * the reconciler's cache (trimmed) and the dashboard's (the user's kubeconfig, whole objects).
 */
export function watchRollouts<C extends k8s.KubernetesObject = k8s.KubernetesObject>(
  kc: k8s.KubeConfig,
  namespace: string | undefined,
  options: CacheOptions & { trim?: (rollout: k8s.KubernetesObject) => C } = {},
): WatchedCache<C> {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const [group, version] = API_VERSION.split("/") as [string, string];
  type RolloutList = k8s.KubernetesListObject<k8s.KubernetesObject>;
  return namespace === undefined
    ? informerCache<k8s.KubernetesObject, C>(
        kc,
        `/apis/${API_VERSION}/${PLURAL}`,
        async () => (await custom.listClusterCustomObject({ group, version, plural: PLURAL })) as RolloutList,
        undefined,
        options,
      )
    : informerCache<k8s.KubernetesObject, C>(
        kc,
        `/apis/${API_VERSION}/namespaces/${namespace}/${PLURAL}`,
        async () =>
          (await custom.listNamespacedCustomObject({ group, version, namespace, plural: PLURAL })) as RolloutList,
        undefined,
        options,
      );
}
