// The express app (admission routes, /healthz, /readyz, /metrics, body limit, JSON only) and the
// HTTPS server around it (hot certificate reload, graceful shutdown).
import express, { type NextFunction, type Request, type Response } from "express";
import { ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { getHeapStatistics } from "node:v8";
import type { Logger } from "pino";
import type { Clock } from "../api/clock.js";
import type { CertificateSource } from "../certs/source.js";
import { admissionRoute } from "./admission-route.js";
import type { WebhookConfig } from "./config.js";
import type { RouteTable } from "./context.js";
import type { WebhookMetrics } from "./metrics.js";

export interface Readiness {
  /** Empty when ready; otherwise what is still missing ("caches not synced", ...). */
  notReadyReasons(): string[];
}

/** What one process may hold at once; over it a request is answered 503 before its body is read. */
export interface AdmissionLimits {
  maxInFlight: number;
  /** Sum of the reserved body sizes (declared length, or the path's limit) of requests in flight. */
  inFlightBodyBytes: number;
}

/**
 * A parsed review takes several times its body in heap (strings, objects, the handler's clone):
 * with at most an eighth of the heap in bodies in flight, the process stays inside its heap.
 */
export const HEAP_SHARE_FOR_BODIES = 1 / 8;

/** The limits from config; the body budget defaults to a share of the heap V8 was given. */
export function admissionLimits(
  config: Pick<WebhookConfig, "maxInFlight" | "inFlightBodyBytes">,
  heapLimitBytes = getHeapStatistics().heap_size_limit,
): AdmissionLimits {
  return {
    maxInFlight: config.maxInFlight,
    inFlightBodyBytes: config.inFlightBodyBytes ?? Math.floor(heapLimitBytes * HEAP_SHARE_FOR_BODIES),
  };
}

export function serverTimeouts(
  config: Pick<WebhookConfig, "headersTimeoutMs" | "bodyTimeoutMs" | "idleTimeoutMs">,
): ServerTimeouts {
  return {
    headersTimeoutMs: config.headersTimeoutMs,
    bodyTimeoutMs: config.bodyTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
  };
}

export interface AppOptions {
  routes: RouteTable;
  metrics: WebhookMetrics;
  logger: Logger;
  readiness: Readiness;
  limits: AdmissionLimits;
  /** Set once shutdown starts: readiness fails and connections are not kept alive. */
  isDraining?: () => boolean;
}

const FIXED_PATHS = ["/healthz", "/readyz", "/metrics"];

/** Body-parser (http-errors) errors carry `type`, `status` and the sizes; zlib errors a Z_ code. */
interface HttpError extends Error {
  type?: string;
  status?: number;
  length?: number;
  limit?: number;
  received?: number;
  code?: string;
}

/** What a request reserves of the in-flight body budget: its declared length, else the whole limit. */
function reservation(req: Request, maxBodyBytes: number): number {
  const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase();
  const declared = Number(req.headers["content-length"]);
  // A compressed body may inflate up to the limit; an undeclared one may stream up to it.
  if (encoding !== "identity" || !Number.isSafeInteger(declared) || declared < 0) return maxBodyBytes;
  return Math.min(declared, maxBodyBytes);
}

export function createApp(options: AppOptions): express.Express {
  const { routes, metrics, logger, readiness, limits } = options;
  const draining = options.isDraining ?? (() => false);
  const known = new Set([...routes.map((r) => r.path), ...FIXED_PATHS]);
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  // One function for every response (not a closure per request): the response's own writeHead
  // is http.ServerResponse's, the same for all.
  const closingWhileDraining = function (this: Response, ...args: Parameters<Response["writeHead"]>) {
    if (draining() && !this.headersSent) this.setHeader("Connection", "close");
    return ServerResponse.prototype.writeHead.apply(this, args);
  } as Response["writeHead"];
  app.use((req, res, next) => {
    // Known paths only as the label: arbitrary 404 paths must not explode the series count.
    const path = known.has(req.path) ? req.path : "other";
    res.on("finish", () => metrics.requests.inc({ path, code: String(res.statusCode) }));
    // While draining, every response (including those of requests already in flight) closes its
    // connection, so keep-alive clients reconnect to another replica instead of to a closed port.
    res.writeHead = closingWhileDraining;
    next();
  });

  app.get("/healthz", (_req, res) => {
    res.type("text/plain").send("ok");
  });
  app.get("/readyz", (_req, res) => {
    const reasons = draining() ? ["shutting down"] : readiness.notReadyReasons();
    if (reasons.length === 0) res.type("text/plain").send("ok");
    else
      res
        .status(503)
        .type("text/plain")
        .send(`not ready: ${reasons.join("; ")}`);
  });
  app.get("/metrics", async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  // The in-flight gate: a request holds its slot and its body reservation until its response is
  // done (or its connection is gone), so memory held by bodies and parsed reviews is bounded.
  let inFlight = 0;
  let reservedBytes = 0;
  const admit = (path: string, maxBodyBytes: number) => (req: Request, res: Response, next: NextFunction) => {
    const bytes = reservation(req, maxBodyBytes);
    if (inFlight >= limits.maxInFlight || reservedBytes + bytes > limits.inFlightBodyBytes) {
      metrics.rejections.inc({ path, reason: "in-flight" });
      logger.warn({ path, inFlight, reservedBytes, bytes }, "too many admission requests in flight; answering 503");
      // Close the connection: its unread body is not worth reading.
      res
        .status(503)
        .set({ "Retry-After": "1", Connection: "close" })
        .json({
          code: 503,
          message: `webhook busy: ${inFlight} requests (${reservedBytes} body bytes) in flight, the limit is ${limits.maxInFlight} requests and ${limits.inFlightBodyBytes} bytes; retry`,
        });
      return;
    }
    inFlight += 1;
    reservedBytes += bytes;
    metrics.inFlightRequests.set(inFlight);
    metrics.inFlightBodyBytes.set(reservedBytes);
    res.once("close", () => {
      inFlight -= 1;
      reservedBytes -= bytes;
      metrics.inFlightRequests.set(inFlight);
      metrics.inFlightBodyBytes.set(reservedBytes);
    });
    next();
  };
  const jsonOnly = (req: Request, res: Response, next: NextFunction) => {
    if (req.is("application/json")) return next();
    const got = req.headers["content-type"] ?? "none";
    res.status(415).json({ code: 415, message: `Content-Type must be application/json, got ${got}` });
  };
  const limitOf = new Map<string, number>();
  for (const { path, maxBodyBytes, handler } of routes) {
    limitOf.set(path, maxBodyBytes);
    const json = express.json({ limit: maxBodyBytes, strict: false, type: "application/json" });
    app.post(path, admit(path, maxBodyBytes), jsonOnly, json, admissionRoute(path, handler, metrics, logger));
  }

  app.use((req, res) => {
    res.status(404).json({ code: 404, message: `no such endpoint: ${req.method} ${req.path}` });
  });
  // express 5 needs all four parameters to recognise an error handler.
  app.use((err: HttpError, req: Request, res: Response, _next: NextFunction) => {
    const path = known.has(req.path) ? req.path : "other";
    const reject = (status: number, reason: "body-too-large" | "body-unreadable", message: string) => {
      metrics.rejections.inc({ path, reason });
      logger.warn({ path, status, error: message }, "admission request body refused");
      res.status(status).json({ code: status, message });
    };
    if (res.headersSent) {
      res.end();
    } else if (err.type === "entity.too.large") {
      const limit = err.limit ?? limitOf.get(req.path);
      const encoding = req.headers["content-encoding"];
      const message =
        err.length !== undefined
          ? `request body of ${err.length} bytes is over the limit of ${limit} bytes for ${req.path}`
          : `request body${encoding ? ` (decompressed from ${encoding})` : ""} is over the limit of ${limit} bytes for ${req.path}: refused after ${err.received} bytes`;
      reject(413, "body-too-large", message);
    } else if (err.type === "entity.parse.failed") {
      reject(400, "body-unreadable", `request body is not valid JSON: ${err.message}`);
    } else if (err.type === "encoding.unsupported" || err.type === "charset.unsupported") {
      reject(415, "body-unreadable", `${err.message}; send identity, gzip or deflate JSON`);
    } else if (err.type === "request.aborted") {
      res.status(400).end();
    } else if (err.code?.startsWith("Z_")) {
      reject(
        400,
        "body-unreadable",
        `request body could not be decompressed as ${req.headers["content-encoding"] ?? "declared"}: ${err.message}`,
      );
    } else if (err.status && err.status >= 400 && err.status < 500) {
      reject(err.status, "body-unreadable", `request body could not be read: ${err.message}`);
    } else {
      logger.error({ err, path: req.path }, "unexpected error serving a request");
      res.status(500).json({ code: 500, message: `internal error serving ${req.path}: ${err.message}` });
    }
  });
  return app;
}

export interface RunningServer {
  server: Server;
  port: number;
  /** Stops accepting, lets in-flight reviews finish (bounded by the timeout), then resolves. */
  shutdown(): Promise<void>;
  isDraining(): boolean;
}

export interface HttpsOptions {
  app: express.Express;
  certificates: CertificateSource;
  host: string;
  port: number;
  logger: Logger;
  shutdownTimeoutMs: number;
  /** The process clock: the shutdown timeout runs on it. */
  clock: Pick<Clock, "setTimer">;
  timeouts: ServerTimeouts;
  /** Called when shutdown begins, before the listener closes (the app's isDraining reads it). */
  onDrain?: () => void;
}

export interface ServerTimeouts {
  /** Request headers must arrive within this (the TLS handshake within it or 10 s, whichever is longer). */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this, however slowly it trickles in. */
  bodyTimeoutMs: number;
  /** An idle keep-alive connection (or one that never sends a request) is closed after this. */
  idleTimeoutMs: number;
}

/**
 * TLS 1.2: ECDHE key exchange (forward secrecy) with AEAD ciphers only; no CBC, no SHA-1, no RSA
 * key exchange. Go's apiserver client offers all of these. TLS 1.3 suites are all AEAD.
 */
export const TLS_CIPHERS = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** Starts HTTPS with the source's current certificate and swaps in each new one without a restart. */
export async function startHttpsServer(options: HttpsOptions): Promise<RunningServer> {
  const { app, certificates, host, logger } = options;
  const first = certificates.current();
  if (!first) throw new Error("no certificate loaded: start the certificate source first");
  const { headersTimeoutMs, bodyTimeoutMs, idleTimeoutMs } = options.timeouts;
  const tls = { minVersion: "TLSv1.2", ciphers: TLS_CIPHERS, honorCipherOrder: true } as const;
  const server = createServer(
    {
      cert: first.cert,
      key: first.key,
      ...tls,
      // A handshake is CPU work on both sides; on a loaded node it may take longer than a tight
      // headers timeout, so it gets at least 10 s.
      handshakeTimeout: Math.max(headersTimeoutMs, 10_000),
      // Also closes (with 408) a connection that never sends a request.
      headersTimeout: headersTimeoutMs,
      // Node answers 408 and closes a request not fully received in time. It checks on this
      // interval, so the interval bounds how far past the timeout a trickled body can run.
      requestTimeout: Math.max(bodyTimeoutMs, headersTimeoutMs),
      connectionsCheckingInterval: Math.max(
        10,
        Math.min(1000, Math.floor(Math.min(bodyTimeoutMs, headersTimeoutMs) / 4)),
      ),
      // Outlive the apiserver's idle keep-alive (Go's 90 s, checked in config.ts): if we closed
      // first, a review sent on the closing connection fails, and Go does not retry a POST.
      keepAliveTimeout: idleTimeoutMs,
    },
    app,
  );
  certificates.onChange((cert) => {
    try {
      server.setSecureContext({ cert: cert.cert, key: cert.key, ...tls });
      logger.info("serving a new certificate");
    } catch (err) {
      logger.error({ err }, "cannot load the new certificate; still serving the previous one");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ host, port }, "webhook listening");

  let draining = false;
  let closed: Promise<void> | undefined;
  return {
    server,
    port,
    isDraining: () => draining,
    shutdown() {
      closed ??= new Promise<void>((resolve) => {
        draining = true;
        options.onDrain?.();
        const force = options.clock.setTimer(() => {
          logger.warn({ timeoutMs: options.shutdownTimeoutMs }, "shutdown timeout: closing remaining connections");
          server.closeAllConnections();
        }, options.shutdownTimeoutMs);
        server.close(() => {
          force.cancel();
          resolve();
        });
        server.closeIdleConnections();
      });
      return closed;
    },
  };
}
