// The /validate/eviction and /validate/pod-delete handlers over in-memory caches: responses,
// metrics, alerts, dry runs, fail-safe, and that Slack never delays the answer.
import type * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { pino } from "pino";
import { Registry } from "prom-client";
import type { LeakContext } from "../../api/leak-guard.js";
import type { LeakProtectionMode } from "../../api/rollout.js";
import type { AlertEventApi } from "../../adapters/kube/alert-events.js";
import {
  type AlertDecision,
  type LeakAlertSink,
  type LeakGuardDeps,
  createEvictionHandler,
  createLeakAlerter,
  createPodDeleteHandler,
} from "../../webhook/leak-guard/index.js";
import {
  NS,
  OLD,
  RECONCILER,
  type WorldFixture,
  deleteRequest,
  evictionRequest,
  pod,
  splitWorld,
} from "../unit/leak-guard-fixtures.js";
import { FakeClock } from "../support/fake-clock.js";
import { fakeCache, fakeEvents } from "./leak-guard-fakes.js";

const logger = pino({ level: "silent" });

function recordingSink(): LeakAlertSink & {
  reports: Array<{ leak: LeakContext; decision: AlertDecision; message: string }>;
} {
  const reports: Array<{ leak: LeakContext; decision: AlertDecision; message: string }> = [];
  return { reports, report: (leak, decision, message) => void reports.push({ leak, decision, message }) };
}

function depsFor(
  world: WorldFixture,
  alerts: LeakAlertSink,
  registry: Registry,
  defaultMode: LeakProtectionMode = "enforce",
): LeakGuardDeps {
  return {
    pods: fakeCache(world.pods as k8s.V1Pod[], world.synced),
    statefulSets: fakeCache(world.statefulSets as k8s.V1StatefulSet[]),
    rollouts: fakeCache(world.rollouts as k8s.KubernetesObject[]),
    reconcilerUsername: RECONCILER,
    defaultLeakProtection: defaultMode,
    alerts,
    logger,
    registry,
  };
}

async function counter(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  return metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

describe("leak-guard admission handlers", () => {
  let registry: Registry;
  let sink: ReturnType<typeof recordingSink>;
  beforeEach(() => {
    registry = new Registry();
    sink = recordingSink();
  });

  it("refuses an old pod's eviction in enforce with 429, counts it and alerts", async () => {
    const handle = createEvictionHandler(depsFor(splitWorld(), sink, registry));
    const response = await handle(evictionRequest("web-4"));
    expect(response).to.deep.include({ allowed: false });
    expect(response.status).to.deep.include({ code: 429, reason: "TooManyRequests" });
    expect(response.status?.message).to.contain("pod shop/web-4").and.to.contain("kubectl sroll resume web");
    expect(
      await counter(registry, "bulkhead_leak_guard_decisions_total", {
        namespace: NS,
        rollout: "web",
        decision: "denied",
      }),
    ).to.equal(1);
    expect(sink.reports).to.have.length(1);
    expect(sink.reports[0]).to.deep.include({ decision: "denied", message: response.status?.message });
  });

  it("v1beta1 evictions are guarded the same way", async () => {
    const handle = createEvictionHandler(depsFor(splitWorld(), sink, registry));
    const response = await handle(evictionRequest("web-4", { version: "v1beta1" }));
    expect(response.status?.code).to.equal(429);
  });

  it("flag allows with the message as an admission warning, and alerts", async () => {
    const handle = createEvictionHandler(depsFor(splitWorld({ leakProtection: "flag" }), sink, registry));
    const response = await handle(evictionRequest("web-4"));
    expect(response.allowed).to.equal(true);
    expect(response.warnings).to.have.length(1);
    expect(response.warnings?.[0]).to.contain("allowed but flagged");
    expect(sink.reports.map((r) => r.decision)).to.deep.equal(["flagged"]);
    expect(await counter(registry, "bulkhead_leak_guard_decisions_total", { decision: "flagged" })).to.equal(1);
  });

  it("dry runs are decided but leave no metric and no alert", async () => {
    const evict = createEvictionHandler(depsFor(splitWorld(), sink, registry));
    const del = createPodDeleteHandler(depsFor(splitWorld(), sink, registry));
    expect((await evict(evictionRequest("web-4", { dryRun: true }))).status?.code).to.equal(429);
    expect((await evict(evictionRequest("web-4", { deleteOptionsDryRun: true }))).status?.code).to.equal(429);
    expect((await del(deleteRequest(pod("web-4", OLD), { optionsDryRun: true }))).status?.code).to.equal(429);
    expect(sink.reports).to.have.length(0);
    expect(await counter(registry, "bulkhead_leak_guard_decisions_total", {})).to.equal(0);
  });

  it("refuses a delete of an old pod by a person, allows it for the reconciler", async () => {
    const handle = createPodDeleteHandler(depsFor(splitWorld(), sink, registry));
    expect((await handle(deleteRequest(pod("web-4", OLD)))).allowed).to.equal(false);
    const reconciler = await handle(deleteRequest(pod("web-4", OLD), { username: RECONCILER }));
    expect(reconciler).to.deep.equal({ allowed: true });
    expect(await counter(registry, "bulkhead_leak_guard_decisions_total", { decision: "allowed" })).to.equal(1);
  });

  it("fails open while caches are not synced, and counts it as fail-safe", async () => {
    const world = splitWorld();
    world.synced = false;
    const handle = createEvictionHandler(depsFor(world, sink, registry));
    expect((await handle(evictionRequest("web-4"))).allowed).to.equal(true);
    expect(await counter(registry, "bulkhead_leak_guard_fail_safe_total", { reason: "caches-not-synced" })).to.equal(1);
  });

  it("answers 400 to a malformed eviction and allows, with a warning, what it does not guard", async () => {
    const handle = createEvictionHandler(depsFor(splitWorld(), sink, registry));
    const malformed = await handle({ ...evictionRequest("web-4"), name: "", object: {} });
    expect(malformed).to.deep.include({ allowed: false });
    expect(malformed.status?.code).to.equal(400);
    const ignored = await handle({ ...evictionRequest("web-4"), subResource: "status" });
    expect(ignored.allowed).to.equal(true);
    expect(ignored.warnings?.[0]).to.contain("only guards pods/eviction");
  });

  it("both handlers share one registry without clashing", async () => {
    const deps = depsFor(splitWorld(), sink, registry);
    await createEvictionHandler(deps)(evictionRequest("web-4"));
    await createPodDeleteHandler(deps)(deleteRequest(pod("web-5", OLD)));
    expect(await counter(registry, "bulkhead_leak_guard_decisions_total", { decision: "denied" })).to.equal(2);
  });

  describe("with slow Event writes", function () {
    it("answers while the alert Event is still being written", async () => {
      const events = fakeEvents();
      let release: (name: string) => void = () => {};
      const created: string[] = [];
      const alertEvents: AlertEventApi = {
        create: (e) => {
          created.push(e.reason);
          return new Promise((resolve) => (release = resolve));
        },
        update: async () => {},
        annotate: async () => {},
      };
      const alerter = createLeakAlerter({ events, alertEvents, logger, clock: new FakeClock() });
      const handle = createEvictionHandler(depsFor(splitWorld(), alerter, registry));
      const response = await handle(evictionRequest("web-4"));
      expect(response.status?.code).to.equal(429);
      // The answer came back with the alert Event write still pending.
      expect(created).to.deep.equal(["LeakGuardDenied"]);
      let idle = false;
      void alerter.idle().then(() => (idle = true));
      await new Promise((r) => setImmediate(r));
      expect(idle).to.equal(false);
      release("web-4-1");
      await alerter.idle();
      expect(events.recorded).to.have.length(1);
      alerter.close();
    });
  });
});
