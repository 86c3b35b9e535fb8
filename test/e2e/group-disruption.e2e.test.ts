// The zone-aware group guard on a real control plane (issue #16): three StatefulsetRollouts in
// group "ingester", one per zone (KWOK nodes carry topology.kubernetes.io/zone, hack/cluster-up.sh),
// each owning an OnDelete StatefulSet of 3 pods pinned to its zone by required node affinity. The
// webhook runs in-process (/validate/eviction and /validate/pod-delete) on real informer caches.
// With one pod of zone-a not Ready, kubectl drain of zone-b's node and a user's delete of a
// zone-c pod are refused with 429 naming zone-a; dry runs leave no Event and no count; once
// zone-a is Ready the drain completes.
import { EventsV1Api, type KubernetesObject, type V1Pod } from "@kubernetes/client-node";
import { expect } from "chai";
import { pino } from "pino";
import { Registry } from "prom-client";
import { managedPodsCache, managedStatefulSetsCache, rolloutsCache } from "../../adapters/kube/cache.js";
import { kubeEventRecorder } from "../../adapters/kube/events.js";
import {
  type LeakAlerter,
  createEvictionHandler,
  createLeakAlerter,
  createPodDeleteHandler,
} from "../../webhook/leak-guard/index.js";
import {
  admissionApi,
  appsApi,
  coreApi,
  customObjectsApi,
  installRolloutCrd,
  kubeConfig,
  kubectl,
  newNamespace,
  waitFor,
} from "./support/cluster.js";
import { type LocalWebhook, startLocalWebhook } from "./support/local-webhook.js";

const logger = pino({ level: process.env.BULKHEAD_E2E_LOG ?? "silent" });
const ZONES = ["a", "b", "c"] as const;
const REPLICAS = 3;
const ZONE_LABEL = "topology.kubernetes.io/zone";
const NEVER_READY = "kwok.bulkhead.dev/never-ready";

describe("zone-aware group guard on a real control plane", function () {
  this.timeout(180_000);
  let ns: string;
  let webhookName: string;
  let webhook: LocalWebhook;
  let registry: Registry;
  let alerts: LeakAlerter;
  const caches: Array<{ stop(): Promise<void>; synced: Promise<void> }> = [];
  /** zone letter → the node of that zone the test drains. */
  const nodeOfZone = new Map<string, string>();
  const cordoned = new Set<string>();

  const app = (zone: string) => `ingester-${zone}`;

  async function pods(zone: string): Promise<V1Pod[]> {
    const list = await coreApi().listNamespacedPod({ namespace: ns, labelSelector: `app=${app(zone)}` });
    return list.items;
  }

  const isReady = (p: V1Pod): boolean =>
    !p.metadata?.deletionTimestamp &&
    (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

  /** All pods of the zone, Ready: name → uid. */
  async function readyZone(zone: string): Promise<Map<string, string>> {
    return waitFor(
      async () => {
        const all = await pods(zone);
        if (all.length !== REPLICAS || !all.every(isReady)) return undefined;
        return new Map(all.map((p) => [p.metadata!.name!, p.metadata!.uid!]));
      },
      { what: `${REPLICAS} Ready pods in zone-${zone}`, timeoutMs: 60_000 },
    );
  }

  function evictionBody(name: string, dryRun: boolean): string {
    return JSON.stringify({
      apiVersion: "policy/v1",
      kind: "Eviction",
      metadata: { name, namespace: ns },
      ...(dryRun ? { deleteOptions: { dryRun: ["All"] } } : {}),
    });
  }

  const evict = (name: string, dryRun = false) =>
    kubectl(["create", "--raw", `/api/v1/namespaces/${ns}/pods/${name}/eviction`, "-f", "-"], {
      input: evictionBody(name, dryRun),
    });

  async function refusalEvents(): Promise<Array<{ rollout?: string; note?: string }>> {
    const list = await kubeConfig().makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: ns });
    return list.items
      .filter((e) => e.reason === "GroupDisruptionRefused")
      .map((e) => ({ rollout: e.regarding?.name, note: e.note }));
  }

  async function decisions(decision: string): Promise<number> {
    const metric = await registry.getSingleMetric("bulkhead_group_guard_decisions_total")?.get();
    return (
      metric?.values
        .filter((v) => v.labels.decision === decision && v.labels.namespace === ns)
        .reduce((a, v) => a + v.value, 0) ?? 0
    );
  }

  async function drain(node: string, timeout: string) {
    cordoned.add(node);
    return kubectl(
      [
        "drain",
        node,
        "--pod-selector=group=ingester",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        `--timeout=${timeout}`,
      ],
      { timeoutMs: 120_000 },
    );
  }

  before(async function () {
    this.timeout(300_000);
    // The zones come from hack/cluster-up.sh; a reused cluster started before it labelled nodes has none.
    const nodes = (await coreApi().listNode({ labelSelector: "type=kwok" })).items;
    for (const zone of ZONES) {
      const node = nodes.find((n) => n.metadata?.labels?.[ZONE_LABEL] === `zone-${zone}`);
      if (!node) {
        throw new Error(
          `no KWOK node in ${ZONE_LABEL}=zone-${zone}: start the cluster with hack/cluster-up.sh (it labels nodes zone-a/b/c round-robin) and at least 3 nodes`,
        );
      }
      nodeOfZone.set(zone, node.metadata!.name!);
    }
    await installRolloutCrd();
    ns = await newNamespace("group-guard", { optIn: true });
    webhookName = `group-guard-${ns}.e2e.bulkhead.dev`;

    for (const [i, zone] of ZONES.entries()) {
      const labels = { app: app(zone), group: "ingester", "bulkhead.dev/managed": "true" };
      const stsSpec = {
        replicas: REPLICAS,
        serviceName: app(zone),
        podManagementPolicy: "Parallel",
        updateStrategy: { type: "OnDelete" },
        selector: { matchLabels: { app: app(zone) } },
        template: {
          metadata: { labels },
          spec: {
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    { matchExpressions: [{ key: ZONE_LABEL, operator: "In", values: [`zone-${zone}`] }] },
                  ],
                },
              },
            },
            containers: [
              {
                name: "app",
                image: "registry.example/ingester:v1",
                resources: { requests: { cpu: "10m", memory: "16Mi" } },
              },
            ],
            terminationGracePeriodSeconds: 1,
          },
        },
      };
      const rollout = (await customObjectsApi().createNamespacedCustomObject({
        group: "bulkhead.dev",
        version: "v1alpha1",
        namespace: ns,
        plural: "statefulsetrollouts",
        body: {
          apiVersion: "bulkhead.dev/v1alpha1",
          kind: "StatefulsetRollout",
          metadata: { name: app(zone) },
          spec: {
            statefulset: { metadata: { name: app(zone) }, spec: stsSpec },
            percent: 100,
            group: { name: "ingester", order: i + 1 },
            // A whole zone may go at once: the drain below takes all of zone-b's pods.
            disruptionPolicy: { maxUnavailable: "100%" },
          },
        },
      })) as KubernetesObject;
      await appsApi().createNamespacedStatefulSet({
        namespace: ns,
        body: {
          apiVersion: "apps/v1",
          kind: "StatefulSet",
          metadata: {
            name: app(zone),
            labels: { ...labels, "bulkhead.dev/rollout": app(zone) },
            ownerReferences: [
              {
                apiVersion: "bulkhead.dev/v1alpha1",
                kind: "StatefulsetRollout",
                name: app(zone),
                uid: rollout.metadata!.uid!,
                controller: true,
              },
            ],
          },
          spec: stsSpec,
        },
      });
    }
    for (const zone of ZONES) {
      await readyZone(zone);
      for (const p of await pods(zone)) expect(p.spec?.nodeName, p.metadata?.name).to.equal(nodeOfZone.get(zone));
    }

    const kc = kubeConfig();
    const podsCache = managedPodsCache(kc);
    const stsCache = managedStatefulSetsCache(kc);
    const rolloutCache = rolloutsCache(kc);
    caches.push(podsCache, stsCache, rolloutCache);
    await Promise.all(caches.map((c) => c.synced));
    registry = new Registry();
    const events = kubeEventRecorder(kc.makeApiClient(EventsV1Api), "bulkhead-webhook", "e2e", (err) =>
      logger.warn({ err }, "event"),
    );
    alerts = createLeakAlerter({ events, logger });
    const deps = {
      pods: podsCache,
      statefulSets: stsCache,
      rollouts: rolloutCache,
      // Nobody in this test: the admin's drains and deletes meet the guard like anyone's.
      reconcilerUsername: `system:serviceaccount:${ns}:bulkhead-reconciler`,
      defaultLeakProtection: "enforce" as const,
      alerts,
      events,
      logger,
      registry,
    };
    webhook = await startLocalWebhook(
      [
        { path: "/validate/eviction", maxBodyBytes: 16 * 1024, handler: createEvictionHandler(deps) },
        { path: "/validate/pod-delete", maxBodyBytes: 256 * 1024, handler: createPodDeleteHandler(deps) },
      ],
      logger,
      registry,
    );
    const common = {
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
      admissionReviewVersions: ["v1"],
      sideEffects: "NoneOnDryRun",
      failurePolicy: "Fail",
      timeoutSeconds: 5,
    };
    await admissionApi().createValidatingWebhookConfiguration({
      body: {
        metadata: { name: webhookName },
        webhooks: [
          {
            name: `eviction.${webhookName}`,
            clientConfig: webhook.clientConfig("/validate/eviction"),
            rules: [
              {
                operations: ["CREATE"],
                apiGroups: [""],
                apiVersions: ["v1"],
                resources: ["pods/eviction"],
                scope: "Namespaced",
              },
            ],
            ...common,
          },
          {
            name: `pod-delete.${webhookName}`,
            clientConfig: webhook.clientConfig("/validate/pod-delete"),
            rules: [
              {
                operations: ["DELETE"],
                apiGroups: [""],
                apiVersions: ["v1"],
                resources: ["pods"],
                scope: "Namespaced",
              },
            ],
            objectSelector: { matchLabels: { "bulkhead.dev/managed": "true" } },
            ...common,
          },
        ],
      },
    });

    // One pod of zone-a not Ready (KWOK keeps it Running, not Ready, while the annotation is set).
    await kubectl(["annotate", "pod", `${app("a")}-0`, `${NEVER_READY}=true`], { namespace: ns, check: true });
    await waitFor(async () => !isReady(await coreApi().readNamespacedPod({ name: `${app("a")}-0`, namespace: ns })), {
      what: "ingester-a-0 not Ready",
    });
    // The apiserver picks the configuration up asynchronously, and the caches follow the pod:
    // wait until a dry-run eviction in zone-b is refused by the group guard.
    await waitFor(
      async () => {
        const r = await evict(`${app("b")}-0`, true);
        return r.code !== 0 && r.stderr.includes("Bulkhead zone guard");
      },
      { what: "the group guard refusing a dry-run eviction in zone-b", timeoutMs: 30_000, intervalMs: 500 },
    );
  });

  after(async function () {
    for (const node of cordoned) await kubectl(["uncordon", node]);
    await admissionApi()
      .deleteValidatingWebhookConfiguration({ name: webhookName })
      .catch(() => undefined);
    alerts?.close();
    await webhook?.shutdown();
    await Promise.allSettled(caches.map((c) => c.stop()));
  });

  it("dry runs are refused the same way and leave no Event and no count", async () => {
    const eviction = await evict(`${app("b")}-1`, true);
    expect(eviction.code).to.not.equal(0);
    expect(eviction.stderr).to.contain("Zone zone-a (rollout ingester-a) is degraded");
    const del = await kubectl(["delete", "pod", `${app("c")}-0`, "--dry-run=server", "--wait=false"], {
      namespace: ns,
    });
    expect(del.code).to.not.equal(0);
    expect(del.stderr).to.contain("Bulkhead zone guard").and.to.contain("zone-a");
    // Every request so far (the set-up's waiting included) was a dry run.
    expect(await refusalEvents()).to.deep.equal([]);
    expect(await decisions("denied")).to.equal(0);
  });

  it("refuses kubectl drain of zone-b's node with 429 naming zone-a; zone-b keeps every pod", async () => {
    const before = await readyZone("b");
    const node = nodeOfZone.get("b")!;
    const r = await drain(node, "12s");
    const output = r.stdout + r.stderr;
    expect(r.code, output).to.not.equal(0);
    // kubectl drain retries only on 429 (TooManyRequests) and says so.
    expect(output).to.contain("will retry after 5s");
    for (const part of [
      "Bulkhead zone guard: Eviction of pod",
      "zone zone-b (rollout ingester-b)",
      "Zone zone-a (rollout ingester-a) is degraded: 1 pod not Ready or terminating (ingester-a-0)",
      "kubectl describe pod ingester-a-0",
    ]) {
      expect(output).to.contain(part);
    }
    expect(await readyZone("b")).to.deep.equal(before);
    const events = await refusalEvents();
    expect(events.length).to.be.greaterThan(0);
    expect(events[0]!.rollout).to.equal("ingester-b");
    expect(events[0]!.note).to.contain("zone-a");
    expect(await decisions("denied")).to.be.greaterThan(0);
    await kubectl(["uncordon", node], { check: true });
    cordoned.delete(node);
  });

  it("refuses a user's plain delete of a zone-c pod likewise", async () => {
    const before = await readyZone("c");
    const r = await kubectl(["delete", "pod", `${app("c")}-1`, "--wait=false"], { namespace: ns });
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain("Bulkhead zone guard: Deletion of pod").and.to.contain("Zone zone-a");
    expect(await readyZone("c")).to.deep.equal(before);
  });

  it("once zone-a is Ready, the drain of zone-b's node completes", async () => {
    const before = await readyZone("b");
    await kubectl(["annotate", "pod", `${app("a")}-0`, `${NEVER_READY}-`], { namespace: ns, check: true });
    await readyZone("a");
    // The guard's caches may see zone-a Ready a moment later: drain retries a 429 by itself.
    const r = await drain(nodeOfZone.get("b")!, "90s");
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    // Every pod of zone-b was evicted: each is gone or has been recreated (a new uid).
    const after = await pods("b");
    for (const [name, uid] of before) {
      const now = after.find((p) => p.metadata?.name === name);
      expect(now?.metadata?.uid, name).to.not.equal(uid);
    }
  });
});
