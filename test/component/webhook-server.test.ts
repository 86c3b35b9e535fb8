// The webhook over real HTTPS with real AdmissionReview JSON: every endpoint, bad input, and
// graceful shutdown.
import { expect } from "chai";
import { until } from "../support/until.js";
import { FakeClock, settle } from "../support/fake-clock.js";
import { request as httpsRequest } from "node:https";
import type { AdmissionDecision, AdmissionReview, AdmissionResponse, JsonPatchOperation } from "../../api/admission.js";
import { allowed } from "../../api/admission.js";
import type { WebhookContext } from "../../webhook/context.js";
import { createWebhookMetrics } from "../../webhook/metrics.js";
import { webhookRoutes } from "../../webhook/routes.js";
import type { StaticCache } from "./webhook-support.js";
import {
  admissionReview,
  cacheLiveRollouts,
  call,
  emptyCaches,
  staticView,
  silentLogger,
  startTestWebhook,
  testConfig,
  testRoute,
  type TestWebhook,
} from "./webhook-support.js";

const RECONCILER = testConfig.reconcilerUsername;

function statefulSet(
  overrides: { image?: string; strategy?: Record<string, unknown>; owned?: boolean; templateManaged?: boolean } = {},
) {
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: {
      name: "web",
      namespace: "shop",
      uid: "0b8c7f7e-5c1a-4a53-9d61-7f7a1f0e9f01",
      labels: { app: "web", "bulkhead.dev/managed": "true" },
      ...(overrides.owned
        ? {
            ownerReferences: [
              {
                apiVersion: "bulkhead.dev/v1alpha1",
                kind: "StatefulsetRollout",
                name: "web",
                uid: "r-1",
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      replicas: 4,
      serviceName: "web",
      podManagementPolicy: "OrderedReady",
      revisionHistoryLimit: 10,
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web", ...(overrides.templateManaged ? { "bulkhead.dev/managed": "true" } : {}) } },
        spec: {
          containers: [
            {
              name: "web",
              image: overrides.image ?? "registry.local/web:1",
              imagePullPolicy: "IfNotPresent",
              terminationMessagePath: "/dev/termination-log",
            },
          ],
          restartPolicy: "Always",
          dnsPolicy: "ClusterFirst",
          terminationGracePeriodSeconds: 30,
        },
      },
      updateStrategy: overrides.strategy ?? { type: "RollingUpdate", rollingUpdate: { partition: 0 } },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
    },
    status: { replicas: 0, availableReplicas: 0 },
  };
}

function stsRequest(uid: string, operation: string, object: unknown, oldObject?: unknown, username = "alice") {
  return admissionReview({
    uid,
    kind: { group: "apps", version: "v1", kind: "StatefulSet" },
    resource: { group: "apps", version: "v1", resource: "statefulsets" },
    requestKind: { group: "apps", version: "v1", kind: "StatefulSet" },
    requestResource: { group: "apps", version: "v1", resource: "statefulsets" },
    name: "web",
    namespace: "shop",
    operation,
    userInfo: { username, uid: "u-1", groups: ["system:authenticated"] },
    object,
    oldObject: oldObject ?? null,
    dryRun: false,
    options: {
      kind: operation === "CREATE" ? "CreateOptions" : "UpdateOptions",
      apiVersion: "meta.k8s.io/v1",
      fieldManager: "kubectl-client-side-apply",
    },
  });
}

function pdbRequest(uid: string, spec: Record<string, unknown>, annotations?: Record<string, string>) {
  return admissionReview({
    uid,
    kind: { group: "policy", version: "v1", kind: "PodDisruptionBudget" },
    resource: { group: "policy", version: "v1", resource: "poddisruptionbudgets" },
    name: "web",
    namespace: "shop",
    operation: "CREATE",
    userInfo: { username: "alice" },
    object: {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: { name: "web", namespace: "shop", ...(annotations ? { annotations } : {}) },
      spec,
    },
    oldObject: null,
  });
}

function responseOf(result: { json: () => unknown }): AdmissionResponse {
  const body = result.json() as AdmissionReview<AdmissionResponse>;
  expect(body.apiVersion).to.equal("admission.k8s.io/v1");
  expect(body.kind).to.equal("AdmissionReview");
  return body.response!;
}

function patchOf(response: AdmissionResponse): JsonPatchOperation[] {
  return JSON.parse(Buffer.from(response.patch ?? "W10=", "base64").toString()) as JsonPatchOperation[];
}

describe("webhook server (HTTPS, real AdmissionReview JSON)", function () {
  let hook: TestWebhook;
  const caches = emptyCaches();
  let release: (() => void) | undefined;
  const extraRoutes = [
    testRoute("/test/throws", async () => {
      throw new Error("boom");
    }),
    // Past the type: a decision cannot name a uid, and a handler must return one.
    testRoute(
      "/test/smuggled-uid",
      async () => ({ allowed: true, uid: "someone-else" }) as unknown as AdmissionDecision,
    ),
    testRoute("/test/no-decision", async () => undefined as unknown as AdmissionDecision),
    testRoute(
      "/test/slow",
      () =>
        new Promise((resolve) => {
          release = () => resolve(allowed());
        }),
    ),
  ];

  before(async () => {
    const managed = statefulSet({ strategy: { type: "OnDelete" }, templateManaged: true });
    (caches.statefulSets as StaticCache<object>).items = [managed];
    const ctx: WebhookContext = {
      config: testConfig,
      view: staticView(caches),
      logger: silentLogger,
      metrics: createWebhookMetrics(),
    };
    hook = await startTestWebhook([
      ...webhookRoutes({ ctx, events: { record: async () => {} }, liveRollouts: cacheLiveRollouts(ctx.view) }),
      ...extraRoutes,
    ]);
  });
  after(async () => {
    await hook.server.shutdown();
  });

  const post = (path: string, body: unknown, contentType?: string) =>
    call(
      hook.port,
      hook.pair.caBundle,
      "POST",
      path,
      typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body),
      contentType,
    );
  const get = (path: string) => call(hook.port, hook.pair.caBundle, "GET", path);

  async function stillServing(): Promise<void> {
    const ok = await post("/mutate/statefulset", stsRequest("after-bad-input", "CREATE", statefulSet()));
    expect(ok.status).to.equal(200);
    expect(responseOf(ok).uid).to.equal("after-bad-input");
  }

  describe("health and metrics", () => {
    it("/healthz answers ok", async () => {
      const res = await get("/healthz");
      expect([res.status, res.text]).to.deep.equal([200, "ok"]);
    });

    it("/readyz is 503 naming what is missing, then 200", async () => {
      hook.ready.reasons = ["informer caches not synced"];
      const notReady = await get("/readyz");
      expect(notReady.status).to.equal(503);
      expect(notReady.text).to.equal("not ready: informer caches not synced");
      hook.ready.reasons = [];
      expect((await get("/readyz")).status).to.equal(200);
    });

    it("/metrics exposes requests, decisions and latency", async () => {
      await post("/mutate/statefulset", stsRequest("m-1", "CREATE", statefulSet()));
      await post("/validate/statefulset", "{", "application/json");
      const text = (await get("/metrics")).text;
      expect(text).to.match(/bulkhead_webhook_requests_total\{path="\/mutate\/statefulset",code="200"\} [1-9]/);
      expect(text).to.match(/bulkhead_webhook_requests_total\{path="\/validate\/statefulset",code="400"\} [1-9]/);
      expect(text).to.match(
        /bulkhead_webhook_decisions_total\{path="\/mutate\/statefulset",decision="patched"\} [1-9]/,
      );
      expect(text).to.match(
        /bulkhead_webhook_admission_duration_seconds_bucket\{le="\+Inf",path="\/mutate\/statefulset"\} [1-9]/,
      );
    });

    it("keeps idle connections open longer than the apiserver's client does (90 s)", () => {
      expect(hook.server.server.keepAliveTimeout).to.be.greaterThan(90_000);
    });

    it('an unknown path is a 404 counted under path="other"', async () => {
      const res = await post("/validate/nothing-here", {});
      expect(res.status).to.equal(404);
      expect(res.text).to.contain("no such endpoint: POST /validate/nothing-here");
      expect((await get("/metrics")).text).to.match(/bulkhead_webhook_requests_total\{path="other",code="404"\} 1/);
    });
  });

  describe("/mutate/statefulset and /validate/statefulset", () => {
    it("CREATE of a managed RollingUpdate StatefulSet is patched to OnDelete", async () => {
      const res = await post("/mutate/statefulset", stsRequest("s-1", "CREATE", statefulSet()));
      expect(res.status).to.equal(200);
      const response = responseOf(res);
      expect(response).to.deep.include({ uid: "s-1", allowed: true, patchType: "JSONPatch" });
      expect(patchOf(response)).to.deep.include.members([
        { op: "remove", path: "/spec/updateStrategy/rollingUpdate" },
        { op: "replace", path: "/spec/updateStrategy/type", value: "OnDelete" },
        { op: "add", path: "/spec/template/metadata/labels/bulkhead.dev~1managed", value: "true" },
        { op: "add", path: "/metadata/annotations", value: { "bulkhead.dev/max-unavailable": "25%" } },
      ]);
    });

    it("validate denies RollingUpdate on a managed StatefulSet", async () => {
      const response = responseOf(await post("/validate/statefulset", stsRequest("s-2", "CREATE", statefulSet())));
      expect(response.allowed).to.equal(false);
      expect(response.status?.message).to.match(/must use OnDelete/);
    });

    it("validate denies a template change by a user on a rollout-owned StatefulSet", async () => {
      const old = statefulSet({ owned: true, strategy: { type: "OnDelete" }, templateManaged: true });
      const edited = statefulSet({
        owned: true,
        strategy: { type: "OnDelete" },
        templateManaged: true,
        image: "registry.local/web:2",
      });
      const response = responseOf(await post("/validate/statefulset", stsRequest("s-3", "UPDATE", edited, old)));
      expect(response).to.deep.include({ uid: "s-3", allowed: false });
      expect(response.status?.code).to.equal(403);
      expect(response.status?.message).to.contain("kubectl edit sroll web -n shop");
      const byReconciler = responseOf(
        await post("/validate/statefulset", stsRequest("s-4", "UPDATE", edited, old, RECONCILER)),
      );
      expect(byReconciler.allowed).to.equal(true);
    });

    it("validate warns when a managed StatefulSet has no rollout, and not once one exists", async () => {
      const sts = statefulSet({ strategy: { type: "OnDelete" }, templateManaged: true });
      const warned = responseOf(await post("/validate/statefulset", stsRequest("s-5", "CREATE", sts)));
      expect(warned.allowed).to.equal(true);
      expect(warned.warnings?.[0]).to.match(/no StatefulsetRollout exists/);
      (caches.rollouts as StaticCache<object>).items = [
        {
          apiVersion: "bulkhead.dev/v1alpha1",
          kind: "StatefulsetRollout",
          metadata: { name: "web-rollout", namespace: "shop" },
          spec: { statefulset: { metadata: { name: "web" } } },
        },
      ];
      try {
        const quiet = responseOf(await post("/validate/statefulset", stsRequest("s-6", "CREATE", sts)));
        expect(quiet.warnings).to.equal(undefined);
      } finally {
        (caches.rollouts as StaticCache<object>).items = [];
      }
    });
  });

  describe("/mutate/pdb and /validate/pdb", () => {
    it("defaults maxUnavailable and unhealthyPodEvictionPolicy on a PDB over managed pods", async () => {
      const response = responseOf(
        await post("/mutate/pdb", pdbRequest("p-1", { selector: { matchLabels: { app: "web" } } })),
      );
      expect(patchOf(response)).to.deep.equal([
        { op: "add", path: "/spec/unhealthyPodEvictionPolicy", value: "AlwaysAllow" },
        { op: "add", path: "/spec/maxUnavailable", value: "25%" },
      ]);
    });

    it("leaves a PDB over other pods alone", async () => {
      const response = responseOf(
        await post("/mutate/pdb", pdbRequest("p-2", { selector: { matchLabels: { app: "db" } } })),
      );
      expect(response).to.deep.equal({ uid: "p-2", allowed: true });
    });

    it("rejects maxUnavailable 0 unless annotated", async () => {
      const spec = { selector: { matchLabels: { app: "web" } }, maxUnavailable: 0 };
      const denied = responseOf(await post("/validate/pdb", pdbRequest("p-3", spec)));
      expect(denied.allowed).to.equal(false);
      expect(denied.status?.message).to.contain('bulkhead.dev/allow-zero-budget: "true"');
      const ok = responseOf(
        await post("/validate/pdb", pdbRequest("p-4", spec, { "bulkhead.dev/allow-zero-budget": "true" })),
      );
      expect(ok.allowed).to.equal(true);
    });

    it("allows minAvailable with a warning", async () => {
      const response = responseOf(
        await post("/validate/pdb", pdbRequest("p-5", { selector: { matchLabels: { app: "web" } }, minAvailable: 2 })),
      );
      expect(response.allowed).to.equal(true);
      expect(response.warnings?.[0]).to.match(/maxUnavailable is preferred/);
    });
  });

  describe("bad input: right status and message, and the server keeps serving", () => {
    const good = stsRequest("bad-1", "CREATE", statefulSet());
    const cases: Array<{ name: string; body: string | Buffer; contentType?: string; status: number; message: RegExp }> =
      [
        {
          name: "truncated JSON",
          body: JSON.stringify(good).slice(0, 120),
          status: 400,
          message: /request body is not valid JSON/,
        },
        {
          name: "empty body",
          body: "",
          status: 400,
          message: /apiVersion is missing; kind is missing; request is missing/,
        },
        { name: "a JSON array", body: "[1,2]", status: 400, message: /the body must be a JSON object/ },
        { name: "a JSON string", body: '"hello"', status: 400, message: /the body must be a JSON object/ },
        {
          name: "wrong apiVersion",
          body: JSON.stringify({ ...good, apiVersion: "admission.k8s.io/v1beta1" }),
          status: 400,
          message: /apiVersion: expected "admission\.k8s\.io\/v1".*got "admission\.k8s\.io\/v1beta1"/,
        },
        {
          name: "wrong kind",
          body: JSON.stringify({ ...good, kind: "Pod" }),
          status: 400,
          message: /kind: expected "AdmissionReview", got "Pod"/,
        },
        {
          name: "missing request",
          body: JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }),
          status: 400,
          message: /request is missing/,
        },
        {
          name: "missing uid",
          body: JSON.stringify(admissionReview({ ...(good.request as object), uid: undefined })),
          status: 400,
          message: /request\.uid is missing/,
        },
        {
          name: "missing kind and bad operation",
          body: JSON.stringify(admissionReview({ ...(good.request as object), kind: undefined, operation: "PATCH" })),
          status: 400,
          message: /request\.kind is missing.*request\.operation/,
        },
        {
          name: "an object nested 200 levels deep",
          body: JSON.stringify(good).replace(
            '"dryRun":false',
            `"dryRun":false,"x":${"[".repeat(200)}${"]".repeat(200)}`,
          ),
          status: 400,
          message: /nested deeper than 128 levels at request\.x\.0\.0.*no Kubernetes object nests that deep/,
        },
        {
          name: "non-JSON content type",
          body: JSON.stringify(good),
          contentType: "text/plain",
          status: 415,
          message: /Content-Type must be application\/json, got text\/plain/,
        },
        {
          name: "YAML content type",
          body: "apiVersion: x",
          contentType: "application/yaml",
          status: 415,
          message: /got application\/yaml/,
        },
      ];
    for (const c of cases) {
      it(`${c.name} → ${c.status}`, async () => {
        const res = await post("/mutate/statefulset", c.body, c.contentType);
        expect(res.status, res.text).to.equal(c.status);
        expect((res.json() as { message: string }).message).to.match(c.message);
        await stillServing();
      });
    }

    it("a handler that throws is an HTTP 500 (the hook's failurePolicy applies), counted, not a denial", async () => {
      const res = await post("/test/throws", admissionReview({ ...(good.request as object), uid: "t-1" }));
      expect(res.status).to.equal(500);
      expect(res.json()).to.deep.equal({
        code: 500,
        message: "bulkhead webhook /test/throws failed on review t-1: boom",
      });
      const metrics = (await get("/metrics")).text;
      expect(metrics).to.match(/bulkhead_webhook_handler_errors_total\{path="\/test\/throws"\} 1/);
      expect(metrics).not.to.match(/bulkhead_webhook_decisions_total\{path="\/test\/throws"/);
      await stillServing();
    });

    it("the kernel sets the uid once, from the request: a uid smuggled into a decision never reaches the wire", async () => {
      const res = await post("/test/smuggled-uid", admissionReview({ ...(good.request as object), uid: "t-2" }));
      expect(res.status).to.equal(200);
      expect(responseOf(res)).to.deep.equal({ uid: "t-2", allowed: true });
    });

    it("a handler that returns no decision is an HTTP 500, counted", async () => {
      const res = await post("/test/no-decision", admissionReview({ ...(good.request as object), uid: "t-3" }));
      expect(res.status).to.equal(500);
      expect((res.json() as { message: string }).message).to.equal(
        "bulkhead webhook /test/no-decision failed on review t-3: handler returned no decision",
      );
      expect((await get("/metrics")).text).to.match(
        /bulkhead_webhook_handler_errors_total\{path="\/test\/no-decision"\} 1/,
      );
    });
  });

  describe("graceful shutdown", () => {
    it("finishes an in-flight review, refuses new connections, then closes", async () => {
      const other = await startTestWebhook(extraRoutes);
      release = undefined;
      const inFlight = call(
        other.port,
        other.pair.caBundle,
        "POST",
        "/test/slow",
        JSON.stringify(admissionReview({ ...(stsRequest("g-1", "CREATE", {}).request as object) })),
      );
      await until("the slow review has reached its handler", () => release !== undefined);
      const closed = other.server.shutdown();
      let closedYet = false;
      void closed.then(() => (closedYet = true));
      const refused = await call(other.port, other.pair.caBundle, "GET", "/healthz").then(
        () => "served",
        (err: NodeJS.ErrnoException) => err.code,
      );
      expect(refused).to.equal("ECONNREFUSED");
      // The listener is closed, and the review it took in is still being answered.
      expect(closedYet, "closed before the in-flight review finished").to.equal(false);
      release!();
      const res = await inFlight;
      expect(res.status).to.equal(200);
      expect(responseOf(res)).to.deep.equal({ uid: "g-1", allowed: true });
      await closed;
    });

    it("a keep-alive client's in-flight request finishes and its connection is closed", async () => {
      const other = await startTestWebhook(extraRoutes);
      release = undefined;
      const body = JSON.stringify(admissionReview({ ...(stsRequest("g-2", "CREATE", {}).request as object) }));
      const result = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
        const req = httpsRequest(
          {
            host: "127.0.0.1",
            port: other.port,
            method: "POST",
            path: "/test/slow",
            ca: other.pair.caBundle,
            headers: { "content-type": "application/json", connection: "keep-alive" },
          },
          (res) => {
            res.resume();
            res.on("end", () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
          },
        );
        req.on("error", reject);
        req.end(body);
      });
      await until("the slow review has reached its handler", () => release !== undefined);
      const closed = other.server.shutdown();
      release!();
      expect(await result).to.deep.equal({ status: 200, connection: "close" });
      await closed;
    });

    it("a review still unanswered when the shutdown timeout passes has its connection closed, and shutdown ends", async () => {
      const clock = new FakeClock();
      const other = await startTestWebhook(extraRoutes, { clock, shutdownTimeoutMs: 30_000 });
      release = undefined;
      const stuck = call(
        other.port,
        other.pair.caBundle,
        "POST",
        "/test/slow",
        JSON.stringify(admissionReview({ ...(stsRequest("g-3", "CREATE", {}).request as object) })),
      ).then(
        (res) => `answered ${res.status}`,
        (err: NodeJS.ErrnoException) => err.code ?? err.message,
      );
      await until("the stuck review has reached its handler", () => release !== undefined);
      const closed = other.server.shutdown();
      let closedYet = false;
      void closed.then(() => (closedYet = true));
      expect(clock.delays(), "one shutdown timer, on the process clock").to.deep.equal([30_000]);
      clock.advance(29_999);
      await settle();
      expect(closedYet, "closed before the timeout").to.equal(false);
      clock.advance(1);
      // The apiserver sees the connection drop and applies the hook's failurePolicy.
      expect(await stuck).to.equal("ECONNRESET");
      await closed;
      expect(clock.pending, "no timer left behind").to.equal(0);
      release!();
    });

    it("a shutdown that ends in time cancels its timeout", async () => {
      const clock = new FakeClock();
      const other = await startTestWebhook(extraRoutes, { clock, shutdownTimeoutMs: 30_000 });
      await other.server.shutdown();
      expect(clock.pending).to.equal(0);
    });
  });
});
