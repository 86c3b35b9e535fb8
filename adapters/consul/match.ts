// Which Consul service instances belong to which pods, and which pods pass. Pure (no I/O), so the
// rule is tested table-driven; health-gate.ts feeds it what Consul returned.
//
// THE MATCHING RULE. A service instance belongs to pod P when
//   1. its address equals P's pod IP — the instance's Service.Address, or, when that is empty
//      (Consul's "use the node address"), its Node.Address. This is how consul-k8s and agents
//      running in the pod register, and it tells a replacement pod from the pod it replaced (a
//      StatefulSet pod keeps its name across recreation but gets a new IP); and
//   2. if the instance carries the consul-k8s metadata `pod-name` / `k8s-namespace` / `pod-uid`,
//      they equal P's name / namespace / UID. The UID matters most: a recreated StatefulSet pod
//      keeps its name and can get its predecessor's IP back (IPAM reuses freed addresses), and
//      the old pod's registration, still passing until it is removed, must not count for the
//      new pod. (The UID is compared when both sides have one.)
// A pod without an IP yet matches nothing. A pod PASSES a service when at least one instance
// belongs to it and every check of every instance that belongs to it is "passing" ("warning"
// counts as not passing, as with Consul's own ?passing filter); the checks include the node's
// checks (serfHealth), as /v1/health/service returns them. A pod passes the gate when it passes
// every service in spec.serviceDiscovery.serviceNames, so a service missing from Consul means no
// pod passes — which is why the report names the missing services separately.
import type { PodIdentity } from "../../api/integrations.js";

/** The fields of one /v1/health/service/:name entry that the rule reads. */
export interface ServiceInstance {
  node: string;
  nodeAddress: string;
  serviceId: string;
  serviceAddress: string;
  meta: Record<string, string>;
  /** Status of each check: the node's checks and the service's. */
  checkStatuses: string[];
}

/** Shapes a raw /v1/health/service entry; tolerant of missing fields (an old or odd agent). */
export function toServiceInstance(entry: unknown): ServiceInstance {
  const e = (entry ?? {}) as {
    Node?: { Node?: unknown; Address?: unknown };
    Service?: { ID?: unknown; Address?: unknown; Meta?: unknown };
    Checks?: unknown;
  };
  const str = (v: unknown): string => (typeof v === "string" ? v : "");
  const meta: Record<string, string> = {};
  if (e.Service?.Meta && typeof e.Service.Meta === "object") {
    for (const [k, v] of Object.entries(e.Service.Meta as Record<string, unknown>))
      if (typeof v === "string") meta[k] = v;
  }
  const checks = Array.isArray(e.Checks) ? e.Checks : [];
  return {
    node: str(e.Node?.Node),
    nodeAddress: str(e.Node?.Address),
    serviceId: str(e.Service?.ID),
    serviceAddress: str(e.Service?.Address),
    meta,
    checkStatuses: checks.map((c) => str((c as { Status?: unknown } | null)?.Status)),
  };
}

export function instanceAddress(instance: ServiceInstance): string {
  return instance.serviceAddress || instance.nodeAddress;
}

export function instanceBelongsToPod(instance: ServiceInstance, pod: PodIdentity): boolean {
  if (!pod.ip || instanceAddress(instance) !== pod.ip) return false;
  const podName = instance.meta["pod-name"];
  if (podName !== undefined && podName !== pod.name) return false;
  const namespace = instance.meta["k8s-namespace"];
  if (namespace !== undefined && namespace !== pod.namespace) return false;
  const uid = instance.meta["pod-uid"];
  if (uid !== undefined && pod.uid !== undefined && uid !== pod.uid) return false;
  return true;
}

export function instancePassing(instance: ServiceInstance): boolean {
  return instance.checkStatuses.every((s) => s === "passing");
}

/** Pods that pass one service: at least one instance of theirs, all of them passing. */
export function podsPassingService(instances: ServiceInstance[], pods: PodIdentity[]): Set<string> {
  const passing = new Set<string>();
  for (const pod of pods) {
    const own = instances.filter((i) => instanceBelongsToPod(i, pod));
    if (own.length > 0 && own.every(instancePassing)) passing.add(pod.name);
  }
  return passing;
}

/**
 * Pods that pass every named service. `instancesByService` has an entry for each service that
 * exists in Consul; a named service without an entry (missing) means no pod passes.
 */
export function podsPassingAll(
  serviceNames: string[],
  instancesByService: ReadonlyMap<string, ServiceInstance[]>,
  pods: PodIdentity[],
): string[] {
  let passing: Set<string> | undefined;
  for (const name of serviceNames) {
    const instances = instancesByService.get(name);
    if (!instances) return [];
    const forService = podsPassingService(instances, pods);
    passing = passing ? new Set([...passing].filter((p) => forService.has(p))) : forService;
  }
  // Keep the caller's pod order, so the report is stable.
  return pods.filter((p) => passing?.has(p.name)).map((p) => p.name);
}
