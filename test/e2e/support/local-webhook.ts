// An admission server run inside the test process, on loopback, with a serving certificate signed
// by the test cluster's CA: the real express app and HTTPS server of webhook/server.ts around the
// routes a test chooses. Each test registers its own webhook configuration with clientConfig.url.
import { EventsV1Api } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Registry } from "prom-client";
import {
  managedControllerRevisionsCache,
  managedPodsCache,
  managedStatefulSetsCache,
  rolloutsCache,
} from "../../../adapters/kube/cache.js";
import { clusterView } from "../../../adapters/kube/cluster-view.js";
import { kubeEventRecorder } from "../../../adapters/kube/events.js";
import type { CertificateSource } from "../../../certs/source.js";
import { parseWebhookConfig } from "../../../webhook/config.js";
import type { ServedRoute } from "../../../webhook/context.js";
import { createWebhookMetrics } from "../../../webhook/metrics.js";
import { createEvictionHandler, createLeakAlerter } from "../../../webhook/leak-guard/index.js";
import { admissionLimits, createApp, serverTimeouts, startHttpsServer } from "../../../webhook/server.js";
import { issueServingCert, kubeConfig } from "./cluster.js";

export interface LocalWebhook {
  /** clientConfig for a webhook configuration: the URL of `path` and the CA bundle. */
  clientConfig(path: string): { url: string; caBundle: string };
  shutdown(): Promise<void>;
}

export async function startLocalWebhook(
  routes: ServedRoute[],
  logger: Logger,
  registry?: Registry,
): Promise<LocalWebhook> {
  const config = parseWebhookConfig({});
  const app = createApp({
    routes,
    metrics: createWebhookMetrics(registry),
    logger,
    readiness: { notReadyReasons: () => [] },
    limits: admissionLimits(config),
  });
  const cert = issueServingCert();
  const certificates: CertificateSource = {
    current: () => ({ cert: cert.certPem, key: cert.keyPem }),
    onChange: () => {},
    start: async () => ({ cert: cert.certPem, key: cert.keyPem }),
    stop: () => {},
  };
  const server = await startHttpsServer({
    app,
    certificates,
    host: "127.0.0.1",
    port: 0,
    logger,
    shutdownTimeoutMs: 2_000,
    timeouts: serverTimeouts(config),
  });
  const caBundle = Buffer.from(cert.caPem).toString("base64");
  return {
    clientConfig: (path) => ({ url: `https://127.0.0.1:${server.port}${path}`, caBundle }),
    shutdown: () => server.shutdown(),
  };
}

export interface LocalLeakGuard extends LocalWebhook {
  /** The guard's Events are written; alert Events are not (no reconciler turns them into Slack here). */
  stop(): Promise<void>;
}

/**
 * The leak guard (/validate/eviction) in-process, on its own informer caches of the test cluster.
 * `reconcilerUsername` is who the guard lets through: pick one the test's own calls do not use,
 * so they meet the guard like anyone's.
 */
export async function startLocalLeakGuard(reconcilerUsername: string, logger: Logger): Promise<LocalLeakGuard> {
  const kc = kubeConfig();
  const pods = managedPodsCache(kc);
  const statefulSets = managedStatefulSetsCache(kc);
  const rollouts = rolloutsCache(kc);
  const controllerRevisions = managedControllerRevisionsCache(kc);
  const caches = [pods, statefulSets, rollouts, controllerRevisions];
  await Promise.all(caches.map((c) => c.synced));
  const registry = new Registry();
  const events = kubeEventRecorder(kc.makeApiClient(EventsV1Api), "bulkhead-webhook", "e2e", (err) =>
    logger.warn({ err }, "event"),
  );
  const alerts = createLeakAlerter({ events, logger, updateDelayMs: 2_000 });
  const handler = createEvictionHandler({
    view: clusterView({ pods, statefulSets, rollouts, controllerRevisions }),
    reconcilerUsername,
    defaultLeakProtection: "enforce",
    alerts,
    logger,
    registry,
  });
  const webhook = await startLocalWebhook(
    [{ path: "/validate/eviction", maxBodyBytes: 64 * 1024, handler }],
    logger,
    registry,
  );
  return {
    ...webhook,
    async stop() {
      alerts.close();
      await webhook.shutdown();
      await Promise.allSettled(caches.map((c) => c.stop()));
    },
  };
}
