// The webhook process: parse config, start the informer caches and the certificate source, serve
// HTTPS, and shut down gracefully on SIGTERM. The only place real adapters are wired.
import { hostname } from "node:os";
import { pino } from "pino";
import { collectDefaultMetrics } from "prom-client";
import { loadKubeConfig, makeClients } from "../adapters/kube/client.js";
import { delayedCache } from "../adapters/kube/delayed-cache.js";
import { kubeEventRecorder } from "../adapters/kube/events.js";
import { kubeRolloutApi } from "../adapters/kube/rollouts.js";
import { createSlackClient } from "../adapters/slack/client.js";
import { startWebhookCaches, stopWebhookCaches } from "./caches.js";
import { certificateSource } from "./certificates.js";
import { ConfigError, parseWebhookConfig, type WebhookConfig } from "./config.js";
import { allCachesSynced, type WebhookContext } from "./context.js";
import { createWebhookMetrics } from "./metrics.js";
import { webhookRoutes } from "./routes.js";
import { createApp, startHttpsServer } from "./server.js";

function configOrExit(): WebhookConfig {
  try {
    return parseWebhookConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const config = configOrExit();
  const logger = pino({ level: config.logLevel, base: { component: "webhook" } });
  const clients = makeClients(loadKubeConfig(config.kubeconfig));
  const metrics = createWebhookMetrics();
  collectDefaultMetrics({ register: metrics.registry });
  const caches = startWebhookCaches(clients.kc, logger);
  if (config.testRolloutCacheDelayMs !== undefined) {
    logger.warn({ delayMs: config.testRolloutCacheDelayMs }, "TEST ONLY: the rollout cache answers behind the watch (BULKHEAD_TEST_ROLLOUT_CACHE_DELAY)");
    caches.rollouts = delayedCache(caches.rollouts, config.testRolloutCacheDelayMs);
  }
  const ctx: WebhookContext = { config, caches, logger, metrics };

  const instance = process.env.HOSTNAME ?? hostname();
  const events = kubeEventRecorder(clients.events, "bulkhead-webhook", instance, (err) => logger.warn({ err }, "cannot record Event"));
  const slack = config.slackToken
    ? createSlackClient({ token: config.slackToken, ...(config.slackApiUrl ? { apiUrl: config.slackApiUrl } : {}), logger, registry: metrics.registry })
    : undefined;

  const certificates = certificateSource(config, clients, logger);
  let draining = false;
  const app = createApp({
    routes: webhookRoutes({ ctx, events, liveRollouts: kubeRolloutApi(clients.custom), ...(slack ? { slack } : {}) }),
    metrics,
    logger,
    bodyLimit: config.bodyLimit,
    isDraining: () => draining,
    readiness: {
      notReadyReasons: () => [
        ...(allCachesSynced(caches) ? [] : ["informer caches not synced"]),
        ...(certificates.current() ? [] : ["no certificate loaded"]),
      ],
    },
  });
  await certificates.start();
  const server = await startHttpsServer({
    app,
    certificates,
    host: config.host,
    port: config.port,
    logger,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    onDrain: () => (draining = true),
  });
  Promise.all(Object.values(caches).map((c: WebhookContext["caches"][keyof WebhookContext["caches"]]) => c.synced)).then(
    () => logger.info("informer caches synced"),
    (err: unknown) => logger.error({ err }, "an informer cache failed its first list"),
  );

  const stop = async (signal: string) => {
    logger.info({ signal }, "shutting down: finishing in-flight reviews");
    await server.shutdown();
    certificates.stop();
    await stopWebhookCaches(caches);
    logger.info("stopped");
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}

main().catch((err: unknown) => {
  process.stderr.write(`bulkhead webhook failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
