// Informer-backed read caches. Both processes answer from these and never list per request.
// Objects handed out are the cache's own: callers must treat them as read-only (clone to change).
import * as k8s from "@kubernetes/client-node";
import { API_VERSION, MANAGED_LABEL, PLURAL, TRUE } from "../../api/labels.js";

export interface ReadCache<T> {
  get(namespace: string, name: string): T | undefined;
  list(namespace?: string): readonly T[];
  /** Resolves once the first list has been loaded. */
  readonly synced: Promise<void>;
  isSynced(): boolean;
  onChange(listener: (obj: T, event: "add" | "update" | "delete") => void): void;
  stop(): Promise<void>;
}

type ListFn<T extends k8s.KubernetesObject> = () => Promise<k8s.KubernetesListObject<T>>;

export function informerCache<T extends k8s.KubernetesObject>(
  kc: k8s.KubeConfig,
  path: string,
  listFn: ListFn<T>,
  labelSelector?: string,
  onError: (err: unknown) => void = () => {},
): ReadCache<T> {
  const informer = k8s.makeInformer<T>(kc, path, listFn, labelSelector);
  const listeners: Array<(obj: T, event: "add" | "update" | "delete") => void> = [];
  let synced = false;
  informer.on(k8s.ADD, (obj) => listeners.forEach((l) => l(obj, "add")));
  informer.on(k8s.UPDATE, (obj) => listeners.forEach((l) => l(obj, "update")));
  informer.on(k8s.DELETE, (obj) => listeners.forEach((l) => l(obj, "delete")));
  // ListWatch reconnects by itself after an error; we only report it.
  informer.on(k8s.ERROR, (err) => onError(err));
  const started = informer.start().then(() => {
    synced = true;
  });
  return {
    get: (namespace, name) => informer.get(name, namespace),
    list: (namespace) => informer.list(namespace),
    synced: started,
    isSynced: () => synced,
    onChange: (listener) => listeners.push(listener),
    stop: () => informer.stop(),
  };
}

const MANAGED = `${MANAGED_LABEL}=${TRUE}`;

/** The caches Bulkhead needs, cluster-wide. Pods and StatefulSets are filtered to managed ones. */
export function managedPodsCache(kc: k8s.KubeConfig, onError?: (err: unknown) => void): ReadCache<k8s.V1Pod> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return informerCache(kc, "/api/v1/pods", () => core.listPodForAllNamespaces({ labelSelector: MANAGED }), MANAGED, onError);
}

export function managedStatefulSetsCache(kc: k8s.KubeConfig, onError?: (err: unknown) => void): ReadCache<k8s.V1StatefulSet> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  return informerCache(
    kc,
    "/apis/apps/v1/statefulsets",
    () => apps.listStatefulSetForAllNamespaces({ labelSelector: MANAGED }),
    MANAGED,
    onError,
  );
}

export function controllerRevisionsCache(kc: k8s.KubeConfig, onError?: (err: unknown) => void): ReadCache<k8s.V1ControllerRevision> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  return informerCache(kc, "/apis/apps/v1/controllerrevisions", () => apps.listControllerRevisionForAllNamespaces(), undefined, onError);
}

export function poddisruptionBudgetsCache(kc: k8s.KubeConfig, onError?: (err: unknown) => void): ReadCache<k8s.V1PodDisruptionBudget> {
  const policy = kc.makeApiClient(k8s.PolicyV1Api);
  return informerCache(kc, "/apis/policy/v1/poddisruptionbudgets", () => policy.listPodDisruptionBudgetForAllNamespaces(), undefined, onError);
}

/** StatefulsetRollouts as raw objects; callers parse them with api/rollout.ts parseRollout. */
export function rolloutsCache(kc: k8s.KubeConfig, onError?: (err: unknown) => void): ReadCache<k8s.KubernetesObject> {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const [group, version] = API_VERSION.split("/") as [string, string];
  return informerCache<k8s.KubernetesObject>(
    kc,
    `/apis/${API_VERSION}/${PLURAL}`,
    async () => (await custom.listClusterCustomObject({ group, version, plural: PLURAL })) as k8s.KubernetesListObject<k8s.KubernetesObject>,
    undefined,
    onError,
  );
}
