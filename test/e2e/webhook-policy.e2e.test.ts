// The webhook's StatefulSet and PDB policy on a real control plane: the webhook runs in this
// process on 127.0.0.1 with its real wiring (informer caches, Secret-backed certificate, CA
// injection), the chart's webhook configurations point the apiserver at it, and kubectl does the
// writes — as admin, as a normal user (alice) and as the reconciler.
import { expect } from "chai";
import { join } from "node:path";
import { pino } from "pino";
import type { SecretCertificateManager } from "../../certs/secret-manager.js";
import type { WebhookCaches } from "../../webhook/context.js";
import type { RunningServer } from "../../webhook/server.js";
import {
  REPO_ROOT,
  admissionApi,
  appsApi,
  coreApi,
  customObjectsApi,
  kubectl,
  newNamespace,
  waitFor,
} from "./support/cluster.js";
import { startInstalledWebhook, type InstalledWebhook } from "./support/local-webhook.js";

const RELEASE = "bulkhead-e2e-policy";
const RECONCILER = "system:serviceaccount:bulkhead-system:bulkhead-reconciler";

function statefulSet(name: string, options: { image?: string; ownerUid?: string; managed?: boolean } = {}) {
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: {
      name,
      labels: { app: name, ...(options.managed === false ? {} : { "bulkhead.dev/managed": "true" }) },
      ...(options.ownerUid
        ? {
            ownerReferences: [
              {
                apiVersion: "bulkhead.dev/v1alpha1",
                kind: "StatefulsetRollout",
                name,
                uid: options.ownerUid,
                controller: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      replicas: 0,
      serviceName: name,
      selector: { matchLabels: { app: name } },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 0 } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: "app", image: options.image ?? "registry.example/app:v1" }] },
      },
    },
  };
}

describe("webhook policy on a real control plane", function () {
  this.timeout(120_000);
  let systemNs: string;
  let optedIn: string;
  let plain: string;
  let webhook: InstalledWebhook | undefined;
  let server: RunningServer;
  let certificates: SecretCertificateManager;
  let caches: WebhookCaches;

  before(async () => {
    // The CRD, so the rollouts informer and the owner objects exist.
    await kubectl(["apply", "-f", join(REPO_ROOT, "charts/bulkhead/crds")], { check: true });
    await kubectl(["wait", "--for=condition=Established", "crd/statefulsetrollouts.bulkhead.dev", "--timeout=30s"], {
      check: true,
    });
    systemNs = await newNamespace("bulkhead-system");
    optedIn = await newNamespace("policy-on", { optIn: true });
    plain = await newNamespace("policy-off");
    // Authorization comes before admission: alice and the reconciler may edit in the opted-in namespace.
    await kubectl(["create", "rolebinding", "editors", "--clusterrole=edit", "--user=alice", `--user=${RECONCILER}`], {
      namespace: optedIn,
      check: true,
    });

    // Every route main.ts serves, /validate/statefulsetrollout (with its real dry-run) included.
    webhook = await startInstalledWebhook({
      release: RELEASE,
      systemNamespace: systemNs,
      reconcilerUsername: RECONCILER,
      logger: pino({ level: process.env.BULKHEAD_E2E_LOG ?? "silent" }),
    });
    ({ caches, certificates, server } = webhook);
    // Registered without a caBundle (bulkhead.dev/inject-ca): the certificate manager injected it.
    expect(webhook.manifest).to.contain('bulkhead.dev/inject-ca: "true"');

    // The apiserver picks configurations up asynchronously: wait until a dry run is mutated.
    await waitFor(
      async () => {
        const r = await kubectl(["apply", "--dry-run=server", "-o", "json", "-f", "-"], {
          namespace: optedIn,
          input: JSON.stringify(statefulSet("probe")),
        });
        return (
          r.code === 0 &&
          (JSON.parse(r.stdout) as { spec: { updateStrategy: { type: string } } }).spec.updateStrategy.type ===
            "OnDelete"
        );
      },
      { timeoutMs: 30_000, intervalMs: 500, what: "the apiserver to call the mutating webhook" },
    );
  });

  after(async () => {
    await webhook?.stop();
  });

  it("stored the certificate pair in a Secret and injected its CA into both configurations", async () => {
    const secret = await coreApi().readNamespacedSecret({ name: "bulkhead-webhook-tls", namespace: systemNs });
    expect(secret.type).to.equal("kubernetes.io/tls");
    const ca = Buffer.from(secret.data!["ca.crt"]!, "base64").toString();
    expect(ca).to.equal(certificates.current()?.caBundle);
    const caB64 = Buffer.from(ca).toString("base64");
    const mutating = await admissionApi().readMutatingWebhookConfiguration({ name: RELEASE });
    const validating = await admissionApi().readValidatingWebhookConfiguration({ name: RELEASE });
    for (const webhook of [...mutating.webhooks!, ...validating.webhooks!]) {
      expect(webhook.clientConfig.caBundle, webhook.name).to.equal(caB64);
      expect(webhook.clientConfig.url).to.match(new RegExp(`^https://127\\.0\\.0\\.1:${server.port}/`));
    }
    // A second pass finds nothing to patch.
    const before = mutating.metadata!.resourceVersion;
    await certificates.sync();
    expect(
      (await admissionApi().readMutatingWebhookConfiguration({ name: RELEASE })).metadata!.resourceVersion,
    ).to.equal(before);
  });

  it("kubectl apply of a RollingUpdate StatefulSet in an opted-in namespace is stored as OnDelete, with a warning", async () => {
    const r = await kubectl(["apply", "-f", "-"], { namespace: optedIn, input: JSON.stringify(statefulSet("web")) });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/Warning: StatefulSet .*\/web is managed by Bulkhead but no StatefulsetRollout exists/);
    const stored = await appsApi().readNamespacedStatefulSet({ name: "web", namespace: optedIn });
    expect(stored.spec?.updateStrategy).to.deep.equal({ type: "OnDelete" });
    expect(stored.spec?.template.metadata?.labels).to.deep.equal({ app: "web", "bulkhead.dev/managed": "true" });
    expect(stored.metadata?.annotations?.["bulkhead.dev/max-unavailable"]).to.equal("25%");
  });

  it("leaves StatefulSets in namespaces that did not opt in untouched", async () => {
    await kubectl(["apply", "-f", "-"], { namespace: plain, input: JSON.stringify(statefulSet("web")), check: true });
    const stored = await appsApi().readNamespacedStatefulSet({ name: "web", namespace: plain });
    expect(stored.spec?.updateStrategy?.type).to.equal("RollingUpdate");
    expect(stored.spec?.template.metadata?.labels).to.deep.equal({ app: "web" });
    expect(stored.metadata?.annotations?.["bulkhead.dev/max-unavailable"]).to.equal(undefined);
  });

  it("refuses a template change by a normal user on a rollout-owned StatefulSet, and lets the reconciler make it", async () => {
    const rollout = (await customObjectsApi().createNamespacedCustomObject({
      group: "bulkhead.dev",
      version: "v1alpha1",
      namespace: optedIn,
      plural: "statefulsetrollouts",
      body: {
        apiVersion: "bulkhead.dev/v1alpha1",
        kind: "StatefulsetRollout",
        metadata: { name: "owned" },
        spec: { statefulset: statefulSet("owned"), percent: 100 },
      },
    })) as { metadata: { uid: string } };
    await kubectl(["apply", "-f", "-"], {
      namespace: optedIn,
      input: JSON.stringify(statefulSet("owned", { ownerUid: rollout.metadata.uid })),
      check: true,
    });

    const edit = await kubectl(["--as=alice", "set", "image", "statefulset/owned", "app=registry.example/app:v2"], {
      namespace: optedIn,
    });
    expect(edit.code).to.not.equal(0);
    expect(edit.stderr).to.contain('admission webhook "statefulset.validate.bulkhead.dev" denied the request');
    expect(edit.stderr).to.contain(`kubectl edit sroll owned -n ${optedIn}`);
    const unchanged = await appsApi().readNamespacedStatefulSet({ name: "owned", namespace: optedIn });
    expect(unchanged.spec?.template.spec?.containers[0]?.image).to.equal("registry.example/app:v1");

    // Not a template change: alice may scale it.
    await kubectl(["--as=alice", "scale", "statefulset/owned", "--replicas=0"], { namespace: optedIn, check: true });
    // Switching to RollingUpdate is refused for everyone (the mutating webhook forces OnDelete first,
    // so this shows as a no-op rather than a denial).
    await kubectl(
      [
        "--as=alice",
        "patch",
        "statefulset/owned",
        "--type=merge",
        "-p",
        '{"spec":{"updateStrategy":{"type":"RollingUpdate"}}}',
      ],
      { namespace: optedIn, check: true },
    );
    expect(
      (await appsApi().readNamespacedStatefulSet({ name: "owned", namespace: optedIn })).spec?.updateStrategy?.type,
    ).to.equal("OnDelete");

    const byReconciler = await kubectl(
      [`--as=${RECONCILER}`, "set", "image", "statefulset/owned", "app=registry.example/app:v2"],
      { namespace: optedIn },
    );
    expect(byReconciler.code, byReconciler.stderr).to.equal(0);
    const changed = await appsApi().readNamespacedStatefulSet({ name: "owned", namespace: optedIn });
    expect(changed.spec?.template.spec?.containers[0]?.image).to.equal("registry.example/app:v2");
  });

  it("defaults a PDB over managed pods and refuses a zero budget unless annotated", async () => {
    await waitFor(() => caches.managedStatefulSets.get(optedIn, "web"), {
      what: "the managed StatefulSet in the webhook's cache",
    });
    const pdb = (name: string, spec: Record<string, unknown>, annotations?: Record<string, string>) =>
      JSON.stringify({
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: { name, ...(annotations ? { annotations } : {}) },
        spec: { selector: { matchLabels: { app: "web" } }, ...spec },
      });

    await kubectl(["apply", "-f", "-"], { namespace: optedIn, input: pdb("defaulted", {}), check: true });
    const stored = await kubectl(["get", "pdb", "defaulted", "-o", "json"], { namespace: optedIn, check: true });
    expect((JSON.parse(stored.stdout) as { spec: unknown }).spec).to.deep.include({
      maxUnavailable: "25%",
      unhealthyPodEvictionPolicy: "AlwaysAllow",
    });

    const zero = await kubectl(["apply", "-f", "-"], { namespace: optedIn, input: pdb("zero", { maxUnavailable: 0 }) });
    expect(zero.code).to.not.equal(0);
    expect(zero.stderr).to.contain("allows no disruption, so every rollout would stall");
    await kubectl(["apply", "-f", "-"], {
      namespace: optedIn,
      input: pdb("zero", { maxUnavailable: 0 }, { "bulkhead.dev/allow-zero-budget": "true" }),
      check: true,
    });

    const min = await kubectl(["apply", "-f", "-"], { namespace: optedIn, input: pdb("min", { minAvailable: 1 }) });
    expect(min.code, min.stderr).to.equal(0);
    expect(min.stderr).to.match(/Warning: .*maxUnavailable is preferred/);
  });
});
