// The leak guard on a real control plane (DESIGN.md §4): a managed StatefulSet of 6 pods, 3 on
// the new revision, owned by a rollout paused at 50%. The webhook runs in-process over HTTPS on
// 127.0.0.1 and the apiserver calls it for pods/eviction CREATE and pods DELETE. Each case ends
// by checking the split: no old pod replaced by a new one unless the mode allowed it.
import { CoreV1Api, EventsV1Api, type KubernetesObject, type V1Pod } from "@kubernetes/client-node";
import { expect } from "chai";
import { pino } from "pino";
import { Registry } from "prom-client";
import {
  managedControllerRevisionsCache,
  managedPodsCache,
  managedStatefulSetsCache,
  rolloutsCache,
  type ReadCache,
} from "../../adapters/kube/cache.js";
import { systemClock } from "../../adapters/clock.js";
import { clusterView } from "../../adapters/kube/cluster-view.js";
import { alertEventsCache, kubeAlertEvents } from "../../adapters/kube/alert-events.js";
import { kubeEventRecorder } from "../../adapters/kube/events.js";
import { createAlertNotifier, type AlertNotifier } from "../../adapters/slack/alert-notifier.js";
import { createSlackClient } from "../../adapters/slack/client.js";
import type { AlertEventObject } from "../../api/alert-events.js";
import type { CertificateSource } from "../../certs/source.js";
import {
  createEvictionHandler,
  createLeakAlerter,
  createPodDeleteHandler,
  type LeakAlerter,
} from "../../webhook/leak-guard/index.js";
import { createWebhookMetrics } from "../../webhook/metrics.js";
import { parseWebhookConfig } from "../../webhook/config.js";
import {
  admissionLimits,
  createApp,
  type RunningServer,
  serverTimeouts,
  startHttpsServer,
} from "../../webhook/server.js";
import { ADMISSION_ROUTES } from "../../webhook/routes.js";
import { FakeSlack } from "../support/fake-slack.js";
import {
  allowPodRecreations,
  allowPodRecreationsFromNode,
  admissionApi,
  appsApi,
  applyManifest,
  coreApi,
  customObjectsApi,
  installRolloutCrd,
  issueServingCert,
  kubeConfig,
  kubeConfigForToken,
  kubectl,
  newNamespace,
  waitFor,
} from "./support/cluster.js";

/** The pod-delete webhook's matchConditions as the chart registers them. */
function podDeleteMatchConditions(): Array<{ name: string; expression: string }> {
  const route = ADMISSION_ROUTES.find((r) => r.path === "/validate/pod-delete");
  return [...(route?.registration.matchConditions ?? [])];
}

const logger = pino({ level: process.env.BULKHEAD_E2E_LOG ?? "silent" });
const REPLICAS = 6;
const CHANNEL = "#deploys";

interface PodState {
  uid: string;
  revision: string;
  node: string;
}

describe("leak guard on a real control plane", function () {
  this.timeout(180_000);
  let ns: string;
  let app: string;
  let webhookName: string;
  let server: RunningServer;
  let slack: FakeSlack;
  let alerter: LeakAlerter;
  let alertNotifier: AlertNotifier;
  /** The webhook's Event writes, then the reconciler's Slack sends (alerts go webhook → Events → reconciler → Slack). */
  const alertsIdle = async () => {
    await alerter.idle();
    await alertNotifier.idle();
  };
  let registry: Registry;
  const caches: Array<ReadCache<unknown>> = [];
  let oldRevision: string;
  let newRevision: string;
  let reconcilerToken: string;

  // ------------------------------------------------------------------------------------------
  // Helpers

  async function pods(): Promise<V1Pod[]> {
    const list = await coreApi().listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` });
    return list.items;
  }

  const ready = (p: V1Pod): boolean =>
    !p.metadata?.deletionTimestamp &&
    p.status?.phase === "Running" &&
    (p.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

  /** Waits until all replicas exist and are Ready, and returns name → state. */
  async function settled(): Promise<Map<string, PodState>> {
    return waitFor(
      async () => {
        const all = await pods();
        if (all.length !== REPLICAS || !all.every(ready)) return undefined;
        return new Map(
          all.map((p) => [
            p.metadata!.name!,
            {
              uid: p.metadata!.uid!,
              revision: p.metadata!.labels!["controller-revision-hash"]!,
              node: p.spec!.nodeName!,
            },
          ]),
        );
      },
      { what: `${REPLICAS} Ready pods of ${app}`, timeoutMs: 60_000 },
    );
  }

  const oldPods = (state: Map<string, PodState>): string[] =>
    [...state]
      .filter(([, s]) => s.revision === oldRevision)
      .map(([n]) => n)
      .sort();
  const newPods = (state: Map<string, PodState>): string[] =>
    [...state]
      .filter(([, s]) => s.revision === newRevision)
      .map(([n]) => n)
      .sort();

  /**
   * The split check: every old pod of `before` is still there, same uid, still old — except
   * those in `mayChange`, which the mode allowed to be replaced (they come back new).
   */
  async function expectSplitKept(
    before: Map<string, PodState>,
    mayChange: string[] = [],
  ): Promise<Map<string, PodState>> {
    const after = await settled();
    for (const name of oldPods(before)) {
      const now = after.get(name);
      if (mayChange.includes(name)) {
        expect(now?.revision, `${name} was allowed to go and comes back on the new revision`).to.equal(newRevision);
        continue;
      }
      expect(now, `old pod ${name}`).to.deep.include({ uid: before.get(name)!.uid, revision: oldRevision });
    }
    expect(newPods(after)).to.have.length(newPods(before).length + mayChange.length);
    return after;
  }

  function eviction(name: string, version = "v1", dryRun = false): string {
    return JSON.stringify({
      apiVersion: `policy/${version}`,
      kind: "Eviction",
      metadata: { name, namespace: ns },
      ...(dryRun ? { deleteOptions: { dryRun: ["All"] } } : {}),
    });
  }

  /** POST an Eviction with kubectl (as `user` when given), like a tool would. */
  function evictWithKubectl(name: string, opts: { user?: string; version?: string; dryRun?: boolean } = {}) {
    return kubectl(
      [
        "create",
        "--raw",
        `/api/v1/namespaces/${ns}/pods/${name}/eviction`,
        "-f",
        "-",
        ...(opts.user ? ["--as", opts.user] : []),
      ],
      { input: eviction(name, opts.version, opts.dryRun) },
    );
  }

  async function setRollout(patch: Record<string, unknown>, subresource?: "status"): Promise<void> {
    await kubectl(
      [
        "patch",
        "statefulsetrollout",
        "web",
        "--type=merge",
        "-p",
        JSON.stringify(patch),
        ...(subresource ? ["--subresource", subresource] : []),
      ],
      { namespace: ns, check: true },
    );
  }

  async function decisions(decision: string): Promise<number> {
    const metric = await registry.getSingleMetric("bulkhead_leak_guard_decisions_total")?.get();
    return (
      metric?.values
        .filter((v) => v.labels.decision === decision && v.labels.namespace === ns)
        .reduce((a, v) => a + v.value, 0) ?? 0
    );
  }

  async function leakEvents(reason: string): Promise<Array<{ kind?: string; name?: string; note?: string }>> {
    const list = await kubeConfig().makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: ns });
    return list.items
      .filter((e) => e.reason === reason)
      .map((e) => ({ kind: e.regarding?.kind, name: e.regarding?.name, note: e.note }));
  }

  // ------------------------------------------------------------------------------------------
  // Setup: CRD, namespace, rollout + StatefulSet split 3/3, webhook, webhook configuration.

  before(async function () {
    this.timeout(300_000);
    await installRolloutCrd();
    ns = await newNamespace("leak-guard", { optIn: true });
    app = `lg-${ns}`;
    webhookName = `leak-guard-${ns}.e2e.bulkhead.dev`;
    const reconcilerUsername = `system:serviceaccount:${ns}:bulkhead-reconciler`;

    // A person (jane) and the reconciler's ServiceAccount, both allowed to delete and evict pods.
    await applyManifest(
      `apiVersion: v1
kind: ServiceAccount
metadata: {name: bulkhead-reconciler}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-remover}
rules:
- {apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "delete"]}
- {apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: pod-remover}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-remover}
subjects:
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: jane}
- {kind: ServiceAccount, name: bulkhead-reconciler}
`,
      ns,
    );
    reconcilerToken = (
      await kubectl(["create", "token", "bulkhead-reconciler", "--duration", "30m"], { namespace: ns, check: true })
    ).stdout.trim();

    // The rollout, then an OnDelete StatefulSet it owns.
    const labels = { app, "bulkhead.dev/managed": "true" };
    const template = (image: string) => ({
      metadata: { labels },
      spec: {
        containers: [{ name: "app", image, resources: { requests: { cpu: "10m", memory: "16Mi" } } }],
        terminationGracePeriodSeconds: 1,
      },
    });
    const stsSpec = (image: string) => ({
      replicas: REPLICAS,
      serviceName: "web",
      podManagementPolicy: "Parallel",
      updateStrategy: { type: "OnDelete" },
      selector: { matchLabels: { app } },
      template: template(image),
    });
    const rollout = (await customObjectsApi().createNamespacedCustomObject({
      group: "bulkhead.dev",
      version: "v1alpha1",
      namespace: ns,
      plural: "statefulsetrollouts",
      body: {
        apiVersion: "bulkhead.dev/v1alpha1",
        kind: "StatefulsetRollout",
        metadata: { name: "web" },
        spec: {
          statefulset: { metadata: { name: "web" }, spec: stsSpec("registry.example/app:v2") },
          percent: 50,
          pauseRequested: true,
          channel: CHANNEL,
          leakProtection: "enforce",
        },
      },
    })) as KubernetesObject;
    await appsApi().createNamespacedStatefulSet({
      namespace: ns,
      body: {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: {
          name: "web",
          labels: { ...labels, "bulkhead.dev/rollout": "web" },
          ownerReferences: [
            {
              apiVersion: "bulkhead.dev/v1alpha1",
              kind: "StatefulsetRollout",
              name: "web",
              uid: rollout.metadata!.uid!,
              controller: true,
            },
          ],
        },
        spec: stsSpec("registry.example/app:v1"),
      },
    });
    const first = await settled();
    oldRevision = first.get("web-0")!.revision;
    // The new template, then 3 pods deleted so they come back on it: the split.
    await appsApi().patchNamespacedStatefulSet({
      name: "web",
      namespace: ns,
      body: [{ op: "replace", path: "/spec/template/spec/containers/0/image", value: "registry.example/app:v2" }],
    });
    newRevision = await waitFor(
      async () => {
        const sts = await appsApi().readNamespacedStatefulSet({ name: "web", namespace: ns });
        const update = sts.status?.updateRevision;
        return update && update !== oldRevision ? update : undefined;
      },
      { what: "a new update revision" },
    );
    for (const name of ["web-0", "web-1", "web-2"]) await coreApi().deleteNamespacedPod({ name, namespace: ns });
    await waitFor(
      async () => {
        const state = await settled();
        return newPods(state).length === 3 && oldPods(state).length === 3;
      },
      { what: "3 new and 3 old pods", timeoutMs: 60_000 },
    );
    await setRollout(
      {
        status: {
          phase: "Paused",
          paused: true,
          percentDeployed: 50,
          updateRevision: newRevision,
          currentRevision: oldRevision,
          updatedOrdinals: [0, 1, 2],
        },
      },
      "status",
    );

    // The webhook, in-process: real informer caches and Events; the reconciler's alert notifier
    // following the alert Events, and a local Slack.
    const kc = kubeConfig();
    const podsCache = managedPodsCache(kc);
    const stsCache = managedStatefulSetsCache(kc);
    const rolloutCache = rolloutsCache(kc);
    const revisionCache = managedControllerRevisionsCache(kc);
    caches.push(podsCache, stsCache, rolloutCache, revisionCache);
    await Promise.all(caches.map((c) => c.synced));
    slack = await new FakeSlack().start();
    registry = new Registry();
    const metrics = createWebhookMetrics(registry);
    const events = kubeEventRecorder(kc.makeApiClient(EventsV1Api), "bulkhead-webhook", "e2e", (err) =>
      logger.warn({ err }, "event"),
    );
    const eventsApi = kc.makeApiClient(EventsV1Api);
    alerter = createLeakAlerter({
      events,
      alertEvents: kubeAlertEvents(eventsApi, "bulkhead-webhook", "e2e", (err) => logger.warn({ err }, "alert event")),
      logger,
      updateDelayMs: 2_000,
    });
    const alertCache = alertEventsCache(kc);
    caches.push(alertCache);
    alertNotifier = createAlertNotifier({
      client: createSlackClient({ token: slack.token, apiUrl: slack.apiUrl, logger }),
      alertEvents: kubeAlertEvents(eventsApi, "bulkhead.dev/reconciler", "e2e", (err) =>
        logger.warn({ err }, "alert event"),
      ),
      channelOf: (namespace, name) =>
        (rolloutCache.get(namespace, name) as { spec?: { channel?: string } } | undefined)?.spec?.channel,
      logger,
      updateDelayMs: 2_000,
    });
    alertCache.onChange((e, change) => alertNotifier.observe(e as AlertEventObject, change));
    const deps = {
      view: clusterView({
        pods: podsCache,
        statefulSets: stsCache,
        rollouts: rolloutCache,
        controllerRevisions: revisionCache,
      }),
      reconcilerUsername,
      defaultLeakProtection: "enforce" as const,
      alerts: alerter,
      logger,
      registry,
    };
    const expressApp = createApp({
      routes: [
        { path: "/validate/eviction", maxBodyBytes: 16 * 1024, handler: createEvictionHandler(deps) },
        { path: "/validate/pod-delete", maxBodyBytes: 256 * 1024, handler: createPodDeleteHandler(deps) },
      ],
      metrics,
      logger,
      readiness: { notReadyReasons: () => [] },
      limits: admissionLimits(parseWebhookConfig({})),
    });
    const cert = issueServingCert();
    const certificates: CertificateSource = {
      current: () => ({ cert: cert.certPem, key: cert.keyPem }),
      onChange: () => {},
      start: async () => ({ cert: cert.certPem, key: cert.keyPem }),
      stop: () => {},
    };
    server = await startHttpsServer({
      app: expressApp,
      certificates,
      host: "127.0.0.1",
      port: 0,
      logger,
      shutdownTimeoutMs: 2_000,
      clock: systemClock,
      timeouts: serverTimeouts(parseWebhookConfig({})),
    });

    const caBundle = Buffer.from(cert.caPem).toString("base64");
    const common = {
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
      admissionReviewVersions: ["v1"],
      // Events and Slack alerts are skipped for dry runs.
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
            clientConfig: { url: `https://127.0.0.1:${server.port}/validate/eviction`, caBundle },
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
            clientConfig: { url: `https://127.0.0.1:${server.port}/validate/pod-delete`, caBundle },
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
            // The chart's (the route table's): terminating pods' DELETEs never reach the webhook.
            matchConditions: podDeleteMatchConditions(),
            ...common,
          },
        ],
      },
    });
    // The apiserver picks the configuration up asynchronously: wait until a dry-run eviction of
    // an old pod is refused (which also needs the caches to have seen the rollout's status).
    await waitFor(
      async () => {
        const r = await evictWithKubectl(oldPods(await settled())[0]!, { dryRun: true });
        return r.code !== 0 && r.stderr.includes("Bulkhead leak protection");
      },
      { what: "the leak guard refusing a dry-run eviction", timeoutMs: 30_000, intervalMs: 500 },
    );
  });

  after(async function () {
    await admissionApi()
      .deleteValidatingWebhookConfiguration({ name: webhookName })
      .catch(() => undefined);
    alerter?.close();
    alertNotifier?.close();
    await server?.shutdown();
    await Promise.allSettled(caches.map((c) => c.stop()));
    await slack?.stop();
  });

  // ------------------------------------------------------------------------------------------
  // Cases, in order: each leaves the split as the next expects.

  it("a dry-run eviction is refused with no Event, alert or metric", async () => {
    const before = await settled();
    const target = oldPods(before)[0]!;
    const r = await evictWithKubectl(target, { dryRun: true, user: "jane" });
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain("Bulkhead leak protection (enforce)");
    await alertsIdle();
    expect(slack.messages).to.have.length(0);
    expect(await leakEvents("LeakGuardDenied")).to.have.length(0);
    expect(await decisions("denied")).to.equal(0);
    await expectSplitKept(before);
  });

  it("enforce: kubectl drain of a node holding an old pod is refused with 429 and the message", async () => {
    const before = await settled();
    const target = oldPods(before)[0]!;
    const node = before.get(target)!.node;
    allowPodRecreationsFromNode(node, "the drain evicts the new pods of the node (allowed); they come back new");
    let r;
    try {
      r = await kubectl(
        ["drain", node, `--pod-selector=app=${app}`, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=20s"],
        { timeoutMs: 60_000 },
      );
    } finally {
      await kubectl(["uncordon", node], { check: true });
    }
    const output = r.stdout + r.stderr;
    expect(r.code, output).to.not.equal(0);
    // kubectl drain retries only on 429 (TooManyRequests) and says so.
    expect(output).to.contain(`error when evicting pods/"${target}"`).and.to.contain("will retry after 5s");
    for (const part of [
      `pod ${ns}/${target}`,
      oldRevision,
      newRevision,
      "Rollout web is paused at 50%",
      "kubectl sroll resume web",
      "kubectl sroll rollback web",
      "spec.percent to 100",
      "spec.leakProtection",
    ]) {
      expect(output).to.contain(part);
    }
    // New pods on that node were let go (they come back new: no leak); old ones all stayed.
    await expectSplitKept(before);

    // The same refusal through the API (as the cluster admin, who is not the reconciler): 429.
    const err = await coreApi()
      .createNamespacedPodEviction({
        name: target,
        namespace: ns,
        body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: target, namespace: ns } },
      })
      .then(
        () => undefined,
        (e: unknown) => e as { code?: number; body?: string },
      );
    expect(err?.code).to.equal(429);
    expect(String(err?.body)).to.contain("Bulkhead leak protection");

    // One alert for all those retries, Events on the pod and the rollout, counted.
    await waitFor(
      async () => {
        await alertsIdle();
        return slack.messages.length > 0;
      },
      { what: "a Slack leak alert" },
    );
    const forTarget = slack.messages.filter((m) => m.text.includes(`${ns}/${target}`));
    expect(forTarget, "one message per pod and rollout").to.have.length(1);
    expect(forTarget[0]!.channel).to.equal(slack.channelId(CHANNEL));
    expect(forTarget[0]!.text).to.contain("refused");
    const denied = await waitFor(
      async () => {
        const ev = await leakEvents("LeakGuardDenied");
        return ev.some((e) => e.kind === "Pod" && e.name === target) &&
          ev.some((e) => e.kind === "StatefulsetRollout" && e.name === "web")
          ? ev
          : undefined;
      },
      { what: "LeakGuardDenied Events on the pod and the rollout" },
    );
    expect(denied.find((e) => e.name === target)?.note).to.contain("kubectl sroll resume web");
    expect(await decisions("denied")).to.be.at.least(2);
    // The message is updated in place with the attempt count.
    await waitFor(
      async () => {
        await new Promise((res) => setTimeout(res, 500));
        await alertsIdle();
        const m = slack.messages.find((x) => x.text.includes(`${ns}/${target}`));
        return m && m.updates > 0 && /\d+ attempts/.test(m.text) ? m : undefined;
      },
      { what: "the alert updated with its attempt count", timeoutMs: 10_000 },
    );
  });

  it("enforce: a v1beta1 Eviction is refused the same way", async () => {
    const before = await settled();
    const target = oldPods(before)[1]!;
    const r = await evictWithKubectl(target, { version: "v1beta1", user: "jane" });
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain("Bulkhead leak protection (enforce)").and.to.contain(target);
    await expectSplitKept(before);
  });

  it("enforce: kubectl delete pod of an old pod by a person is refused", async () => {
    const before = await settled();
    const target = oldPods(before)[2]!;
    const r = await kubectl(["delete", "pod", target, "--as", "jane", "--wait=false"], { namespace: ns });
    expect(r.code).to.not.equal(0);
    expect(r.stderr)
      .to.contain("denied the request")
      .and.to.contain("Bulkhead leak protection (enforce): Deletion of pod");
    await expectSplitKept(before);
  });

  it("evicting a new-revision pod is allowed (it comes back new: no leak)", async () => {
    const before = await settled();
    const target = newPods(before)[0]!;
    allowPodRecreations(1, `${target} is evicted and comes back on the new revision`);
    const r = await evictWithKubectl(target, { user: "jane" });
    expect(r.code, r.stderr).to.equal(0);
    await waitFor(async () => (await settled()).get(target)?.uid !== before.get(target)!.uid, {
      what: `${target} recreated`,
    });
    await expectSplitKept(before);
  });

  it("the reconciler's ServiceAccount may evict an old pod", async () => {
    const before = await settled();
    const target = oldPods(before)[0]!;
    const asReconciler = kubeConfigForToken(reconcilerToken, "reconciler").makeApiClient(CoreV1Api);
    await asReconciler.createNamespacedPodEviction({
      name: target,
      namespace: ns,
      body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: target, namespace: ns } },
    });
    await waitFor(async () => (await settled()).get(target)?.uid !== before.get(target)!.uid, {
      what: `${target} recreated`,
    });
    // Without revision pinning registered here, the replacement is new: the reconciler's move.
    await expectSplitKept(before, [target]);
  });

  it("a terminating old pod's later DELETEs skip the webhook (matchConditions); the pod goes, the rest stay", async () => {
    expect(podDeleteMatchConditions(), "the route table's matchConditions").to.have.length.greaterThan(0);
    const before = await settled();
    const target = oldPods(before)[0]!;
    const hold = "e2e.bulkhead.dev/hold";
    // A finalizer keeps the pod terminating, so the repeat DELETE below meets a terminating pod.
    await coreApi().patchNamespacedPod({
      name: target,
      namespace: ns,
      body: [{ op: "add", path: "/metadata/finalizers", value: [hold] }],
    });
    // The finalizer goes whatever happens here: a pod left terminating would stall every later
    // case and the namespace's deletion.
    try {
      const asReconciler = kubeConfigForToken(reconcilerToken, "reconciler").makeApiClient(CoreV1Api);
      await asReconciler.deleteNamespacedPod({ name: target, namespace: ns });
      await waitFor(
        async () =>
          Boolean((await coreApi().readNamespacedPod({ name: target, namespace: ns })).metadata?.deletionTimestamp),
        { what: `${target} terminating` },
      );
      const webhookCalls = async () =>
        ((await registry.getSingleMetric("bulkhead_webhook_requests_total")?.get())?.values ?? [])
          .filter((v) => v.labels.path === "/validate/pod-delete")
          .reduce((a, v) => a + v.value, 0);
      const callsBefore = await webhookCalls();
      // A person's forced delete of the terminating old pod: the guard would allow it too; the
      // apiserver does not ask.
      const r = await kubectl(
        ["delete", "pod", target, "--as", "jane", "--wait=false", "--grace-period=0", "--force"],
        { namespace: ns },
      );
      expect(r.code, r.stderr).to.equal(0);
      expect(await webhookCalls(), "pod-delete webhook calls for a terminating pod").to.equal(callsBefore);
      // A live old pod is still asked about, and refused.
      const live = oldPods(before)[1]!;
      const refused = await kubectl(["delete", "pod", live, "--as", "jane", "--wait=false"], { namespace: ns });
      expect(refused.code).to.not.equal(0);
      expect(refused.stderr).to.contain("Bulkhead leak protection (enforce): Deletion of pod");
      expect(await webhookCalls()).to.be.greaterThan(callsBefore);
    } finally {
      // Releasing the finalizer lets the pod go; without pinning here it comes back new.
      await coreApi().patchNamespacedPod({
        name: target,
        namespace: ns,
        body: [{ op: "remove", path: "/metadata/finalizers" }],
      });
    }
    await waitFor(async () => (await settled()).get(target)?.uid !== before.get(target)!.uid, {
      what: `${target} recreated`,
    });
    await expectSplitKept(before, [target]);
  });

  it("flag: kubectl drain goes through, with a warning and an alert", async () => {
    await setRollout({ spec: { leakProtection: "flag" } });
    const before = await settled();
    const target = oldPods(before)[0]!;
    // Wait for the informer to see the new mode (a dry-run eviction is then allowed).
    await waitFor(async () => (await evictWithKubectl(target, { dryRun: true, user: "jane" })).code === 0, {
      what: "mode flag in the cache",
    });
    const node = before.get(target)!.node;
    const oldOnNode = oldPods(before).filter((n) => before.get(n)!.node === node);
    const messagesBefore = slack.messages.length;
    allowPodRecreationsFromNode(node, "kubectl drain evicts the new pods of the node too; they come back new");
    let r;
    try {
      r = await kubectl(
        ["drain", node, `--pod-selector=app=${app}`, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=30s"],
        { timeoutMs: 60_000 },
      );
    } finally {
      await kubectl(["uncordon", node], { check: true });
    }
    const output = r.stdout + r.stderr;
    expect(r.code, output).to.equal(0);
    // kubectl prints the admission warning whole: the same text as the refusal, ways out included.
    expect(output)
      .to.contain("Bulkhead leak protection (flag)")
      .and.to.contain("allowed but flagged")
      .and.to.contain("kubectl sroll rollback web");
    await waitFor(
      async () => {
        await alertsIdle();
        return slack.messages.length >= messagesBefore + oldOnNode.length;
      },
      { what: "a flagged alert per old pod drained" },
    );
    const flagged = slack.messages.slice(messagesBefore);
    expect(flagged.map((m) => m.text).join("\n"))
      .to.contain("allowed (flagged)")
      .and.to.contain(`${ns}/${target}`);
    await waitFor(async () => (await leakEvents("LeakGuardFlagged")).some((e) => e.name === target), {
      what: "a LeakGuardFlagged Event",
    });
    expect(await decisions("flagged")).to.be.at.least(oldOnNode.length);
    // The mode allowed the old pods on that node to go; every other old pod stayed.
    await expectSplitKept(before, oldOnNode);
  });
});
