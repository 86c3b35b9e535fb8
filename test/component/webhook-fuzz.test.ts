// Fuzzed AdmissionReviews against every route over real HTTPS: valid reviews with fields replaced
// by null, by values of the wrong type, or by deep nesting. Whatever comes in, a handler must not
// fail (no HTTP 500: a TypeError would make the apiserver apply failurePolicy, refusing on the Fail
// hooks), and every answer is a 200 AdmissionReview carrying the request's uid (set by the kernel
// alone) and only a response's fields, a 400 naming what is wrong, or a 413 (the
// spliced deep value can push a review over its path's limit). Seeded: the seed is
// printed, and BULKHEAD_FUZZ_SEED replays a run.
import { expect } from "chai";
import { Agent, request as httpsRequest } from "node:https";
import type { AdmissionRequest, AdmissionResponse } from "../../api/admission.js";
import type { WebhookContext } from "../../webhook/context.js";
import { createWebhookMetrics } from "../../webhook/metrics.js";
import { ADMISSION_ROUTES, webhookRoutes } from "../../webhook/routes.js";
import { deleteRequest, evictionRequest, NS, pod, splitWorld } from "../unit/leak-guard-fixtures.js";
import {
  admissionReview,
  emptyCaches,
  silentLogger,
  offlineRolloutApi,
  cacheLiveRollouts,
  startTestWebhook,
  testConfig,
  type StaticCache,
  type TestWebhook,
} from "./webhook-support.js";
import { seededRandom } from "../support/seeded-random.js";

/** What review() (the kernel's only way to answer) puts in a response; the uid is the request's. */
const RESPONSE_FIELDS = new Set(["uid", "allowed", "status", "patch", "patchType", "warnings"]);

const SEED = Number(process.env.BULKHEAD_FUZZ_SEED ?? Date.now() % 1_000_000);
const PER_ROUTE = 150;

function deep(levels: number): unknown {
  let value: unknown = "bottom";
  for (let i = 0; i < levels; i++) value = i % 2 ? [value] : { nested: value };
  return value;
}

const REPLACEMENTS: Array<() => unknown> = [
  () => null,
  () => 0,
  () => -1,
  () => 1.5,
  () => "",
  () => "x",
  () => true,
  () => [],
  () => [null],
  () => ({}),
  () => ({ unexpected: null }),
  () => ["a", 1, null, {}],
  () => deep(64),
  () => DEEP_MARKER,
];

/** Stands for a value nested 5,000 levels deep, spliced into the JSON text (too deep to stringify). */
const DEEP_MARKER = "__deeply-nested__";
const DEEP_JSON = `${'{"n":['.repeat(2_500)}1${"]}".repeat(2_500)}`;

type Json = Record<string, unknown> | unknown[];

/** Every path (list of keys) to a value inside `value`, the root excluded. */
function paths(
  value: unknown,
  prefix: Array<string | number> = [],
  out: Array<Array<string | number>> = [],
): Array<Array<string | number>> {
  if (value === null || typeof value !== "object") return out;
  for (const [key, child] of Object.entries(value)) {
    const path = [...prefix, Array.isArray(value) ? Number(key) : key];
    out.push(path);
    paths(child, path, out);
  }
  return out;
}

function setAt(root: Json, path: Array<string | number>, replacement: unknown): void {
  let node = root as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path[path.length - 1]!] = replacement;
}

function statefulSetObject(): Record<string, unknown> {
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: {
      name: "web",
      namespace: NS,
      labels: { "bulkhead.dev/managed": "true" },
      annotations: { "bulkhead.dev/max-unavailable": "25%" },
      ownerReferences: [
        { apiVersion: "bulkhead.dev/v1alpha1", kind: "StatefulsetRollout", name: "web", uid: "r", controller: true },
      ],
    },
    spec: {
      replicas: 6,
      serviceName: "web",
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web", "bulkhead.dev/managed": "true" } },
        spec: { containers: [{ name: "web", image: "registry.local/web:2", env: [{ name: "A", value: "1" }] }] },
      },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 0 } },
    },
  };
}

function pdbObject(): Record<string, unknown> {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name: "web", namespace: NS, annotations: { "bulkhead.dev/allow-zero-budget": "false" } },
    spec: { maxUnavailable: 0, selector: { matchLabels: { app: "web" } } },
  };
}

/** A valid request per route: the seed each fuzzed review is mutated from. */
function baseRequest(path: string): AdmissionRequest {
  const oldPod = pod("web-4", "web-6c4d8f", {
    spec: { nodeName: "node-1", containers: [{ name: "web", image: "registry.local/web:1" }] } as never,
  });
  const sts = (operation: "CREATE" | "UPDATE"): AdmissionRequest => ({
    uid: "sts",
    kind: { group: "apps", version: "v1", kind: "StatefulSet" },
    resource: { group: "apps", version: "v1", resource: "statefulsets" },
    name: "web",
    namespace: NS,
    operation,
    userInfo: { username: "alice", groups: ["system:authenticated"] },
    object: statefulSetObject(),
    ...(operation === "UPDATE" ? { oldObject: statefulSetObject() } : {}),
  });
  switch (path) {
    case "/mutate/statefulset":
      return sts("CREATE");
    case "/validate/statefulset":
      return sts("UPDATE");
    case "/mutate/pdb":
    case "/validate/pdb":
      return {
        uid: "pdb",
        kind: { group: "policy", version: "v1", kind: "PodDisruptionBudget" },
        resource: { group: "policy", version: "v1", resource: "poddisruptionbudgets" },
        name: "web",
        namespace: NS,
        operation: "UPDATE",
        userInfo: { username: "alice" },
        object: pdbObject(),
        oldObject: pdbObject(),
      };
    case "/mutate/pod":
      return {
        uid: "pod",
        kind: { group: "", version: "v1", kind: "Pod" },
        resource: { group: "", version: "v1", resource: "pods" },
        name: "web-4",
        namespace: NS,
        operation: "CREATE",
        userInfo: { username: "system:serviceaccount:kube-system:statefulset-controller" },
        object: oldPod,
      };
    case "/validate/eviction":
      return evictionRequest("web-4");
    case "/validate/pod-delete":
      return deleteRequest(oldPod);
    case "/validate/pod-update":
      return {
        uid: "pod-update",
        kind: { group: "", version: "v1", kind: "Pod" },
        resource: { group: "", version: "v1", resource: "pods" },
        name: "web-4",
        namespace: NS,
        operation: "UPDATE",
        userInfo: { username: "alice" },
        object: oldPod,
        oldObject: oldPod,
      };
    case "/validate/statefulsetrollout": {
      const rollout = () => ({
        apiVersion: "bulkhead.dev/v1alpha1",
        kind: "StatefulsetRollout",
        metadata: { name: "web", namespace: NS, uid: "r", generation: 2 },
        spec: { statefulset: statefulSetObject(), percent: 50, phases: [10, 50] },
      });
      return {
        uid: "rollout",
        kind: { group: "bulkhead.dev", version: "v1alpha1", kind: "StatefulsetRollout" },
        resource: { group: "bulkhead.dev", version: "v1alpha1", resource: "statefulsetrollouts" },
        name: "web",
        namespace: NS,
        operation: "UPDATE",
        userInfo: { username: "alice" },
        object: rollout(),
        oldObject: rollout(),
      };
    }
    default:
      throw new Error(`no base request for ${path}: add one when adding a route`);
  }
}

function post(hook: TestWebhook, agent: Agent, path: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port: hook.port,
        method: "POST",
        path,
        ca: hook.pair.caBundle,
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (d: string) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe(`webhook fuzz: nulls, wrong types and deep nesting on every route (seed ${SEED})`, function () {
  this.timeout(120_000);
  let hook: TestWebhook;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });

  before(async () => {
    const caches = emptyCaches();
    const world = splitWorld();
    (caches.managedPods as StaticCache<object>).items = world.pods;
    (caches.managedStatefulSets as StaticCache<object>).items = [...world.statefulSets, statefulSetObject()];
    (caches.rollouts as StaticCache<object>).items = world.rollouts;
    const ctx: WebhookContext = { config: testConfig, caches, logger: silentLogger, metrics: createWebhookMetrics() };
    hook = await startTestWebhook(
      webhookRoutes({
        ctx,
        events: { record: async () => {} },
        rolloutApi: offlineRolloutApi,
        liveRollouts: cacheLiveRollouts(ctx.caches),
      }),
    );
  });
  after(async () => {
    agent.destroy();
    await hook.server.shutdown();
  });

  for (const route of ADMISSION_ROUTES) {
    it(`${route.path}: ${PER_ROUTE} mutated reviews, no handler failure, every 200 carries the request's uid`, async () => {
      const next = seededRandom(SEED + route.path.length * 7919);
      const failures: string[] = [];
      const unmutated = await post(
        hook,
        agent,
        route.path,
        JSON.stringify(admissionReview({ ...baseRequest(route.path) })),
      );
      expect(unmutated.status, `the base review of ${route.path} is served: ${unmutated.text}`).to.equal(200);
      for (let i = 0; i < PER_ROUTE; i++) {
        const request = structuredClone(baseRequest(route.path)) as unknown as Record<string, unknown>;
        request.uid = `fuzz-${i}`;
        const mutations: string[] = [];
        const count = 1 + Math.floor(next() * 3);
        for (let m = 0; m < count; m++) {
          const candidates = paths(request).filter((p) => !(p.length === 1 && p[0] === "uid"));
          const path = candidates[Math.floor(next() * candidates.length)]!;
          const make = REPLACEMENTS[Math.floor(next() * REPLACEMENTS.length)]!;
          const value = make();
          setAt(request, path, value);
          mutations.push(
            `${path.join(".")}=${value === DEEP_MARKER ? "(5,000 levels)" : JSON.stringify(value)?.slice(0, 40)}`,
          );
        }
        const body = JSON.stringify(admissionReview(request)).replaceAll(JSON.stringify(DEEP_MARKER), DEEP_JSON);
        const res = await post(hook, agent, route.path, body);
        const what = `${route.path} #${i} [${mutations.join(", ")}] → ${res.status} ${res.text.slice(0, 300)}`;
        if (res.status >= 500) failures.push(what);
        else if (res.status === 200) {
          const body = JSON.parse(res.text) as { apiVersion: string; kind: string; response: AdmissionResponse };
          const extra = Object.keys(body.response).filter((k) => !RESPONSE_FIELDS.has(k));
          if (body.response.uid !== `fuzz-${i}`) failures.push(`${what}: wrong uid`);
          else if (extra.length > 0) failures.push(`${what}: fields the kernel never sets: ${extra.join(", ")}`);
          else if (body.apiVersion !== "admission.k8s.io/v1" || body.kind !== "AdmissionReview")
            failures.push(`${what}: not an admission.k8s.io/v1 AdmissionReview`);
        } else if (res.status !== 400 && res.status !== 413) failures.push(`${what}: unexpected status`);
      }
      expect(failures, failures.join("\n")).to.deep.equal([]);
    });
  }

  it("forged reviews naming unmanaged namespaces and pods add no metric series", async () => {
    const before = (await get(hook, agent, "/metrics")).split("\n").length;
    for (let i = 0; i < 50; i++) {
      const forged = { ...evictionRequest(`pod-${i}`, { namespace: `forged-${i}` }), uid: `forged-${i}` };
      expect((await post(hook, agent, "/validate/eviction", JSON.stringify(admissionReview(forged)))).status).to.equal(
        200,
      );
      const deleted = { ...deleteRequest(pod(`pod-${i}`, "rev")), namespace: `forged-${i}`, uid: `forged-d-${i}` };
      expect(
        (await post(hook, agent, "/validate/pod-delete", JSON.stringify(admissionReview(deleted)))).status,
      ).to.equal(200);
    }
    const text = await get(hook, agent, "/metrics");
    expect(text).not.to.contain("forged-");
    expect(text.split("\n").length - before, "no new series per forged namespace").to.be.below(10);
  });
});

function get(hook: TestWebhook, agent: Agent, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: "127.0.0.1", port: hook.port, method: "GET", path, ca: hook.pair.caBundle, agent },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (d: string) => (text += d));
        res.on("end", () => resolve(text));
      },
    );
    req.on("error", reject);
    req.end();
  });
}
