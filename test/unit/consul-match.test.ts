// The rule that ties Consul service instances to pods (adapters/consul/match.ts), table-driven.
import { expect } from "chai";
import {
  instanceBelongsToPod,
  podsPassingAll,
  toServiceInstance,
  type ServiceInstance,
} from "../../adapters/consul/match.js";
import type { PodIdentity } from "../../api/integrations.js";

const pod: PodIdentity = { name: "web-0", namespace: "shop", ip: "10.0.0.5" };

function inst(over: Partial<ServiceInstance>): ServiceInstance {
  return {
    node: "n1",
    nodeAddress: "192.168.1.1",
    serviceId: "web-0",
    serviceAddress: "10.0.0.5",
    meta: {},
    checkStatuses: ["passing"],
    ...over,
  };
}

describe("Consul instance matching", () => {
  const cases: Array<[string, ServiceInstance, PodIdentity, boolean]> = [
    ["service address equals the pod IP", inst({}), pod, true],
    ["service address differs", inst({ serviceAddress: "10.0.0.6" }), pod, false],
    [
      "empty service address falls back to the node address",
      inst({ serviceAddress: "", nodeAddress: "10.0.0.5" }),
      pod,
      true,
    ],
    ["empty service address, node address differs", inst({ serviceAddress: "" }), pod, false],
    ["pod without an IP matches nothing", inst({}), { name: "web-0", namespace: "shop" }, false],
    ["pod-name meta equal", inst({ meta: { "pod-name": "web-0" } }), pod, true],
    ["pod-name meta of another pod (reused IP)", inst({ meta: { "pod-name": "web-7" } }), pod, false],
    ["k8s-namespace meta of another namespace", inst({ meta: { "k8s-namespace": "other" } }), pod, false],
    ["k8s-namespace meta equal", inst({ meta: { "pod-name": "web-0", "k8s-namespace": "shop" } }), pod, true],
    [
      "pod-uid meta of the pod's predecessor (same name, reused IP)",
      inst({ meta: { "pod-name": "web-0", "pod-uid": "old" } }),
      { ...pod, uid: "new" },
      false,
    ],
    ["pod-uid meta equal", inst({ meta: { "pod-name": "web-0", "pod-uid": "new" } }), { ...pod, uid: "new" }, true],
    ["pod-uid meta, pod UID unknown: not compared", inst({ meta: { "pod-uid": "old" } }), pod, true],
  ];
  for (const [name, instance, p, want] of cases) {
    it(name, () => expect(instanceBelongsToPod(instance, p)).to.equal(want));
  }
});

describe("pods passing every service", () => {
  const pods: PodIdentity[] = [
    { name: "web-0", namespace: "shop", ip: "10.0.0.1" },
    { name: "web-1", namespace: "shop", ip: "10.0.0.2" },
    { name: "web-2", namespace: "shop", ip: "10.0.0.3" },
  ];
  const at = (ip: string, ...checkStatuses: string[]) => inst({ serviceAddress: ip, checkStatuses });
  const cases: Array<[string, string[], Record<string, ServiceInstance[]>, string[]]> = [
    [
      "all checks passing",
      ["a"],
      { a: [at("10.0.0.1", "passing", "passing"), at("10.0.0.2", "passing")] },
      ["web-0", "web-1"],
    ],
    ["one critical check fails the pod", ["a"], { a: [at("10.0.0.1", "passing", "critical")] }, []],
    ["warning is not passing", ["a"], { a: [at("10.0.0.1", "warning")] }, []],
    ["no instance for the pod", ["a"], { a: [at("10.0.0.9", "passing")] }, []],
    [
      "two instances of one pod: both must pass",
      ["a"],
      { a: [at("10.0.0.1", "passing"), at("10.0.0.1", "critical")] },
      [],
    ],
    [
      "must pass every service",
      ["a", "b"],
      { a: [at("10.0.0.1", "passing"), at("10.0.0.2", "passing")], b: [at("10.0.0.2", "passing")] },
      ["web-1"],
    ],
    ["a missing service means no pod passes", ["a", "b"], { a: [at("10.0.0.1", "passing")] }, []],
    ["no checks at all counts as passing", ["a"], { a: [at("10.0.0.3")] }, ["web-2"]],
  ];
  for (const [name, services, instances, want] of cases) {
    it(name, () => expect(podsPassingAll(services, new Map(Object.entries(instances)), pods)).to.deep.equal(want));
  }
});

describe("toServiceInstance", () => {
  it("reads a /v1/health/service entry", () => {
    const entry = {
      Node: { Node: "node-a", Address: "192.168.0.1" },
      Service: { ID: "web-0", Service: "web", Address: "10.0.0.1", Meta: { "pod-name": "web-0", n: 1 } },
      Checks: [{ Status: "passing" }, { Status: "critical" }],
    };
    expect(toServiceInstance(entry)).to.deep.equal({
      node: "node-a",
      nodeAddress: "192.168.0.1",
      serviceId: "web-0",
      serviceAddress: "10.0.0.1",
      meta: { "pod-name": "web-0" },
      checkStatuses: ["passing", "critical"],
    });
  });
  it("tolerates an entry with missing fields", () => {
    expect(toServiceInstance(null)).to.deep.equal({
      node: "",
      nodeAddress: "",
      serviceId: "",
      serviceAddress: "",
      meta: {},
      checkStatuses: [],
    });
  });
});
