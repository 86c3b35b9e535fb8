// The admission server for the benchmark, in its own process (so the load generator does not
// share its event loop): every real route over HTTPS on 127.0.0.1, answering from synthetic
// caches. Prints {"port":N,"ca":"PEM"} on stdout once listening.
import { pino } from "pino";
import { generateCertificatePair } from "../../certs/generate.js";
import type { EventRecorder } from "../../adapters/kube/events.js";
import { parseWebhookConfig } from "../../webhook/config.js";
import { createWebhookMetrics } from "../../webhook/metrics.js";
import { webhookRoutes } from "../../webhook/routes.js";
import { admissionLimits, createApp, serverTimeouts, startHttpsServer } from "../../webhook/server.js";
import { syntheticView } from "./world.js";

const pods = Number(process.env.BENCH_PODS ?? 1000);
const logger = pino({ level: "silent" });
const config = parseWebhookConfig({});
const view = syntheticView(pods);
const metrics = createWebhookMetrics();
// Events are the apiserver's business; the benchmark measures the admission path only.
const events: EventRecorder = { record: async () => {} };
// No apiserver here: the synthetic caches are the truth, so pinning's live reads read them.
const liveRollouts = { get: async (namespace: string, name: string) => view.rollout(namespace, name) };
const app = createApp({
  routes: webhookRoutes({ ctx: { config, view, logger, metrics }, events, liveRollouts }),
  metrics,
  logger,
  limits: admissionLimits(config),
  readiness: { notReadyReasons: () => [] },
});
const pair = generateCertificatePair(
  { serviceName: "bulkhead-webhook", namespace: "bench" },
  { caValidityMs: 86_400_000, servingValidityMs: 86_400_000 },
);
const certificates = { current: () => pair, onChange() {}, start: async () => pair, stop() {} };
const server = await startHttpsServer({
  app,
  certificates,
  host: "127.0.0.1",
  port: 0,
  logger,
  shutdownTimeoutMs: 1000,
  timeouts: serverTimeouts(config),
});
process.stdout.write(`${JSON.stringify({ port: server.port, ca: pair.caBundle })}\n`);
process.on("SIGTERM", () => void server.shutdown().then(() => process.exit(0)));
