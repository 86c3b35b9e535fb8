// The release-API callback sender against a local HTTP receiver on 127.0.0.1 that misbehaves on
// cue: resets connections, answers 5xx/4xx/429, or hangs past the attempt timeout. The receiver
// verifies the HMAC signature the way a real release API would.
import { expect } from "chai";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Registry } from "prom-client";
import { httpCallbackSender } from "../../adapters/callbacks/sender.js";
import { verifyCallbackSignature } from "../../adapters/callbacks/signature.js";
import { buildCallbackPayload, callbackDue, callbackIdempotencyKey } from "../../api/callback-payload.js";
import type { CallbackPayload } from "../../api/integrations.js";
import { parseRollout, type StatefulsetRollout } from "../../api/rollout.js";

const SECRET = "test-secret-0123456789";

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

  /** Behaviours for the next requests, in order; after they run out, 200. */
  plan(...behaviours: Behaviour[]): void {
    this.script = behaviours;
    this.received.length = 0;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
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
        signatureValid: verifyCallbackSignature({ secret: SECRET, body, signature: header("x-bulkhead-signature"), timestamp: header("x-bulkhead-timestamp") }),
        at: Date.now(),
      });
      const next = this.script.shift() ?? { status: 200 };
      if (next === "hang") return; // never answer; the client must time out
      if (next === "reset") {
        req.socket.destroy();
        return;
      }
      res.writeHead(next.status, { "content-type": "text/plain", ...next.headers });
      res.end(next.status < 300 ? "accepted" : `status ${next.status}`);
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

const fast = { secret: SECRET, attemptTimeoutMs: 300, baseDelayMs: 20, maxDelayMs: 200, maxAttempts: 5, totalBudgetMs: 5000 };

describe("callback sender (local receiver)", function () {
  this.timeout(20_000);
  const receiver = new Receiver();
  const payload = payloadFor(terminalRollout("RolloutDone"));

  before(() => receiver.start());
  after(() => receiver.stop());

  it("succeeds at once on a 2xx, with the documented headers and a valid signature", async () => {
    receiver.plan({ status: 202 });
    const result = await httpCallbackSender(fast).send(receiver.url, payload);
    expect(result).to.deep.equal({ ok: true, status: 202 });
    expect(receiver.received).to.have.length(1);
    const got = receiver.received[0]!;
    expect(got.signatureValid).to.equal(true);
    expect(got.headers["content-type"]).to.equal("application/json");
    expect(got.headers["idempotency-key"]).to.equal("stage-42/r-1/RolloutDone");
    expect(got.headers["x-bulkhead-delivery-attempt"]).to.equal("1");
    expect(got.headers["x-bulkhead-signature"]).to.match(/^sha256=[0-9a-f]{64}$/);
    expect(JSON.parse(got.body)).to.deep.equal({
      stageId: "stage-42",
      rolloutIdentity: "r-1",
      namespace: "shop",
      name: "web",
      phase: "RolloutDone",
      percent: 50,
      replicas: 4,
      updatedReplicas: 2,
      readyReplicas: 4,
      currentRevision: "web-aaa",
      updateRevision: "web-bbb",
      startedAt: "2025-12-31T23:50:00.000Z",
      finishedAt: "2026-01-01T00:00:00.000Z",
    });
  });

  it("retries network failures (the first N attempts reset) until a 2xx, with the same key and body", async () => {
    receiver.plan("reset", "reset", "reset", { status: 200 });
    const result = await httpCallbackSender(fast).send(receiver.url, payload);
    expect(result).to.deep.equal({ ok: true, status: 200 });
    expect(receiver.received.map((r) => r.headers["x-bulkhead-delivery-attempt"])).to.deep.equal(["1", "2", "3", "4"]);
    expect(new Set(receiver.received.map((r) => r.headers["idempotency-key"])).size).to.equal(1);
    expect(new Set(receiver.received.map((r) => r.body)).size).to.equal(1);
    expect(receiver.received.every((r) => r.signatureValid)).to.equal(true);
  });

  it("retries 5xx then stops at the 2xx, backing off exponentially between attempts", async () => {
    receiver.plan({ status: 503 }, { status: 500 }, { status: 502 }, { status: 200 });
    const sender = httpCallbackSender({ ...fast, baseDelayMs: 100, maxDelayMs: 1000 });
    const result = await sender.send(receiver.url, payload);
    expect(result.ok).to.equal(true);
    const at = receiver.received.map((r) => r.at);
    expect(at).to.have.length(4);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // Equal jitter: retry k waits within [base*2^(k-1)/2, base*2^(k-1)].
    expect(gaps[0]).to.be.within(45, 200);
    expect(gaps[1]).to.be.within(95, 320);
    expect(gaps[2]).to.be.within(195, 520);
  });

  it("does not retry a 4xx and says it is not retryable", async () => {
    receiver.plan({ status: 422 });
    const result = await httpCallbackSender(fast).send(receiver.url, payload);
    expect(result.ok).to.equal(false);
    if (!result.ok) {
      expect(result.retryable).to.equal(false);
      expect(result.error).to.match(/HTTP 422/);
    }
    expect(receiver.received).to.have.length(1);
  });

  it("retries a 429 after its Retry-After", async () => {
    receiver.plan({ status: 429, headers: { "retry-after": "1" } }, { status: 200 });
    const started = Date.now();
    const result = await httpCallbackSender({ ...fast, maxDelayMs: 2000 }).send(receiver.url, payload);
    expect(result.ok).to.equal(true);
    expect(receiver.received).to.have.length(2);
    expect(Date.now() - started).to.be.within(950, 2000);
  });

  it("aborts an attempt that hangs past its timeout and retries", async () => {
    receiver.plan("hang", { status: 200 });
    const started = Date.now();
    const result = await httpCallbackSender(fast).send(receiver.url, payload);
    expect(result).to.deep.equal({ ok: true, status: 200 });
    expect(receiver.received).to.have.length(2);
    expect(Date.now() - started).to.be.within(300, 1200);
  });

  it("is bounded in time when the receiver always hangs: retryable failure within the budget", async () => {
    receiver.plan("hang", "hang", "hang", "hang", "hang", "hang");
    const started = Date.now();
    const result = await httpCallbackSender({ ...fast, totalBudgetMs: 1200 }).send(receiver.url, payload);
    const took = Date.now() - started;
    expect(result.ok).to.equal(false);
    if (!result.ok) {
      expect(result.retryable).to.equal(true);
      expect(result.error).to.match(/no response within 300 ms/);
    }
    expect(took).to.be.below(1200);
    expect(receiver.received.length).to.be.within(2, 3);
  });

  it("gives up after maxAttempts of 5xx with a retryable failure", async () => {
    receiver.plan({ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 });
    const result = await httpCallbackSender({ ...fast, maxAttempts: 3 }).send(receiver.url, payload);
    expect(result).to.deep.include({ ok: false, retryable: true });
    expect(receiver.received).to.have.length(3);
  });

  it("reports an unreachable receiver as a retryable network failure", async () => {
    const closed = new Receiver();
    await closed.start();
    const url = closed.url;
    await closed.stop();
    const result = await httpCallbackSender({ ...fast, maxAttempts: 2 }).send(url, payload);
    expect(result.ok).to.equal(false);
    if (!result.ok) expect(result.error).to.match(/ECONNREFUSED/);
  });

  it("does not follow a redirect, and says so", async () => {
    receiver.plan({ status: 308, headers: { location: "https://elsewhere.example/" } });
    const result = await httpCallbackSender(fast).send(receiver.url, payload);
    expect(result.ok).to.equal(false);
    if (!result.ok) expect(result.error).to.match(/redirect to https:\/\/elsewhere.example/);
    expect(receiver.received).to.have.length(1);
  });

  it("sends no signature without a secret; a wrong secret does not verify", async () => {
    receiver.plan({ status: 200 });
    const { secret: _unused, ...unsigned } = fast;
    await httpCallbackSender(unsigned).send(receiver.url, payload);
    expect(receiver.received[0]!.headers["x-bulkhead-signature"]).to.equal(undefined);
    expect(receiver.received[0]!.signatureValid).to.equal(false);

    receiver.plan({ status: 200 });
    await httpCallbackSender({ ...fast, secret: "another-secret-0123456" }).send(receiver.url, payload);
    expect(receiver.received[0]!.signatureValid).to.equal(false);
  });

  it("rejects a bad URL without sending", async () => {
    const result = await httpCallbackSender(fast).send("ftp://127.0.0.1/x", payload);
    expect(result).to.deep.include({ ok: false, retryable: false });
  });

  it("counts attempts by outcome", async () => {
    const registry = new Registry();
    receiver.plan({ status: 500 }, "reset", { status: 200 });
    await httpCallbackSender(fast, { registry }).send(receiver.url, payload);
    const metric = await registry.getSingleMetric("bulkhead_callback_attempts_total")?.get();
    const byOutcome = Object.fromEntries((metric?.values ?? []).map((v) => [v.labels.outcome, v.value]));
    expect(byOutcome).to.deep.equal({ http_5xx: 1, network: 1, success: 1 });
  });

  it("across a reconciler restart: one accepted callback per stage id, re-sends de-duplicable by key", async () => {
    // The receiver accepts each Idempotency-Key once, as a release API should.
    const accepted = new Set<string>();
    const deliver = async (rollout: StatefulsetRollout, sender = httpCallbackSender(fast)) => {
      if (!callbackDue(rollout)) return undefined;
      receiver.plan({ status: 200 });
      const result = await sender.send(receiver.url, payloadFor(rollout));
      const key = String(receiver.received[0]?.headers["idempotency-key"]);
      if (result.ok) accepted.add(key);
      return { result, key };
    };
    const done = terminalRollout("RolloutDone");
    // Pass 1 sends, then the process dies before writing status.lastCallbackStageId.
    const first = await deliver(done);
    // Pass 2, after the restart, with the same (unrecorded) status: sends again, same key.
    const second = await deliver(done, httpCallbackSender(fast));
    expect(first?.result.ok).to.equal(true);
    expect(second?.key).to.equal(first?.key);
    expect(accepted.size).to.equal(1);
    // Once recorded, the callback is no longer due.
    expect(await deliver(terminalRollout("RolloutDone", "stage-42"))).to.equal(undefined);
    expect(callbackIdempotencyKey(payloadFor(terminalRollout("RolloutFailed")))).to.not.equal(first?.key);
  });
});
