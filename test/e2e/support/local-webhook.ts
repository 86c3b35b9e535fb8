// Admission servers run inside the test process, on loopback, around the real express app and
// HTTPS server of webhook/server.ts:
// - startLocalWebhook: the routes a test chooses, with a serving certificate signed by the test
//   cluster's CA; each test registers its own webhook configuration with clientConfig.url;
// - startLocalLeakGuard: the leak guard on its own informer caches;
// - startInstalledWebhook: the webhook as installed (real wiring, Secret-backed certificate with
//   CA injection, the chart's webhook configurations applied).
import { spawn } from "node:child_process";
import { join } from "node:path";
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
import { makeClients } from "../../../adapters/kube/client.js";
import { kubeDryRunCreate } from "../../../adapters/kube/dry-run.js";
import { kubeEventRecorder, type EventRecorder } from "../../../adapters/kube/events.js";
import { kubeRolloutApi } from "../../../adapters/kube/rollouts.js";
import { kubeWebhookConfigPatcher } from "../../../certs/ca-injector.js";
import { SecretCertificateManager } from "../../../certs/secret-manager.js";
import { systemClock } from "../../../adapters/clock.js";
import { kubeSecretStore } from "../../../certs/secret-store.js";
import type { CertificateSource } from "../../../certs/source.js";
import { startWebhookCaches, stopWebhookCaches, type WebhookCaches } from "../../../webhook/caches.js";
import { parseWebhookConfig, type WebhookConfig } from "../../../webhook/config.js";
import type { ServedRoute, WebhookContext } from "../../../webhook/context.js";
import { createWebhookMetrics } from "../../../webhook/metrics.js";
import { createEvictionHandler, createLeakAlerter } from "../../../webhook/leak-guard/index.js";
import type { LiveRolloutReader } from "../../../webhook/pinning/index.js";
import { liveStatefulSetReader, type RolloutAdmissionDeps } from "../../../webhook/rollout-handlers.js";
import { webhookRoutes } from "../../../webhook/routes.js";
import {
  admissionLimits,
  createApp,
  serverTimeouts,
  startHttpsServer,
  type RunningServer,
} from "../../../webhook/server.js";
import { REPO_ROOT, admissionApi, helmBinary, issueServingCert, kubeConfig, kubectl } from "./cluster.js";

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
    clock: systemClock,
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

/** What an installed webhook's routes are built from (webhook/main.ts wires the same). */
export interface WebhookWiring {
  ctx: WebhookContext;
  events: EventRecorder;
  rolloutApi: Pick<RolloutAdmissionDeps, "readStatefulSet" | "dryRunCreate">;
  liveRollouts: LiveRolloutReader;
}

export interface InstalledWebhook {
  config: WebhookConfig;
  caches: WebhookCaches;
  certificates: SecretCertificateManager;
  server: RunningServer;
  /** The chart's webhook configurations as applied (helm template, webhook.url = this server). */
  manifest: string;
  /** Deletes the configurations, stops the certificate manager, the server and the caches. */
  stop(): Promise<void>;
}

/** `helm template` of the chart's webhook configurations for `release`, pointed at `url`. */
export function renderWebhookConfigurations(release: string, namespace: string, url: string): Promise<string> {
  const args = [
    "template",
    release,
    join(REPO_ROOT, "charts/bulkhead"),
    "--namespace",
    namespace,
    "--show-only",
    "templates/webhook-configurations.yaml",
    "--set",
    `webhook.url=${url}`,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(helmBinary(), args, {
      env: {
        ...process.env,
        HELM_CACHE_HOME: "/tmp/bulkhead-helm/cache",
        HELM_CONFIG_HOME: "/tmp/bulkhead-helm/config",
        HELM_DATA_HOME: "/tmp/bulkhead-helm/data",
      },
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`helm template exited ${code}: ${err}`)),
    );
  });
}

/**
 * The webhook installed as in a cluster, but run in this process on 127.0.0.1: its real wiring
 * (informer caches, Secret-backed certificate with CA injection, a real dry-run through the
 * apiserver) and every route main.ts serves (or what `routes` builds from the same wiring), with
 * the chart's webhook configurations for `release` applied and their CA injected. The apiserver
 * picks configurations up asynchronously: each test waits for a probe of its own.
 */
export async function startInstalledWebhook(options: {
  release: string;
  systemNamespace: string;
  reconcilerUsername: string;
  logger: Logger;
  routes?: (wiring: WebhookWiring) => ServedRoute[];
}): Promise<InstalledWebhook> {
  const { release, systemNamespace, logger } = options;
  const config = parseWebhookConfig({
    BULKHEAD_NAMESPACE: systemNamespace,
    BULKHEAD_RECONCILER_USERNAME: options.reconcilerUsername,
  });
  const clients = makeClients(kubeConfig());
  const caches = startWebhookCaches(clients.kc, logger, config.cacheMaxStalenessMs);
  const metrics = createWebhookMetrics();
  const certificates = new SecretCertificateManager({
    store: kubeSecretStore(clients.core, systemNamespace, config.certSecret),
    patcher: kubeWebhookConfigPatcher(clients.admissionRegistration, {
      name: config.serviceName,
      namespace: systemNamespace,
    }),
    identity: { serviceName: config.serviceName, namespace: systemNamespace },
    renewBeforeMs: config.certRenewBeforeMs,
    servingValidityMs: config.certValidityMs,
    caValidityMs: 3650 * 24 * 3600 * 1000,
    checkIntervalMs: 3_600_000,
    clock: systemClock,
    logger,
  });
  await certificates.start();
  const wiring: WebhookWiring = {
    ctx: { config, view: clusterView(caches), logger, metrics },
    events: kubeEventRecorder(clients.events, "bulkhead-webhook", "e2e", () => {}),
    rolloutApi: {
      readStatefulSet: liveStatefulSetReader(clients.apps, systemClock),
      dryRunCreate: kubeDryRunCreate(clients.kc, config.dryRunTimeoutMs),
    },
    liveRollouts: kubeRolloutApi(clients.custom),
  };
  const app = createApp({
    routes: options.routes ? options.routes(wiring) : [...webhookRoutes(wiring)],
    metrics,
    logger,
    limits: admissionLimits(config),
    readiness: { notReadyReasons: () => [] },
  });
  const server = await startHttpsServer({
    app,
    certificates,
    host: "127.0.0.1",
    port: 0,
    logger,
    shutdownTimeoutMs: 2000,
    clock: systemClock,
    timeouts: serverTimeouts(config),
  });
  await Promise.all(Object.values(caches).map((c: WebhookCaches[keyof WebhookCaches]) => c.synced));
  // The chart's configurations carry no caBundle (bulkhead.dev/inject-ca): the certificate
  // manager injects it, as it does in a cluster.
  const manifest = await renderWebhookConfigurations(release, systemNamespace, `https://127.0.0.1:${server.port}`);
  await kubectl(["apply", "-f", "-"], { input: manifest, check: true });
  await certificates.sync();
  return {
    config,
    caches,
    certificates,
    server,
    manifest,
    async stop() {
      const api = admissionApi();
      await api.deleteMutatingWebhookConfiguration({ name: release }).catch(() => undefined);
      await api.deleteValidatingWebhookConfiguration({ name: release }).catch(() => undefined);
      certificates.stop();
      await server.shutdown();
      await stopWebhookCaches(caches);
    },
  };
}
