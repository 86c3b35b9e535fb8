// Heap bytes per watched pod: a StatefulSet pod as the apiserver sends it (JSON from a watch; a
// KWOK pod with its managedFields) kept whole vs trimmed (adapters/kube/trim.ts), and trimmed plus
// the webhook view's owner index. Usage: node --expose-gc --import tsx bench/memory/per-pod.ts
import { PodsByOwner } from "../../adapters/kube/cluster-view.js";
import { trimPod } from "../../adapters/kube/trim.js";
const t = "2026-11-30T10:00:00Z";
function pod(i: number) {
  return JSON.parse(
    JSON.stringify({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: `mem-${i}`,
        generateName: "mem-",
        namespace: "mem-1234",
        uid: `0b6a${i}-5c1e-4d0a-9f3b-2a7c1e5d${i}`,
        resourceVersion: `${100000 + i}`,
        creationTimestamp: t,
        labels: {
          app: "mem",
          "apps.kubernetes.io/pod-index": `${i}`,
          "bulkhead.dev/managed": "true",
          "controller-revision-hash": "mem-6d4b9c7f8",
          "statefulset.kubernetes.io/pod-name": `mem-${i}`,
        },
        ownerReferences: [
          {
            apiVersion: "apps/v1",
            kind: "StatefulSet",
            name: "mem",
            uid: "7d2c4a1e-3b5f-4c6d-8e9f-0a1b2c3d4e5f",
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
        managedFields: [
          {
            manager: "kube-controller-manager",
            operation: "Update",
            apiVersion: "v1",
            time: t,
            fieldsType: "FieldsV1",
            fieldsV1: {
              "f:metadata": {
                "f:generateName": {},
                "f:labels": {
                  ".": {},
                  "f:app": {},
                  "f:apps.kubernetes.io/pod-index": {},
                  "f:bulkhead.dev/managed": {},
                  "f:controller-revision-hash": {},
                  "f:statefulset.kubernetes.io/pod-name": {},
                },
                "f:ownerReferences": { ".": {}, 'k:{"uid":"7d2c4a1e"}': {} },
              },
              "f:spec": {
                "f:containers": {
                  'k:{"name":"app"}': {
                    ".": {},
                    "f:image": {},
                    "f:imagePullPolicy": {},
                    "f:name": {},
                    "f:resources": {},
                    "f:terminationMessagePath": {},
                    "f:terminationMessagePolicy": {},
                  },
                },
                "f:dnsPolicy": {},
                "f:enableServiceLinks": {},
                "f:hostname": {},
                "f:restartPolicy": {},
                "f:schedulerName": {},
                "f:securityContext": {},
                "f:subdomain": {},
                "f:terminationGracePeriodSeconds": {},
              },
            },
          },
          {
            manager: "kwok",
            operation: "Update",
            apiVersion: "v1",
            time: t,
            fieldsType: "FieldsV1",
            subresource: "status",
            fieldsV1: {
              "f:status": {
                "f:conditions": {
                  'k:{"type":"ContainersReady"}': {
                    ".": {},
                    "f:lastProbeTime": {},
                    "f:lastTransitionTime": {},
                    "f:status": {},
                    "f:type": {},
                  },
                  'k:{"type":"Initialized"}': {
                    ".": {},
                    "f:lastProbeTime": {},
                    "f:lastTransitionTime": {},
                    "f:status": {},
                    "f:type": {},
                  },
                  'k:{"type":"Ready"}': {
                    ".": {},
                    "f:lastProbeTime": {},
                    "f:lastTransitionTime": {},
                    "f:status": {},
                    "f:type": {},
                  },
                },
                "f:containerStatuses": {},
                "f:hostIP": {},
                "f:phase": {},
                "f:podIP": {},
                "f:podIPs": {},
                "f:startTime": {},
              },
            },
          },
        ],
      },
      spec: {
        volumes: [
          {
            name: "kube-api-access-abcde",
            projected: {
              sources: [
                { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
                { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
                {
                  downwardAPI: {
                    items: [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }],
                  },
                },
              ],
              defaultMode: 420,
            },
          },
        ],
        containers: [
          {
            name: "app",
            image: "registry.example/mem:v1",
            resources: {},
            volumeMounts: [
              {
                name: "kube-api-access-abcde",
                readOnly: true,
                mountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
              },
            ],
            terminationMessagePath: "/dev/termination-log",
            terminationMessagePolicy: "File",
            imagePullPolicy: "IfNotPresent",
          },
        ],
        restartPolicy: "Always",
        terminationGracePeriodSeconds: 30,
        dnsPolicy: "ClusterFirst",
        serviceAccountName: "default",
        serviceAccount: "default",
        nodeName: `kwok-node-${i % 12}`,
        securityContext: {},
        hostname: `mem-${i}`,
        subdomain: "mem",
        schedulerName: "default-scheduler",
        tolerations: [
          { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
          { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
        ],
        priority: 0,
        enableServiceLinks: true,
        preemptionPolicy: "PreemptLowerPriority",
      },
      status: {
        phase: "Running",
        conditions: ["Initialized", "Ready", "ContainersReady", "PodScheduled"].map((type) => ({
          type,
          status: "True",
          lastProbeTime: null,
          lastTransitionTime: t,
        })),
        hostIP: "10.0.0.1",
        hostIPs: [{ ip: "10.0.0.1" }],
        podIP: `10.244.${i >> 8}.${i & 255}`,
        podIPs: [{ ip: `10.244.${i >> 8}.${i & 255}` }],
        startTime: t,
        containerStatuses: [
          {
            name: "app",
            state: { running: { startedAt: t } },
            lastState: {},
            ready: true,
            restartCount: 0,
            image: "registry.example/mem:v1",
            imageID: "",
            started: true,
          },
        ],
        qosClass: "BestEffort",
      },
    }),
  );
}
const N = 10_000;
const gc = (globalThis as { gc?: () => void }).gc!;
function measure(make: (i: number) => unknown): number {
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept: unknown[] = [];
  for (let i = 0; i < N; i++) kept.push(make(i));
  gc();
  gc();
  const bytes = (process.memoryUsage().heapUsed - before) / N;
  if (kept.length !== N) throw new Error();
  return bytes;
}
const whole = measure(pod);
const trimmed = measure((i) => trimPod(pod(i)));
console.log(`JSON ${JSON.stringify(pod(1)).length} B whole, ${JSON.stringify(trimPod(pod(1))).length} B trimmed`);
console.log(`heap per cached pod: whole ${Math.round(whole)} B, trimmed ${Math.round(trimmed)} B`);
{
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const map = new Map<string, unknown>();
  const index = new PodsByOwner();
  for (let i = 0; i < N; i++) {
    const p = trimPod(pod(i));
    map.set(`mem-${i}`, p);
    index.apply(p, "add");
  }
  gc();
  gc();
  console.log(
    `per watched pod in the webhook (trimmed, keyed, indexed by owner): ${Math.round((process.memoryUsage().heapUsed - before) / N)} B (${map.size})`,
  );
}
