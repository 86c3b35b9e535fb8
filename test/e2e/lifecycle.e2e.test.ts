// A rollout never harms the workload it manages (issue 12), on the real control plane with the
// reconciler as a real process and the garbage collector of kube-controller-manager:
//   - deleting a rollout (deletionPolicy Orphan, the default) leaves its StatefulSet, pods and
//     PDB running, unowned and unlabelled, and the leak guard stops guarding its old pods;
//   - deletionPolicy Delete lets the garbage collector remove them;
//   - an unowned StatefulSet is adopted only with spec.adoptExisting, and a second rollout naming
//     an owned StatefulSet is refused by the reconciler (OwnershipConflict);
//   - deleting the CRD (last: it is cluster-wide; the CRD is reinstalled after) orphans too.
// "The garbage collector had its chance" is a condition, not a sleep: a ConfigMap owned by the
// rollout is deleted by the garbage collector once it has processed the rollout's deletion.
import type { V1Pod } from "@kubernetes/client-node";
import { expect } from "chai";
import { pino } from "pino";
import { stringify } from "yaml";
import { ROLLOUT_FINALIZER } from "../../api/lifecycle.js";
import { CONDITION_OWNERSHIP_CONFLICT } from "../../api/reconcile.js";
import { SPLIT_REVISION_HISTORY_LIMIT } from "../../api/revisions.js";
import { parseRollout, type RolloutStatus } from "../../api/rollout.js";
import {
  admissionApi,
  appsApi,
  applyManifest,
  coreApi,
  customObjectsApi,
  installRolloutCrd,
  kubectl,
  newNamespace,
  policyApi,
  waitFor,
} from "./support/cluster.js";
import { startLocalLeakGuard, type LocalLeakGuard } from "./support/local-webhook.js";
import {
  ensureControlNamespace,
  reconcilerLogTails,
  running,
  startReconciler,
  stopReconciler,
} from "./support/reconciler.js";

const logger = pino({ level: process.env.BULKHEAD_E2E_LOG ?? "silent" });
const CRD = "statefulsetrollouts.bulkhead.dev";
/** Namespaces of this file carry it; the file's leak-guard webhook matches only them. */
const LIFECYCLE_LABEL = "lifecycle-e2e.bulkhead.dev/test";
const isReady = (p: V1Pod): boolean =>
  (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

interface RolloutOptions {
  name?: string;
  statefulSet?: string;
  replicas: number;
  image: string;
  percent?: number;
  extra?: Record<string, unknown>;
}

function rolloutManifest(namespace: string, o: RolloutOptions): string {
  return stringify({
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: { name: o.name ?? "web", namespace },
    spec: {
      percent: o.percent ?? 100,
      disruptionPolicy: { maxUnavailable: 1 },
      ...o.extra,
      statefulset: {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: o.statefulSet ?? "web" },
        spec: statefulSetSpec(o.replicas, o.image),
      },
    },
  });
}

function statefulSetSpec(replicas: number, image: string) {
  return {
    replicas,
    serviceName: "web",
    selector: { matchLabels: { app: "web" } },
    template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "app", image }] } },
  };
}

async function rollout(namespace: string, name = "web") {
  const raw = await customObjectsApi().getNamespacedCustomObject({
    group: "bulkhead.dev",
    version: "v1alpha1",
    namespace,
    plural: "statefulsetrollouts",
    name,
  });
  const parsed = parseRollout(raw);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value as typeof parsed.value & { metadata: { finalizers?: string[]; uid?: string } };
}

async function waitStatus(
  namespace: string,
  what: string,
  ok: (s: RolloutStatus) => boolean,
  name = "web",
): Promise<RolloutStatus> {
  return waitFor(
    async () => {
      const r = await rollout(namespace, name);
      return r.status && r.status.observedGeneration === r.metadata.generation && ok(r.status) ? r.status : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 250, what },
  );
}

async function readyPods(namespace: string, n: number): Promise<V1Pod[]> {
  return waitFor(
    async () => {
      const pods = (await coreApi().listNamespacedPod({ namespace, labelSelector: "app=web" })).items.filter(
        (p) => !p.metadata?.deletionTimestamp,
      );
      return pods.length === n && pods.every(isReady) ? pods : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250, what: `${n} Ready pods` },
  );
}

/**
 * A ConfigMap owned by the rollout: the garbage collector deletes it once it has processed the
 * rollout's deletion — from then on, anything it would have cascaded to would be gone too.
 */
async function gcCanary(namespace: string, rolloutName = "web"): Promise<string> {
  const r = await rollout(namespace, rolloutName);
  const name = `gc-canary-${rolloutName}`;
  await coreApi().createNamespacedConfigMap({
    namespace,
    body: {
      metadata: {
        name,
        ownerReferences: [
          { apiVersion: "bulkhead.dev/v1alpha1", kind: "StatefulsetRollout", name: rolloutName, uid: r.metadata.uid! },
        ],
      },
      data: { why: "deleted by the garbage collector after the rollout is gone" },
    },
  });
  return name;
}

async function gcProcessed(namespace: string, canary: string): Promise<void> {
  await waitFor(
    async () => {
      try {
        await coreApi().readNamespacedConfigMap({ name: canary, namespace });
        return false;
      } catch {
        return true;
      }
    },
    {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: "the garbage collector to process the rollout's deletion (its canary ConfigMap gone)",
    },
  );
}

/** The StatefulSet, its pods (same uids) and the PDB are there, and nothing of Bulkhead's is left on them. */
async function expectOrphaned(namespace: string, podUids: string[]): Promise<void> {
  const sts = await appsApi().readNamespacedStatefulSet({ name: "web", namespace });
  expect(sts.metadata?.deletionTimestamp, "StatefulSet not being deleted").to.equal(undefined);
  expect(sts.metadata?.ownerReferences ?? [], "StatefulSet owners").to.deep.equal([]);
  expect(sts.metadata?.labels ?? {}, "StatefulSet labels").to.not.have.any.keys(
    "bulkhead.dev/managed",
    "bulkhead.dev/rollout",
  );
  expect(sts.metadata?.annotations ?? {}, "StatefulSet annotations").to.not.have.any.keys(
    "bulkhead.dev/template-hash",
    "bulkhead.dev/revision-history-limit",
  );
  // Kept on purpose (docs/install.md): changing either would replace pods.
  expect(sts.spec?.updateStrategy?.type).to.equal("OnDelete");
  expect(sts.spec?.template.metadata?.labels?.["bulkhead.dev/managed"]).to.equal("true");
  const pods = (await coreApi().listNamespacedPod({ namespace, labelSelector: "app=web" })).items;
  expect(pods.map((p) => p.metadata?.uid).sort(), "the same pods, none replaced").to.deep.equal([...podUids].sort());
  expect(
    pods.every((p) => !p.metadata?.deletionTimestamp),
    "no pod terminating",
  ).to.equal(true);
  const pdb = await policyApi().readNamespacedPodDisruptionBudget({ name: "web", namespace });
  expect(pdb.metadata?.deletionTimestamp).to.equal(undefined);
  expect(pdb.metadata?.ownerReferences ?? [], "PDB owners").to.deep.equal([]);
  expect(pdb.metadata?.labels ?? {}, "PDB labels").to.not.have.any.keys("bulkhead.dev/rollout");
}

async function gone(what: string, read: () => Promise<unknown>): Promise<void> {
  await waitFor(
    async () => {
      try {
        await read();
        return false;
      } catch {
        return true;
      }
    },
    { timeoutMs: 90_000, intervalMs: 250, what: `${what} to be deleted` },
  );
}

function evict(namespace: string, pod: string, dryRun: boolean) {
  return kubectl(["create", "--raw", `/api/v1/namespaces/${namespace}/pods/${pod}/eviction`, "-f", "-"], {
    input: JSON.stringify({
      apiVersion: "policy/v1",
      kind: "Eviction",
      metadata: { name: pod, namespace },
      ...(dryRun ? { deleteOptions: { dryRun: ["All"] } } : {}),
    }),
  });
}

describe("lifecycle: deleting and adopting never harms the workload", function () {
  this.timeout(300_000);
  let guard: LocalLeakGuard | undefined;
  const webhookName = `lifecycle-${Date.now().toString(36)}.e2e.bulkhead.dev`;

  before(async function () {
    await installRolloutCrd();
    await ensureControlNamespace();
    startReconciler("lifecycle-a");

    // The leak guard in-process, for this file's namespaces only: it shows that a split rollout
    // guards its old pods, and that after the rollout is deleted nothing does. Not this test's
    // user as the reconciler: its evictions must meet the guard like anyone's.
    guard = await startLocalLeakGuard("system:serviceaccount:bulkhead-system:not-this-test", logger);
    await admissionApi().createValidatingWebhookConfiguration({
      body: {
        metadata: { name: webhookName },
        webhooks: [
          {
            name: `eviction.${webhookName}`,
            clientConfig: guard.clientConfig("/validate/eviction"),
            rules: [
              {
                operations: ["CREATE"],
                apiGroups: [""],
                apiVersions: ["v1"],
                resources: ["pods/eviction"],
                scope: "Namespaced",
              },
            ],
            namespaceSelector: { matchLabels: { [LIFECYCLE_LABEL]: "true" } },
            admissionReviewVersions: ["v1"],
            sideEffects: "NoneOnDryRun",
            failurePolicy: "Fail",
            timeoutSeconds: 5,
          },
        ],
      },
    });
  });

  after(async function () {
    await admissionApi()
      .deleteValidatingWebhookConfiguration({ name: webhookName })
      .catch(() => undefined);
    await guard?.stop();
    for (const r of [...running]) await stopReconciler(r);
    // The CRD test deletes the CRD: later test files expect it served.
    await installRolloutCrd();
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") process.stderr.write(reconcilerLogTails());
  });

  it("deleting a split rollout leaves its StatefulSet, pods and PDB running, unowned, and no longer guarded", async () => {
    const ns = await newNamespace("lifecycle-orphan");
    await applyManifest(rolloutManifest(ns, { replicas: 4, image: "registry.example/app:v1" }));
    await waitStatus(ns, "created at 100%", (s) => s.phase === "RolloutDone");
    expect((await rollout(ns)).metadata.finalizers).to.include(ROLLOUT_FINALIZER);

    // Split it: 2 of 4 pods on v2, and the old revision's history kept while split.
    await applyManifest(rolloutManifest(ns, { replicas: 4, image: "registry.example/app:v2", percent: 50 }));
    const split = await waitStatus(
      ns,
      "done at 50%",
      (s) => s.phase === "RolloutDone" && s.currentRevision !== s.updateRevision,
    );
    const sts = await appsApi().readNamespacedStatefulSet({ name: "web", namespace: ns });
    expect(sts.spec?.revisionHistoryLimit, "history kept while split").to.equal(SPLIT_REVISION_HISTORY_LIMIT);
    expect(sts.metadata?.annotations?.["bulkhead.dev/revision-history-limit"]).to.equal("10");
    const pods = await readyPods(ns, 4);
    const oldPod = pods.find((p) => p.metadata?.labels?.["controller-revision-hash"] === split.currentRevision)!;
    expect(oldPod, "a pod on the old revision").to.not.equal(undefined);
    // Only now under the file's leak guard: it does not know this reconciler's user, so it would
    // refuse the rollout's own evictions.
    await kubectl(["label", "namespace", ns, `${LIFECYCLE_LABEL}=true`], { check: true });
    await waitFor(
      async () => {
        const r = await evict(ns, oldPod.metadata!.name!, true);
        return r.code !== 0 && r.stderr.includes("Bulkhead leak protection");
      },
      {
        timeoutMs: 30_000,
        intervalMs: 500,
        what: "the leak guard refusing a dry-run eviction of an old pod while managed",
      },
    );

    const canary = await gcCanary(ns);
    // kubectl waits until the rollout is gone, i.e. the reconciler released the workload.
    await kubectl(["delete", "sroll", "web", "--timeout=90s"], { namespace: ns, check: true });
    await gcProcessed(ns, canary);
    await expectOrphaned(
      ns,
      pods.map((p) => p.metadata!.uid!),
    );
    const released = await appsApi().readNamespacedStatefulSet({ name: "web", namespace: ns });
    expect(released.spec?.revisionHistoryLimit, "the limit saved when the split began is back").to.equal(10);

    // Nothing guards the old pods now: a real eviction goes through (the PDB still applies).
    await waitFor(async () => (await evict(ns, oldPod.metadata!.name!, false)).code === 0, {
      timeoutMs: 30_000,
      intervalMs: 500,
      what: "an eviction of an old pod to be allowed once the rollout is gone",
    });
  });

  it("deletionPolicy Delete: the garbage collector removes the StatefulSet, its pods and the PDB", async () => {
    const ns = await newNamespace("lifecycle-delete");
    await applyManifest(
      rolloutManifest(ns, { replicas: 2, image: "registry.example/app:v1", extra: { deletionPolicy: "Delete" } }),
    );
    await waitStatus(ns, "created", (s) => s.phase === "RolloutDone");
    await readyPods(ns, 2);
    await kubectl(["delete", "sroll", "web", "--timeout=90s"], { namespace: ns, check: true });
    await gone("StatefulSet web", () => appsApi().readNamespacedStatefulSet({ name: "web", namespace: ns }));
    await gone("PodDisruptionBudget web", () =>
      policyApi().readNamespacedPodDisruptionBudget({ name: "web", namespace: ns }),
    );
    await waitFor(
      async () => (await coreApi().listNamespacedPod({ namespace: ns, labelSelector: "app=web" })).items.length === 0,
      {
        timeoutMs: 90_000,
        intervalMs: 250,
        what: "the pods to be deleted",
      },
    );
  });

  it("adopts an unowned StatefulSet only with adoptExisting; a second rollout naming an owned one is refused", async () => {
    const ns = await newNamespace("lifecycle-adopt");
    // As a released StatefulSet is left (api/lifecycle.ts): OnDelete, and its pod template
    // labelled managed — so adopting it with the same template makes no new revision.
    const spec = statefulSetSpec(2, "registry.example/app:v1");
    spec.template.metadata.labels = {
      ...spec.template.metadata.labels,
      "bulkhead.dev/managed": "true",
    } as typeof spec.template.metadata.labels;
    await appsApi().createNamespacedStatefulSet({
      namespace: ns,
      body: {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: "web" },
        spec: { ...spec, updateStrategy: { type: "OnDelete" } },
      },
    });
    const pods = await readyPods(ns, 2);

    await applyManifest(rolloutManifest(ns, { replicas: 2, image: "registry.example/app:v1" }));
    const refused = await waitStatus(
      ns,
      "OwnershipConflict without adoptExisting",
      (s) => s.conditions?.some((c) => c.type === CONDITION_OWNERSHIP_CONFLICT && c.status === "True") === true,
    );
    expect(refused.phase).to.equal("Pending");
    expect(refused.reason).to.match(/already exists and no rollout owns it.*adoptExisting: true/);
    const untouched = await appsApi().readNamespacedStatefulSet({ name: "web", namespace: ns });
    expect(untouched.metadata?.ownerReferences ?? [], "not touched while refused").to.deep.equal([]);

    await applyManifest(
      rolloutManifest(ns, { replicas: 2, image: "registry.example/app:v1", extra: { adoptExisting: true } }),
    );
    const adopted = await waitStatus(ns, "adopted and done", (s) => s.phase === "RolloutDone");
    expect(adopted.adoptedAt).to.be.a("string");
    expect(adopted.conditions?.find((c) => c.type === CONDITION_OWNERSHIP_CONFLICT)?.status).to.equal("False");
    const owned = await appsApi().readNamespacedStatefulSet({ name: "web", namespace: ns });
    const uid = (await rollout(ns)).metadata.uid;
    expect(owned.metadata?.ownerReferences).to.deep.equal([
      {
        apiVersion: "bulkhead.dev/v1alpha1",
        kind: "StatefulsetRollout",
        name: "web",
        uid,
        controller: true,
        blockOwnerDeletion: false,
      },
    ]);
    const samePods = (await coreApi().listNamespacedPod({ namespace: ns, labelSelector: "app=web" })).items
      .map((p) => p.metadata?.uid)
      .sort();
    expect(samePods, "adopting the same template replaced no pod").to.deep.equal(
      pods.map((p) => p.metadata?.uid).sort(),
    );

    // A second rollout for the same StatefulSet: refused, naming the owner; nothing changes.
    await applyManifest(
      rolloutManifest(ns, {
        name: "web-2",
        statefulSet: "web",
        replicas: 2,
        image: "registry.example/app:v9",
        extra: { adoptExisting: true },
      }),
    );
    const second = await waitStatus(
      ns,
      "the second rollout refused",
      (s) => s.conditions?.some((c) => c.type === CONDITION_OWNERSHIP_CONFLICT && c.status === "True") === true,
      "web-2",
    );
    expect(second.reason).to.match(/already rolled out by StatefulsetRollout .*\/web;/);
    const after = await appsApi().readNamespacedStatefulSet({ name: "web", namespace: ns });
    expect(after.metadata?.ownerReferences?.map((o) => o.name)).to.deep.equal(["web"]);
    expect(after.spec?.template.spec?.containers[0]?.image).to.equal("registry.example/app:v1");
  });

  it("docs/install.md's uninstall step: --cascade=orphan on every rollout releases even a deletionPolicy Delete workload", async () => {
    const ns = await newNamespace("lifecycle-uninstall");
    await applyManifest(
      rolloutManifest(ns, { replicas: 2, image: "registry.example/app:v1", extra: { deletionPolicy: "Delete" } }),
    );
    await waitStatus(ns, "created", (s) => s.phase === "RolloutDone");
    const pods = await readyPods(ns, 2);
    const canary = await gcCanary(ns);
    // Every rollout of the cluster, as the docs say (those of earlier test files too: their
    // workloads are orphaned, which is what this step promises).
    await kubectl(
      ["delete", "statefulsetrollouts", "--all", "--all-namespaces", "--cascade=orphan", "--timeout=120s"],
      { check: true },
    );
    // The garbage collector orphans every dependent of an --cascade=orphan deletion: the canary too.
    await waitFor(
      async () =>
        ((await coreApi().readNamespacedConfigMap({ name: canary, namespace: ns })).metadata?.ownerReferences ?? [])
          .length === 0,
      {
        timeoutMs: 60_000,
        intervalMs: 250,
        what: "the garbage collector to orphan the rollout's dependents",
      },
    );
    await expectOrphaned(
      ns,
      pods.map((p) => p.metadata!.uid!),
    );
  });

  // Last: it deletes the CRD for the whole cluster (reinstalled in after()).
  it("deleting the CRD orphans every managed StatefulSet instead of deleting it", async () => {
    const ns = await newNamespace("lifecycle-crd");
    await applyManifest(rolloutManifest(ns, { replicas: 2, image: "registry.example/app:v1" }));
    await waitStatus(ns, "created", (s) => s.phase === "RolloutDone");
    const pods = await readyPods(ns, 2);
    const canary = await gcCanary(ns);
    // The apiserver deletes every StatefulsetRollout first; the running reconciler releases each.
    await kubectl(["delete", "crd", CRD, "--timeout=120s"], { check: true });
    await gcProcessed(ns, canary);
    await expectOrphaned(
      ns,
      pods.map((p) => p.metadata!.uid!),
    );
  });
});
