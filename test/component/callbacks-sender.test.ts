// Release-API callbacks against local HTTP receivers on 127.0.0.1 that misbehave on cue (reset
// connections, 5xx/4xx/429 with a body that must never be echoed, redirects, hangs). Three parts:
// - the sender: one attempt, what it sends and what it reports (a class of failure, never a body);
// - the callback queue (reconciler/callback-dispatcher.ts) on fake time: retries to a bounded
//   age, the allow-list, status recording on conflicts, at most once per stage across restarts;
// - starvation: 12 rollouts with dead endpoints do not delay a 13th rollout's waves.
// The receiver verifies the HMAC signature the way a real release API would.
import { expect } from "chai";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Registry } from "prom-client";
import pino from "pino";
import { httpCallbackSender } from "../../adapters/callbacks/sender.js";
import { verifyCallbackSignature } from "../../adapters/callbacks/signature.js";
import type { EventRecorder } from "../../adapters/kube/events.js";
import type { RawRollout, RolloutApi } from "../../adapters/kube/rollouts.js";
import {
  buildCallbackPayload,
  parseAllowedCallbackPrefix,
  type AllowedCallbackPrefix,
} from "../../api/callback-payload.js";
import type { CallbackJob, CallbackPayload, CallbackSender } from "../../api/integrations.js";
import { parseRollout, type RolloutStatus, type StatefulsetRollout } from "../../api/rollout.js";
import { CallbackDispatcher } from "../../reconciler/callback-dispatcher.js";
import { FakeClock } from "../support/fake-clock.js";
import type { Reconciler } from "../../reconciler/controller.js";
import { KeyedQueue } from "../../reconciler/queue.js";
import { FakeCluster, rolloutObject } from "./reconciler.fake-cluster.js";
import { fakeReconciler } from "./support/reconciler-harness.js";
import { until as waitUntil } from "../support/until.js";

const SECRET = "test-secret-0123456789";
const INTERNAL_BODY = "internal-service-answer";

type Behaviour = { status: number; headers?: Record<string, string> } | "reset" | "hang";

interface Received {
  headers: IncomingMessage["headers"];
  body: string;
  signatureValid: boolean;
  at: number;
}

class Receiver {
  readonly received: Received[] = [];
  private script: Behaviour[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  port = 0;

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/callbacks/rollout`;
  }

  /** Behaviours for the next requests, in order; after they run out, `then` (200 by default). */
  plan(...behaviours: Behaviour[]): void {
    this.script = behaviours;
    this.received.length = 0;
  }

  /** Requests being answered right now, and the most at once (a hang stays until the client gives up). */
  inFlight = 0;
  maxInFlight = 0;

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    res.on("close", () => this.inFlight--);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const header = (n: string) => {
        const v = req.headers[n];
        return Array.isArray(v) ? v[0] : v;
      };
      this.received.push({
        headers: req.headers,
        body,
        signatureValid: verifyCallbackSignature({
          secret: SECRET,
          body,
          signature: header("x-bulkhead-signature"),
          timestamp: header("x-bulkhead-timestamp"),
          namespace: header("x-bulkhead-namespace"),
          name: header("x-bulkhead-rollout"),
          idempotencyKey: header("idempotency-key"),
        }),
        at: Date.now(),
      });
      const next = this.script.shift() ?? { status: 200 };
      if (next === "hang") return; // never answer; the client must time out
      if (next === "reset") {
        req.socket.destroy();
        return;
      }
      res.writeHead(next.status, { "content-type": "text/plain", ...next.headers });
      // A body a rollout author must never get to read back through status or Events.
      res.end(next.status < 300 ? "accepted" : `${INTERNAL_BODY} ${next.status}`);
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

function terminalRollout(phase: "RolloutDone" | "RolloutFailed", lastCallbackStageId?: string): StatefulsetRollout {
  const parsed = parseRollout({
    metadata: { name: "web", namespace: "shop" },
    spec: {
      statefulset: { spec: { replicas: 4, selector: { matchLabels: { app: "web" } }, template: {} } },
      percent: 50,
      rolloutIdentity: "r-1",
      bapi: { bapiUrl: "http://127.0.0.1/", stageId: "stage-42" },
    },
    status: {
      phase,
      updatedReplicas: 2,
      readyReplicas: 4,
      currentRevision: "web-aaa",
      updateRevision: "web-bbb",
      ...(phase === "RolloutFailed" ? { reason: "pod web-3 not Ready within 600s" } : {}),
      ...(lastCallbackStageId ? { lastCallbackStageId } : {}),
    },
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

function payloadFor(rollout: StatefulsetRollout): CallbackPayload {
  const p = buildCallbackPayload(rollout, "2026-01-01T00:00:00.000Z", "2025-12-31T23:50:00.000Z");
  if (!p) throw new Error("no payload");
  return p;
}

const fast = { secret: SECRET, attemptTimeoutMs: 300 };

describe("callback sender: one attempt (local receiver)", function () {
  this.timeout(20_000);
  const receiver = new Receiver();
  const payload = payloadFor(terminalRollout("RolloutDone"));

  before(() => receiver.start());
  after(() => receiver.stop());

  it("a 2xx: the documented headers and a valid signature over namespace, name, stage and body", async () => {
    receiver.plan({ status: 202 });
    const result = await httpCallbackSender(fast).attempt(receiver.url, payload, 3);
    expect(result).to.deep.equal({ ok: true, status: 202 });
    expect(receiver.received).to.have.length(1);
    const got = receiver.received[0]!;
    expect(got.signatureValid).to.equal(true);
    expect(got.headers["content-type"]).to.equal("application/json");
    expect(got.headers["idempotency-key"]).to.equal("stage-42/r-1/RolloutDone");
    expect(got.headers["x-bulkhead-namespace"]).to.equal("shop");
    expect(got.headers["x-bulkhead-rollout"]).to.equal("web");
    expect(got.headers["x-bulkhead-delivery-attempt"]).to.equal("3");
    expect(got.headers["x-bulkhead-signature"]).to.match(/^sha256=[0-9a-f]{64}$/);
    expect(JSON.parse(got.body)).to.deep.include({
      stageId: "stage-42",
      namespace: "shop",
      name: "web",
      phase: "RolloutDone",
    });
  });

  it("a receiver checking the namespace rejects the same signature presented for another namespace", async () => {
    receiver.plan({ status: 200 });
    await httpCallbackSender(fast).attempt(receiver.url, payload, 1);
    const got = receiver.received[0]!;
    const h = (n: string) => String(got.headers[n]);
    const common = {
      secret: SECRET,
      body: got.body,
      signature: h("x-bulkhead-signature"),
      timestamp: h("x-bulkhead-timestamp"),
      idempotencyKey: h("idempotency-key"),
    };
    expect(verifyCallbackSignature({ ...common, namespace: "shop", name: "web" })).to.equal(true);
    expect(verifyCallbackSignature({ ...common, namespace: "other-team", name: "web" })).to.equal(false);
  });

  const failures: Array<[string, Behaviour, { retryable: boolean; error: RegExp; retryAfterMs?: number }]> = [
    ["503", { status: 503 }, { retryable: true, error: /^HTTP 503$/ }],
    ["408", { status: 408 }, { retryable: true, error: /^HTTP 408$/ }],
    [
      "429 with Retry-After",
      { status: 429, headers: { "retry-after": "7" } },
      { retryable: true, error: /^HTTP 429$/, retryAfterMs: 7000 },
    ],
    ["422", { status: 422 }, { retryable: false, error: /^HTTP 422$/ }],
    ["a reset connection", "reset", { retryable: true, error: /^network error/ }],
    ["a hang past the attempt timeout", "hang", { retryable: true, error: /^timeout \(no response within 300 ms\)$/ }],
  ];
  for (const [name, behaviour, want] of failures) {
    it(`${name}: ${want.retryable ? "retryable" : "not retryable"}, reported by class only`, async () => {
      receiver.plan(behaviour);
      const result = await httpCallbackSender(fast).attempt(receiver.url, payload, 1);
      if (result.ok) throw new Error("expected a failure");
      expect(result.retryable).to.equal(want.retryable);
      expect(result.error).to.match(want.error);
      expect(result.error).to.not.include(INTERNAL_BODY);
      expect(result.retryAfterMs).to.equal(want.retryAfterMs);
      expect(receiver.received).to.have.length(1);
    });
  }

  it("an unreachable receiver: a retryable network error naming the code", async () => {
    const closed = new Receiver();
    await closed.start();
    const url = closed.url;
    await closed.stop();
    const result = await httpCallbackSender(fast).attempt(url, payload, 1);
    expect(result).to.deep.equal({ ok: false, retryable: true, error: "network error (ECONNREFUSED)" });
  });

  it("does not follow a redirect and does not report where it pointed", async () => {
    const target = new Receiver();
    await target.start();
    try {
      receiver.plan({ status: 302, headers: { location: target.url } });
      const result = await httpCallbackSender(fast).attempt(receiver.url, payload, 1);
      expect(result).to.deep.equal({
        ok: false,
        retryable: false,
        error: "redirect (HTTP 302) not followed; set spec.bapi.bapiUrl to the final URL",
      });
      expect(target.received).to.have.length(0);
    } finally {
      await target.stop();
    }
  });

  it("sends no signature without a secret; a wrong secret does not verify", async () => {
    receiver.plan({ status: 200 });
    await httpCallbackSender({ attemptTimeoutMs: 300 }).attempt(receiver.url, payload, 1);
    expect(receiver.received[0]!.headers["x-bulkhead-signature"]).to.equal(undefined);
    expect(receiver.received[0]!.signatureValid).to.equal(false);
    receiver.plan({ status: 200 });
    await httpCallbackSender({ ...fast, secret: "another-secret-0123456" }).attempt(receiver.url, payload, 1);
    expect(receiver.received[0]!.signatureValid).to.equal(false);
  });

  it("rejects a non-http URL without sending", async () => {
    const result = await httpCallbackSender(fast).attempt("ftp://127.0.0.1/x", payload, 1);
    expect(result).to.deep.include({ ok: false, retryable: false });
  });

  it("counts attempts by outcome", async () => {
    const registry = new Registry();
    const sender = httpCallbackSender(fast, { registry });
    receiver.plan({ status: 500 }, "reset", { status: 200 });
    for (let n = 1; n <= 3; n++) await sender.attempt(receiver.url, payload, n);
    const metric = await registry.getSingleMetric("bulkhead_callback_attempts_total")?.get();
    const byOutcome = Object.fromEntries((metric?.values ?? []).map((v) => [v.labels.outcome, v.value]));
    expect(byOutcome).to.deep.equal({ http_5xx: 1, network: 1, success: 1 });
  });
});

// --- the callback queue ---------------------------------------------------------------------

/** An in-memory rollouts API: resourceVersion checks, and 409s injected by "another writer". */
class Rollouts implements Pick<RolloutApi, "get" | "replaceStatus"> {
  private readonly map = new Map<string, RawRollout>();
  private rv = 1;
  /** Each pending entry is applied to the stored status (another writer) and answers one 409. */
  otherWriters: Array<(s: RolloutStatus) => void> = [];
  writes = 0;

  put(r: RawRollout): void {
    this.map.set(`${r.metadata?.namespace}/${r.metadata?.name}`, {
      ...structuredClone(r),
      metadata: { ...r.metadata, resourceVersion: String(this.rv++) },
    });
  }

  status(key = "shop/web"): RolloutStatus {
    return structuredClone((this.map.get(key)?.status ?? {}) as RolloutStatus);
  }

  async get(namespace: string, name: string): Promise<RawRollout | undefined> {
    const r = this.map.get(`${namespace}/${name}`);
    return r ? structuredClone(r) : undefined;
  }

  async replaceStatus(namespace: string, name: string, body: RawRollout): Promise<RawRollout> {
    const key = `${namespace}/${name}`;
    const live = this.map.get(key);
    if (!live) throw Object.assign(new Error("not found"), { code: 404 });
    const other = this.otherWriters.shift();
    if (other) {
      const status = structuredClone((live.status ?? {}) as RolloutStatus);
      other(status);
      this.map.set(key, { ...live, status, metadata: { ...live.metadata, resourceVersion: String(this.rv++) } });
      throw Object.assign(new Error("conflict"), { code: 409 });
    }
    if (body.metadata?.resourceVersion !== live.metadata?.resourceVersion)
      throw Object.assign(new Error("conflict"), { code: 409 });
    this.writes++;
    const next = {
      ...live,
      status: structuredClone(body.status),
      metadata: { ...live.metadata, resourceVersion: String(this.rv++) },
    };
    this.map.set(key, next);
    return structuredClone(next);
  }
}

function prefixes(...texts: string[]): AllowedCallbackPrefix[] {
  return texts.map((t) => {
    const p = parseAllowedCallbackPrefix(t);
    if (!p.ok) throw new Error(p.error);
    return p.value;
  });
}

function rawRollout(url: string, opts: { stageId?: string; status?: RolloutStatus } = {}): RawRollout {
  return {
    metadata: { name: "web", namespace: "shop", uid: "uid-web", generation: 1 },
    spec: {
      statefulset: { spec: { replicas: 4, selector: { matchLabels: { app: "web" } }, template: {} } },
      percent: 100,
      rolloutIdentity: "r-1",
      bapi: { bapiUrl: url, stageId: opts.stageId ?? "stage-42" },
    },
    status: opts.status ?? {
      phase: "RolloutDone",
      conditions: [
        { type: "Complete", status: "True", reason: "Done", lastTransitionTime: "2026-01-01T00:10:00.000Z" },
      ],
    },
  };
}

function jobFor(raw: RawRollout): CallbackJob {
  const parsed = parseRollout(raw);
  if (!parsed.ok) throw new Error(parsed.error);
  const payload = buildCallbackPayload(parsed.value, "2026-01-01T00:10:00.000Z");
  if (!payload) throw new Error("not due");
  return {
    namespace: "shop",
    name: "web",
    uid: "uid-web",
    url: parsed.value.spec.bapi!.bapiUrl,
    payload,
    dueSince: "2026-01-01T00:10:00.000Z",
  };
}

describe("callback queue (fake time, local receiver)", function () {
  this.timeout(20_000);
  const receiver = new Receiver();
  let rollouts: Rollouts;
  let clock: FakeClock;
  let events: Array<{ type: string; reason: string; note: string }>;
  const dispatchers: CallbackDispatcher[] = [];

  before(() => receiver.start());
  after(() => receiver.stop());
  beforeEach(() => {
    rollouts = new Rollouts();
    clock = new FakeClock(Date.parse("2026-01-01T00:10:00.000Z"));
    events = [];
  });
  afterEach(async () => {
    await Promise.all(dispatchers.splice(0).map((d) => d.stop()));
  });

  function dispatcher(
    opts: { allow?: AllowedCallbackPrefix[]; maxQueued?: number; concurrency?: number; sender?: CallbackSender } = {},
  ): CallbackDispatcher {
    const recorder: EventRecorder = {
      record: async (_ref, type, reason, note) => void events.push({ type, reason, note }),
    };
    const d = new CallbackDispatcher(
      {
        allowList: opts.allow ?? prefixes(`http://127.0.0.1:${receiver.port}/callbacks/`),
        maxRetryAgeMs: 10 * 60_000,
        concurrency: opts.concurrency ?? 4,
        maxQueued: opts.maxQueued ?? 100,
        baseDelayMs: 1000,
        maxDelayMs: 60_000,
      },
      {
        sender: opts.sender ?? httpCallbackSender(fast),
        rollouts,
        events: recorder,
        log: pino({ enabled: false }),
        clock,
        random: () => 0.5,
      },
    );
    dispatchers.push(d);
    return d;
  }

  /** Runs the queue to quiescence, advancing fake time through every retry timer. */
  async function drain(d: CallbackDispatcher): Promise<void> {
    await d.idle();
    while (clock.fireNext()) await d.idle();
  }

  it("retries a 503 and a reset until a 2xx, then records the stage id, a True condition and an Event", async () => {
    const raw = rawRollout(receiver.url);
    rollouts.put(raw);
    receiver.plan({ status: 503 }, "reset", { status: 201 });
    const d = dispatcher();
    expect(d.submit(jobFor(raw))).to.equal(true);
    await drain(d);
    expect(receiver.received.map((r) => r.headers["x-bulkhead-delivery-attempt"])).to.deep.equal(["1", "2", "3"]);
    expect(new Set(receiver.received.map((r) => r.headers["idempotency-key"])).size).to.equal(1);
    expect(receiver.received.every((r) => r.signatureValid)).to.equal(true);
    const status = rollouts.status();
    expect(status.lastCallbackStageId).to.equal("stage-42");
    expect(status.conditions?.find((c) => c.type === "CallbackDelivered")).to.include({
      status: "True",
      reason: "Delivered",
    });
    expect(events).to.deep.equal([
      { type: "Normal", reason: "CallbackSent", note: "stage stage-42: HTTP 201 after 3 attempt(s)" },
    ]);
    expect(d.size).to.equal(0);
  });

  it("a dead endpoint is given up at the retry age: the failure class is recorded, never the body", async () => {
    const raw = rawRollout(receiver.url);
    rollouts.put(raw);
    receiver.plan(...Array.from({ length: 100 }, () => ({ status: 503 })));
    const d = dispatcher();
    d.submit(jobFor(raw));
    await drain(d);
    const status = rollouts.status();
    expect(status.lastCallbackStageId).to.equal(undefined);
    expect(status.lastCallbackError).to.match(
      /^stage-42: HTTP 503; gave up after \d+ attempt\(s\) \(retry age 10 min\)$/,
    );
    // Equal jitter at random 0.5 waits 3/4 of a ceiling doubling from 1 s to 60 s:
    // 0.75+1.5+3+6+12+24 s, then 45 s apart: 19 attempts fit in the 10 minutes.
    expect(receiver.received).to.have.length(19);
    expect(JSON.stringify(status)).to.not.include(INTERNAL_BODY);
    expect(events.map((e) => e.reason)).to.deep.equal(["CallbackFailed"]);
    expect(events[0]!.note).to.not.include(INTERNAL_BODY);
    expect(clock.pending).to.equal(0);
  });

  it("the retry age counts from when the rollout finished: after a long outage of the reconciler, one attempt and done", async () => {
    const raw = rawRollout(receiver.url);
    rollouts.put(raw);
    receiver.plan({ status: 503 }, { status: 503 });
    const d = dispatcher();
    d.submit({ ...jobFor(raw), dueSince: new Date(clock.now() - 60 * 60_000).toISOString() });
    await drain(d);
    expect(receiver.received).to.have.length(1);
    expect(rollouts.status().lastCallbackError).to.match(/gave up after 1 attempt/);
  });

  it("a 4xx is recorded at once and not retried; a redirect is not followed and its Location not recorded", async () => {
    const raw = rawRollout(receiver.url);
    rollouts.put(raw);
    receiver.plan({ status: 307, headers: { location: "http://169.254.169.254/secret" } });
    const d = dispatcher();
    d.submit(jobFor(raw));
    await drain(d);
    expect(receiver.received).to.have.length(1);
    const status = rollouts.status();
    expect(status.lastCallbackError).to.equal(
      "stage-42: redirect (HTTP 307) not followed; set spec.bapi.bapiUrl to the final URL (not retried)",
    );
    expect(JSON.stringify(status) + JSON.stringify(events)).to.not.include("169.254");
  });

  it("a destination outside the allow-list is never requested: condition, Event, and no retry", async () => {
    const raw = rawRollout(receiver.url);
    rollouts.put(raw);
    receiver.plan();
    const d = dispatcher({ allow: prefixes("https://release.example.com/hooks/") });
    d.submit(jobFor(raw));
    await drain(d);
    expect(receiver.received).to.have.length(0);
    const status = rollouts.status();
    expect(status.lastCallbackError).to.match(
      /^stage-42: not sent: spec\.bapi\.bapiUrl \(http:\/\/127\.0\.0\.1:\d+\/callbacks\/rollout\) is not under any prefix/,
    );
    expect(status.conditions?.find((c) => c.type === "CallbackDelivered")).to.include({
      status: "False",
      reason: "DestinationNotAllowed",
    });
    expect(events.map((e) => `${e.type}/${e.reason}`)).to.deep.equal(["Warning/CallbackRefused"]);
  });

  it("an empty allow-list means callbacks are off, and the status says how to turn them on", async () => {
    const raw = rawRollout(receiver.url);
    rollouts.put(raw);
    receiver.plan();
    const d = dispatcher({ allow: [] });
    d.submit(jobFor(raw));
    await drain(d);
    expect(receiver.received).to.have.length(0);
    expect(rollouts.status().lastCallbackError).to.match(/callback\.allowedUrlPrefixes is empty/);
  });

  it("at most once per stage id across a restart: a new process sees lastCallbackStageId and sends nothing", async () => {
    const raw = rawRollout(receiver.url);
    rollouts.put(raw);
    receiver.plan({ status: 200 });
    const first = dispatcher();
    first.submit(jobFor(raw));
    await drain(first);
    await first.stop();
    expect(receiver.received).to.have.length(1);
    // The restarted reconciler's pass was decided on a status read before the write landed.
    receiver.plan({ status: 200 });
    const second = dispatcher();
    expect(second.submit(jobFor(raw))).to.equal(true);
    await drain(second);
    expect(receiver.received).to.have.length(0);
  });

  it("a re-submit of the same stage collapses; a spec change to another stage supersedes the queued one", async () => {
    const raw = rawRollout(receiver.url);
    rollouts.put(raw);
    receiver.plan({ status: 503 }, { status: 200 }, { status: 200 });
    const d = dispatcher();
    d.submit(jobFor(raw));
    d.submit(jobFor(raw));
    await d.idle();
    expect(receiver.received).to.have.length(1);
    // Before the retry fires, the author moves to another stage: the old one is not sent again.
    rollouts.put(rawRollout(receiver.url, { stageId: "stage-43" }));
    await drain(d);
    expect(receiver.received).to.have.length(1);
    expect(rollouts.status().lastCallbackStageId).to.equal(undefined);
  });

  it("a status-write conflict re-reads and keeps the other writer's update", async () => {
    const raw = rawRollout(receiver.url);
    rollouts.put(raw);
    rollouts.otherWriters.push((s) => void (s.readyReplicas = 7));
    receiver.plan({ status: 200 });
    const d = dispatcher();
    d.submit(jobFor(raw));
    await drain(d);
    const status = rollouts.status();
    expect(status.lastCallbackStageId).to.equal("stage-42");
    expect(status.readyReplicas).to.equal(7);
  });

  it("an outcome that cannot be recorded (the apiserver fails every write) asks for a new pass", async () => {
    const raw = rawRollout(receiver.url);
    rollouts.put(raw);
    rollouts.replaceStatus = async () => {
      throw Object.assign(new Error("etcdserver: request timed out"), { code: 500 });
    };
    receiver.plan({ status: 200 });
    const requeued: string[] = [];
    const recorder: EventRecorder = {
      record: async (_ref, type, reason, note) => void events.push({ type, reason, note }),
    };
    const d = new CallbackDispatcher(
      {
        allowList: prefixes(`http://127.0.0.1:${receiver.port}/callbacks/`),
        maxRetryAgeMs: 60_000,
        concurrency: 1,
        maxQueued: 10,
      },
      {
        sender: httpCallbackSender(fast),
        rollouts,
        events: recorder,
        log: pino({ enabled: false }),
        clock,
        requeue: (ns, name) => void requeued.push(`${ns}/${name}`),
      },
    );
    dispatchers.push(d);
    d.submit(jobFor(raw));
    await drain(d);
    expect(requeued).to.deep.equal(["shop/web"]);
    expect(events).to.have.length(0);
    expect(d.size).to.equal(0);
  });

  it("bounded: at most maxQueued rollouts wait, and at most `concurrency` attempts are in flight", async () => {
    const sent: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const releases: Array<() => void> = [];
    const sender: CallbackSender = {
      attempt: async (_url, payload) => {
        sent.push(payload.name);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await new Promise<void>((r) => releases.push(r));
        inFlight--;
        return { ok: true, status: 200 };
      },
    };
    const d = dispatcher({ maxQueued: 5, concurrency: 2, sender });
    const names = ["a", "b", "c", "d", "e", "f"];
    for (const name of names)
      rollouts.put({
        ...rawRollout(receiver.url),
        metadata: { name, namespace: "shop", uid: "uid-web", generation: 1 },
      });
    const accepted = names.map((name) =>
      d.submit({
        ...jobFor(rawRollout(receiver.url)),
        name,
        payload: { ...jobFor(rawRollout(receiver.url)).payload, name },
      }),
    );
    expect(accepted).to.deep.equal([true, true, true, true, true, false]);
    while (sent.length < 5 || releases.length > 0) {
      await new Promise((r) => setImmediate(r));
      releases.shift()?.();
    }
    await drain(d);
    expect(maxInFlight).to.equal(2);
    expect(sent.sort()).to.deep.equal(["a", "b", "c", "d", "e"]);
  });
});

// --- starvation -----------------------------------------------------------------------------

describe("callback queue: 12 rollouts with a dead release API do not starve a 13th", function () {
  this.timeout(60_000);

  it("the 13th rollout's waves all complete while 12 callbacks hang, and its own callback is delivered", async () => {
    const dead = new Receiver();
    const live = new Receiver();
    await dead.start();
    await live.start();
    const clock = new FakeClock(Date.parse("2026-01-01T00:10:00.000Z"));
    // Every request to the dead endpoint hangs until the sender's attempt timeout.
    dead.plan(...Array.from({ length: 1000 }, () => "hang" as const));
    const clusters = new Map<string, FakeCluster>();
    const reconcilers = new Map<string, Reconciler>();
    const events: EventRecorder = { record: async () => undefined };
    const rolloutsApi: Pick<RolloutApi, "get" | "replaceStatus"> = {
      get: (ns, name) => clusters.get(`${ns}/${name}`)!.get(ns, name),
      replaceStatus: (ns, name, body) => clusters.get(`${ns}/${name}`)!.replaceStatus(ns, name, body),
    };
    const callbacks = new CallbackDispatcher(
      {
        allowList: prefixes(`http://127.0.0.1:${dead.port}/`, `http://127.0.0.1:${live.port}/`),
        maxRetryAgeMs: 10 * 60_000,
        concurrency: 4,
        maxQueued: 100,
      },
      {
        sender: httpCallbackSender({ attemptTimeoutMs: 200 }),
        rollouts: rolloutsApi,
        events,
        log: pino({ enabled: false }),
        clock,
        random: () => 0.5,
      },
    );
    // As many reconcile workers as callback slots: with callbacks inside the pass, 4 dead
    // endpoints were enough to hold every worker.
    const queue = new KeyedQueue((key) => reconcilers.get(key)!.reconcile(key), { workers: 4, baseBackoffMs: 20 });
    const add = (name: string, spec: Record<string, unknown>, image: string) => {
      const key = `ns/${name}`;
      let cluster = clusters.get(key);
      if (!cluster) {
        cluster = new FakeCluster({ readyDelayMs: 5 });
        cluster.onChange = (k) => queue.add(k);
        clusters.set(key, cluster);
        reconcilers.set(key, fakeReconciler(cluster, { events, callbacks }));
      }
      const obj = rolloutObject({ disruptionPolicy: { maxUnavailable: 1 }, ...spec }, 4, image);
      cluster.putRollout({ ...obj, metadata: { name, namespace: "ns" } });
    };
    const status = (name: string) => clusters.get(`ns/${name}`)!.status(`ns/${name}`);
    try {
      const deadNames = Array.from({ length: 12 }, (_, i) => `dead-${i}`);
      for (const name of deadNames)
        add(name, { bapi: { bapiUrl: `${dead.url}/${name}`, stageId: `stage-${name}` } }, "app:v1");
      await until(
        "12 rollouts done, their callbacks hanging",
        () => deadNames.every((n) => status(n).phase === "RolloutDone") && dead.received.length >= 4,
      );

      add("web", { bapi: { bapiUrl: live.url, stageId: "stage-web" } }, "app:v1");
      await until(
        "web created",
        () => status("web").phase === "RolloutDone" && status("web").lastCallbackStageId === "stage-web",
      );
      add("web", { bapi: { bapiUrl: live.url, stageId: "stage-web-v2" } }, "app:v2");
      await until(
        "web rolled to v2, wave by wave",
        () =>
          status("web").phase === "RolloutDone" &&
          status("web").updatedReplicas === 4 &&
          status("web").wavesCompleted === 4,
      );
      await until("web's v2 callback delivered", () => status("web").lastCallbackStageId === "stage-web-v2");
      const web = clusters.get("ns/web")!;
      expect(web.evictions.map((e) => e.pod).sort()).to.deep.equal(["web-0", "web-1", "web-2", "web-3"]);
      expect(live.received.map((r) => r.headers["idempotency-key"])).to.deep.equal([
        "stage-web/-/RolloutDone",
        "stage-web-v2/-/RolloutDone",
      ]);
      // The dead callbacks are still queued (each waits on a fake-time timer, holding nothing) ...
      expect(
        deadNames.every(
          (n) => status(n).lastCallbackStageId === undefined && status(n).lastCallbackError === undefined,
        ),
      ).to.equal(true);
      expect(callbacks.size).to.equal(12);
      // ... until their retry age runs out: each is recorded as failed, once, and not retried.
      while (clock.fireNext()) await callbacks.idle();
      await until("12 failures recorded", () =>
        deadNames.every((n) =>
          /^stage-dead-\d+: timeout \(no response within 200 ms\); gave up after \d+ attempt/.test(
            status(n).lastCallbackError ?? "",
          ),
        ),
      );
      expect(callbacks.size).to.equal(0);
    } finally {
      await queue.stop();
      await callbacks.stop();
      for (const c of clusters.values()) c.stop();
      await dead.stop();
      await live.stop();
    }
  });
});

const until = (what: string, cond: () => boolean): Promise<void> => waitUntil(what, cond, 30_000);
