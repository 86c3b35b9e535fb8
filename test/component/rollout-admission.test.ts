// /validate/statefulsetrollout and /validate/pod-update over real HTTPS with real AdmissionReview
// JSON. The dry-run goes through the real adapter (adapters/kube/dry-run.ts) to a local HTTP
// server that answers as the apiserver does (Status objects); the real apiserver is exercised by
// test/e2e/admission.e2e.test.ts.
import { expect } from "chai";
import { KubeConfig } from "@kubernetes/client-node";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Registry } from "prom-client";
import type { AdmissionResponse } from "../../api/admission.js";
import type { StatefulSetSeen } from "../../api/ownership.js";
import { kubeDryRunCreate } from "../../adapters/kube/dry-run.js";
import { createPodUpdateValidateHandler } from "../../webhook/pod-update-handlers.js";
import { createRolloutValidateHandler } from "../../webhook/rollout-handlers.js";
import {
  StaticCache,
  admissionReview,
  call,
  silentLogger,
  startTestWebhook,
  testConfig,
  testRoute,
  type TestWebhook,
} from "./webhook-support.js";

const MiB = 1024 * 1024;

interface SeenRequest {
  method: string;
  url: URL;
  body: {
    metadata: { name: string; labels?: Record<string, string>; ownerReferences?: unknown };
    spec: { template: { spec: unknown } };
  };
}

/** Answers dry-run creates the way the apiserver does; `answer` decides per request. */
class FakeApiserver {
  server: Server;
  seen: SeenRequest[] = [];
  answer: (req: SeenRequest) => { code: number; status?: Record<string, unknown> } | "hang" = () => ({ code: 201 });
  private hung: ServerResponse[] = [];
  constructor() {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const seen: SeenRequest = {
          method: req.method ?? "",
          url: new URL(req.url ?? "/", "http://x"),
          body: JSON.parse(Buffer.concat(chunks).toString()) as SeenRequest["body"],
        };
        this.seen.push(seen);
        const a = this.answer(seen);
        if (a === "hang") {
          this.hung.push(res);
          return;
        }
        res.writeHead(a.code, { "content-type": "application/json" });
        res.end(JSON.stringify(a.status ?? seen.body));
      });
    });
  }
  async start(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    return (this.server.address() as AddressInfo).port;
  }
  async stop(): Promise<void> {
    for (const r of this.hung) r.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function kubeConfigFor(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server, skipTLSVerify: true }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return kc;
}

const OWNER_REF = (name: string, uid: string) => ({
  apiVersion: "bulkhead.dev/v1alpha1",
  kind: "StatefulsetRollout",
  name,
  uid,
  controller: true,
});

function rollout(spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) {
  return {
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: { name: "db", namespace: "shop", uid: "r-db", ...metadata },
    spec: {
      percent: 100,
      statefulset: {
        metadata: { name: "db-main" },
        spec: {
          replicas: 2,
          serviceName: "db",
          selector: { matchLabels: { app: "db" } },
          template: { metadata: { labels: { app: "db" } }, spec: { containers: [{ name: "db", image: "db:1" }] } },
        },
      },
      ...spec,
    },
  };
}

function review(uid: string, operation: "CREATE" | "UPDATE", object: unknown, oldObject?: unknown) {
  return admissionReview({
    uid,
    kind: { group: "bulkhead.dev", version: "v1alpha1", kind: "StatefulsetRollout" },
    resource: { group: "bulkhead.dev", version: "v1alpha1", resource: "statefulsetrollouts" },
    name: "db",
    namespace: "shop",
    operation,
    userInfo: { username: "alice" },
    object,
    oldObject: oldObject ?? null,
  });
}

describe("/validate/statefulsetrollout over HTTPS", function () {
  this.timeout(20_000);
  const apiserver = new FakeApiserver();
  const statefulSets = new StaticCache<{
    metadata: { name: string; namespace: string; ownerReferences?: unknown[] };
  }>();
  /** What a live GET returns (the truth the cache may lag behind). */
  const live = new Map<string, StatefulSetSeen>();
  let liveReads = 0;
  let hook: TestWebhook;
  let reportHook: TestWebhook;

  before(async () => {
    const port = await apiserver.start();
    const deps = {
      view: { statefulSet: (namespace: string, name: string) => statefulSets.get(namespace, name) as never },
      readStatefulSet: async (namespace: string, name: string) => {
        liveReads++;
        return live.get(`${namespace}/${name}`);
      },
      dryRunCreate: kubeDryRunCreate(kubeConfigFor(`http://127.0.0.1:${port}`), 1000),
      logger: silentLogger,
    };
    hook = await startTestWebhook([
      testRoute(
        "/validate/statefulsetrollout",
        createRolloutValidateHandler({
          ...deps,
          install: { consulConfigured: false, unchecked: "refuse" },
          registry: new Registry(),
        }),
        MiB,
      ),
      testRoute("/validate/pod-update", createPodUpdateValidateHandler({ config: testConfig }), MiB),
    ]);
    reportHook = await startTestWebhook([
      testRoute(
        "/validate/statefulsetrollout",
        createRolloutValidateHandler({
          ...deps,
          install: { consulConfigured: false, unchecked: "report" },
          registry: new Registry(),
        }),
        MiB,
      ),
    ]);
  });
  after(async () => {
    await hook.server.shutdown();
    await reportHook.server.shutdown();
    await apiserver.stop();
  });
  beforeEach(() => {
    apiserver.seen = [];
    apiserver.answer = () => ({ code: 201 });
    statefulSets.items = [];
    live.clear();
    liveReads = 0;
  });

  async function admit(body: unknown, on: TestWebhook = hook): Promise<AdmissionResponse> {
    const res = await call(on.port, on.pair.caBundle, "POST", "/validate/statefulsetrollout", JSON.stringify(body));
    expect(res.status).to.equal(200);
    return (res.json() as { response: AdmissionResponse }).response;
  }

  it("allows a valid rollout after dry-running, under a fresh name of the same shape, the StatefulSet the reconciler would create", async () => {
    const response = await admit(review("ok", "CREATE", rollout()));
    expect(response).to.deep.equal({ uid: "ok", allowed: true });
    expect(apiserver.seen).to.have.length(1);
    const [seen] = apiserver.seen;
    expect(seen!.method).to.equal("POST");
    expect(seen!.url.pathname).to.equal("/apis/apps/v1/namespaces/shop/statefulsets");
    expect(seen!.url.searchParams.get("dryRun")).to.equal("All");
    expect(seen!.url.searchParams.get("timeout")).to.equal("1s");
    expect(seen!.body.metadata.name)
      .to.match(/^[a-z0-9]{2}-[a-z0-9]{4}$/)
      .and.not.equal("db-main");
    expect(seen!.body.metadata.labels).to.include({ "bulkhead.dev/managed": "true", "bulkhead.dev/rollout": "db" });
    expect(seen!.body.metadata).not.to.have.property("ownerReferences");
  });

  it("refuses with the apiserver's own message, naming the real StatefulSet; the body is sent as written (containers as a map)", async () => {
    apiserver.answer = (req) => ({
      code: 400,
      status: {
        kind: "Status",
        reason: "BadRequest",
        code: 400,
        message: `StatefulSet in version "v1" cannot be handled as a StatefulSet (${req.body.metadata.name}): json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container`,
      },
    });
    const seedLike = rollout();
    (seedLike.spec.statefulset.spec.template.spec as Record<string, unknown>).containers = {
      name: "db",
      image: "db:1",
    };
    const response = await admit(review("bad", "CREATE", seedLike));
    expect(response.allowed).to.equal(false);
    expect(response.status?.message).to.match(
      /^StatefulsetRollout shop\/db is refused: spec\.statefulset is not a StatefulSet the apiserver accepts; it says: .*\(db-main\): json: cannot unmarshal object into Go struct field PodSpec\.spec\.template\.spec\.containers/,
    );
    expect(apiserver.seen[0]!.body.spec.template.spec).to.deep.equal({ containers: { name: "db", image: "db:1" } });
  });

  it("tries another name when the generated one exists", async () => {
    apiserver.answer = () =>
      apiserver.seen.length === 1
        ? { code: 409, status: { kind: "Status", reason: "AlreadyExists", code: 409, message: "exists" } }
        : { code: 201 };
    expect((await admit(review("exists", "CREATE", rollout()))).allowed).to.equal(true);
    expect(apiserver.seen).to.have.length(2);
    expect(apiserver.seen[0]!.body.metadata.name).not.to.equal(apiserver.seen[1]!.body.metadata.name);
  });

  it("allows with a warning (failurePolicy Ignore) when the apiserver does not answer in time", async () => {
    apiserver.answer = () => "hang";
    const response = await admit(review("slow", "CREATE", rollout()));
    expect(response.allowed).to.equal(true);
    expect(response.warnings?.join()).to.match(
      /spec\.statefulset was not checked by a dry-run \(the apiserver could not be asked: .*\)/,
    );
  });

  it("allows with a warning when a third-party webhook cannot take part in a dry-run", async () => {
    apiserver.answer = () => ({
      code: 400,
      status: {
        kind: "Status",
        reason: "BadRequest",
        code: 400,
        message: 'admission webhook "audit.example.com" does not support dry run',
      },
    });
    const response = await admit(review("sidefx", "CREATE", rollout()));
    expect(response.allowed).to.equal(true);
    expect(response.warnings?.join()).to.match(/does not support dry run/);
  });

  it("refuses a StatefulSet owned by another rollout, naming it, after a live read confirms what the cache says", async () => {
    const owned = {
      metadata: { name: "db-main", namespace: "shop", ownerReferences: [OWNER_REF("primary", "r-primary")] },
    };
    statefulSets.items = [owned];
    live.set("shop/db-main", owned);
    const response = await admit(review("owned", "CREATE", rollout()));
    expect(response.allowed).to.equal(false);
    expect(response.status?.message).to.match(
      /StatefulSet shop\/db-main is already rolled out by StatefulsetRollout shop\/primary/,
    );
    expect(liveReads).to.equal(1);
  });

  it("never refuses on a stale cache: the live read wins", async () => {
    statefulSets.items = [
      { metadata: { name: "db-main", namespace: "shop", ownerReferences: [OWNER_REF("primary", "r-primary")] } },
    ];
    // Gone in the meantime (the cache has not seen the delete yet).
    expect((await admit(review("stale", "CREATE", rollout()))).allowed).to.equal(true);
    expect(liveReads).to.equal(1);
  });

  it("finds an unmanaged StatefulSet (not in the managed-only cache) by a live read", async () => {
    live.set("shop/db-main", {
      metadata: {
        name: "db-main",
        namespace: "shop",
        ownerReferences: [{ apiVersion: "example.com/v1", kind: "Database", name: "pg", uid: "x", controller: true }],
      },
    });
    const response = await admit(review("foreign", "CREATE", rollout()));
    expect(response.status?.message).to.match(/is controlled by Database pg \(example\.com\/v1\)/);
    live.set("shop/db-main", { metadata: { name: "db-main", namespace: "shop" } });
    expect((await admit(review("unowned", "CREATE", rollout()))).status?.message).to.match(
      /already exists and no rollout owns it.*spec\.adoptExisting: true/,
    );
    expect((await admit(review("adopt", "CREATE", rollout({ adoptExisting: true })))).allowed).to.equal(true);
  });

  it("does not read live when the cache already shows the rollout's own StatefulSet", async () => {
    statefulSets.items = [
      { metadata: { name: "db-main", namespace: "shop", ownerReferences: [OWNER_REF("db", "r-db")] } },
    ];
    expect((await admit(review("own", "CREATE", rollout()))).allowed).to.equal(true);
    expect(liveReads).to.equal(0);
  });

  it("lists every problem at once: phases, zero budget, unchecked health gate", async () => {
    const bad = rollout({ phases: [50, 1], serviceDiscovery: { dc: "dc1", serviceNames: ["db"] } });
    (bad.spec.statefulset.metadata as Record<string, unknown>).annotations = { "bulkhead.dev/max-unavailable": "0" };
    const message = (await admit(review("many", "CREATE", bad))).status?.message ?? "";
    expect(message).to.match(
      /\(1\) spec\.phases must be strictly increasing.*\(2\) .*"0" allows no pod to be disrupted.*\(3\) spec\.serviceDiscovery asks for a Consul health gate/,
    );
  });

  it("a report-only install allows an unchecked health gate with a warning", async () => {
    const response = await admit(
      review("report", "CREATE", rollout({ serviceDiscovery: { dc: "dc1", serviceNames: ["db"] } })),
      reportHook,
    );
    expect(response.allowed).to.equal(true);
    expect(response.warnings?.join()).to.match(/no Consul configured.*only reports it/);
  });

  it("an UPDATE that only pauses is judged on nothing else: no dry-run, no owner read, stored bad phases kept", async () => {
    const stored = rollout({ phases: [50, 1] });
    const paused = rollout({ phases: [50, 1], pauseRequested: true });
    expect((await admit(review("pause", "UPDATE", paused, stored))).allowed).to.equal(true);
    expect(apiserver.seen).to.have.length(0);
    expect(liveReads).to.equal(0);
  });

  it("metadata-only updates and rollouts being deleted are not judged", async () => {
    const stored = rollout({ phases: [50, 1] });
    expect(
      (
        await admit(
          review("meta", "UPDATE", rollout({ phases: [50, 1] }, { finalizers: ["bulkhead.dev/orphan"] }), stored),
        )
      ).allowed,
    ).to.equal(true);
    const deleting = rollout({ phases: [1, 2], percent: 100 }, { deletionTimestamp: "2026-11-30T10:00:00Z" });
    expect((await admit(review("deleting", "UPDATE", deleting, stored))).allowed).to.equal(true);
    expect(apiserver.seen).to.have.length(0);
  });

  it("/validate/pod-update refuses rewriting the revision label of a managed pod", async () => {
    const pod = (labels: Record<string, string>) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "db-main-0", namespace: "shop", labels },
    });
    const before = { "bulkhead.dev/managed": "true", "controller-revision-hash": "db-main-aaa" };
    const body = admissionReview({
      uid: "pod",
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      name: "db-main-0",
      namespace: "shop",
      operation: "UPDATE",
      userInfo: { username: "alice" },
      object: pod({ ...before, "controller-revision-hash": "db-main-bbb" }),
      oldObject: pod(before),
    });
    const res = await call(hook.port, hook.pair.caBundle, "POST", "/validate/pod-update", JSON.stringify(body));
    const response = (res.json() as { response: AdmissionResponse }).response;
    expect(response.uid).to.equal("pod");
    expect(response.allowed).to.equal(false);
    expect(response.status?.message).to.match(/changes controller-revision-hash/);
  });
});
