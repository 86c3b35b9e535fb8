// The dashboard without a cluster: its view-model functions, its bounded Event buffer and Event
// watch restarts, and its HTTP server (page, live stream, push debounce, heartbeat, actions,
// refusals) over a fake feed, a fake API and the fake clock.
import { request } from "node:http";
import type { ClientRequest } from "node:http";
import type * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import type { PodObject } from "../../api/observe.js";
import { parseRollout } from "../../api/rollout.js";
import type { StatefulsetRollout } from "../../api/rollout.js";
import type { DashboardFeed, FeedChange, FeedEvent } from "../../cli/dashboard/feed.js";
import { EventBuffer, RESTART_BASE_MS, RESTART_MAX_MS, RolloutEvents } from "../../cli/dashboard/kube-feed.js";
import { HEARTBEAT_MS, parseActionRequest, PUSH_INTERVAL_MS, startDashboard } from "../../cli/dashboard/server.js";
import type { RunningDashboard } from "../../cli/dashboard/server.js";
import {
  overviewRow,
  phaseSteps,
  podTiles,
  recordWave,
  rolloutView,
  WAVES_KEPT,
} from "../../cli/dashboard/view-model.js";
import type { Cluster } from "../../cli/deps.js";
import { FakeClock, settle } from "../support/fake-clock.js";
import { until } from "../support/until.js";

const OLD = "web-aaa";
const NEW = "web-bbb";

function rolloutObject(
  over: { spec?: Record<string, unknown>; status?: Record<string, unknown>; resourceVersion?: string } = {},
): Record<string, unknown> {
  return {
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: {
      name: "web",
      namespace: "ns",
      generation: 2,
      resourceVersion: over.resourceVersion ?? "7",
      creationTimestamp: "2026-11-30T10:00:00Z",
    },
    spec: {
      statefulset: {
        metadata: { name: "web" },
        spec: {
          replicas: 4,
          selector: { matchLabels: { app: "web" } },
          template: { spec: { containers: [{ name: "app", image: "app:v2" }] } },
        },
      },
      percent: 50,
      phases: [25, 50, 100],
      ...over.spec,
    },
    status: {
      phase: "Progressing",
      updateRevision: NEW,
      currentRevision: OLD,
      percentDeployed: 25,
      updatedReplicas: 1,
      readyReplicas: 3,
      phaseIndex: 1,
      wavesCompleted: 1,
      currentWave: { number: 2, pods: ["web-1"], startedAt: "2026-11-30T10:01:00Z", direction: "forward" },
      podSummary: {
        revisions: [
          { revision: NEW, ordinals: "0" },
          { revision: OLD, ordinals: "1-2" },
        ],
        notReady: "2",
        consulChecked: true,
        consulNotPassing: "1",
        stuck: [{ ordinal: 2, reason: "container app: CrashLoopBackOff" }],
      },
      ...over.status,
    },
  };
}

function parsed(raw: Record<string, unknown>): StatefulsetRollout {
  const r = parseRollout(raw);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

function pod(
  ordinal: number,
  revision: string,
  over: { ready?: boolean; deleting?: boolean; waiting?: string } = {},
): PodObject {
  return {
    metadata: {
      name: `web-${ordinal}`,
      uid: `u-${ordinal}-${revision}`,
      labels: { "controller-revision-hash": revision },
      ...(over.deleting ? { deletionTimestamp: "2026-11-30T10:02:00Z" } : {}),
      ownerReferences: [{ apiVersion: "apps/v1", kind: "StatefulSet", name: "web", controller: true }],
    },
    status: {
      phase: "Running",
      conditions: [{ type: "Ready", status: over.ready === false ? "False" : "True" }],
      ...(over.waiting ? { containerStatuses: [{ name: "app", state: { waiting: { reason: over.waiting } } }] } : {}),
    },
  };
}

describe("dashboard view model", () => {
  it("tiles: one per ordinal, coloured by revision, with state, Consul and the wave in flight", () => {
    const r = parsed(rolloutObject());
    const tiles = podTiles(r, [
      pod(0, NEW),
      pod(1, OLD, { deleting: true }),
      pod(2, NEW, { ready: false, waiting: "CrashLoopBackOff" }),
    ]);
    expect(tiles.map((t) => [t.ordinal, t.rev, t.state, t.consulFailing, t.inWave])).to.deep.equal([
      [0, "new", "ready", false, false],
      [1, "old", "terminating", true, true],
      [2, "new", "stuck", false, false],
      [3, "unknown", "missing", false, false],
    ]);
    expect(tiles[2]!.detail).to.include("CrashLoopBackOff");
  });

  it("tiles fall back to the pods in status (status.podSummary) when pods cannot be watched", () => {
    const tiles = podTiles(parsed(rolloutObject()), undefined);
    expect(tiles.map((t) => [t.name, t.rev, t.state, t.consulFailing, t.detail])).to.deep.equal([
      ["web-0", "new", "ready", false, undefined],
      ["web-1", "old", "ready", true, undefined],
      ["web-2", "old", "stuck", false, "container app: CrashLoopBackOff"],
      ["web-3", "unknown", "missing", false, undefined],
    ]);
  });

  it("tiles show a terminating pod from status", () => {
    const over = {
      status: { podSummary: { revisions: [{ revision: OLD, ordinals: "0-3" }], terminating: "1", notReady: "1" } },
    };
    const tiles = podTiles(parsed(rolloutObject(over)), undefined);
    expect(tiles.map((t) => t.state)).to.deep.equal(["ready", "terminating", "ready", "ready"]);
  });

  it("tiles read a status written before status.podSummary (status.pods)", () => {
    const over = {
      status: {
        podSummary: undefined,
        pods: [
          { name: "web-0", ordinal: 0, revision: NEW, ready: true, consulPassing: true },
          { name: "web-1", ordinal: 1, revision: OLD, ready: true, consulPassing: false },
          { name: "web-2", ordinal: 2, revision: OLD, ready: false, stuck: "container app: CrashLoopBackOff" },
        ],
      },
    };
    const tiles = podTiles(parsed(rolloutObject(over)), undefined);
    expect(tiles.map((t) => [t.name, t.rev, t.state, t.consulFailing])).to.deep.equal([
      ["web-0", "new", "ready", false],
      ["web-1", "old", "ready", true],
      ["web-2", "old", "stuck", false],
      ["web-3", "unknown", "missing", false],
    ]);
  });

  const phaseCases: Array<{
    name: string;
    spec?: Record<string, unknown>;
    status?: Record<string, unknown>;
    want: string[];
  }> = [
    { name: "rolling the second phase", want: ["25 done", "50 current", "100 next"] },
    { name: "done at the second phase", status: { phase: "RolloutDone" }, want: ["25 done", "50 done", "100 next"] },
    {
      name: "no phases: the percent",
      spec: { phases: undefined, percent: 100 },
      status: { phaseIndex: 0 },
      want: ["100 current"],
    },
  ];
  for (const c of phaseCases) {
    it(`phases bar: ${c.name}`, () => {
      const steps = phaseSteps(
        parsed(rolloutObject({ ...(c.spec ? { spec: c.spec } : {}), ...(c.status ? { status: c.status } : {}) })),
      );
      expect(steps.map((s) => `${s.percent} ${s.state}`)).to.deep.equal(c.want);
    });
  }

  it("waves log: records each wave once, updates it on completion, resets on a new revision, stays bounded", () => {
    const status = parsed(rolloutObject()).status!;
    let log = recordWave(undefined, status);
    expect(log.unseen).to.equal(1);
    log = recordWave(log, { ...status, currentWave: { ...status.currentWave!, completedAt: "2026-11-30T10:01:30Z" } });
    expect(log.waves).to.deep.equal([
      {
        number: 2,
        direction: "forward",
        pods: 1,
        startedAt: "2026-11-30T10:01:00Z",
        completedAt: "2026-11-30T10:01:30Z",
      },
    ]);
    for (let n = 3; n < 3 + WAVES_KEPT + 5; n++)
      log = recordWave(log, { ...status, currentWave: { number: n, pods: [], startedAt: `t${n}` } });
    expect(log.waves).to.have.length(WAVES_KEPT);
    expect(log.unseen).to.equal(1 + 6);
    expect(
      recordWave(log, { ...status, updateRevision: "web-ccc", wavesCompleted: 0, currentWave: undefined }).waves,
    ).to.deep.equal([]);
  });

  it("waves log: pipelined waves — every wave in flight is logged, and one that leaves the pipeline is completed", () => {
    const status = parsed(rolloutObject()).status!;
    const w1 = {
      number: 1,
      pods: ["web-9", "web-8"],
      startedAt: "2026-11-30T10:01:00Z",
      direction: "forward" as const,
    };
    const w2 = { number: 2, pods: ["web-7"], startedAt: "2026-11-30T10:01:02Z", direction: "forward" as const };
    let log = recordWave(undefined, { ...status, wavesCompleted: 0, currentWave: w2, wavesInFlight: [w1, w2] });
    expect(log.waves.map((w) => [w.number, w.completedAt])).to.deep.equal([
      [1, undefined],
      [2, undefined],
    ]);
    log = recordWave(log, {
      ...status,
      wavesCompleted: 1,
      currentWave: w2,
      wavesInFlight: [w2],
      lastUpdated: "2026-11-30T10:01:04Z",
    });
    expect(log.waves.map((w) => [w.number, w.completedAt])).to.deep.equal([
      [1, "2026-11-30T10:01:04Z"],
      [2, undefined],
    ]);
  });

  it("overview row: percent target and deployed, updated/ready/total, age source", () => {
    expect(overviewRow(parsed(rolloutObject()), "zone-a")).to.deep.include({
      phase: "Progressing",
      percent: 50,
      deployed: 25,
      updated: 1,
      ready: 3,
      total: 4,
      group: "zone-a",
      createdAt: "2026-11-30T10:00:00.000Z",
    });
  });

  it("rollout view carries events, history and images", () => {
    const event: FeedEvent = {
      uid: "e1",
      type: "Warning",
      reason: "LeakGuardDenied",
      message: "refused",
      time: "2026-11-30T10:01:00Z",
      count: 1,
    };
    const v = rolloutView(parsed(rolloutObject()), undefined, [event], undefined);
    expect(v).to.deep.include({ name: "web", image: "app=app:v2", podsFrom: "status", wavesUnseen: 1 });
    expect(v.events).to.deep.equal([event]);
  });
});

describe("dashboard event buffer", () => {
  const ev = (uid: string, time: string): FeedEvent => ({
    uid,
    type: "Normal",
    reason: "R",
    message: "m",
    time,
    count: 1,
  });

  it("keeps the newest events per rollout, in time order, replacing by uid", () => {
    const b = new EventBuffer(3, 10);
    for (let i = 0; i < 5; i++) b.put("ns/web", ev(`e${i}`, `2026-11-30T10:0${i}:00Z`));
    expect(b.get("ns/web").map((e) => e.uid)).to.deep.equal(["e2", "e3", "e4"]);
    expect(b.put("ns/web", ev("e4", "2026-11-30T10:04:00Z"))).to.equal(false);
    expect(b.put("ns/web", { ...ev("e3", "2026-11-30T10:09:00Z"), count: 2 })).to.equal(true);
    expect(b.get("ns/web").map((e) => e.uid)).to.deep.equal(["e2", "e4", "e3"]);
  });

  it("forgets the oldest rollout beyond its bound", () => {
    const b = new EventBuffer(3, 2);
    b.put("ns/a", ev("1", "t"));
    b.put("ns/b", ev("2", "t"));
    b.put("ns/c", ev("3", "t"));
    expect(b.get("ns/a")).to.deep.equal([]);
    expect(b.get("ns/c")).to.have.length(1);
  });
});

/** A kubeconfig whose Event lists answer with `list` (counted); nothing else is called. */
function eventsKubeConfig(list: () => Promise<never>): { kc: k8s.KubeConfig; lists: () => number } {
  let lists = 0;
  const core = {
    listNamespacedEvent: () => {
      lists++;
      return list();
    },
  };
  return { kc: { makeApiClient: () => core } as unknown as k8s.KubeConfig, lists: () => lists };
}

describe("dashboard Event watch restarts", () => {
  it("lists again after a failure once the delay has passed on the clock, not before, doubling up to the cap", async () => {
    const clock = new FakeClock();
    const { kc, lists } = eventsKubeConfig(() => Promise.reject(new Error("connection refused")));
    const events = new RolloutEvents(kc, "ns", () => {}, clock);
    const delays: number[] = [];
    for (let d = RESTART_BASE_MS; delays.length < 8; d = Math.min(d * 2, RESTART_MAX_MS)) delays.push(d);
    expect(delays.slice(-2)).to.deep.equal([RESTART_MAX_MS, RESTART_MAX_MS]);
    events.start();
    try {
      for (const [i, delay] of delays.entries()) {
        await until(`restart ${i + 1} to be set`, () => clock.pending === 1, 1_500);
        expect(clock.delays(), `restart ${i + 1}`).to.deep.equal([delay]);
        clock.advance(delay - 1);
        expect(lists(), `listed again before restart ${i + 1} was due`).to.equal(i + 1);
        clock.advance(1);
        expect(lists(), `listed again when restart ${i + 1} was due`).to.equal(i + 2);
      }
    } finally {
      events.stop();
    }
  });

  it("stop cancels a pending restart", async () => {
    const clock = new FakeClock();
    const { kc, lists } = eventsKubeConfig(() => Promise.reject(new Error("connection refused")));
    const events = new RolloutEvents(kc, "ns", () => {}, clock);
    events.start();
    await until("a restart to be set", () => clock.pending === 1, 1_500);
    events.stop();
    expect(clock.pending).to.equal(0);
    clock.advance(RESTART_MAX_MS * 2);
    expect(lists()).to.equal(1);
  });

  it("a list that fails after stop sets no restart", async () => {
    const clock = new FakeClock();
    let fail: ((err: Error) => void) | undefined;
    const { kc } = eventsKubeConfig(() => new Promise<never>((_, reject) => (fail = reject)));
    const events = new RolloutEvents(kc, "ns", () => {}, clock);
    events.start();
    await until("the list to be in flight", () => fail !== undefined, 1_500);
    events.stop();
    fail!(new Error("connection reset"));
    await settle();
    expect(clock.pending).to.equal(0);
  });
});

describe("dashboard action requests", () => {
  const cases: Array<{ body: unknown; error?: RegExp }> = [
    { body: { namespace: "ns", name: "web", action: "pause" } },
    { body: { namespace: "ns", name: "web", action: "promote", percent: 75 } },
    { body: { namespace: "ns", name: "web", action: "delete" }, error: /action must be one of/ },
    { body: { namespace: "ns", name: "web", action: "promote", percent: 150 }, error: /percent/ },
    { body: { namespace: "ns", action: "pause" }, error: /namespace and name/ },
    { body: { namespace: "ns", name: "web", action: "retry", identity: "bad identity!" }, error: /identity/ },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.body)} → ${c.error ? "refused" : "accepted"}`, () => {
      const r = parseActionRequest(c.body);
      if (c.error) expect(r.ok === false && r.error).to.match(c.error);
      else expect(r.ok).to.equal(true);
    });
  }
});

class FakeFeed implements DashboardFeed {
  objects: Record<string, unknown>[] = [rolloutObject()];
  private listeners: Array<(c: FeedChange) => void> = [];
  rollouts = () => this.objects;
  pods = () => [pod(0, NEW), pod(1, OLD), pod(2, OLD), pod(3, OLD)];
  podsWatched = () => true;
  events = () => [];
  onChange(l: (c: FeedChange) => void) {
    this.listeners.push(l);
  }
  synced = Promise.resolve();
  async stop() {}
  change(raw: Record<string, unknown>) {
    this.objects = [raw];
    this.listeners.forEach((l) => l({ kind: "rollout", namespace: "ns" }));
  }
}

function fakeCluster(current: () => Record<string, unknown>, patches: object[]): Cluster {
  return {
    defaultNamespace: "ns",
    rollouts: {
      get: async () => structuredClone(current()),
      list: async () => [current()],
      patch: async (_ns, _name, patch) => {
        patches.push(patch);
        return current();
      },
      create: async () => ({}),
      replace: async () => ({}),
      listPods: async () => [],
    },
  };
}

interface Reply {
  status: number;
  body: string;
}

function call(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: options.method ?? "GET",
        headers: { Host: `127.0.0.1:${port}`, ...options.headers },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end(options.body === undefined ? undefined : JSON.stringify(options.body));
  });
}

const actionHeaders = { "Content-Type": "application/json", "X-Bulkhead-Dashboard": "1" };

interface OpenStream {
  req: ClientRequest;
  /** The rollout views received so far (complete events only), as their status.percentDeployed. */
  deployed(): Array<number | undefined>;
  views(): Array<{ rollout: { phase: string; deployed?: number; tiles: Array<{ rev: string }> } }>;
  /** Heartbeat comments received so far. */
  keepAlives(): number;
}

/** Opens the rollout page's event stream and collects what arrives on it. */
function openStream(port: number, opened: ClientRequest[]): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    let text = "";
    const blocks = () => text.split("\n\n").slice(0, -1);
    const req = request(
      { host: "127.0.0.1", port, path: "/api/stream?namespace=ns&name=web", headers: { Host: `127.0.0.1:${port}` } },
      (res) => {
        if (res.headers["content-type"] !== "text/event-stream")
          return reject(new Error(`not an event stream: ${res.statusCode} ${res.headers["content-type"]}`));
        res.setEncoding("utf8").on("data", (d: string) => (text += d));
        const views = () =>
          blocks()
            .filter((b) => b.startsWith("event: view\ndata: "))
            .map((b) => JSON.parse(b.slice("event: view\ndata: ".length)) as ReturnType<OpenStream["views"]>[number]);
        resolve({
          req,
          views,
          deployed: () => views().map((v) => v.rollout.deployed),
          keepAlives: () => blocks().filter((b) => b === ": keep-alive").length,
        });
      },
    );
    opened.push(req);
    req.on("error", reject);
    req.end();
  });
}

const deployedAt = (percentDeployed: number) => rolloutObject({ status: { percentDeployed } });

describe("dashboard server", () => {
  let feed: FakeFeed;
  let clock: FakeClock;
  let dashboard: RunningDashboard;
  let current: Record<string, unknown>;
  let patches: object[];
  let streams: ClientRequest[];

  const options = (over: { feed: FakeFeed; clock: FakeClock; port: number }) => ({
    cluster: fakeCluster(() => current, patches),
    namespace: "ns",
    host: "127.0.0.1",
    randomIdentity: () => "NEWIDENTITY",
    now: () => new Date(clock.now()),
    ...over,
  });

  beforeEach(async () => {
    feed = new FakeFeed();
    clock = new FakeClock();
    current = rolloutObject();
    patches = [];
    streams = [];
    dashboard = await startDashboard(options({ feed, clock, port: 0 }));
  });
  afterEach(async () => {
    streams.forEach((s) => s.destroy());
    await dashboard.close();
  });

  it("serves the page and its assets from the package, with a same-origin policy", async () => {
    const page = await call(dashboard.port, "/");
    expect(page.status).to.equal(200);
    expect(page.body)
      .to.include('<script type="module" src="/assets/app.js">')
      .and.not.match(/https?:\/\//);
    expect((await call(dashboard.port, "/assets/app.js")).body).to.include("new EventSource");
    expect((await call(dashboard.port, "/assets/nope.js")).status).to.equal(404);
  });

  it("refuses requests for another Host (DNS rebinding)", async () => {
    const r = await call(dashboard.port, "/", { headers: { Host: `evil.example:${dashboard.port}` } });
    expect(r.status).to.equal(421);
  });

  it("pushes the rollout view on the stream, and again when the watch sees a change", async () => {
    const stream = await openStream(dashboard.port, streams);
    await until("the first view", () => stream.views().length === 1, 1_500);
    feed.change(rolloutObject({ status: { phase: "Paused", paused: true } }));
    clock.advance(PUSH_INTERVAL_MS);
    await until("the view after the change", () => stream.views().length === 2, 1_500);
    const [first, second] = stream.views();
    expect(first!.rollout.phase).to.equal("Progressing");
    expect(first!.rollout.tiles.map((t) => t.rev)).to.deep.equal(["new", "old", "old", "old"]);
    expect(second!.rollout.phase).to.equal("Paused");
  });

  it("coalesces the changes of one push interval into one push of the latest view, due an interval after the first", async () => {
    const stream = await openStream(dashboard.port, streams);
    await until("the first view", () => stream.views().length === 1, 1_500);
    const half = PUSH_INTERVAL_MS / 2;
    feed.change(deployedAt(30));
    clock.advance(half);
    feed.change(deployedAt(40));
    feed.change(deployedAt(50));
    expect(clock.delays(), "one push timer (beside the heartbeat)").to.deep.equal([half, HEARTBEAT_MS - half]);
    clock.advance(half);
    await until("the coalesced view", () => stream.views().length === 2, 1_500);
    // The next change's view comes next: nothing else was sent for the three changes.
    feed.change(deployedAt(60));
    clock.advance(PUSH_INTERVAL_MS);
    await until("the next change's view", () => stream.views().length === 3, 1_500);
    expect(stream.deployed()).to.deep.equal([25, 50, 60]);
  });

  it("sends a heartbeat on every stream each interval on the clock, and not before", async () => {
    const stream = await openStream(dashboard.port, streams);
    await until("the first view", () => stream.views().length === 1, 1_500);
    for (const [i, percent] of [30, 40].entries()) {
      // A view pushed 1 ms before the heartbeat is due: all the stream had been sent arrives first.
      clock.advance(HEARTBEAT_MS - PUSH_INTERVAL_MS - 1);
      feed.change(deployedAt(percent));
      clock.advance(PUSH_INTERVAL_MS);
      await until(`the view 1 ms before heartbeat ${i + 1}`, () => stream.views().length === i + 2, 1_500);
      expect(stream.keepAlives(), `heartbeat ${i + 1} sent early`).to.equal(i);
      clock.advance(1);
      await until(`heartbeat ${i + 1}`, () => stream.keepAlives() === i + 1, 1_500);
    }
  });

  it("close cancels the pending push and the heartbeat, and a change after it sets no timer", async () => {
    const stream = await openStream(dashboard.port, streams);
    await until("the first view", () => stream.views().length === 1, 1_500);
    feed.change(deployedAt(30));
    expect(clock.delays()).to.deep.equal([PUSH_INTERVAL_MS, HEARTBEAT_MS]);
    await dashboard.close();
    expect(clock.pending, "timers left after close").to.equal(0);
    feed.change(deployedAt(40));
    expect(clock.pending, "timers set after close").to.equal(0);
  });

  it("a start that cannot listen leaves no timer behind", async () => {
    const otherFeed = new FakeFeed();
    const otherClock = new FakeClock();
    const failed = await startDashboard(options({ feed: otherFeed, clock: otherClock, port: dashboard.port })).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect((failed as { code?: unknown } | undefined)?.code).to.equal("EADDRINUSE");
    expect(otherClock.pending, "timers left after the failed start").to.equal(0);
    otherFeed.change(deployedAt(30));
    expect(otherClock.pending, "timers set after the failed start").to.equal(0);
  });

  it("refuses an action posted without the dashboard's header or from another origin", async () => {
    const body = { namespace: "ns", name: "web", action: "pause" };
    expect(
      (
        await call(dashboard.port, "/api/actions/apply", {
          method: "POST",
          body,
          headers: { "Content-Type": "application/json" },
        })
      ).status,
    ).to.equal(403);
    const other = await call(dashboard.port, "/api/actions/apply", {
      method: "POST",
      body,
      headers: { ...actionHeaders, Origin: "https://evil.example" },
    });
    expect(other.status).to.equal(403);
    expect(patches).to.deep.equal([]);
  });

  it("previews then applies a pause through the CLI's decision", async () => {
    const preview = JSON.parse(
      (
        await call(dashboard.port, "/api/actions/preview", {
          method: "POST",
          body: { namespace: "ns", name: "web", action: "pause" },
          headers: actionHeaders,
        })
      ).body,
    ) as { ok: boolean; changes: string[]; request: unknown };
    expect(preview).to.deep.include({ ok: true, changes: ["spec.pauseRequested: false → true"] });
    const applied = JSON.parse(
      (
        await call(dashboard.port, "/api/actions/apply", {
          method: "POST",
          body: { ...(preview.request as object), expect: preview.changes },
          headers: actionHeaders,
        })
      ).body,
    ) as { ok: boolean };
    expect(applied.ok).to.equal(true);
    expect(patches).to.deep.equal([{ spec: { pauseRequested: true }, metadata: { resourceVersion: "7" } }]);
  });

  it("shows the refusal when the decision refuses, and changes nothing", async () => {
    const r = JSON.parse(
      (
        await call(dashboard.port, "/api/actions/preview", {
          method: "POST",
          body: { namespace: "ns", name: "web", action: "resume" },
          headers: actionHeaders,
        })
      ).body,
    ) as { ok: boolean; refused: boolean; error: string };
    expect(r).to.deep.include({ ok: false, refused: true });
    expect(r.error).to.include("is not paused");
    expect(patches).to.deep.equal([]);
  });

  it("applies nothing when the rollout changed since the confirmation", async () => {
    current = rolloutObject({ spec: { percent: 75 } });
    const r = JSON.parse(
      (
        await call(dashboard.port, "/api/actions/apply", {
          method: "POST",
          body: { namespace: "ns", name: "web", action: "promote", percent: 100, expect: ["spec.percent: 50 → 100"] },
          headers: actionHeaders,
        })
      ).body,
    ) as { ok: boolean; error: string };
    expect(r.ok).to.equal(false);
    expect(r.error).to.include("changed since the confirmation").and.include("spec.percent: 75 → 100");
    expect(patches).to.deep.equal([]);
  });

  it("acts only inside its namespace", async () => {
    const r = JSON.parse(
      (
        await call(dashboard.port, "/api/actions/preview", {
          method: "POST",
          body: { namespace: "other", name: "web", action: "pause" },
          headers: actionHeaders,
        })
      ).body,
    ) as { ok: boolean; error: string };
    expect(r.ok).to.equal(false);
    expect(r.error).to.include("started for namespace ns");
  });
});
