// Proves the e2e control plane is real: the StatefulSet controller, the disruption
// controller, the Eviction API, admission webhooks and pod GC all behave like a cluster's.
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import forge from "node-forge";
import { CoreV1Api, type V1Pod, type V1StatefulSet } from "@kubernetes/client-node";
import {
  admissionApi,
  allowPodRecreations,
  allowPodRecreationsFromNode,
  appsApi,
  applyManifest,
  coreApi,
  kubeConfigForToken,
  kubectl,
  newNamespace,
  policyApi,
  waitFor,
} from "./support/cluster.js";

const LABELS = { app: "cp-e2e" };

/** What the test webhook server records for each call. */
interface CapturedReview {
  path: string | undefined;
  apiVersion?: string;
  kind?: string;
  request?: {
    uid: string;
    name?: string;
    namespace?: string;
    operation?: string;
    subResource?: string;
    dryRun?: boolean;
    resource?: { group: string; version: string; resource: string };
    object?: { kind?: string };
    userInfo?: { username?: string; groups?: string[] };
  };
}

function isReady(pod: V1Pod): boolean {
  return (
    pod.status?.phase === "Running" &&
    (pod.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")
  );
}

function statefulSet(name: string, replicas: number): V1StatefulSet {
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name, labels: LABELS },
    spec: {
      replicas,
      serviceName: name,
      podManagementPolicy: "Parallel",
      updateStrategy: { type: "OnDelete" },
      selector: { matchLabels: LABELS },
      template: {
        metadata: { labels: LABELS },
        spec: {
          containers: [
            {
              name: "app",
              image: "registry.example/bulkhead/app:v1",
              resources: { requests: { cpu: "100m", memory: "64Mi" } },
            },
          ],
          terminationGracePeriodSeconds: 5,
        },
      },
    },
  };
}

async function listPods(namespace: string): Promise<V1Pod[]> {
  const list = await coreApi().listNamespacedPod({ namespace, labelSelector: "app=cp-e2e" });
  return list.items;
}

async function readyPods(namespace: string, want: number): Promise<V1Pod[] | undefined> {
  const pods = await listPods(namespace);
  const ready = pods.filter((p) => isReady(p) && !p.metadata?.deletionTimestamp);
  return ready.length === want && pods.length === want ? pods : undefined;
}

function errorCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

/** A self-signed serving certificate for 127.0.0.1, made with node-forge. */
function selfSignedCert(): { certPem: string; keyPem: string } {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = "01" + forge.util.bytesToHex(forge.random.getBytesSync(8));
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  const subject = [{ name: "commonName", value: "bulkhead-e2e-webhook" }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: "basicConstraints", cA: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, keyCertSign: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: [
        { type: 7, ip: "127.0.0.1" },
        { type: 2, value: "localhost" },
      ],
    },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

describe("e2e control plane", function () {
  this.timeout(60_000);
  let ns: string;
  let createdAt = 0;
  const sts = "web";

  before(async function () {
    ns = await newNamespace("controlplane");
    await coreApi().createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: sts },
        spec: { clusterIP: "None", selector: LABELS, ports: [{ name: "http", port: 80 }] },
      },
    });
    createdAt = Date.now();
    await appsApi().createNamespacedStatefulSet({ namespace: ns, body: statefulSet(sts, 10) });
  });

  it("runs a 10-replica OnDelete StatefulSet as 10 Running+Ready pods on KWOK nodes", async function () {
    const pods = await waitFor(() => readyPods(ns, 10), {
      timeoutMs: 45_000,
      intervalMs: 50,
      what: "10 Ready pods of StatefulSet web",
    });
    const elapsed = Date.now() - createdAt;
    expect(pods.map((p) => p.metadata?.name).sort()).to.deep.equal([...Array(10).keys()].map((i) => `web-${i}`).sort());
    for (const p of pods) {
      expect(p.spec?.nodeName, `${p.metadata?.name} node`).to.match(/^kwok-node-\d+$/);
      expect(p.status?.podIP, `${p.metadata?.name} podIP`).to.be.a("string");
    }
    const set = await appsApi().readNamespacedStatefulSet({ name: sts, namespace: ns });
    expect(set.spec?.updateStrategy?.type).to.equal("OnDelete");
    await waitFor(
      async () =>
        (await appsApi().readNamespacedStatefulSet({ name: sts, namespace: ns })).status?.readyReplicas === 10,
      {
        what: "StatefulSet status.readyReplicas == 10",
      },
    );
    // the pods are spread over more than one fake node by the real scheduler
    expect(new Set(pods.map((p) => p.spec?.nodeName)).size).to.be.greaterThan(1);
    console.log(`      (10 pods Ready ${elapsed}ms after the StatefulSet was created)`);
  });

  it("has the disruption controller compute a PDB's disruptionsAllowed", async function () {
    await policyApi().createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: { metadata: { name: sts }, spec: { maxUnavailable: 2, selector: { matchLabels: LABELS } } },
    });
    const status = await waitFor(
      async () => {
        const pdb = await policyApi().readNamespacedPodDisruptionBudget({ name: sts, namespace: ns });
        const s = pdb.status;
        return s &&
          s.observedGeneration === pdb.metadata?.generation &&
          s.expectedPods === 10 &&
          s.disruptionsAllowed === 2
          ? s
          : undefined;
      },
      { what: "PDB status disruptionsAllowed == 2" },
    );
    expect(status.currentHealthy).to.equal(10);
    expect(status.desiredHealthy).to.equal(8);
  });

  it("refuses an eviction with 429 when the budget is spent, allows it otherwise, and the pod is recreated", async function () {
    const core = coreApi();
    const evict = (name: string) =>
      core.createNamespacedPodEviction({
        name,
        namespace: ns,
        body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name, namespace: ns } },
      });
    // Spend the budget: KWOK keeps pods annotated never-ready Running but not Ready.
    for (const name of ["web-8", "web-9"]) {
      await kubectl(["annotate", "pod", name, "kwok.bulkhead.dev/never-ready=true", "--overwrite"], {
        namespace: ns,
        check: true,
      });
    }
    await waitFor(
      async () =>
        (await policyApi().readNamespacedPodDisruptionBudget({ name: sts, namespace: ns })).status
          ?.disruptionsAllowed === 0,
      { what: "PDB disruptionsAllowed == 0 after two pods turned unready" },
    );
    const before = await core.readNamespacedPod({ name: "web-3", namespace: ns });
    const refused = await evict("web-3").then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused, "eviction while budget is spent").to.not.equal(undefined);
    expect(errorCode(refused)).to.equal(429);
    expect(String((refused as { body?: unknown }).body)).to.match(/disruption budget/i);

    // Restore readiness; the budget comes back and the same eviction is allowed.
    for (const name of ["web-8", "web-9"]) {
      await kubectl(["annotate", "pod", name, "kwok.bulkhead.dev/never-ready-"], { namespace: ns, check: true });
    }
    await waitFor(
      async () =>
        (await policyApi().readNamespacedPodDisruptionBudget({ name: sts, namespace: ns })).status
          ?.disruptionsAllowed === 2,
      { what: "PDB disruptionsAllowed back to 2" },
    );
    allowPodRecreations(1, "web-3 is evicted and recreated on the same revision");
    await evict("web-3");
    const recreated = await waitFor(
      async () => {
        const p = await core.readNamespacedPod({ name: "web-3", namespace: ns });
        return p.metadata?.uid !== before.metadata?.uid && isReady(p) ? p : undefined;
      },
      { what: "web-3 recreated by the StatefulSet controller and Ready" },
    );
    expect(recreated.metadata?.ownerReferences?.[0]?.kind).to.equal("StatefulSet");
  });

  describe("a ValidatingWebhookConfiguration on pods/eviction", function () {
    let server: Server;
    let port: number;
    const reviews: CapturedReview[] = [];
    let respond: (uid: string) => Record<string, unknown> = (uid) => ({ uid, allowed: true });
    const webhookName = `evictions-${Math.random().toString(16).slice(2, 8)}.e2e.bulkhead.dev`;
    let token: string;

    before(async function () {
      const { certPem, keyPem } = selfSignedCert();
      server = createServer({ cert: certPem, key: keyPem }, (req, res) => {
        let body = "";
        req.setEncoding("utf8");
        req.on("data", (d: string) => (body += d));
        req.on("end", () => {
          const review = JSON.parse(body) as Omit<CapturedReview, "path">;
          reviews.push({ path: req.url, ...review });
          res.setHeader("Content-Type", "application/json");
          res.end(
            JSON.stringify({
              apiVersion: "admission.k8s.io/v1",
              kind: "AdmissionReview",
              response: respond(review.request?.uid ?? ""),
            }),
          );
        });
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      port = (server.address() as AddressInfo).port;

      await admissionApi().createValidatingWebhookConfiguration({
        body: {
          metadata: { name: webhookName },
          webhooks: [
            {
              name: webhookName,
              clientConfig: {
                url: `https://127.0.0.1:${port}/validate-eviction`,
                caBundle: Buffer.from(certPem).toString("base64"),
              },
              rules: [
                {
                  operations: ["CREATE"],
                  apiGroups: [""],
                  apiVersions: ["v1"],
                  resources: ["pods/eviction"],
                  scope: "Namespaced",
                },
              ],
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
              admissionReviewVersions: ["v1"],
              sideEffects: "None",
              failurePolicy: "Fail",
              timeoutSeconds: 5,
            },
          ],
        },
      });

      // A ServiceAccount allowed to evict, to see its identity in the review.
      await applyManifest(
        `apiVersion: v1
kind: ServiceAccount
metadata: {name: evictor}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: evictor}
rules:
- {apiGroups: [""], resources: ["pods"], verbs: ["get", "list"]}
- {apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: evictor}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: evictor}
subjects:
- {kind: ServiceAccount, name: evictor}
`,
        ns,
      );
      const t = await kubectl(["create", "token", "evictor", "--duration", "10m"], { namespace: ns, check: true });
      token = t.stdout.trim();
    });

    after(async function () {
      await admissionApi()
        .deleteValidatingWebhookConfiguration({ name: webhookName })
        .catch(() => undefined);
      await new Promise<void>((r) => server?.close(() => r()) ?? r());
    });

    it("makes the apiserver call our HTTPS server with the caller's userInfo", async function () {
      const asEvictor = kubeConfigForToken(token, "evictor").makeApiClient(CoreV1Api);
      const dryRunEvict = () =>
        asEvictor.createNamespacedPodEviction({
          name: "web-1",
          namespace: ns,
          dryRun: "All",
          body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: "web-1", namespace: ns } },
        });
      // The apiserver picks the configuration up asynchronously; dry-run evictions have no
      // effect but are still sent to webhooks declaring sideEffects None.
      const review = await waitFor(
        async () => {
          await dryRunEvict();
          return reviews.find((r) => r.request?.name === "web-1");
        },
        { what: "an AdmissionReview for the eviction of web-1", intervalMs: 300 },
      );
      expect(review.path).to.match(/^\/validate-eviction(\?|$)/);
      expect(review.kind).to.equal("AdmissionReview");
      const req = review.request;
      if (!req) throw new Error("AdmissionReview without request");
      expect(req.operation).to.equal("CREATE");
      expect(req.resource).to.deep.equal({ group: "", version: "v1", resource: "pods" });
      expect(req.subResource).to.equal("eviction");
      expect(req.namespace).to.equal(ns);
      expect(req.dryRun).to.equal(true);
      expect(req.object?.kind).to.equal("Eviction");
      expect(req.userInfo?.username).to.equal(`system:serviceaccount:${ns}:evictor`);
      expect(req.userInfo?.groups).to.include("system:serviceaccounts");

      // A denial with a status code reaches the caller as that code (what kubectl drain retries on).
      respond = (uid) => ({ uid, allowed: false, status: { code: 429, message: "bulkhead-e2e: not now" } });
      const err = await dryRunEvict().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(errorCode(err)).to.equal(429);
      expect(String((err as { body?: unknown }).body)).to.contain("bulkhead-e2e: not now");
      respond = (uid) => ({ uid, allowed: true });
    });
  });

  describe("when a node disappears", function () {
    // Orphaned pods are collected by the pod GC controller, which checks every 20 s and
    // waits a fixed 40 s quarantine: this test needs about 60-80 s.
    this.timeout(150_000);

    it("garbage-collects its pods and the StatefulSet recreates them on other nodes", async function () {
      const core = coreApi();
      const pods = await waitFor(() => readyPods(ns, 10), { what: "10 Ready pods" });
      const victim = pods[0]?.spec?.nodeName;
      expect(victim).to.be.a("string");
      const nodeName = victim as string;
      const onVictim = pods.filter((p) => p.spec?.nodeName === nodeName).map((p) => p.metadata?.name);
      const node = await core.readNode({ name: nodeName });
      allowPodRecreationsFromNode(
        nodeName,
        "the node is deleted: pod GC removes its pods, they are recreated elsewhere",
      );
      await core.deleteNode({ name: nodeName });
      try {
        await waitFor(
          async () => {
            const now = await readyPods(ns, 10);
            return now && now.every((p) => p.spec?.nodeName !== nodeName) ? now : undefined;
          },
          {
            timeoutMs: 130_000,
            intervalMs: 1000,
            what: `pods ${onVictim.join(",")} moved off deleted node ${nodeName}`,
          },
        );
      } finally {
        // Put the node back for the tests that follow.
        await core.createNode({
          body: {
            metadata: {
              name: nodeName,
              labels: node.metadata?.labels ?? {},
              annotations: node.metadata?.annotations ?? {},
            },
            status: { capacity: node.status?.capacity ?? {}, allocatable: node.status?.allocatable ?? {} },
          },
        });
        await waitFor(
          async () => {
            const n = await core.readNode({ name: nodeName });
            const ready = n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
            return ready && !(n.spec?.taints ?? []).some((t) => t.key.startsWith("node.kubernetes.io/"));
          },
          { what: `node ${nodeName} Ready again` },
        );
      }
    });
  });
});
