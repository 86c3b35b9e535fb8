// The express app (admission routes, /healthz, /readyz, /metrics, body limit, JSON only) and the
// HTTPS server around it (hot certificate reload, graceful shutdown).
import express, { type NextFunction, type Request, type Response } from "express";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { CertificateSource } from "../certs/source.js";
import { admissionRoute } from "./admission-route.js";
import type { RouteTable } from "./context.js";
import type { WebhookMetrics } from "./metrics.js";

export interface Readiness {
  /** Empty when ready; otherwise what is still missing ("caches not synced", ...). */
  notReadyReasons(): string[];
}

export interface AppOptions {
  routes: RouteTable;
  metrics: WebhookMetrics;
  logger: Logger;
  readiness: Readiness;
  /** express.json limit, e.g. "3mb". */
  bodyLimit: string;
  /** Set once shutdown starts: readiness fails and connections are not kept alive. */
  isDraining?: () => boolean;
}

const FIXED_PATHS = ["/healthz", "/readyz", "/metrics"];

/** Body-parser errors carry `type` and `status`; everything else is ours. */
interface HttpError extends Error {
  type?: string;
  status?: number;
  length?: number;
  limit?: number;
}

export function createApp(options: AppOptions): express.Express {
  const { routes, metrics, logger, readiness, bodyLimit } = options;
  const draining = options.isDraining ?? (() => false);
  const known = new Set([...Object.keys(routes), ...FIXED_PATHS]);
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  app.use((req, res, next) => {
    // Known paths only as the label: arbitrary 404 paths must not explode the series count.
    const path = known.has(req.path) ? req.path : "other";
    res.on("finish", () => metrics.requests.inc({ path, code: String(res.statusCode) }));
    // While draining, every response (including those of requests already in flight) closes its
    // connection, so keep-alive clients reconnect to another replica instead of to a closed port.
    const writeHead = res.writeHead;
    res.writeHead = function (this: Response, ...args: Parameters<Response["writeHead"]>) {
      if (draining() && !res.headersSent) res.setHeader("Connection", "close");
      return writeHead.apply(this, args);
    } as Response["writeHead"];
    next();
  });

  app.get("/healthz", (_req, res) => {
    res.type("text/plain").send("ok");
  });
  app.get("/readyz", (_req, res) => {
    const reasons = draining() ? ["shutting down"] : readiness.notReadyReasons();
    if (reasons.length === 0) res.type("text/plain").send("ok");
    else res.status(503).type("text/plain").send(`not ready: ${reasons.join("; ")}`);
  });
  app.get("/metrics", async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  const jsonOnly = (req: Request, res: Response, next: NextFunction) => {
    if (req.is("application/json")) return next();
    const got = req.headers["content-type"] ?? "none";
    res.status(415).json({ code: 415, message: `Content-Type must be application/json, got ${got}` });
  };
  const json = express.json({ limit: bodyLimit, strict: false, type: "application/json" });
  for (const [path, handler] of Object.entries(routes)) {
    app.post(path, jsonOnly, json, admissionRoute(path, handler, metrics, logger));
  }

  app.use((req, res) => {
    res.status(404).json({ code: 404, message: `no such endpoint: ${req.method} ${req.path}` });
  });
  // express 5 needs all four parameters to recognise an error handler.
  app.use((err: HttpError, req: Request, res: Response, _next: NextFunction) => {
    if (err.type === "entity.too.large") {
      res.status(413).json({ code: 413, message: `request body of ${err.length} bytes is over the limit of ${err.limit} bytes` });
    } else if (err.type === "entity.parse.failed") {
      res.status(400).json({ code: 400, message: `request body is not valid JSON: ${err.message}` });
    } else if (err.type === "encoding.unsupported" || err.type === "charset.unsupported") {
      res.status(415).json({ code: 415, message: err.message });
    } else if (err.type === "request.aborted") {
      res.status(400).end();
    } else {
      logger.error({ err, path: req.path }, "unexpected error serving a request");
      res.status(err.status && err.status >= 400 && err.status < 600 ? err.status : 500).json({ code: 500, message: "internal error" });
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
  /** Called when shutdown begins, before the listener closes (the app's isDraining reads it). */
  onDrain?: () => void;
}

/** Starts HTTPS with the source's current certificate and swaps in each new one without a restart. */
export async function startHttpsServer(options: HttpsOptions): Promise<RunningServer> {
  const { app, certificates, host, logger } = options;
  const first = certificates.current();
  if (!first) throw new Error("no certificate loaded: start the certificate source first");
  const server = createServer({ cert: first.cert, key: first.key, minVersion: "TLSv1.2" }, app);
  // Below the apiserver's default webhook timeout; a stuck client must not hold a socket forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  // Outlive the apiserver's idle keep-alive (Go's 90 s): if we closed first, a review sent on the
  // closing connection fails, and Go does not retry a POST.
  server.keepAliveTimeout = 120_000;
  certificates.onChange((cert) => {
    try {
      server.setSecureContext({ cert: cert.cert, key: cert.key, minVersion: "TLSv1.2" });
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
        const force = setTimeout(() => {
          logger.warn({ timeoutMs: options.shutdownTimeoutMs }, "shutdown timeout: closing remaining connections");
          server.closeAllConnections();
        }, options.shutdownTimeoutMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closed;
    },
  };
}
