// The /mutate/pod handler with fake caches and AdmissionReview JSON as kube-apiserver sends it
// for a pod the StatefulSet controller creates (defaulted, with the ServiceAccount admission
// plugin's token volume already added).
import { expect } from "chai";
import fjp from "fast-json-patch";
import { pino } from "pino";
import { Registry } from "prom-client";
import type * as k8s from "@kubernetes/client-node";
import type { AdmissionRequest, AdmissionReview } from "../../api/admission.js";
import type { EventRecorder, EventType, ObjectRef } from "../../adapters/kube/events.js";
import { delayedCache } from "../../adapters/kube/delayed-cache.js";
import { FakeClock } from "../support/fake-clock.js";
import type { ReadCache, WatchedCache } from "../../adapters/kube/cache.js";
import { clusterView } from "../../adapters/kube/cluster-view.js";
import {
  createPodPinningHandler,
  podPinningMetrics,
  type LiveRevisionReader,
  type PinningAlert,
} from "../../webhook/pinning/index.js";

const NS = "shop";

class FakeCache<T extends { metadata?: { name?: string; namespace?: string } }> implements ReadCache<T> {
  readonly synced = Promise.resolve();
  constructor(
    private items: T[] = [],
    private syncedNow = true,
  ) {}
  onChange(): void {}
  async stop(): Promise<void> {}
  get(namespace: string, name: string): T | undefined {
    return this.items.find((i) => i.metadata?.namespace === namespace && i.metadata?.name === name);
  }
  list(namespace?: string): readonly T[] {
    return this.items.filter((i) => namespace === undefined || i.metadata?.namespace === namespace);
  }
  isSynced(): boolean {
    return this.syncedNow;
  }
  remove(name: string): void {
    this.items = this.items.filter((i) => i.metadata?.name !== name);
  }
}

const container = (image: string, env: string) => ({
  name: "app",
  image,
  env: [{ name: "COLOR", value: env }],
  resources: { requests: { cpu: "100m" } },
  volumeMounts: [{ name: "data", mountPath: "/data" }],
  terminationMessagePath: "/dev/termination-log",
  terminationMessagePolicy: "File",
  imagePullPolicy: "IfNotPresent",
});

const template = (image: string, env: string) => ({
  metadata: { creationTimestamp: null, labels: { app: "web", "bulkhead.dev/managed": "true" } },
  spec: {
    containers: [container(image, env)],
    restartPolicy: "Always",
    terminationGracePeriodSeconds: 30,
    dnsPolicy: "ClusterFirst",
    securityContext: {},
    schedulerName: "default-scheduler",
  },
});

const OLD = template("registry.example/app:v1", "blue");
const NEW = template("registry.example/app:v2", "green");

const revision = (name: string, tpl: unknown, number: number): k8s.V1ControllerRevision => ({
  apiVersion: "apps/v1",
  kind: "ControllerRevision",
  metadata: {
    name,
    namespace: NS,
    labels: { app: "web", "controller.kubernetes.io/hash": name.slice("web-".length) },
    ownerReferences: [
      {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        name: "web",
        uid: "sts-uid",
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  },
  data: { spec: { template: { ...(tpl as object), $patch: "replace" } } },
  revision: number,
});

const statefulSet: k8s.V1StatefulSet = {
  apiVersion: "apps/v1",
  kind: "StatefulSet",
  metadata: {
    name: "web",
    namespace: NS,
    uid: "sts-uid",
    labels: { "bulkhead.dev/managed": "true" },
    ownerReferences: [
      {
        apiVersion: "bulkhead.dev/v1alpha1",
        kind: "StatefulsetRollout",
        name: "web",
        uid: "rollout-uid",
        controller: true,
      },
    ],
  },
  spec: {
    replicas: 8,
    serviceName: "web",
    selector: { matchLabels: { app: "web" } },
    template: NEW as unknown as k8s.V1PodTemplateSpec,
    volumeClaimTemplates: [
      {
        metadata: { name: "data" },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      },
    ],
    updateStrategy: { type: "OnDelete" },
  },
  status: { replicas: 8, currentRevision: "web-6d4b9c7f8", updateRevision: "web-58f7d9c6b4" },
};

const rolloutObject = (status: Record<string, unknown>, spec: Record<string, unknown> = {}) => ({
  apiVersion: "bulkhead.dev/v1alpha1",
  kind: "StatefulsetRollout",
  metadata: { name: "web", namespace: NS, uid: "rollout-uid" },
  spec: {
    statefulset: {
      metadata: { name: "web" },
      spec: { replicas: 8, selector: { matchLabels: { app: "web" } }, template: NEW },
    },
    percent: 50,
    leakProtection: "pin",
    channel: "#web-deploys",
    ...spec,
  },
  status: {
    currentRevision: "web-6d4b9c7f8",
    updateRevision: "web-58f7d9c6b4",
    updatedOrdinals: [7, 6, 5, 4],
    phase: "Paused",
    ...status,
  },
});

/** The pod create kube-apiserver sends to a mutating webhook, for ordinal `ordinal` on `rev`. */
function podCreateReview(
  ordinal: number,
  rev: string,
  tpl: typeof NEW,
  dryRun = false,
): AdmissionReview<AdmissionRequest> {
  const name = `web-${ordinal}`;
  const pod = {
    kind: "Pod",
    apiVersion: "v1",
    metadata: {
      name,
      generateName: "web-",
      namespace: NS,
      creationTimestamp: null,
      labels: {
        ...tpl.metadata.labels,
        "controller-revision-hash": rev,
        "statefulset.kubernetes.io/pod-name": name,
        "apps.kubernetes.io/pod-index": String(ordinal),
      },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "StatefulSet",
          name: "web",
          uid: "sts-uid",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: [
        { manager: "kube-controller-manager", operation: "Update", apiVersion: "v1", fieldsType: "FieldsV1" },
      ],
    },
    spec: {
      volumes: [
        { name: "data", persistentVolumeClaim: { claimName: `data-${name}` } },
        {
          name: "kube-api-access-x7k2q",
          projected: {
            sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: "token" } }],
            defaultMode: 420,
          },
        },
      ],
      containers: tpl.spec.containers.map((c) => ({
        ...c,
        volumeMounts: [
          ...c.volumeMounts,
          { name: "kube-api-access-x7k2q", readOnly: true, mountPath: "/var/run/secrets/kubernetes.io/serviceaccount" },
        ],
      })),
      restartPolicy: "Always",
      terminationGracePeriodSeconds: 30,
      dnsPolicy: "ClusterFirst",
      serviceAccountName: "default",
      serviceAccount: "default",
      securityContext: {},
      hostname: name,
      subdomain: "web",
      schedulerName: "default-scheduler",
      tolerations: [
        { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
        { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
      ],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: "PreemptLowerPriority",
    },
    status: {},
  };
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: `uid-${ordinal}-${rev}`,
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      requestKind: { group: "", version: "v1", kind: "Pod" },
      requestResource: { group: "", version: "v1", resource: "pods" },
      name,
      namespace: NS,
      operation: "CREATE",
      userInfo: {
        username: "system:serviceaccount:kube-system:statefulset-controller",
        groups: ["system:serviceaccounts", "system:authenticated"],
      },
      object: pod,
      oldObject: null,
      dryRun,
      options: { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1" },
    },
  };
}

interface Recorded {
  ref: ObjectRef;
  type: EventType;
  reason: string;
  note: string;
}

interface SetupOptions {
  synced?: boolean;
  revisions?: k8s.V1ControllerRevision[];
  /** The rollout as the apiserver has it now; default: what the cache holds (a cache that is current). */
  live?: () => unknown;
  /** The rollout cache; default: a cache holding `rollout`. */
  rollouts?: ReadCache<k8s.KubernetesObject>;
  /** Live reads of revisions the cache does not hold; default: none. */
  liveRevisions?: LiveRevisionReader;
  statefulSet?: k8s.V1StatefulSet;
  /** The handler's clock (timeouts, the live-read wait metric); default: the system clock. */
  clock?: FakeClock;
  /** The live reads' gathering window; default 0 (each read sent at once). */
  liveReadGatherMs?: number;
}

function setup(rollout: unknown = rolloutObject({}), opts: SetupOptions = {}) {
  const events: Recorded[] = [];
  const alerts: PinningAlert[] = [];
  const recorder: EventRecorder = {
    record: async (ref, type, reason, note) => {
      events.push({ ref, type, reason, note });
    },
  };
  const registry = new Registry();
  const revisions = new FakeCache(
    opts.revisions ?? [revision("web-6d4b9c7f8", OLD, 1), revision("web-58f7d9c6b4", NEW, 2)],
    opts.synced ?? true,
  );
  const rollouts = opts.rollouts ?? new FakeCache([rollout as k8s.KubernetesObject], opts.synced ?? true);
  const liveReads: string[] = [];
  const handler = createPodPinningHandler({
    view: clusterView({
      pods: new FakeCache(),
      statefulSets: new FakeCache([opts.statefulSet ?? statefulSet], opts.synced ?? true),
      rollouts,
      controllerRevisions: revisions,
    }),
    ...(opts.liveRevisions ? { liveRevisions: opts.liveRevisions } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    // Each create's read is sent at once here; the gathering window has its own tests
    // (test/unit/pinning-live-reads.test.ts).
    liveReadGatherMs: opts.liveReadGatherMs ?? 0,
    liveRollouts: {
      get: async (namespace, name) => {
        liveReads.push(`${namespace}/${name}`);
        return opts.live ? opts.live() : rollouts.get(namespace, name);
      },
    },
    events: recorder,
    defaultLeakProtection: "enforce",
    logger: pino({ level: "silent" }),
    alerts: { alert: (a) => void alerts.push(a) },
    metrics: podPinningMetrics(registry),
  });
  // Through JSON, as the server would parse the request body.
  const call = (review: AdmissionReview<AdmissionRequest>) =>
    handler(JSON.parse(JSON.stringify(review.request)) as AdmissionRequest);
  const metric = async (outcome: string, reason: string): Promise<number> => {
    const m = await registry.getSingleMetric("bulkhead_pod_pinning_total")?.get();
    return m?.values.find((v) => v.labels.outcome === outcome && v.labels.reason === reason)?.value ?? 0;
  };
  const liveReadsCounted = async (result: string): Promise<number> => {
    const m = await registry.getSingleMetric("bulkhead_pod_pinning_live_reads_total")?.get();
    return m?.values.find((v) => v.labels.result === result)?.value ?? 0;
  };
  const liveReadWait = async (): Promise<{ count: number; sum: number; buckets: Record<string, number> }> => {
    const m = await registry.getSingleMetric("bulkhead_pod_pinning_live_read_wait_seconds")?.get();
    // A histogram's values name their series (_bucket, _sum, _count).
    const values = (m?.values ?? []) as Array<{ metricName?: string; labels: { le?: string | number }; value: number }>;
    const value = (name: string) => values.find((v) => v.metricName === name)?.value ?? 0;
    const buckets: Record<string, number> = {};
    for (const v of values) if (v.metricName?.endsWith("_bucket")) buckets[String(v.labels.le)] = v.value;
    return {
      count: value("bulkhead_pod_pinning_live_read_wait_seconds_count"),
      sum: value("bulkhead_pod_pinning_live_read_wait_seconds_sum"),
      buckets,
    };
  };
  return { call, events, alerts, metric, revisions, liveReads, liveReadsCounted, liveReadWait };
}

const tick = () => new Promise((r) => setImmediate(r));

interface PodView {
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    containers: [{ image: string; env: unknown; volumeMounts: unknown[] }];
    volumes: Array<{ name: string }>;
    hostname: string;
    subdomain: string;
    tolerations: unknown[];
  };
}

function applyResponsePatch(review: AdmissionReview<AdmissionRequest>, patch: string | undefined): PodView {
  const ops = JSON.parse(Buffer.from(patch ?? "", "base64").toString("utf8")) as fjp.Operation[];
  return fjp.applyPatch(structuredClone(review.request!.object), ops, true, false).newDocument as PodView;
}

describe("/mutate/pod revision pinning handler", () => {
  it("rewrites a pod of an ordinal the rollout has not moved to the old revision", async () => {
    const { call, events, metric } = setup();
    const review = podCreateReview(2, "web-58f7d9c6b4", NEW);
    const response = await call(review);
    expect(response).to.include({ allowed: true, patchType: "JSONPatch" });
    const pod = applyResponsePatch(review, response.patch);
    expect(pod.metadata.labels["controller-revision-hash"]).to.equal("web-6d4b9c7f8");
    expect(pod.spec.containers[0].image).to.equal("registry.example/app:v1");
    expect(pod.spec.containers[0].env).to.deep.equal([{ name: "COLOR", value: "blue" }]);
    // Identity, storage and what admission added are kept.
    expect(pod.metadata.name).to.equal("web-2");
    expect(pod.metadata.labels["statefulset.kubernetes.io/pod-name"]).to.equal("web-2");
    expect(pod.metadata.labels["apps.kubernetes.io/pod-index"]).to.equal("2");
    expect(pod.spec.hostname).to.equal("web-2");
    expect(pod.spec.subdomain).to.equal("web");
    expect(pod.spec.volumes.map((v) => v.name)).to.deep.equal(["data", "kube-api-access-x7k2q"]);
    expect(pod.spec.containers[0].volumeMounts).to.have.length(2);
    expect(pod.spec.tolerations).to.have.length(2);
    const ops = JSON.parse(Buffer.from(response.patch!, "base64").toString()) as fjp.Operation[];
    expect(ops.map((o) => o.path).sort()).to.deep.equal([
      "/metadata/labels/controller-revision-hash",
      "/spec/containers/0/env/0/value",
      "/spec/containers/0/image",
    ]);
    await tick();
    expect(events).to.have.length(1);
    expect(events[0]).to.deep.include({ type: "Normal", reason: "PodPinned" });
    expect(events[0]!.ref).to.deep.include({
      kind: "StatefulsetRollout",
      name: "web",
      namespace: NS,
      uid: "rollout-uid",
    });
    expect(await metric("pinned", "not-moved")).to.equal(1);
  });

  it('pins in every mode but "off", where the pod is created as the StatefulSet controller made it', async () => {
    for (const mode of ["enforce", "flag", "pin"]) {
      const { call } = setup(rolloutObject({}, { leakProtection: mode }));
      const response = await call(podCreateReview(2, "web-58f7d9c6b4", NEW));
      expect(response.patch, mode).to.be.a("string");
    }
    const { call, events, metric } = setup(rolloutObject({}, { leakProtection: "off" }));
    const response = await call(podCreateReview(2, "web-58f7d9c6b4", NEW));
    expect(response).to.deep.equal({ allowed: true });
    await tick();
    expect(events).to.have.length(0);
    expect(await metric("not-pinned", "protection-off")).to.equal(1);
  });

  it("lets a moved ordinal be created on the update revision (no patch)", async () => {
    const { call, events, metric } = setup();
    const response = await call(podCreateReview(6, "web-58f7d9c6b4", NEW));
    expect(response).to.deep.equal({ allowed: true });
    await tick();
    expect(events).to.have.length(0);
    expect(await metric("not-pinned", "moved")).to.equal(1);
  });

  it("pins a moved ordinal above a lowered percent (percent down)", async () => {
    const { call } = setup(rolloutObject({}, { percent: 25 }));
    const review = podCreateReview(5, "web-58f7d9c6b4", NEW);
    const pod = applyResponsePatch(review, (await call(review)).patch);
    expect(pod.metadata.labels["controller-revision-hash"]).to.equal("web-6d4b9c7f8");
  });

  it("gives no patch for a pod already on the old revision (reinvocation, or the controller pinned it)", async () => {
    const { call, metric } = setup();
    const response = await call(podCreateReview(2, "web-6d4b9c7f8", OLD));
    expect(response).to.deep.equal({ allowed: true });
    expect(await metric("unchanged", "already-pinned")).to.equal(1);
  });

  it("is idempotent: the rewritten pod, admitted again, is left alone", async () => {
    const { call } = setup();
    const review = podCreateReview(1, "web-58f7d9c6b4", NEW);
    const pod = applyResponsePatch(review, (await call(review)).patch);
    const again = { ...review, request: { ...review.request!, object: pod } };
    expect(await call(again)).to.deep.equal({ allowed: true });
  });

  it("allows unchanged when the rollout is done at 100%", async () => {
    const { call } = setup(rolloutObject({ phase: "RolloutDone" }, { percent: 100 }));
    expect(await call(podCreateReview(0, "web-58f7d9c6b4", NEW))).to.deep.equal({
      allowed: true,
    });
  });

  it("allows unchanged when the StatefulSet is not cached (fail open)", async () => {
    const { call, metric } = setup();
    const review = podCreateReview(2, "web-58f7d9c6b4", NEW);
    (
      review.request!.object as { metadata: { ownerReferences: Array<{ name: string }> } }
    ).metadata.ownerReferences[0]!.name = "other";
    expect(await call(review)).to.deep.equal({ allowed: true });
    expect(await metric("fail-safe", "statefulset-not-found")).to.equal(1);
  });

  it("allows unchanged when the rollout is not cached (fail open)", async () => {
    const { call, metric } = setup({ ...rolloutObject({}), metadata: { name: "someone-else", namespace: NS } });
    expect(await call(podCreateReview(2, "web-58f7d9c6b4", NEW))).to.deep.equal({
      allowed: true,
    });
    expect(await metric("fail-safe", "rollout-not-found")).to.equal(1);
  });

  it("allows unchanged when the rollout does not parse (fail open)", async () => {
    const { call, metric } = setup(rolloutObject({}, { percent: 150 }));
    expect(await call(podCreateReview(2, "web-58f7d9c6b4", NEW))).to.deep.equal({
      allowed: true,
    });
    expect(await metric("fail-safe", "rollout-invalid")).to.equal(1);
  });

  it("allows unchanged while the caches are loading (fail open)", async () => {
    const { call, metric } = setup(rolloutObject({}), { synced: false });
    expect(await call(podCreateReview(2, "web-58f7d9c6b4", NEW))).to.deep.equal({
      allowed: true,
    });
    expect(await metric("fail-safe", "caches-not-synced")).to.equal(1);
  });

  it("does not guess when the pod's revision is unknown to the rollout (status behind)", async () => {
    const { call, metric } = setup();
    expect(await call(podCreateReview(2, "web-7777777777", NEW))).to.deep.equal({
      allowed: true,
    });
    expect(await metric("fail-safe", "revision-unknown")).to.equal(1);
  });

  it("old revision gone: allows unchanged with a warning, a Warning Event on the rollout and an alert", async () => {
    const { call, events, alerts, metric } = setup(rolloutObject({}), {
      revisions: [revision("web-58f7d9c6b4", NEW, 2)],
    });
    const response = await call(podCreateReview(3, "web-58f7d9c6b4", NEW));
    expect(response).to.include({ allowed: true });
    expect(response.patch).to.equal(undefined);
    expect(response.warnings?.[0]).to.match(/web-3 should run revision web-6d4b9c7f8.*is gone/);
    await tick();
    expect(events.map((e) => [e.type, e.reason])).to.deep.equal([["Warning", "RevisionMissing"]]);
    expect(alerts).to.have.length(1);
    expect(alerts[0]).to.include({
      namespace: NS,
      rollout: "web",
      channel: "#web-deploys",
      pod: "web-3",
      reason: "revision-missing",
      wantedRevision: "web-6d4b9c7f8",
    });
    expect(await metric("pin-failed", "revision-missing")).to.equal(1);
  });

  it("reads live an old revision the cache does not hold (made before the StatefulSet was managed)", async () => {
    const old = revision("web-6d4b9c7f8", OLD, 1);
    const reads: string[] = [];
    const { call, metric } = setup(rolloutObject({}), {
      revisions: [revision("web-58f7d9c6b4", NEW, 2)],
      liveRevisions: {
        get: async (namespace, name) => {
          reads.push(`${namespace}/${name}`);
          return name === "web-6d4b9c7f8" ? old : undefined;
        },
      },
    });
    const review = podCreateReview(3, "web-58f7d9c6b4", NEW);
    const pod = applyResponsePatch(review, (await call(review)).patch);
    expect(pod.metadata.labels["controller-revision-hash"]).to.equal("web-6d4b9c7f8");
    expect(pod.spec.containers[0].image).to.equal("registry.example/app:v1");
    expect(reads).to.deep.equal([`${NS}/web-6d4b9c7f8`]);
    expect(await metric("pinned", "not-moved")).to.equal(1);
  });

  it("a live revision read that fails counts as the revision missing: allowed unchanged, loudly", async () => {
    const { call, metric } = setup(rolloutObject({}), {
      revisions: [revision("web-58f7d9c6b4", NEW, 2)],
      liveRevisions: {
        get: async () => {
          throw new Error("connection refused");
        },
      },
    });
    const response = await call(podCreateReview(3, "web-58f7d9c6b4", NEW));
    expect(response).to.include({ allowed: true });
    expect(response.patch).to.equal(undefined);
    expect(response.warnings?.[0]).to.match(/not cached and cannot be read \(connection refused\)/);
    expect(await metric("pin-failed", "revision-missing")).to.equal(1);
  });

  it("finds the old revision by its bare hash as well as by name", async () => {
    const { call } = setup(rolloutObject({ currentRevision: "6d4b9c7f8" }));
    const review = podCreateReview(2, "web-58f7d9c6b4", NEW);
    const pod = applyResponsePatch(review, (await call(review)).patch);
    expect(pod.metadata.labels["controller-revision-hash"]).to.equal("6d4b9c7f8");
    expect(pod.spec.containers[0].image).to.equal("registry.example/app:v1");
  });

  it("dry run: decides and patches, but records no Event, alert or metric", async () => {
    const { call, events, metric } = setup();
    const review = podCreateReview(2, "web-58f7d9c6b4", NEW, true);
    const response = await call(review);
    expect(response.patchType).to.equal("JSONPatch");
    await tick();
    expect(events).to.have.length(0);
    expect(await metric("pinned", "not-moved")).to.equal(0);
  });

  it("answers a request that is not a pod create with a warning, never an error", async () => {
    const { call } = setup();
    const review = podCreateReview(2, "web-58f7d9c6b4", NEW);
    const response = await call({ ...review, request: { ...review.request!, operation: "DELETE", object: null } });
    expect(response.allowed).to.equal(true);
    expect(response.warnings?.[0]).to.match(/only pins pod creates/);
  });

  it("treats a malformed pod object without throwing", async () => {
    const { call } = setup();
    const review = podCreateReview(2, "web-58f7d9c6b4", NEW);
    const response = await call({ ...review, request: { ...review.request!, object: { metadata: "x", spec: 7 } } });
    expect(response).to.include({ allowed: true });
  });
});

/** A rollout cache whose content the test sets, with change listeners (for delayedCache). */
class WatchedRolloutCache implements WatchedCache<k8s.KubernetesObject> {
  private readonly items = new Map<string, k8s.KubernetesObject>();
  private readonly listeners: Array<(obj: k8s.KubernetesObject, event: "add" | "update" | "delete") => void> = [];
  readonly synced = Promise.resolve();
  hasLoaded = (): boolean => true;
  stalenessMs = (): number => 0;
  set(obj: k8s.KubernetesObject): void {
    const key = `${obj.metadata?.namespace}/${obj.metadata?.name}`;
    const event = this.items.has(key) ? "update" : "add";
    this.items.set(key, obj);
    this.listeners.forEach((l) => l(obj, event));
  }
  get(namespace: string, name: string): k8s.KubernetesObject | undefined {
    return this.items.get(`${namespace}/${name}`);
  }
  list(namespace?: string): readonly k8s.KubernetesObject[] {
    return [...this.items.values()].filter((o) => namespace === undefined || o.metadata?.namespace === namespace);
  }
  isSynced(): boolean {
    return true;
  }
  onChange(listener: (obj: k8s.KubernetesObject, event: "add" | "update" | "delete") => void): void {
    this.listeners.push(listener);
  }
  async stop(): Promise<void> {}
}

describe("/mutate/pod when the rollout cache lags the reconciler (no timing assumption)", () => {
  const NEW_REV = "web-58f7d9c6b4";
  const OLD_REV = "web-6d4b9c7f8";
  const revisionOf = (review: AdmissionReview<AdmissionRequest>, patch: string | undefined): string =>
    patch ? applyResponsePatch(review, patch).metadata.labels["controller-revision-hash"]! : NEW_REV;

  it("a wave the cache does not show yet: its pods come up new (confirmed by one live read each)", async () => {
    const cached = rolloutObject({ phase: "Progressing" }, { percent: 100 });
    const live = rolloutObject({ phase: "Progressing", updatedOrdinals: [7, 6, 5, 4, 3, 2] }, { percent: 100 });
    const { call, liveReads, liveReadsCounted, metric } = setup(cached, { live: () => live });
    for (const ordinal of [3, 2]) {
      const review = podCreateReview(ordinal, NEW_REV, NEW);
      expect(revisionOf(review, (await call(review)).patch), `web-${ordinal}`).to.equal(NEW_REV);
    }
    expect(liveReads).to.deep.equal([`${NS}/web`, `${NS}/web`]);
    expect(await liveReadsCounted("ok")).to.equal(2);
    expect(await metric("not-pinned", "moved")).to.equal(2);
    expect(await metric("pinned", "not-moved")).to.equal(0);
  });

  it("a back wave the cache does not show yet: the pod moved back is pinned to the old revision", async () => {
    const cached = rolloutObject({ phase: "Progressing" }, { phases: [25, 50] });
    const live = rolloutObject({ phase: "Progressing", updatedOrdinals: [7, 6] }, { phases: [25, 50] });
    const { call, liveReads } = setup(cached, { live: () => live });
    const review = podCreateReview(5, NEW_REV, NEW);
    expect(revisionOf(review, (await call(review)).patch)).to.equal(OLD_REV);
    expect(liveReads).to.have.length(1);
  });

  it("a pin the live read confirms is made; a pod on the old revision or of a rollout that is not split costs no live read", async () => {
    const { call, liveReads } = setup();
    const pinned = podCreateReview(2, NEW_REV, NEW);
    expect(revisionOf(pinned, (await call(pinned)).patch)).to.equal(OLD_REV);
    expect(liveReads).to.have.length(1);
    await call(podCreateReview(2, OLD_REV, OLD));
    expect(liveReads, "old-revision create").to.have.length(1);
    const done = setup(
      rolloutObject(
        { phase: "RolloutDone", currentRevision: NEW_REV, updatedOrdinals: [0, 1, 2, 3, 4, 5, 6, 7] },
        { percent: 100 },
      ),
    );
    expect((await done.call(podCreateReview(2, NEW_REV, NEW))).patch).to.equal(undefined);
    expect(done.liveReads, "rollout not split").to.have.length(0);
  });

  it("the live read fails: the cache's pin stands (an extra eviction at worst, never a leak)", async () => {
    const { call, liveReadsCounted, metric } = setup(rolloutObject({}), {
      live: () => {
        throw new Error("apiserver unavailable");
      },
    });
    const review = podCreateReview(2, NEW_REV, NEW);
    expect(revisionOf(review, (await call(review)).patch)).to.equal(OLD_REV);
    expect(await liveReadsCounted("failed")).to.equal(1);
    expect(await metric("pinned", "not-moved")).to.equal(1);
  });

  it("the wait for a live read is measured on the handler's clock, for an answered read and a timed-out one", async () => {
    for (const { answerAfterMs, result, seconds, firstBucket } of [
      { answerAfterMs: 150, result: "ok", seconds: 0.15, firstBucket: "0.25" },
      { answerAfterMs: undefined, result: "failed", seconds: 2, firstBucket: "2.5" },
    ] as const) {
      const clock = new FakeClock(0);
      const { call, liveReadsCounted, liveReadWait } = setup(rolloutObject({}), {
        clock,
        // Answers after answerAfterMs on the fake clock, or never (the 2 s bound then fails it).
        live: () =>
          new Promise((resolve) => {
            if (answerAfterMs !== undefined) clock.setTimer(() => resolve(rolloutObject({})), answerAfterMs);
          }),
      });
      const answer = call(podCreateReview(2, NEW_REV, NEW));
      await tick();
      clock.advance(answerAfterMs ?? 2000);
      expect(revisionOf(podCreateReview(2, NEW_REV, NEW), (await answer).patch), result).to.equal(OLD_REV);
      expect(await liveReadsCounted(result), result).to.equal(1);
      const wait = await liveReadWait();
      expect(wait.count, result).to.equal(1);
      expect(wait.sum, result).to.be.closeTo(seconds, 1e-9);
      const below = Object.entries(wait.buckets).filter(([le]) => Number(le) < Number(firstBucket));
      expect(
        below.every(([, n]) => n === 0),
        `${result}: no bucket below ${firstBucket}`,
      ).to.equal(true);
      expect(wait.buckets[firstBucket], result).to.equal(1);
    }
  });

  it("a new template applied before the cache shows the recorded split: the pod keeps the old revision", async () => {
    // Done on OLD_REV; the reconciler has recorded templatePending and applied the NEW template.
    const doneOnOld = {
      phase: "RolloutDone",
      currentRevision: OLD_REV,
      updateRevision: OLD_REV,
      updatedOrdinals: [0, 1, 2, 3, 4, 5, 6, 7],
    };
    const cached = rolloutObject(doneOnOld, { percent: 100 });
    const live = rolloutObject({ ...doneOnOld, phase: "Progressing", templatePending: true }, { percent: 100 });
    const { call, liveReads, metric } = setup(cached, { live: () => live });
    const review = podCreateReview(4, NEW_REV, NEW);
    expect(revisionOf(review, (await call(review)).patch)).to.equal(OLD_REV);
    expect(liveReads).to.have.length(1);
    expect(await metric("pinned", "template-pending")).to.equal(1);
  });

  it("creates arriving together share live reads, but none is answered by a read sent before it arrived", async () => {
    // The cache shows wave 1 only; the apiserver has wave 2 (ordinals 5, 4) recorded.
    const cached = rolloutObject({ phase: "Progressing", updatedOrdinals: [7, 6] }, { percent: 100 });
    let stored = rolloutObject({ phase: "Progressing", updatedOrdinals: [7, 6, 5, 4] }, { percent: 100 });
    // Each live read answers with what was stored when it was sent, when the test lets it.
    const answers: Array<() => void> = [];
    const live = () =>
      new Promise<unknown>((resolve) => {
        const snapshot = stored;
        answers.push(() => resolve(snapshot));
      });
    const { call, liveReads } = setup(cached, { live });
    const first = call(podCreateReview(5, NEW_REV, NEW));
    await tick();
    // Wave 2 is rolled back before the next creates arrive: ordinal 4 is off updatedOrdinals.
    stored = rolloutObject({ phase: "Progressing", updatedOrdinals: [7, 6, 5] }, { percent: 100 });
    const reviews = [podCreateReview(4, NEW_REV, NEW), podCreateReview(5, NEW_REV, NEW)];
    const later = reviews.map((r) => call(r));
    await tick();
    expect(liveReads, "the later creates wait for a read of their own").to.have.length(1);
    answers[0]!();
    expect(revisionOf(podCreateReview(5, NEW_REV, NEW), (await first).patch)).to.equal(NEW_REV);
    await tick();
    expect(liveReads, "one read for both later creates").to.have.length(2);
    answers[1]!();
    const [four, five] = await Promise.all(later);
    expect(revisionOf(reviews[0]!, four!.patch), "web-4, moved back: pinned").to.equal(OLD_REV);
    expect(revisionOf(reviews[1]!, five!.patch), "web-5").to.equal(NEW_REV);
  });

  it("a batch of creates inside the gathering window shares one read, sent after the last of them arrived", async () => {
    const clock = new FakeClock(0);
    const cached = rolloutObject({ phase: "Progressing", updatedOrdinals: [7, 6] }, { percent: 100 });
    let stored = rolloutObject({ phase: "Progressing", updatedOrdinals: [7, 6] }, { percent: 100 });
    const { call, liveReads } = setup(cached, { clock, liveReadGatherMs: 10, live: () => stored });
    const first = call(podCreateReview(5, NEW_REV, NEW));
    await tick();
    clock.advance(6);
    // Wave 2 recorded, and its creates arrive, while the window is still open.
    stored = rolloutObject({ phase: "Progressing", updatedOrdinals: [7, 6, 5, 4] }, { percent: 100 });
    const rest = [4, 5].map((ordinal) => call(podCreateReview(ordinal, NEW_REV, NEW)));
    await tick();
    expect(liveReads, "nothing sent inside the window").to.have.length(0);
    clock.advance(4);
    const answers = await Promise.all([first, ...rest]);
    expect(liveReads, "one read for the batch").to.have.length(1);
    // The read went out after every create of the batch, so it saw wave 2 for all of them.
    expect(answers.map((a) => a.patch)).to.deep.equal([undefined, undefined, undefined]);
    // A create after the read went out waits for a read of its own.
    const late = call(podCreateReview(4, NEW_REV, NEW));
    await tick();
    clock.advance(10);
    await late;
    expect(liveReads).to.have.length(2);
  });

  it("a cache served 2 s behind on a fake clock: through a whole wave, no pod is pinned wrongly", async () => {
    const clock = new FakeClock(0);
    const watched = new WatchedRolloutCache();
    const rolloutAt = (updatedOrdinals: number[]) =>
      rolloutObject({ phase: "Progressing", updatedOrdinals }, { percent: 100 }) as unknown as k8s.KubernetesObject;
    watched.set(rolloutAt([7, 6]));
    const lagging = delayedCache(watched, 2000, clock);
    const { call, liveReads } = setup(undefined, { rollouts: lagging, live: () => watched.get(NS, "web") });
    // t=100 ms: the reconciler records wave 2 (ordinals 5, 4) and evicts at once: no settle delay.
    clock.advance(100 - clock.now());
    watched.set(rolloutAt([7, 6, 5, 4]));
    clock.advance(300 - clock.now());
    expect(
      (lagging.get(NS, "web") as { status: { updatedOrdinals: number[] } }).status.updatedOrdinals,
      "the cache is behind",
    ).to.deep.equal([7, 6]);
    const created: Record<string, string> = {};
    for (const ordinal of [5, 4]) {
      const review = podCreateReview(ordinal, NEW_REV, NEW);
      created[`web-${ordinal}`] = revisionOf(review, (await call(review)).patch);
    }
    // A pod of an ordinal no wave moved, lost meanwhile, is still pinned.
    const lost = podCreateReview(1, NEW_REV, NEW);
    created["web-1"] = revisionOf(lost, (await call(lost)).patch);
    expect(created).to.deep.equal({ "web-5": NEW_REV, "web-4": NEW_REV, "web-1": OLD_REV });
    expect(liveReads).to.have.length(3);
    clock.advance(2200 - clock.now());
    expect(
      (lagging.get(NS, "web") as { status: { updatedOrdinals: number[] } }).status.updatedOrdinals,
      "caught up",
    ).to.deep.equal([7, 6, 5, 4]);
  });
});
