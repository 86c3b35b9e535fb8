// The real Cluster: the user's kubeconfig and context, as kubectl uses them.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { loadKubeConfig, makeClients } from "../adapters/kube/client.js";
import { GROUP, PLURAL, VERSION } from "../api/labels.js";
import { REVISION_LABEL } from "../api/labels.js";
import { kubeFeed } from "./dashboard/kube-feed.js";
import type { Cluster, ConnectionOptions, PodSummary, RolloutApi } from "./deps.js";

const MERGE_PATCH = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

/**
 * With no kubeconfig anywhere the client library quietly falls back to http://localhost:8080;
 * kubectl users expect to be told instead.
 */
function assertSomeKubeconfig(): void {
  const fromEnv = (process.env.KUBECONFIG ?? "").split(delimiter).filter((p) => p !== "");
  if (fromEnv.some((p) => existsSync(p))) return;
  if (fromEnv.length > 0) throw new Error(`KUBECONFIG names ${fromEnv.join(", ")}, and none of it exists`);
  if (existsSync(join(homedir(), ".kube", "config"))) return;
  if (process.env.KUBERNETES_SERVICE_HOST) return;
  throw new Error("no kubeconfig found: set KUBECONFIG, create ~/.kube/config, or pass --kubeconfig");
}

export function connectCluster(options: ConnectionOptions): Cluster {
  if (options.kubeconfig === undefined) assertSomeKubeconfig();
  else if (!existsSync(options.kubeconfig)) throw new Error(`${options.kubeconfig}: no such file`);
  const kc = loadKubeConfig(options.kubeconfig, options.context);
  const context = kc.getContextObject(kc.getCurrentContext());
  if (options.context !== undefined && !context) {
    throw new Error(
      `context "${options.context}" is not in the kubeconfig (contexts: ${
        kc
          .getContexts()
          .map((c) => c.name)
          .join(", ") || "none"
      })`,
    );
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("no current context: set one with kubectl config use-context, or pass --context");
  const clients = makeClients(kc);
  const base = { group: GROUP, version: VERSION, plural: PLURAL };
  const rollouts: RolloutApi = {
    get: (namespace, name) => clients.custom.getNamespacedCustomObject({ ...base, namespace, name }),
    async list(namespace) {
      const list = (
        namespace === undefined
          ? await clients.custom.listClusterCustomObject(base)
          : await clients.custom.listNamespacedCustomObject({ ...base, namespace })
      ) as { items?: unknown[] };
      return list.items ?? [];
    },
    patch: (namespace, name, body) =>
      clients.custom.patchNamespacedCustomObject({ ...base, namespace, name, body }, MERGE_PATCH),
    create: (namespace, body) => clients.custom.createNamespacedCustomObject({ ...base, namespace, body }),
    replace: (namespace, name, body) =>
      clients.custom.replaceNamespacedCustomObject({ ...base, namespace, name, body }),
    async listPods(namespace, matchLabels) {
      const labelSelector = Object.entries(matchLabels)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
      const pods = await clients.core.listNamespacedPod({ namespace, labelSelector });
      return pods.items.map(podSummary);
    },
  };
  return {
    defaultNamespace: context?.namespace ?? "default",
    clusterName: cluster.name,
    server: cluster.server,
    rollouts,
    watchDashboard: (namespace) => kubeFeed(kc, namespace),
  };
}

function podSummary(pod: k8s.V1Pod): PodSummary {
  const ready = pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
  const waiting = pod.status?.containerStatuses?.find((s) => s.state?.waiting?.reason)?.state?.waiting?.reason;
  const unschedulable = pod.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False")?.reason;
  const revision = pod.metadata?.labels?.[REVISION_LABEL];
  const reason = waiting ?? unschedulable;
  return {
    name: pod.metadata?.name ?? "",
    ...(revision !== undefined ? { revision } : {}),
    ready,
    phase: pod.metadata?.deletionTimestamp ? "Terminating" : (pod.status?.phase ?? "Unknown"),
    ...(reason !== undefined ? { reason } : {}),
  };
}
