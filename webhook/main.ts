// The webhook process: parse config, start the informer caches and the certificate source, serve
// HTTPS, and shut down gracefully on SIGTERM. The only place real adapters are wired.
import { hostname } from "node:os";
import { pino } from "pino";
import { collectDefaultMetrics } from "prom-client";
import {
  controllerRevisionsCache,
  managedPodsCache,
  managedStatefulSetsCache,
  poddisruptionBudgetsCache,
  rolloutsCache,
} from "../adapters/kube/cache.js";
import { loadKubeConfig, makeClients } from "../adapters/kube/client.js";
import { kubeEventRecorder } from "../adapters/kube/events.js";
import { createSlackClient } from "../adapters/slack/client.js";
import { certificateSource } from "./certificates.js";
import { ConfigError, parseWebhookConfig } from "./config.js";
import { allCachesSynced, type RouteTable, type WebhookCaches, type WebhookContext } from "./context.js";
import { createEvictionHandler, createLeakAlerter, createPodDeleteHandler } from "./leak-guard/index.js";
import { createWebhookMetrics } from "./metrics.js";
import { createPodPinningHandler, podPinningMetrics } from "./pinning/index.js";
import { policyRoutes } from "./policy-routes.js";
import { createApp, startHttpsServer } from "./server.js";

async function main(): Promise<void> {
  let config;
  try {
    config = parseWebhookConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = pino({ level: config.logLevel, base: { component: "webhook" } });
  const clients = makeClients(loadKubeConfig(config.kubeconfig));
  const metrics = createWebhookMetrics();
  collectDefaultMetrics({ register: metrics.registry });

  const cacheError = (cache: string) => (err: unknown) => logger.warn({ err, cache }, "informer error; it reconnects by itself");
  const caches: WebhookCaches = {
    managedPods: managedPodsCache(clients.kc, cacheError("pods")),
    managedStatefulSets: managedStatefulSetsCache(clients.kc, cacheError("statefulsets")),
    rollouts: rolloutsCache(clients.kc, cacheError("rollouts")),
    controllerRevisions: controllerRevisionsCache(clients.kc, cacheError("controllerrevisions")),
    pdbs: poddisruptionBudgetsCache(clients.kc, cacheError("pdbs")),
  };
  const ctx: WebhookContext = { config, caches, logger, metrics };

  const instance = process.env.HOSTNAME ?? hostname();
  const events = kubeEventRecorder(clients.events, "bulkhead-webhook", instance, (err) => logger.warn({ err }, "cannot record Event"));
  const slack = config.slackToken
    ? createSlackClient({ token: config.slackToken, ...(config.slackApiUrl ? { apiUrl: config.slackApiUrl } : {}), logger, registry: metrics.registry })
    : undefined;
  const leakAlerts = createLeakAlerter({ events, ...(slack ? { slack } : {}), logger, registry: metrics.registry });
  const leakGuardDeps = {
    pods: caches.managedPods,
    statefulSets: caches.managedStatefulSets,
    rollouts: caches.rollouts,
    reconcilerUsername: config.reconcilerUsername,
    defaultLeakProtection: config.defaultLeakProtection,
    alerts: leakAlerts,
    logger,
    registry: metrics.registry,
  };
  const routes: RouteTable = {
    ...policyRoutes(ctx),
    "/validate/eviction": createEvictionHandler(leakGuardDeps),
    "/validate/pod-delete": createPodDeleteHandler(leakGuardDeps),
    "/mutate/pod": createPodPinningHandler({
      caches: { statefulSets: caches.managedStatefulSets, rollouts: caches.rollouts, controllerRevisions: caches.controllerRevisions },
      events,
      logger,
      // A pod that could not be pinned: log it and tell the rollout's channel, never block the pod.
      alerts: {
        async alert(alert) {
          logger.warn({ alert }, "pod could not be pinned to its revision");
          if (slack && alert.channel) await slack.post(alert.channel, alert.message).catch(() => undefined);
        },
      },
      metrics: podPinningMetrics(metrics.registry),
    }),
  };

  const certificates = certificateSource(config, clients, logger);
  let draining = false;
  const app = createApp({
    routes,
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
  Promise.all(Object.values(caches).map((c) => c.synced)).then(
    () => logger.info("informer caches synced"),
    (err: unknown) => logger.error({ err }, "an informer cache failed its first list"),
  );

  const stop = async (signal: string) => {
    logger.info({ signal }, "shutting down: finishing in-flight reviews");
    await server.shutdown();
    certificates.stop();
    await Promise.allSettled(Object.values(caches).map((c) => c.stop()));
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
