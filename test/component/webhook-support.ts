// Shared by the webhook component tests: a real HTTPS webhook on 127.0.0.1 with a generated
// certificate, in-memory caches, and a small HTTPS client that trusts the generated CA.
import { request as httpsRequest } from "node:https";
import type { TLSSocket } from "node:tls";
import { pino, type Logger } from "pino";
import { systemClock } from "../../adapters/clock.js";
import type { Clock } from "../../api/clock.js";
import type { ReadCache } from "../../adapters/kube/cache.js";
import { clusterView, type ClusterCaches, type ClusterView } from "../../adapters/kube/cluster-view.js";
import { generateCertificatePair } from "../../certs/generate.js";
import type { CertificatePair, ServingCertificate } from "../../certs/pair.js";
import type { CertificateSource } from "../../certs/source.js";
import { parseWebhookConfig } from "../../webhook/config.js";
import type { AdmissionHandler, RouteTable, ServedRoute } from "../../webhook/context.js";
import type { RouteDeps } from "../../webhook/routes.js";
import { createWebhookMetrics, type WebhookMetrics } from "../../webhook/metrics.js";
import {
  admissionLimits,
  createApp,
  serverTimeouts,
  startHttpsServer,
  type AdmissionLimits,
  type RunningServer,
  type ServerTimeouts,
} from "../../webhook/server.js";

const DAY = 24 * 3600 * 1000;

export function testPair(): CertificatePair {
  return generateCertificatePair(
    { serviceName: "bulkhead-webhook", namespace: "bulkhead-system" },
    { caValidityMs: 30 * DAY, servingValidityMs: 10 * DAY },
  );
}

/** A ReadCache over a list the test sets, with a switch for "synced". Setting the list reports the change. */
export class StaticCache<T extends { metadata?: { name?: string; namespace?: string } }> implements ReadCache<T> {
  private current: T[];
  private readonly listeners: Array<(obj: T, event: "add" | "update" | "delete") => void> = [];
  constructor(
    items: T[] = [],
    public syncedNow = true,
  ) {
    this.current = items;
  }
  get items(): T[] {
    return this.current;
  }
  set items(next: T[]) {
    const before = this.current;
    this.current = next;
    for (const obj of before) this.listeners.forEach((l) => l(obj, "delete"));
    for (const obj of next) this.listeners.forEach((l) => l(obj, "add"));
  }
  get(namespace: string, name: string): T | undefined {
    return this.items.find((i) => i.metadata?.namespace === namespace && i.metadata?.name === name);
  }
  list(namespace?: string): readonly T[] {
    return namespace === undefined ? this.items : this.items.filter((i) => i.metadata?.namespace === namespace);
  }
  readonly synced = Promise.resolve();
  isSynced(): boolean {
    return this.syncedNow;
  }
  onChange(listener: (obj: T, event: "add" | "update" | "delete") => void): void {
    this.listeners.push(listener);
  }
  async stop(): Promise<void> {}
}

export type StaticCaches = Record<keyof ClusterCaches, StaticCache<object>>;

export function emptyCaches(): StaticCaches {
  return {
    pods: new StaticCache(),
    statefulSets: new StaticCache(),
    rollouts: new StaticCache(),
    controllerRevisions: new StaticCache(),
  };
}

/** The webhook's view over in-memory caches (setting a cache's items updates it, index included). */
export function staticView(caches: StaticCaches = emptyCaches()): ClusterView {
  return clusterView(caches as unknown as ClusterCaches);
}

/** A certificate source the test drives by hand. */
export class ManualCertificateSource implements CertificateSource {
  private listeners: Array<(c: ServingCertificate) => void> = [];
  constructor(private cert: ServingCertificate | undefined) {}
  current() {
    return this.cert;
  }
  onChange(listener: (c: ServingCertificate) => void) {
    this.listeners.push(listener);
  }
  async start() {
    return this.cert!;
  }
  stop() {}
  set(cert: ServingCertificate) {
    this.cert = cert;
    for (const l of this.listeners) l(cert);
  }
}

export const testConfig = parseWebhookConfig({});
export const silentLogger = pino({ level: "silent" });

export interface TestWebhook {
  port: number;
  pair: CertificatePair;
  metrics: WebhookMetrics;
  server: RunningServer;
  certificates: ManualCertificateSource;
  ready: { reasons: string[] };
}

/**
 * The live reads of /validate/statefulsetrollout without an apiserver: no StatefulSet exists and
 * every dry-run is valid, so webhookRoutes() serves that route too.
 */
export const offlineRolloutApi: NonNullable<RouteDeps["rolloutApi"]> = {
  readStatefulSet: async () => undefined,
  dryRunCreate: async () => ({ outcome: "valid" }),
};

/** Pinning's live reads answered from the test's own rollout cache (no apiserver here). */
export function cacheLiveRollouts(view: Pick<ClusterView, "rollout">): RouteDeps["liveRollouts"] {
  return { get: async (namespace, name) => view.rollout(namespace, name) };
}

/** A route for a test handler, with a small body limit unless given. */
export function testRoute(path: string, handler: AdmissionHandler, maxBodyBytes = 64 * 1024): ServedRoute {
  return { path, handler, maxBodyBytes };
}

export interface TestWebhookOptions {
  logger?: Logger;
  limits?: Partial<AdmissionLimits>;
  timeouts?: Partial<ServerTimeouts>;
  shutdownTimeoutMs?: number;
  /** The clock the shutdown timeout runs on (default: the wall clock). */
  clock?: Pick<Clock, "setTimer">;
}

export async function startTestWebhook(routes: RouteTable, options: TestWebhookOptions = {}): Promise<TestWebhook> {
  const pair = testPair();
  const metrics = createWebhookMetrics();
  const certificates = new ManualCertificateSource(pair);
  const ready = { reasons: [] as string[] };
  let draining = false;
  const app = createApp({
    routes,
    metrics,
    logger: options.logger ?? silentLogger,
    limits: { ...admissionLimits(testConfig), ...options.limits },
    isDraining: () => draining,
    readiness: { notReadyReasons: () => ready.reasons },
  });
  const server = await startHttpsServer({
    app,
    certificates,
    host: "127.0.0.1",
    port: 0,
    logger: silentLogger,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 5000,
    clock: options.clock ?? systemClock,
    timeouts: { ...serverTimeouts(testConfig), ...options.timeouts },
    onDrain: () => (draining = true),
  });
  return { port: server.port, pair, metrics, server, certificates, ready };
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => unknown;
  /** Serial number of the certificate the server presented. */
  peerSerial: string;
}

export function call(
  port: number,
  ca: string,
  method: string,
  path: string,
  body?: string | Buffer,
  contentType = "application/json",
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        ca,
        agent: false,
        headers: body === undefined ? {} : { "content-type": contentType },
      },
      (res) => {
        const chunks: Buffer[] = [];
        const peerSerial = (res.socket as TLSSocket).getPeerCertificate().serialNumber ?? "";
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json: () => JSON.parse(text) as unknown,
            peerSerial,
          });
        });
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export function admissionReview(request: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request };
}
