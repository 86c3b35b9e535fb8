// What the informer caches keep of each kind (adapters/kube/trim.ts): every field a decision reads
// survives, managedFields and the rest do not, and the received object is left as it was.
import { expect } from "chai";
import type * as k8s from "@kubernetes/client-node";
import { trimControllerRevision, trimPdb, trimPod, trimRollout, trimStatefulSet } from "../../adapters/kube/trim.js";
import { observePdb, observePod } from "../../api/observe.js";
import { guardPodOf } from "../../api/leak-guard.js";

const managedFields = [{ manager: "kube-controller-manager", operation: "Update", fieldsV1: { "f:status": {} } }];
const owner = {
  apiVersion: "apps/v1",
  kind: "StatefulSet",
  name: "web",
  uid: "sts-uid",
  controller: true,
  blockOwnerDeletion: true,
};
const lastApplied = { "kubectl.kubernetes.io/last-applied-configuration": '{"a":"very large copy"}' };

function fullPod(): k8s.V1Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "web-3",
      namespace: "shop",
      uid: "pod-uid",
      resourceVersion: "42",
      generateName: "web-",
      creationTimestamp: new Date("2026-11-30T10:00:00Z"),
      labels: { app: "web", "controller-revision-hash": "web-6c4d8f", "bulkhead.dev/managed": "true" },
      annotations: { "prometheus.io/scrape": "true" },
      ownerReferences: [owner],
      managedFields: managedFields as never,
    },
    spec: {
      nodeName: "node-1",
      containers: [{ name: "app", image: "registry.example/app:1", env: [{ name: "A", value: "x".repeat(1000) }] }],
      volumes: [{ name: "token", projected: { sources: [] } }],
    },
    status: {
      phase: "Running",
      podIP: "10.0.0.3",
      hostIP: "192.168.0.1",
      reason: "NodeLost",
      conditions: [
        { type: "Ready", status: "True", lastTransitionTime: new Date("2026-11-30T10:00:05Z") },
        { type: "DisruptionTarget", status: "True", reason: "DeletionByTaintManager", message: "taint" },
      ],
      containerStatuses: [
        {
          name: "app",
          image: "registry.example/app:1",
          imageID: "sha256:abc",
          ready: false,
          restartCount: 7,
          state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 5m0s restarting" } },
        },
      ],
      initContainerStatuses: [
        {
          name: "init",
          image: "i",
          imageID: "",
          ready: true,
          restartCount: 0,
          state: { terminated: { exitCode: 0 } },
        },
      ],
    },
  };
}

describe("trimming objects before they enter a cache", () => {
  describe("pods", () => {
    it("keeps what the leak guard and the reconciler read, and drops the rest", () => {
      const trimmed = trimPod(fullPod());
      expect(trimmed).to.deep.equal({
        metadata: {
          name: "web-3",
          namespace: "shop",
          uid: "pod-uid",
          resourceVersion: "42",
          creationTimestamp: new Date("2026-11-30T10:00:00Z"),
          labels: { app: "web", "controller-revision-hash": "web-6c4d8f", "bulkhead.dev/managed": "true" },
          ownerReferences: [
            { apiVersion: "apps/v1", kind: "StatefulSet", name: "web", uid: "sts-uid", controller: true },
          ],
        },
        spec: { nodeName: "node-1" },
        status: {
          phase: "Running",
          reason: "NodeLost",
          podIP: "10.0.0.3",
          conditions: [
            { type: "Ready", status: "True" },
            { type: "DisruptionTarget", status: "True", reason: "DeletionByTaintManager" },
          ],
          containerStatuses: [{ name: "app", state: { waiting: { reason: "CrashLoopBackOff" } } }],
          initContainerStatuses: [{ name: "init" }],
        },
      });
    });

    it("gives the decisions the same answers as the whole pod", () => {
      const pod = fullPod();
      expect(observePod(trimPod(pod), "web")).to.deep.equal(observePod(pod, "web"));
      expect(guardPodOf(JSON.parse(JSON.stringify(trimPod(pod))))).to.deep.equal(
        guardPodOf(JSON.parse(JSON.stringify(pod))),
      );
      const terminating = fullPod();
      terminating.metadata!.deletionTimestamp = new Date("2026-11-30T11:00:00Z");
      terminating.status = { phase: "Pending" };
      expect(observePod(trimPod(terminating), "web")).to.deep.equal(observePod(terminating, "web"));
    });

    it("is several times smaller than the pod as received", () => {
      const pod = fullPod();
      expect(JSON.stringify(trimPod(pod)).length * 3).to.be.below(JSON.stringify(pod).length);
    });

    it("handles a pod with nothing but a name, and leaves the received object unchanged", () => {
      expect(trimPod({ metadata: { name: "p" } })).to.deep.equal({ metadata: { name: "p" } });
      expect(trimPod({})).to.deep.equal({ metadata: {} });
      const pod = fullPod();
      const before = structuredClone(pod);
      trimPod(pod);
      expect(pod).to.deep.equal(before);
    });

    it("does not share arrays or maps with the received object", () => {
      const pod = fullPod();
      const trimmed = trimPod(pod);
      pod.metadata!.labels!.app = "changed";
      pod.metadata!.ownerReferences![0]!.name = "changed";
      expect(trimmed.metadata?.labels?.app).to.equal("web");
      expect(trimmed.metadata?.ownerReferences?.[0]?.name).to.equal("web");
    });
  });

  const table: Array<{ kind: string; input: object; trim: (o: never) => object; expected: object }> = [
    {
      kind: "StatefulSet: spec whole, revisions of the status, annotations without kubectl's copy",
      input: {
        metadata: {
          name: "web",
          namespace: "shop",
          uid: "u",
          generation: 4,
          resourceVersion: "9",
          labels: { "bulkhead.dev/managed": "true" },
          annotations: { ...lastApplied, "bulkhead.dev/max-unavailable": "10%" },
          ownerReferences: [{ ...owner, kind: "StatefulsetRollout", apiVersion: "bulkhead.dev/v1alpha1" }],
          managedFields,
        },
        spec: { replicas: 3, serviceName: "web", selector: {}, template: { spec: { containers: [] } } },
        status: {
          replicas: 3,
          readyReplicas: 3,
          observedGeneration: 4,
          updateRevision: "web-2",
          currentRevision: "web-1",
          conditions: [{ type: "x", status: "True" }],
        },
      },
      trim: trimStatefulSet as never,
      expected: {
        metadata: {
          name: "web",
          namespace: "shop",
          uid: "u",
          generation: 4,
          resourceVersion: "9",
          labels: { "bulkhead.dev/managed": "true" },
          annotations: { "bulkhead.dev/max-unavailable": "10%" },
          ownerReferences: [
            {
              apiVersion: "bulkhead.dev/v1alpha1",
              kind: "StatefulsetRollout",
              name: "web",
              uid: "sts-uid",
              controller: true,
            },
          ],
        },
        spec: { replicas: 3, serviceName: "web", selector: {}, template: { spec: { containers: [] } } },
        status: { replicas: 3, observedGeneration: 4, updateRevision: "web-2", currentRevision: "web-1" },
      },
    },
    {
      kind: "ControllerRevision: the stored template, its hash label and owners",
      input: {
        apiVersion: "apps/v1",
        kind: "ControllerRevision",
        metadata: {
          name: "web-1",
          namespace: "shop",
          labels: { "controller.kubernetes.io/hash": "1" },
          ownerReferences: [owner],
          managedFields,
        },
        data: { spec: { template: { $patch: "replace" } } },
        revision: 1,
      },
      trim: trimControllerRevision as never,
      expected: {
        metadata: {
          name: "web-1",
          namespace: "shop",
          labels: { "controller.kubernetes.io/hash": "1" },
          ownerReferences: [
            { apiVersion: "apps/v1", kind: "StatefulSet", name: "web", uid: "sts-uid", controller: true },
          ],
        },
        data: { spec: { template: { $patch: "replace" } } },
        revision: 1,
      },
    },
    {
      kind: "PDB: spec and the counts of its status",
      input: {
        metadata: {
          name: "web",
          namespace: "shop",
          generation: 2,
          labels: { "bulkhead.dev/rollout": "web" },
          managedFields,
        },
        spec: { maxUnavailable: "10%", selector: { matchLabels: { app: "web" } } },
        status: {
          currentHealthy: 9,
          desiredHealthy: 9,
          disruptionsAllowed: 1,
          expectedPods: 10,
          observedGeneration: 2,
          disruptedPods: { "web-1": new Date(0) },
          conditions: [],
        },
      },
      trim: trimPdb as never,
      expected: {
        metadata: { name: "web", namespace: "shop", generation: 2, labels: { "bulkhead.dev/rollout": "web" } },
        spec: { maxUnavailable: "10%", selector: { matchLabels: { app: "web" } } },
        status: {
          currentHealthy: 9,
          desiredHealthy: 9,
          disruptionsAllowed: 1,
          expectedPods: 10,
          observedGeneration: 2,
        },
      },
    },
    {
      kind: "StatefulsetRollout: the whole spec, the status but its pods (summary or older list), history and previous template",
      input: {
        apiVersion: "bulkhead.dev/v1alpha1",
        kind: "StatefulsetRollout",
        metadata: { name: "web", namespace: "shop", generation: 3, annotations: lastApplied, managedFields },
        spec: { percent: 50, statefulset: { spec: { template: {} } } },
        status: {
          phase: "Paused",
          paused: true,
          updatedOrdinals: [0, 1],
          pods: [{ name: "web-0", ordinal: 0, ready: true }],
          podSummary: { revisions: [{ revision: "r", ordinals: "0-1" }] },
          history: [{ toRevision: "r" }],
          previousTemplate: { spec: {} },
          templatePending: true,
        },
      },
      trim: trimRollout as never,
      expected: {
        apiVersion: "bulkhead.dev/v1alpha1",
        kind: "StatefulsetRollout",
        metadata: { name: "web", namespace: "shop", generation: 3 },
        spec: { percent: 50, statefulset: { spec: { template: {} } } },
        status: { phase: "Paused", paused: true, updatedOrdinals: [0, 1], templatePending: true },
      },
    },
  ];
  for (const row of table) {
    it(row.kind, () => {
      const input = structuredClone(row.input);
      expect(row.trim(input as never)).to.deep.equal(row.expected);
      expect(input, "the received object is not changed").to.deep.equal(row.input);
    });
  }

  it("a trimmed PDB is observed as the whole one", () => {
    const pdb = table[2]!.input as k8s.V1PodDisruptionBudget;
    expect(observePdb(trimPdb(pdb))).to.deep.equal(observePdb(pdb));
  });
});
