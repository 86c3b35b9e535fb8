// Admission of StatefulsetRollouts and the two-step bypasses (issue 12, items 2-4), on the real
// control plane: the webhook runs in this process on 127.0.0.1 with its real wiring (informer
// caches, Secret-backed certificate, CA injection, a real dry-run through the apiserver), the
// chart's webhook configurations point the apiserver at it, and kubectl does the writes — as
// admin, as a normal user (alice), as the reconciler and as the garbage collector.
import { expect } from "chai";
import { join } from "node:path";
import { pino } from "pino";
import type { HealthGateInstall } from "../../api/rollout-admission.js";
import type { WebhookCaches } from "../../webhook/caches.js";
import { createRolloutValidateHandler } from "../../webhook/rollout-handlers.js";
import { webhookRoutes } from "../../webhook/routes.js";
import { appsApi, coreApi, kubectl, newNamespace, REPO_ROOT, waitFor } from "./support/cluster.js";
import { startInstalledWebhook, type InstalledWebhook } from "./support/local-webhook.js";

const RELEASE = "bulkhead-e2e-admission";
const RECONCILER = "system:serviceaccount:bulkhead-system:bulkhead-reconciler";
const GARBAGE_COLLECTOR = "system:serviceaccount:kube-system:generic-garbage-collector";

/**
 * The seed's StatefulsetRollout exactly as printed (../shared/seeds/001_75cf1a72336184f4.txt),
 * one-space indentation and `containers:` as a map included. Only the API group and the two
 * namespaces are ours: kubectl cannot apply bedrock.operator.slack.com/v1 here, nor into "default".
 */
const SEED_ROLLOUT = (namespace: string) => `apiVersion: bulkhead.dev/v1alpha1
kind: StatefulsetRollout
metadata:
 annotations:
   slack.com/bedrock.git.branch: master
   slack.com/bedrock.git.origin: git@internal-github.com:slack/bedrock-tester.git
 labels:
   app: bedrock-tester-sts-dev
   app.kubernetes.io/version: v1.custom-1709074522
 name: bedrock-tester-sts-dev
 namespace: ${namespace}
spec:
 bapi:
   bapiUrl: http://bedrock-api.internal.url
   stageId: 2dD2a0GTleDCxkfFXD3n0q9msql
 channel: '#devel-rollout-operator-notifications'
 minPodEvictionIntervalSeconds: 10
 pauseRequested: false
 percent: 25
 rolloutIdentity: GbTdWjQYgiiToKdoWDLN
 serviceDiscovery:
   dc: cloud1
   serviceNames:
   - bedrock-tester-sts
 statefulset:
   apiVersion: apps/v1
   kind: StatefulSet
   metadata:
     annotations:
       slack.com/bedrock.git.origin: git@internal-github.com:slack/bedrock-tester.git
     labels:
       app: bedrock-tester-sts-dev
     name: bedrock-tester-sts-dev
     namespace: ${namespace}
   spec:
     replicas: 4
     selector:
       matchLabels:
         app: bedrock-tester-sts-dev
     template:
       metadata:
         annotations:
           slack.com/bedrock.git.origin: git@internal-github.com:slack/bedrock-tester.git
         labels:
           app: bedrock-tester-sts-dev
       spec:
         containers:
           image: account-id.dkr.ecr.us-east-1.amazonaws.com/bedrock-tester@sha256:SHA
           name: bedrock-tester
     updateStrategy:
       type: OnDelete
`;

function statefulSetSpec(name: string, image = "registry.example/db:v1") {
  return {
    replicas: 0,
    serviceName: name,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "db", image }] } },
  };
}

function rollout(
  name: string,
  stsName: string,
  spec: Record<string, unknown> = {},
  stsOverrides: { annotations?: Record<string, string>; image?: string } = {},
) {
  return {
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: { name },
    spec: {
      percent: 100,
      statefulset: {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: stsName, ...(stsOverrides.annotations ? { annotations: stsOverrides.annotations } : {}) },
        spec: statefulSetSpec(stsName, stsOverrides.image),
      },
      ...spec,
    },
  };
}

/** A managed StatefulSet as the reconciler creates it, owned by `owner` when given. */
function ownedStatefulSet(name: string, owner?: { name: string; uid: string }, annotations?: Record<string, string>) {
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: {
      name,
      labels: { app: name, "bulkhead.dev/managed": "true" },
      ...(annotations ? { annotations } : {}),
      ...(owner
        ? {
            ownerReferences: [
              {
                apiVersion: "bulkhead.dev/v1alpha1",
                kind: "StatefulsetRollout",
                name: owner.name,
                uid: owner.uid,
                controller: true,
              },
            ],
          }
        : {}),
    },
    spec: { ...statefulSetSpec(name), updateStrategy: { type: "OnDelete" } },
  };
}

describe("admission of rollouts and the two-step bypasses, on a real control plane", function () {
  this.timeout(120_000);
  let systemNs: string;
  let ns: string;
  let webhook: InstalledWebhook | undefined;
  let caches: WebhookCaches;
  /** What this in-process install says about serviceDiscovery without Consul; one test flips it to report. */
  const install: HealthGateInstall = { consulConfigured: false, unchecked: "refuse" };

  const apply = (object: unknown, as?: string) =>
    kubectl([...(as ? [`--as=${as}`] : []), "apply", "-f", "-"], {
      namespace: ns,
      input: typeof object === "string" ? object : JSON.stringify(object),
    });
  const uidOf = async (kind: string, name: string) =>
    (await kubectl(["get", kind, name, "-o", "jsonpath={.metadata.uid}"], { namespace: ns, check: true })).stdout;

  before(async () => {
    await kubectl(["apply", "-f", join(REPO_ROOT, "charts/bulkhead/crds")], { check: true });
    await kubectl(["wait", "--for=condition=Established", "crd/statefulsetrollouts.bulkhead.dev", "--timeout=30s"], {
      check: true,
    });
    systemNs = await newNamespace("bulkhead-system");
    ns = await newNamespace("admission", { optIn: true });
    await kubectl(["create", "rolebinding", "editors", "--clusterrole=edit", "--user=alice", `--user=${RECONCILER}`], {
      namespace: ns,
      check: true,
    });
    // edit does not cover the CRD's group: let alice write rollouts too.
    await kubectl(
      [
        "create",
        "role",
        "rollouts",
        "--verb=get,list,create,update,patch",
        "--resource=statefulsetrollouts.bulkhead.dev",
      ],
      { namespace: ns, check: true },
    );
    await kubectl(["create", "rolebinding", "rollouts", "--role=rollouts", "--user=alice"], {
      namespace: ns,
      check: true,
    });

    const logger = pino({ level: process.env.BULKHEAD_E2E_LOG ?? "silent" });
    webhook = await startInstalledWebhook({
      release: RELEASE,
      systemNamespace: systemNs,
      reconcilerUsername: RECONCILER,
      logger,
      routes: ({ ctx, events, liveRollouts, rolloutApi }) => [
        ...webhookRoutes({ ctx, events, liveRollouts }),
        // The handler main.ts wires (through webhookRoutes), with the install settings held here so
        // a test can switch modes.
        {
          path: "/validate/statefulsetrollout",
          maxBodyBytes: 4 * 1024 * 1024,
          handler: createRolloutValidateHandler({
            ...rolloutApi,
            install,
            view: ctx.view,
            logger,
            registry: ctx.metrics.registry,
          }),
        },
      ],
    });
    caches = webhook.caches;
    // The apiserver picks configurations up asynchronously: wait until the rollout webhook answers.
    await waitFor(
      async () => {
        // Only the webhook refuses this one (no CEL rule covers serviceDiscovery).
        const probe = rollout("probe", "probe", { serviceDiscovery: { dc: "dc1", serviceNames: ["probe"] } });
        const r = await kubectl(["apply", "--dry-run=server", "-f", "-"], {
          namespace: ns,
          input: JSON.stringify(probe),
        });
        return r.code !== 0 && r.stderr.includes("statefulsetrollout.validate.bulkhead.dev");
      },
      { timeoutMs: 30_000, intervalMs: 500, what: "the apiserver to call /validate/statefulsetrollout" },
    );
  });

  after(async () => {
    await webhook?.stop();
  });

  describe("/validate/statefulsetrollout", () => {
    it("accepts a valid rollout, and an update of one whose StatefulSet exists (the dry-run runs under another name)", async () => {
      const created = await apply(rollout("valid", "valid-db"));
      expect(created.code, created.stderr).to.equal(0);
      const uid = await uidOf("sroll", "valid");
      expect((await apply(ownedStatefulSet("valid-db", { name: "valid", uid }))).code).to.equal(0);
      await waitFor(() => caches.statefulSets.get(ns, "valid-db"), { what: "valid-db in the webhook's cache" });
      // A dry-run create under the real name would be AlreadyExists, a dry-run update a refused template change.
      const updated = await apply(rollout("valid", "valid-db", {}, { image: "registry.example/db:v2" }), "alice");
      expect(updated.code, updated.stderr).to.equal(0);
      expect(updated.stderr).not.to.match(/not checked by a dry-run/);
      // Nothing was created by the dry-runs.
      const all = await appsApi().listNamespacedStatefulSet({ namespace: ns });
      expect(all.items.map((s) => s.metadata?.name)).to.deep.equal(["valid-db"]);
    });

    it("refuses a second rollout naming an owned StatefulSet, naming the owner", async () => {
      await apply(rollout("primary", "shared-db"));
      const uid = await uidOf("sroll", "primary");
      expect((await apply(ownedStatefulSet("shared-db", { name: "primary", uid }))).code).to.equal(0);
      const second = await apply(rollout("secondary", "shared-db"), "alice");
      expect(second.code).to.not.equal(0);
      expect(second.stderr).to.contain(
        'admission webhook "statefulsetrollout.validate.bulkhead.dev" denied the request',
      );
      expect(second.stderr).to.contain(
        `StatefulSet ${ns}/shared-db is already rolled out by StatefulsetRollout ${ns}/primary`,
      );
      expect((await kubectl(["get", "sroll", "secondary"], { namespace: ns })).code).to.not.equal(0);
    });

    it("refuses taking over an unowned StatefulSet unless adoptExisting is set", async () => {
      expect((await apply(ownedStatefulSet("orphan-db"))).code).to.equal(0);
      const refused = await apply(rollout("taker", "orphan-db"));
      expect(refused.code).to.not.equal(0);
      expect(refused.stderr).to.contain(`StatefulSet ${ns}/orphan-db already exists and no rollout owns it`);
      const adopted = await apply(rollout("taker", "orphan-db", { adoptExisting: true }));
      expect(adopted.code, adopted.stderr).to.equal(0);
    });

    it("refuses the seed's rollout as printed with the apiserver's own message about containers", async () => {
      const r = await kubectl(["apply", "-f", "-"], { namespace: ns, input: SEED_ROLLOUT(ns) });
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.contain('admission webhook "statefulsetrollout.validate.bulkhead.dev" denied the request');
      expect(r.stderr).to.match(
        /spec\.statefulset is not a StatefulSet the apiserver accepts; it says: .*spec\.template\.spec\.containers/,
      );
      expect(r.stderr).to.match(/cannot unmarshal object/);
      expect(r.stderr).to.contain("bedrock-tester-sts-dev");
      // The same install has no Consul: the health gate is the second problem listed.
      expect(r.stderr).to.match(/spec\.serviceDiscovery asks for a Consul health gate \(dc cloud1/);
    });

    it("refuses an invalid template with the field path the apiserver names", async () => {
      const noImage = rollout("no-image", "no-image-db");
      (noImage.spec.statefulset.spec.template.spec.containers[0] as { image?: string }).image = undefined;
      const r = await apply(noImage);
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.match(/spec\.template\.spec\.containers\[0\]\.image: Required value/);
      expect(r.stderr).to.contain("no-image-db");
    });

    it("refuses phases [50, 1] and phases ending below percent (CEL rules in the CRD, checked by the apiserver)", async () => {
      const down = await apply(rollout("down", "down-db", { phases: [50, 1] }));
      expect(down.code).to.not.equal(0);
      expect(down.stderr).to.contain("phases must be strictly increasing");
      const dup = await apply(rollout("dup", "dup-db", { phases: [1, 50, 50, 100] }));
      expect(dup.stderr).to.contain("phases must be strictly increasing");
      const short = await apply(rollout("short", "short-db", { phases: [1, 50] }));
      expect(short.code).to.not.equal(0);
      expect(short.stderr).to.contain("the last of spec.phases is below spec.percent");
      // Phases above percent are fine: percent is where the rollout stops.
      const capped = await apply(rollout("capped", "capped-db", { phases: [1, 50, 100], percent: 25 }));
      expect(capped.code, capped.stderr).to.equal(0);
      // An update that changes neither is not judged again; raising percent past the last phase is.
      const lowered = await apply(
        rollout("capped", "capped-db", { phases: [1, 50, 100], percent: 25, pauseRequested: true }),
      );
      expect(lowered.code, lowered.stderr).to.equal(0);
      const tooFar = await apply(rollout("lower", "lower-db", { phases: [1, 10], percent: 10 }));
      expect(tooFar.code, tooFar.stderr).to.equal(0);
      const raised = await apply(rollout("lower", "lower-db", { phases: [1, 10], percent: 100 }));
      expect(raised.code).to.not.equal(0);
      expect(raised.stderr).to.contain("the last of spec.phases is below spec.percent");
    });

    it("refuses a zero budget wherever a rollout can carry one", async () => {
      const onAnnotation = await apply(
        rollout("zero-a", "zero-a-db", {}, { annotations: { "bulkhead.dev/max-unavailable": "0" } }),
      );
      expect(onAnnotation.code).to.not.equal(0);
      expect(onAnnotation.stderr).to.contain(
        'spec.statefulset.metadata.annotations["bulkhead.dev/max-unavailable"]: "0" allows no pod to be disrupted',
      );
      const onPolicy = await apply(rollout("zero-p", "zero-p-db", { disruptionPolicy: { maxUnavailable: "0%" } }));
      expect(onPolicy.code).to.not.equal(0);
      expect(onPolicy.stderr).to.contain("a budget of 0 would block every wave");
    });

    it("refuses serviceDiscovery with no Consul, and only warns in a report-only install", async () => {
      const sd = { serviceDiscovery: { dc: "dc1", serviceNames: ["db"] } };
      const refused = await apply(rollout("gated", "gated-db", sd));
      expect(refused.code).to.not.equal(0);
      expect(refused.stderr).to.match(
        /spec\.serviceDiscovery asks for a Consul health gate \(dc dc1, services db\), but this Bulkhead install has no Consul configured/,
      );
      install.unchecked = "report";
      try {
        const warned = await apply(rollout("gated", "gated-db", sd));
        expect(warned.code, warned.stderr).to.equal(0);
        expect(warned.stderr).to.match(
          /Warning: spec\.serviceDiscovery asks for a Consul health gate .*only reports it/,
        );
      } finally {
        install.unchecked = "refuse";
      }
    });
  });

  describe("no two-step bypass", () => {
    it("a StatefulSet's zero max-unavailable annotation is refused", async () => {
      const r = await apply(ownedStatefulSet("zero-sts", undefined, { "bulkhead.dev/max-unavailable": "0" }));
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.contain('annotation bulkhead.dev/max-unavailable: "0" allows no pod to be disrupted');
    });

    it("removing a rollout's ownerReference is refused for users, allowed for the reconciler and the garbage collector", async () => {
      await apply(rollout("guarded", "guarded-db"));
      const uid = await uidOf("sroll", "guarded");
      for (const name of ["guarded-db", "gc-db", "rec-db"])
        expect((await apply(ownedStatefulSet(name, { name: "guarded", uid }))).code).to.equal(0);
      const drop = ["patch", "--type=json", "-p", '[{"op":"remove","path":"/metadata/ownerReferences"}]'];

      const byAlice = await kubectl(["--as=alice", ...drop, "statefulset/guarded-db"], { namespace: ns });
      expect(byAlice.code).to.not.equal(0);
      expect(byAlice.stderr).to.contain("only the Bulkhead reconciler may remove or change that ownerReference");
      expect(byAlice.stderr).to.contain(
        `kubectl delete sroll guarded -n ${ns}): the StatefulSet, its pods and its PDB keep running, unowned`,
      );
      expect(
        (await appsApi().readNamespacedStatefulSet({ name: "guarded-db", namespace: ns })).metadata?.ownerReferences,
      ).to.have.length(1);

      const byGc = await kubectl([`--as=${GARBAGE_COLLECTOR}`, ...drop, "statefulset/gc-db"], { namespace: ns });
      expect(byGc.code, byGc.stderr).to.equal(0);
      const byReconciler = await kubectl([`--as=${RECONCILER}`, ...drop, "statefulset/rec-db"], { namespace: ns });
      expect(byReconciler.code, byReconciler.stderr).to.equal(0);
    });

    it("removing the managed label or rewriting the revision label of a managed pod is refused", async () => {
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: "lonely-0",
          labels: { app: "lonely", "bulkhead.dev/managed": "true", "controller-revision-hash": "lonely-aaa" },
        },
        spec: { containers: [{ name: "c", image: "registry.example/db:v1" }] },
      };
      await coreApi().createNamespacedPod({ namespace: ns, body: pod });
      const unlabel = await kubectl(["--as=alice", "label", "pod", "lonely-0", "bulkhead.dev/managed-"], {
        namespace: ns,
      });
      expect(unlabel.code).to.not.equal(0);
      expect(unlabel.stderr).to.contain('admission webhook "pod-update.validate.bulkhead.dev" denied the request');
      expect(unlabel.stderr).to.contain("removes the bulkhead.dev/managed label");
      const relabel = await kubectl(
        ["--as=alice", "label", "pod", "lonely-0", "controller-revision-hash=lonely-bbb", "--overwrite"],
        { namespace: ns },
      );
      expect(relabel.code).to.not.equal(0);
      expect(relabel.stderr).to.contain("changes controller-revision-hash");
      const dropRevision = await kubectl(["--as=alice", "label", "pod", "lonely-0", "controller-revision-hash-"], {
        namespace: ns,
      });
      expect(dropRevision.code).to.not.equal(0);
      // Other labels are fine, and the reconciler may orphan the pod.
      expect((await kubectl(["--as=alice", "label", "pod", "lonely-0", "team=db"], { namespace: ns })).code).to.equal(
        0,
      );
      const orphaned = await kubectl([`--as=${RECONCILER}`, "label", "pod", "lonely-0", "bulkhead.dev/managed-"], {
        namespace: ns,
      });
      expect(orphaned.code, orphaned.stderr).to.equal(0);
      const stored = await coreApi().readNamespacedPod({ name: "lonely-0", namespace: ns });
      // The apiserver copies the node's topology.kubernetes.io labels onto a pod at binding (the
      // KWOK nodes carry zones); they are not the pod author's and not what this test is about.
      const own = Object.entries(stored.metadata?.labels ?? {}).filter(
        ([k]) => !k.startsWith("topology.kubernetes.io/"),
      );
      expect(Object.fromEntries(own)).to.deep.equal({
        app: "lonely",
        "controller-revision-hash": "lonely-aaa",
        team: "db",
      });
    });
  });
});
