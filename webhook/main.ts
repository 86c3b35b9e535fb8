// The webhook process: parse config, start the informer caches and the certificate source, serve
// HTTPS, and shut down gracefully on SIGTERM. The only place real adapters are wired.
import { hostname } from "node:os";
import { getHeapStatistics } from "node:v8";
import { pino, type Logger } from "pino";
import { collectDefaultMetrics, Counter } from "prom-client";
import { systemClock } from "../adapters/clock.js";
import { loadKubeConfig, makeClients } from "../adapters/kube/client.js";
import { kubeAlertEvents } from "../adapters/kube/alert-events.js";
import { delayedCache } from "../adapters/kube/delayed-cache.js";
import { kubeDryRunCreate } from "../adapters/kube/dry-run.js";
import { kubeRolloutApi } from "../adapters/kube/rollouts.js";
import { liveStatefulSetReader } from "./rollout-handlers.js";
import { liveControllerRevisionReader } from "./pinning/index.js";
import { kubeEventRecorder, rateLimitedEventRecorder } from "../adapters/kube/events.js";
import { clusterView } from "../adapters/kube/cluster-view.js";
import {
  cachesNotLoaded,
  cachesSynced,
  registerCacheStaleness,
  startWebhookCaches,
  stopWebhookCaches,
} from "./caches.js";
import { certificateSource } from "./certificates.js";
import { ConfigError, parseWebhookConfig, type WebhookConfig } from "./config.js";
import type { WebhookContext } from "./context.js";
import { createWebhookMetrics } from "./metrics.js";
import { webhookRoutes } from "./routes.js";
import { admissionLimits, createApp, serverTimeouts, startHttpsServer, type AdmissionLimits } from "./server.js";

function configOrExit(): WebhookConfig {
  try {
    return parseWebhookConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}

/**
 * The chart sizes the heap from the container's memory limit (NODE_OPTIONS
 * --max-old-space-size-percentage, which V8 applies to the cgroup limit). Say what came out, and
 * warn when the heap alone could reach the container's limit (the kernel would kill the process
 * before V8 could refuse an allocation).
 */
function logHeapSizing(logger: Logger, limits: AdmissionLimits): void {
  const heapLimitBytes = getHeapStatistics().heap_size_limit;
  const constrained = process.constrainedMemory();
  const containerLimitBytes = constrained > 0 && constrained < Number.MAX_SAFE_INTEGER ? constrained : undefined;
  const facts = { heapLimitBytes, containerLimitBytes, ...limits };
  if (containerLimitBytes !== undefined && heapLimitBytes > containerLimitBytes * 0.75) {
    logger.warn(
      facts,
      'the heap limit is over 75% of the container\'s memory limit: set NODE_OPTIONS="--max-old-space-size-percentage=40 --max-semi-space-size=1" (the chart does)',
    );
  } else {
    logger.info(facts, "memory limits");
  }
}

async function main(): Promise<void> {
  const config = configOrExit();
  const logger = pino({ level: config.logLevel, base: { component: "webhook" } });
  const clock = systemClock;
  const clients = makeClients(loadKubeConfig(config.kubeconfig));
  const metrics = createWebhookMetrics();
  collectDefaultMetrics({ register: metrics.registry });
  const caches = startWebhookCaches(clients.kc, logger, config.cacheMaxStalenessMs);
  if (config.testRolloutCacheDelayMs !== undefined) {
    logger.warn(
      { delayMs: config.testRolloutCacheDelayMs },
      "TEST ONLY: the rollout cache answers behind the watch (BULKHEAD_TEST_ROLLOUT_CACHE_DELAY)",
    );
    caches.rollouts = delayedCache(caches.rollouts, config.testRolloutCacheDelayMs, clock);
  }
  registerCacheStaleness(metrics.registry, caches);
  const ctx: WebhookContext = { config, view: clusterView(caches), logger, metrics };

  const instance = process.env.HOSTNAME ?? hostname();
  const suppressedEvents = new Counter({
    name: "bulkhead_webhook_events_suppressed_total",
    help: "Events not written because one for the same object and reason was written within BULKHEAD_EVENT_WINDOW (or too many objects had Events).",
    labelNames: ["reason"],
    registers: [metrics.registry],
  });
  const events = rateLimitedEventRecorder(
    kubeEventRecorder(clients.events, "bulkhead-webhook", instance, (err) =>
      logger.warn({ err }, "cannot record Event"),
    ),
    {
      windowMs: config.eventWindowMs,
      maxKeys: config.eventMaxKeys,
      clock,
      onSuppressed: (reason) => suppressedEvents.inc({ reason }),
    },
  );
  // Slack alerts are sent by the leader-elected reconciler from these Events, once across replicas.
  const alertEvents = kubeAlertEvents(clients.events, "bulkhead-webhook", instance, (err) =>
    logger.warn({ err }, "cannot write alert Event"),
  );

  const limits = admissionLimits(config);
  logHeapSizing(logger, limits);
  const certificates = certificateSource(config, clients, logger, clock);
  let draining = false;
  const app = createApp({
    routes: webhookRoutes({
      ctx,
      events,
      alertEvents,
      liveRollouts: kubeRolloutApi(clients.custom),
      liveRevisions: liveControllerRevisionReader(clients.apps),
      rolloutApi: {
        readStatefulSet: liveStatefulSetReader(clients.apps, clock),
        dryRunCreate: kubeDryRunCreate(clients.kc, config.dryRunTimeoutMs),
      },
    }),
    metrics,
    logger,
    limits,
    isDraining: () => draining,
    readiness: {
      notReadyReasons: () => [
        ...(cachesNotLoaded(caches).length === 0
          ? []
          : [`informer caches not loaded yet: ${cachesNotLoaded(caches).join(", ")}`]),
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
    clock,
    timeouts: serverTimeouts(config),
    onDrain: () => (draining = true),
  });
  cachesSynced(caches).then(
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
  process.stderr.write(
    `bulkhead webhook failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
