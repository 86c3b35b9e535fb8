// The admission kernel on a real control plane: a handler that throws is an HTTP 500, and the
// apiserver then applies the hook's failurePolicy. On an Ignore hook (the leak guard's) the
// eviction goes through; on a Fail hook the write is refused. Before the kernel answered 500,
// a throw was an HTTP 200 denial, which blocked evictions even on Ignore hooks.
import { expect } from "chai";
import { pino } from "pino";
import { admissionApi, coreApi, newNamespace, waitFor } from "./support/cluster.js";
import { startLocalWebhook, type LocalWebhook } from "./support/local-webhook.js";

const logger = pino({ level: process.env.BULKHEAD_E2E_LOG ?? "silent" });

describe("admission kernel on a real control plane: a handler error applies the hook's failurePolicy", function () {
  this.timeout(120_000);
  let ns: string;
  let server: LocalWebhook | undefined;
  const webhookName = `kernel-${Date.now()}.e2e.bulkhead.dev`;
  const calls = { eviction: 0, create: 0 };

  const pod = (name: string, labels: Record<string, string> = {}) => ({
    metadata: { name, namespace: ns, labels },
    spec: { containers: [{ name: "app", image: "registry.local/app:1" }] },
  });

  before(async () => {
    ns = await newNamespace("kernel");
    await coreApi().createNamespacedPod({ namespace: ns, body: pod("victim") });
    server = await startLocalWebhook(
      [
        {
          path: "/validate/eviction",
          maxBodyBytes: 16 * 1024,
          handler: async () => {
            calls.eviction += 1;
            throw new TypeError("Cannot read properties of null (reading 'metadata')");
          },
        },
        {
          path: "/validate/create",
          maxBodyBytes: 64 * 1024,
          handler: async () => {
            calls.create += 1;
            throw new TypeError("Cannot read properties of null (reading 'spec')");
          },
        },
      ],
      logger,
    );
    const common = {
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
      admissionReviewVersions: ["v1"],
      sideEffects: "None",
      timeoutSeconds: 5,
    };
    await admissionApi().createValidatingWebhookConfiguration({
      body: {
        metadata: { name: webhookName },
        webhooks: [
          {
            name: `eviction.${webhookName}`,
            clientConfig: server.clientConfig("/validate/eviction"),
            rules: [
              {
                operations: ["CREATE"],
                apiGroups: [""],
                apiVersions: ["v1"],
                resources: ["pods/eviction"],
                scope: "Namespaced",
              },
            ],
            failurePolicy: "Ignore",
            ...common,
          },
          {
            name: `create.${webhookName}`,
            clientConfig: server.clientConfig("/validate/create"),
            rules: [
              {
                operations: ["CREATE"],
                apiGroups: [""],
                apiVersions: ["v1"],
                resources: ["pods"],
                scope: "Namespaced",
              },
            ],
            objectSelector: { matchLabels: { "e2e.bulkhead.dev/kernel": "fail" } },
            failurePolicy: "Fail",
            ...common,
          },
        ],
      },
    });
  });

  after(async () => {
    await admissionApi()
      .deleteValidatingWebhookConfiguration({ name: webhookName })
      .catch(() => undefined);
    await server?.shutdown();
  });

  it("Fail hook: a pod create the throwing handler sees is refused, naming the webhook", async () => {
    // The apiserver picks the configuration up asynchronously: retry until the hook is called.
    const refusal = await waitFor(
      async () => {
        try {
          await coreApi().createNamespacedPod({
            namespace: ns,
            body: pod(`blocked-${Date.now()}`, { "e2e.bulkhead.dev/kernel": "fail" }),
          });
          return undefined;
        } catch (err) {
          return calls.create > 0 ? String((err as { body?: unknown }).body ?? err) : undefined;
        }
      },
      { what: "the Fail hook to refuse a create", timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(refusal).to.contain(`create.${webhookName}`);
  });

  it("Ignore hook: the eviction goes through although the handler threw on it", async () => {
    const before = calls.eviction;
    await coreApi().createNamespacedPodEviction({
      name: "victim",
      namespace: ns,
      body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: "victim", namespace: ns } },
    });
    expect(calls.eviction, "the apiserver called the eviction hook").to.be.greaterThan(before);
    await waitFor(
      async () => {
        const pods = await coreApi().listNamespacedPod({ namespace: ns });
        const victim = pods.items.find((p) => p.metadata?.name === "victim");
        return victim === undefined || victim.metadata?.deletionTimestamp !== undefined ? true : undefined;
      },
      { what: "the evicted pod to go", timeoutMs: 30_000, intervalMs: 500 },
    );
  });
});
