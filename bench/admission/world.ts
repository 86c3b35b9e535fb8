// A synthetic cluster for the admission benchmark: one managed StatefulSet of N pods, half moved
// to the update revision by a rollout held at 50% (the leak guard's expensive "split" path), in
// read caches shaped like the informer caches (objects trimmed as they are), behind the webhook's
// one view of the cluster.
import type * as k8s from "@kubernetes/client-node";
import type { ReadCache } from "../../adapters/kube/cache.js";
import { clusterView, type ClusterView } from "../../adapters/kube/cluster-view.js";
import { trimPod } from "../../adapters/kube/trim.js";

class MemoryCache<T extends { metadata?: { name?: string; namespace?: string } }> implements ReadCache<T> {
  private readonly byNamespace = new Map<string, T[]>();
  private readonly byKey = new Map<string, T>();
  constructor(items: T[]) {
    for (const item of items) {
      const ns = item.metadata?.namespace ?? "";
      this.byKey.set(`${ns}/${item.metadata?.name}`, item);
      this.byNamespace.set(ns, [...(this.byNamespace.get(ns) ?? []), item]);
    }
  }
  get(namespace: string, name: string) {
    return this.byKey.get(`${namespace}/${name}`);
  }
  list(namespace?: string): readonly T[] {
    return namespace === undefined ? [...this.byKey.values()] : (this.byNamespace.get(namespace) ?? []);
  }
  readonly synced = Promise.resolve();
  isSynced() {
    return true;
  }
  onChange() {}
  async stop() {}
}

export const NAMESPACE = "bench";
export const STS = "web";
export const OLD = "web-6d5f8c7b9";
export const NEW = "web-7f9c4d2a1";

export function syntheticView(pods: number): ClusterView {
  const labels = { app: STS, "bulkhead.dev/managed": "true" };
  const template = { metadata: { labels }, spec: { containers: [{ name: "app", image: "registry.example/web:2" }] } };
  const rollout = {
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: { name: STS, namespace: NAMESPACE, uid: "rollout-uid" },
    spec: {
      statefulset: {
        metadata: { name: STS },
        spec: { replicas: pods, selector: { matchLabels: { app: STS } }, template },
      },
      percent: 50,
      channel: "#deploys",
    },
    status: { phase: "Progressing", percentDeployed: 50, currentRevision: OLD, updateRevision: NEW },
  };
  const sts: k8s.V1StatefulSet = {
    metadata: {
      name: STS,
      namespace: NAMESPACE,
      uid: "sts-uid",
      labels,
      ownerReferences: [
        {
          apiVersion: "bulkhead.dev/v1alpha1",
          kind: "StatefulsetRollout",
          name: STS,
          uid: "rollout-uid",
          controller: true,
        },
      ],
    },
    spec: {
      replicas: pods,
      serviceName: STS,
      selector: { matchLabels: { app: STS } },
      template,
      updateStrategy: { type: "OnDelete" },
    },
    status: { replicas: pods, currentRevision: OLD, updateRevision: NEW },
  };
  const podList: k8s.V1Pod[] = Array.from({ length: pods }, (_, i) => ({
    metadata: {
      name: `${STS}-${i}`,
      namespace: NAMESPACE,
      labels: {
        ...labels,
        "controller-revision-hash": i < pods / 2 ? NEW : OLD,
        "statefulset.kubernetes.io/pod-name": `${STS}-${i}`,
      },
      ownerReferences: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: STS, uid: "sts-uid", controller: true }],
    },
    spec: { nodeName: `node-${i % 10}`, containers: [{ name: "app", image: "registry.example/web:1" }] },
    status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
  }));
  return clusterView({
    pods: new MemoryCache(podList.map((p) => trimPod(p as k8s.V1Pod))),
    statefulSets: new MemoryCache([sts as k8s.V1StatefulSet]),
    rollouts: new MemoryCache([rollout as k8s.KubernetesObject]),
    controllerRevisions: new MemoryCache<k8s.V1ControllerRevision>([]),
  });
}

/** An AdmissionReview as the apiserver sends it for `kubectl drain` evicting one pod. */
export function evictionReview(pod: string, dryRun = false): string {
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "5f3c1e2a-9b7d-4c1e-8f2a-0d6b3c9e7a41",
      kind: { group: "policy", version: "v1", kind: "Eviction" },
      resource: { group: "", version: "v1", resource: "pods" },
      subResource: "eviction",
      requestKind: { group: "policy", version: "v1", kind: "Eviction" },
      requestResource: { group: "", version: "v1", resource: "pods" },
      requestSubResource: "eviction",
      name: pod,
      namespace: NAMESPACE,
      operation: "CREATE",
      userInfo: { username: "alice", uid: "u-alice", groups: ["system:authenticated", "sre"] },
      object: {
        kind: "Eviction",
        apiVersion: "policy/v1",
        metadata: { name: pod, namespace: NAMESPACE, creationTimestamp: null },
        deleteOptions: { kind: "DeleteOptions", apiVersion: "v1", ...(dryRun ? { dryRun: ["All"] } : {}) },
      },
      oldObject: null,
      dryRun,
      options: { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1" },
    },
  });
}

/** A StatefulSet UPDATE review (template unchanged), for /validate/statefulset. */
export function statefulSetReview(view: ClusterView): string {
  const sts = view.statefulSet(NAMESPACE, STS)!;
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "0a4d2c9e-1b3f-4e5a-8c7d-6f2e1a9b3c50",
      kind: { group: "apps", version: "v1", kind: "StatefulSet" },
      resource: { group: "apps", version: "v1", resource: "statefulsets" },
      name: STS,
      namespace: NAMESPACE,
      operation: "UPDATE",
      userInfo: { username: "alice" },
      object: { ...sts, spec: { ...sts.spec, replicas: 12 } },
      oldObject: sts,
      dryRun: false,
    },
  });
}
