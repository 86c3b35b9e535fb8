// The webhook's resource bounds over real HTTPS: per-path body limits (also after gzip), the cap on
// requests and body bytes in flight, a body that trickles in too slowly, silent connections, and
// the TLS 1.2 cipher list. Timeouts are configured short; nothing asserts an upper bound on time.
import { expect } from "chai";
import { once } from "node:events";
import { request as httpsRequest } from "node:https";
import { connect, type TLSSocket } from "node:tls";
import { gzipSync } from "node:zlib";
import { pino } from "pino";
import { allowed, type AdmissionResponse } from "../../api/admission.js";
import type { WebhookContext } from "../../webhook/context.js";
import { createWebhookMetrics } from "../../webhook/metrics.js";
import { ADMISSION_ROUTES, webhookRoutes } from "../../webhook/routes.js";
import {
  admissionReview,
  call,
  staticView,
  silentLogger,
  offlineRolloutApi,
  cacheLiveRollouts,
  startTestWebhook,
  testConfig,
  testRoute,
  type TestWebhook,
} from "./webhook-support.js";

function evictionReview(uid: string, padding = ""): Record<string, unknown> {
  return admissionReview({
    uid,
    kind: { group: "policy", version: "v1", kind: "Eviction" },
    resource: { group: "", version: "v1", resource: "pods" },
    subResource: "eviction",
    name: "web-0",
    namespace: "shop",
    operation: "CREATE",
    userInfo: { username: "alice" },
    object: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: "web-0", namespace: "shop" } },
    ...(padding ? { padding } : {}),
  });
}

/** A JSON review of exactly `bytes` bytes. */
function reviewOfSize(bytes: number): string {
  const empty = JSON.stringify(evictionReview("size", "x"));
  return JSON.stringify(evictionReview("size", "x".repeat(bytes - empty.length + 1)));
}

/** Waits on a condition; the test's own timeout is the only bound. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 10));
}

function tlsConnect(
  port: number,
  ca: string,
  options: { ciphers?: string; maxVersion?: "TLSv1.2" | "TLSv1.3" } = {},
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: "127.0.0.1", port, ca, servername: "bulkhead-webhook.bulkhead-system.svc", ...options },
      () => resolve(socket),
    );
    socket.once("error", reject);
  });
}

describe("webhook resource bounds", function () {
  this.timeout(30_000);
  const ctx: WebhookContext = {
    config: testConfig,
    view: staticView(),
    logger: silentLogger,
    metrics: createWebhookMetrics(),
  };

  describe("per-path body limits, from the route table", () => {
    let hook: TestWebhook;
    before(async () => {
      hook = await startTestWebhook(
        webhookRoutes({
          ctx,
          events: { record: async () => {} },
          rolloutApi: offlineRolloutApi,
          liveRollouts: cacheLiveRollouts(ctx.view),
        }),
      );
    });
    after(() => hook.server.shutdown());

    for (const route of ADMISSION_ROUTES) {
      it(`${route.path}: one byte over ${route.maxBodyBytes} is 413 naming the size and the limit`, async () => {
        const body = reviewOfSize(route.maxBodyBytes + 1);
        const res = await postRaw(hook, route.path, body);
        expect(res.status, res.text).to.equal(413);
        expect((res.json() as { message: string }).message).to.equal(
          `request body of ${route.maxBodyBytes + 1} bytes is over the limit of ${route.maxBodyBytes} bytes for ${route.path}`,
        );
      });
    }

    it("evictions and deletes take a few KiB; pod creates and StatefulSets take whole objects", () => {
      const limit = (path: string) => ADMISSION_ROUTES.find((r) => r.path === path)!.maxBodyBytes;
      expect(limit("/validate/eviction")).to.be.at.most(16 * 1024);
      expect(limit("/validate/pod-delete")).to.be.below(limit("/mutate/pod"));
      expect(limit("/mutate/pod")).to.be.below(limit("/validate/statefulset"));
    });

    it("an undeclared (chunked) body is cut off once it passes the limit", async () => {
      const res = await call(hook.port, hook.pair.caBundle, "POST", "/validate/eviction", reviewOfSize(64 * 1024));
      expect(res.status, res.text).to.equal(413);
      expect((res.json() as { message: string }).message).to.match(
        /^request body is over the limit of 16384 bytes for \/validate\/eviction: refused after \d+ bytes$/,
      );
    });

    it("a body exactly at the limit is read and decided", async () => {
      const res = await call(hook.port, hook.pair.caBundle, "POST", "/validate/eviction", reviewOfSize(16 * 1024));
      expect(res.status, res.text).to.equal(200);
    });

    it("a gzip bomb is 413 on its decompressed size, with real figures", async () => {
      const bomb = gzipSync(reviewOfSize(8 * 1024 * 1024));
      expect(bomb.length).to.be.below(64 * 1024);
      const res = await postRaw(hook, "/validate/eviction", bomb, "gzip");
      expect(res.status, res.text).to.equal(413);
      expect((res.json() as { message: string }).message).to.match(
        /^request body \(decompressed from gzip\) is over the limit of 16384 bytes for \/validate\/eviction: refused after \d+ bytes$/,
      );
    });

    it("a corrupt gzip body is 400 saying it could not be decompressed", async () => {
      const res = await postRaw(hook, "/validate/eviction", Buffer.from("this is not gzip at all"), "gzip");
      expect(res.status, res.text).to.equal(400);
      expect(res.json()).to.deep.equal({
        code: 400,
        message: "request body could not be decompressed as gzip: incorrect header check",
      });
    });

    it("a well-formed gzip review is decided", async () => {
      const res = await postRaw(hook, "/validate/eviction", gzipSync(JSON.stringify(evictionReview("gz-1"))), "gzip");
      expect(res.status, res.text).to.equal(200);
      expect((res.json() as { response: AdmissionResponse }).response.uid).to.equal("gz-1");
    });

    it("counts each refusal by reason", async () => {
      const text = (await call(hook.port, hook.pair.caBundle, "GET", "/metrics")).text;
      expect(text).to.match(
        /bulkhead_webhook_rejected_requests_total\{path="\/validate\/eviction",reason="body-too-large"\} [1-9]/,
      );
      expect(text).to.match(
        /bulkhead_webhook_rejected_requests_total\{path="\/validate\/eviction",reason="body-unreadable"\} [1-9]/,
      );
    });
  });

  describe("requests in flight at the default limits", () => {
    let hook: TestWebhook;
    let entered = 0;
    const held: Array<() => void> = [];
    before(async () => {
      const hold = testRoute("/test/hold", () => {
        entered += 1;
        return new Promise((resolve) => held.push(() => resolve(allowed())));
      });
      // testConfig is parseWebhookConfig({}): the defaults the chart ships.
      hook = await startTestWebhook([hold]);
    });
    after(() => hook.server.shutdown());

    it("a burst of 200 reviews at once (one apiserver's mutating in-flight limit) is served, none 503", async () => {
      const BURST = 200;
      let refused = 0;
      const calls = Array.from({ length: BURST }, (_, i) =>
        postRaw(hook, "/test/hold", JSON.stringify(evictionReview(`burst-${i}`))).then((r) => {
          if (r.status === 503) refused += 1;
          return r.status;
        }),
      );
      await until(() => entered + refused === BURST);
      held.splice(0).forEach((release) => release());
      const statuses = await Promise.all(calls);
      expect(refused, "answered 503 (webhook busy)").to.equal(0);
      expect(statuses.every((s) => s === 200)).to.equal(true);
    });
  });

  describe("requests in flight", () => {
    let hook: TestWebhook;
    let entered = 0;
    const held: Array<() => void> = [];
    before(async () => {
      const hold = testRoute("/test/hold", () => {
        entered += 1;
        return new Promise((resolve) => held.push(() => resolve(allowed())));
      });
      const quick = testRoute("/test/quick", async () => allowed());
      hook = await startTestWebhook([hold, quick], { limits: { maxInFlight: 2, inFlightBodyBytes: 10_000 } });
    });
    after(() => hook.server.shutdown());
    const post = (path: string, body: string) => postRaw(hook, path, body);

    it("over the request cap is 503 with Retry-After, counted; freed slots serve again", async () => {
      entered = 0;
      const first = post("/test/hold", JSON.stringify(evictionReview("h-1")));
      const second = post("/test/hold", JSON.stringify(evictionReview("h-2")));
      await until(() => entered === 2);
      const refused = await post("/test/quick", JSON.stringify(evictionReview("q-1")));
      expect(refused.status).to.equal(503);
      expect(refused.headers["retry-after"]).to.equal("1");
      expect((refused.json() as { message: string }).message).to.match(
        /webhook busy: 2 requests .* in flight, the limit is 2 requests/,
      );
      held.splice(0).forEach((release) => release());
      expect((await first).status).to.equal(200);
      expect((await second).status).to.equal(200);
      expect((await post("/test/quick", JSON.stringify(evictionReview("q-2")))).status).to.equal(200);
      const text = (await call(hook.port, hook.pair.caBundle, "GET", "/metrics")).text;
      expect(text).to.match(/bulkhead_webhook_rejected_requests_total\{path="\/test\/quick",reason="in-flight"\} 1/);
      expect(text).to.match(/bulkhead_webhook_in_flight_requests 0/);
    });

    it("over the body-byte budget is 503 before the body is read", async () => {
      entered = 0;
      const big = post("/test/hold", reviewOfSize(6_000));
      await until(() => entered === 1);
      const refused = await post("/test/quick", reviewOfSize(6_000));
      expect(refused.status).to.equal(503);
      expect((refused.json() as { message: string }).message).to.match(
        /1 requests \(6000 body bytes\) in flight, .* and 10000 bytes/,
      );
      expect((await post("/test/quick", reviewOfSize(3_000))).status, "a small one still fits").to.equal(200);
      held.splice(0).forEach((release) => release());
      expect((await big).status).to.equal(200);
    });
  });

  describe("handler errors", () => {
    it("are answered HTTP 500 with one error log line and one count, whatever the hook's failurePolicy", async () => {
      const lines: Array<{ level: number; msg: string; uid?: string }> = [];
      const logger = pino(
        { level: "debug" },
        { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string; uid?: string }) },
      );
      const hook = await startTestWebhook(
        [
          testRoute("/test/type-error", async (request) => {
            const object = request.object as { metadata: { labels: Record<string, string> } };
            return allowed([object.metadata.labels.app!]);
          }),
        ],
        { logger },
      );
      try {
        const res = await postRaw(
          hook,
          "/test/type-error",
          JSON.stringify({
            ...evictionReview("te-1"),
            request: { ...(evictionReview("te-1").request as object), object: null },
          }),
        );
        expect(res.status).to.equal(500);
        expect((res.json() as { message: string }).message).to.match(
          /^bulkhead webhook \/test\/type-error failed on review te-1: Cannot read properties of null/,
        );
        const errors = lines.filter((l) => l.level >= 50);
        expect(errors).to.have.length(1);
        expect(errors[0]).to.include({ uid: "te-1" });
        const text = (await call(hook.port, hook.pair.caBundle, "GET", "/metrics")).text;
        expect(text).to.match(/bulkhead_webhook_handler_errors_total\{path="\/test\/type-error"\} 1/);
        expect(text).not.to.match(/bulkhead_webhook_decisions_total\{path="\/test\/type-error"/);
      } finally {
        await hook.server.shutdown();
      }
    });
  });

  describe("timeouts", () => {
    let hook: TestWebhook;
    before(async () => {
      hook = await startTestWebhook([testRoute("/test/quick", async () => allowed())], {
        timeouts: { headersTimeoutMs: 300, bodyTimeoutMs: 300, idleTimeoutMs: 400 },
      });
    });
    after(() => hook.server.shutdown());

    it("a body trickled in one byte at a time is cut off with 408", async () => {
      const socket = await tlsConnect(hook.port, hook.pair.caBundle);
      let received = "";
      socket.setEncoding("utf8").on("data", (d: string) => (received += d));
      const closed = once(socket, "close");
      socket.write(
        "POST /test/quick HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
      );
      // Keep trickling until the server gives up; it never gets the whole body.
      const trickle = setInterval(() => socket.writable && socket.write(" "), 20);
      await closed;
      clearInterval(trickle);
      expect(received).to.match(/^HTTP\/1\.1 408 /);
    });

    it("a connection that never sends a request is closed", async () => {
      const socket = connect({
        host: "127.0.0.1",
        port: hook.port,
        ca: hook.pair.caBundle,
        servername: "bulkhead-webhook.bulkhead-system.svc",
      });
      const closed = once(socket, "close");
      // Closed before or after the handshake completes: either way the server let it go.
      socket.on("error", () => {});
      socket.resume();
      await closed;
    });

    it("an idle keep-alive connection outlives the headers timeout and is closed after the idle timeout", async () => {
      const idleTimeoutMs = 1500;
      const keepAlive = await startTestWebhook([testRoute("/test/quick", async () => allowed())], {
        timeouts: { headersTimeoutMs: 200, bodyTimeoutMs: 200, idleTimeoutMs },
      });
      try {
        const socket = await tlsConnect(keepAlive.port, keepAlive.pair.caBundle);
        let received = "";
        socket.setEncoding("utf8").on("data", (d: string) => (received += d));
        const body = JSON.stringify(evictionReview("ka-1"));
        socket.write(
          `POST /test/quick HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        );
        const sent = Date.now();
        await once(socket, "close");
        expect(received).to.match(/^HTTP\/1\.1 200 /);
        // A lower bound only: the apiserver reuses idle connections for 90 s, so closing at the
        // headers timeout instead of the idle timeout would break reviews sent on them.
        expect(Date.now() - sent).to.be.at.least(idleTimeoutMs);
      } finally {
        await keepAlive.server.shutdown();
      }
    });

    it("the chart's default idle timeout still outlives the apiserver's 90 s keep-alive", () => {
      expect(testConfig.idleTimeoutMs).to.be.greaterThan(90_000);
    });
  });

  describe("TLS", () => {
    let hook: TestWebhook;
    before(async () => {
      hook = await startTestWebhook([]);
    });
    after(() => hook.server.shutdown());

    for (const cipher of ["ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384", "AES128-GCM-SHA256", "AES256-SHA"]) {
      it(`refuses TLS 1.2 with ${cipher} (CBC or no forward secrecy)`, async () => {
        const outcome = await tlsConnect(hook.port, hook.pair.caBundle, {
          maxVersion: "TLSv1.2",
          ciphers: cipher,
        }).then(
          (socket) => {
            socket.destroy();
            return "connected";
          },
          (err: Error) => err.message,
        );
        expect(outcome).to.match(/handshake failure|no ciphers available|alert number 40/);
      });
    }

    for (const cipher of [
      "ECDHE-RSA-AES128-GCM-SHA256",
      "ECDHE-RSA-AES256-GCM-SHA384",
      "ECDHE-RSA-CHACHA20-POLY1305",
    ]) {
      it(`accepts TLS 1.2 with ${cipher}`, async () => {
        const socket = await tlsConnect(hook.port, hook.pair.caBundle, { maxVersion: "TLSv1.2", ciphers: cipher });
        expect(socket.getProtocol()).to.equal("TLSv1.2");
        expect(socket.getCipher().standardName).to.match(/^TLS_ECDHE_RSA_WITH_/);
        socket.destroy();
      });
    }
  });
});

function postRaw(
  hook: TestWebhook,
  path: string,
  body: Buffer | string,
  encoding = "identity",
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => unknown;
}> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port: hook.port,
        method: "POST",
        path,
        ca: hook.pair.caBundle,
        agent: false,
        headers: {
          "content-type": "application/json",
          "content-encoding": encoding,
          "content-length": Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as unknown });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
