// The informer cache against a local HTTP server that speaks just enough of the Kubernetes list
// and watch API: a failed first list or a dropped watch must not leave a dead, "synced" cache.
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { informerCache, RESTART_MAX_MS, type ReadCache } from "../../adapters/kube/cache.js";
import type { Clock } from "../../api/clock.js";
import { FakeClock } from "../support/fake-clock.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const configMap = (name: string, rv: string) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: "ns", resourceVersion: rv },
});

function kubeConfigFor(server: Server): k8s.KubeConfig {
  const { port } = server.address() as AddressInfo;
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "fake", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "c", cluster: "fake", user: "u" }],
    currentContext: "c",
  });
  return kc;
}

async function until(check: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("informer cache recovery", function () {
  this.timeout(15000);
  let server: Server;
  let handler: Handler;
  let cache: ReadCache<k8s.KubernetesObject> | undefined;
  const openWatches: ServerResponse[] = [];

  beforeEach(async () => {
    server = createServer((req, res) => handler(req, res));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
  });

  afterEach(async () => {
    await cache?.stop();
    cache = undefined;
    openWatches.splice(0).forEach((res) => res.destroy());
    server.closeAllConnections();
    server.close();
  });

  function start(): ReadCache<k8s.KubernetesObject> {
    const kc = kubeConfigFor(server);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    cache = informerCache<k8s.KubernetesObject>(kc, "/api/v1/configmaps", () => core.listConfigMapForAllNamespaces());
    return cache;
  }

  it("is not synced while the first list fails, and syncs once a retried list succeeds", async () => {
    let lists = 0;
    handler = (req, res) => {
      if (req.url?.includes("watch=true")) {
        res.writeHead(200, { "content-type": "application/json" });
        res.flushHeaders();
        openWatches.push(res);
        return;
      }
      lists += 1;
      if (lists === 1) {
        res
          .writeHead(429, { "content-type": "application/json" })
          .end(JSON.stringify({ kind: "Status", code: 429, message: "storage is (re)initializing" }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          kind: "ConfigMapList",
          apiVersion: "v1",
          metadata: { resourceVersion: "5" },
          items: [configMap("a", "5")],
        }),
      );
    };
    const c = start();
    await until(() => lists >= 1, "the first list");
    expect(c.isSynced()).to.equal(false);
    await c.synced;
    expect(lists).to.equal(2);
    expect(c.isSynced()).to.equal(true);
    expect(c.get("ns", "a")?.metadata?.name).to.equal("a");
  });

  it("reports a dropped watch as not synced and resumes watching with the same data", async () => {
    let lists = 0;
    let watches = 0;
    handler = (req, res) => {
      if (req.url?.includes("watch=true")) {
        watches += 1;
        if (watches === 1) {
          res
            .writeHead(500, { "content-type": "application/json" })
            .end(JSON.stringify({ kind: "Status", code: 500, message: "boom" }));
          return;
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.write(`${JSON.stringify({ type: "ADDED", object: configMap("b", "6") })}\n`);
        openWatches.push(res);
        return;
      }
      lists += 1;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          kind: "ConfigMapList",
          apiVersion: "v1",
          metadata: { resourceVersion: "5" },
          items: [configMap("a", "5")],
        }),
      );
    };
    const errors: unknown[] = [];
    const kc = kubeConfigFor(server);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    cache = informerCache<k8s.KubernetesObject>(
      kc,
      "/api/v1/configmaps",
      () => core.listConfigMapForAllNamespaces(),
      undefined,
      { onError: (e) => errors.push(e) },
    );
    await until(() => watches >= 2 && cache!.get("ns", "b") !== undefined, "the restarted watch to deliver b");
    expect(errors).to.have.length.greaterThan(0);
    expect(cache.get("ns", "a"), "objects from the first list survive the restart").to.not.equal(undefined);
    await until(() => cache!.isSynced(), "synced again");
    expect(lists, "it resumes from the last resourceVersion rather than listing again").to.equal(1);
  });

  it("keeps answering from the last-known data while the apiserver is down, up to the staleness bound", async () => {
    let down = false;
    handler = (req, res) => {
      if (down) {
        res
          .writeHead(503, { "content-type": "application/json" })
          .end(JSON.stringify({ kind: "Status", code: 503, message: "apiserver restarting" }));
        return;
      }
      if (req.url?.includes("watch=true")) {
        res.writeHead(200, { "content-type": "application/json" });
        res.flushHeaders();
        openWatches.push(res);
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          kind: "ConfigMapList",
          apiVersion: "v1",
          metadata: { resourceVersion: "5" },
          items: [configMap("a", "5")],
        }),
      );
    };
    const clock = new FakeClock();
    const errors: unknown[] = [];
    const kc = kubeConfigFor(server);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const watched = informerCache<k8s.KubernetesObject>(
      kc,
      "/api/v1/configmaps",
      () => core.listConfigMapForAllNamespaces(),
      undefined,
      {
        onError: (e) => errors.push(e),
        maxStalenessMs: 60_000,
        clock,
      },
    );
    cache = watched;
    await watched.synced;
    await until(() => openWatches.length > 0, "the watch to open");
    expect([watched.isSynced(), watched.hasLoaded(), watched.stalenessMs()]).to.deep.equal([true, true, 0]);

    // The apiserver goes away: the open watch drops and every list and watch fails.
    down = true;
    openWatches.splice(0).forEach((res) => res.destroy());
    await until(() => errors.length > 0, "the watch error");
    expect(watched.isSynced(), "a fresh outage keeps the cache usable").to.equal(true);
    expect(watched.get("ns", "a"), "the last-known data is still answered").to.not.equal(undefined);
    clock.advance(30_000);
    expect([watched.isSynced(), watched.stalenessMs()]).to.deep.equal([true, 30_000]);
    clock.advance(30_001);
    expect(watched.isSynced(), "stale beyond the bound: callers fail open").to.equal(false);
    expect(watched.hasLoaded(), "still loaded: readiness does not drop").to.equal(true);
    expect(watched.get("ns", "a"), "the data is kept for when the watch is back").to.not.equal(undefined);

    down = false;
    // The next restart is due on the clock: move it on until the watch is back.
    await until(() => (clock.fireNext(), watched.isSynced() && watched.stalenessMs() === 0), "the restarted watch");
  });

  it("retries at most RESTART_MAX_MS apart after a long outage, so it is back soon after the apiserver (403 while RBAC loads)", async () => {
    // The fault run's sequence: the watch drops, the apiserver refuses connections for a while,
    // then answers 403 while its RBAC loads, then serves again. Restarts run on a fake clock the
    // test moves on to each one; it checks the delays the cache asked for.
    let failuresLeft = 0;
    let watches = 0;
    handler = (req, res) => {
      if (req.url?.includes("watch=true")) {
        watches += 1;
        if (failuresLeft > 0) {
          failuresLeft -= 1;
          if (failuresLeft > 2) {
            req.socket.destroy(); // like a refused connection: no HTTP answer at all
            return;
          }
          res
            .writeHead(403, { "content-type": "application/json" })
            .end(JSON.stringify({ kind: "Status", code: 403, reason: "Forbidden" }));
          return;
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.flushHeaders();
        openWatches.push(res);
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          kind: "ConfigMapList",
          apiVersion: "v1",
          metadata: { resourceVersion: "5" },
          items: [configMap("a", "5")],
        }),
      );
    };
    const delays: number[] = [];
    const fake = new FakeClock();
    const clock: Clock = {
      now: () => fake.now(),
      sleep: (ms, signal) => fake.sleep(ms, signal),
      setTimer: (fn, ms) => (delays.push(ms), fake.setTimer(fn, ms)),
    };
    const kc = kubeConfigFor(server);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const watched = informerCache<k8s.KubernetesObject>(
      kc,
      "/api/v1/configmaps",
      () => core.listConfigMapForAllNamespaces(),
      undefined,
      { clock },
    );
    cache = watched;
    await watched.synced;
    await until(() => openWatches.length === 1, "the watch to open");

    failuresLeft = 12;
    openWatches.splice(0).forEach((res) => res.destroy());
    await until(
      () => (fake.fireNext(), failuresLeft === 0 && openWatches.length === 1 && watched.isSynced()),
      "the watch to be back after the failures",
    );

    expect(delays, "one restart per failed attempt, the drop included").to.have.length(13);
    expect(delays.slice(0, 5), "it still backs off").to.deep.equal([500, 1000, 2000, 4000, RESTART_MAX_MS]);
    expect(Math.max(...delays), "never more than the cap between attempts").to.equal(RESTART_MAX_MS);
    expect(RESTART_MAX_MS).to.be.at.most(5000);
    expect(watched.get("ns", "a"), "the data survived the outage").to.not.equal(undefined);
    expect(watches).to.equal(14);
  });
});
