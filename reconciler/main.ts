// The reconciler process: the only place that wires real adapters (DESIGN.md §2).
// Caches start at once (a standby stays warm); the work queue runs only while this replica
// holds the leader Lease. Informer events only enqueue rollout keys.
import type * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import { httpCallbackSender } from "../adapters/callbacks/sender.js";
import { callbackOptionsFromEnv } from "../adapters/callbacks/config.js";
import { consulOptionsFromEnv } from "../adapters/consul/config.js";
import { consulHealthGate } from "../adapters/consul/health-gate.js";
import { alertEventsCache, kubeAlertEvents } from "../adapters/kube/alert-events.js";
import {
  managedPodsCache,
  managedStatefulSetsCache,
  poddisruptionBudgetsCache,
  rolloutsCache,
  type ReadCache,
} from "../adapters/kube/cache.js";
import { apiStatusCode, loadKubeConfig, makeClients } from "../adapters/kube/client.js";
import { kubeEventRecorder } from "../adapters/kube/events.js";
import { kubeLeaseApi, LeaderElector } from "../adapters/kube/leader-election.js";
import { kubeClusterWriter, kubeRolloutApi } from "../adapters/kube/rollouts.js";
import { createAlertNotifier, type AlertNotifier } from "../adapters/slack/alert-notifier.js";
import { createSlackClient } from "../adapters/slack/client.js";
import { slackRolloutNotifier } from "../adapters/slack/rollout-notifier.js";
import { owningRollout, owningStatefulSet } from "../api/ownership.js";
import { startupPassOrder, type RolloutForOrder } from "../api/pass-order.js";
import { createRolloutOutbox, type RolloutOutbox } from "../adapters/slack/rollout-outbox.js";
import type { AlertEventObject } from "../api/alert-events.js";
import type { RolloutPhase } from "../api/rollout.js";
import { CallbackDispatcher } from "./callback-dispatcher.js";
import { loadConfig } from "./config.js";
import { keyOf, Reconciler } from "./controller.js";
import { createMetrics } from "./metrics.js";
import { KeyedQueue } from "./queue.js";
import { startProbeServer } from "./server.js";
import { cachedWorld } from "./world.js";

/** How long a pass waits for a cache that is re-syncing after a watch error. */
const CACHE_RESYNC_WAIT_MS = 1000;

async function main(): Promise<void> {
  const config = loadConfig();
  const log = pino({ level: config.logLevel, base: { component: "reconciler", identity: config.identity } });
  const kc = loadKubeConfig(config.kubeconfig);
  const clients = makeClients(kc);
  // The caches restart themselves after a list/watch error (adapters/kube/cache.ts) and report
  // not-synced meanwhile; passes wait for them rather than act on a stale view of the world.
  const cacheError = (which: string) => (err: unknown) =>
    log.warn({ err: (err as Error).message, cache: which }, "informer cache error; it restarts with backoff");

  const rollouts = rolloutsCache(kc, { onError: cacheError("rollouts") });
  const pods = managedPodsCache(kc, { onError: cacheError("pods") });
  const statefulSets = managedStatefulSetsCache(kc, { onError: cacheError("statefulsets") });
  const pdbs = poddisruptionBudgetsCache(kc, { onError: cacheError("pdbs") });
  const caches: Array<ReadCache<k8s.KubernetesObject>> = [rollouts, pods, statefulSets, pdbs];

  const metrics = createMetrics(() =>
    rollouts.list().map((r) => (r as { status?: { phase?: RolloutPhase } }).status?.phase),
  );
  const logger = log;
  const health = config.consulEnabled
    ? consulHealthGate(consulOptionsFromEnv(config.env), { logger, registry: metrics.registry })
    : undefined;
  const rolloutApi = kubeRolloutApi(clients.custom);
  const events = kubeEventRecorder(clients.events, "bulkhead.dev/reconciler", config.identity, (err) =>
    log.warn({ err }, "event write failed"),
  );
  const sender = httpCallbackSender(callbackOptionsFromEnv(config.env), { registry: metrics.registry });
  let queue: KeyedQueue | undefined;
  // Callbacks run beside the passes, never inside them: a dead endpoint delays no rollout.
  const callbacks = new CallbackDispatcher(config.callbacks, {
    sender,
    rollouts: rolloutApi,
    events,
    log,
    registry: metrics.registry,
    requeue: (namespace, name) => queue?.add(keyOf(namespace, name)),
  });
  // Slack runs beside the passes, never inside them: the pass hands the newest state to the outbox.
  let notifier: RolloutOutbox | undefined;
  // Leak and pin-failure alerts: the webhook replicas write alert Events; the leader turns them
  // into one Slack message per alert (api/alert-events.ts). Their cache does not gate passes.
  let alerts: { notifier: AlertNotifier; cache: ReadCache<k8s.EventsV1Event> } | undefined;
  if (config.slack) {
    const client = createSlackClient({
      token: config.slack.token,
      ...(config.slack.apiUrl ? { apiUrl: config.slack.apiUrl } : {}),
      logger,
      registry: metrics.registry,
    });
    const publisher = slackRolloutNotifier({ client, logger, registry: metrics.registry });
    notifier = createRolloutOutbox({ publisher, rollouts: rolloutApi, logger, registry: metrics.registry });
    const alertEvents = kubeAlertEvents(clients.events, "bulkhead.dev/reconciler", config.identity, (err) =>
      log.warn({ err }, "cannot annotate alert Event"),
    );
    const channelOf = (namespace: string, name: string) =>
      (rollouts.get(namespace, name) as { spec?: { channel?: string } } | undefined)?.spec?.channel;
    alerts = {
      notifier: createAlertNotifier({ client, alertEvents, channelOf, logger, registry: metrics.registry }),
      cache: alertEventsCache(kc, cacheError("alert-events")),
    };
  }
  log.info(
    {
      consul: config.consulEnabled,
      slack: Boolean(config.slack),
      callbackSigned: config.callbackSecretSet,
      callbackPrefixes: config.callbacks.allowList.map((p) => p.origin + p.path),
    },
    config.callbacks.allowList.length === 0
      ? "integrations (callbacks disabled: no allowed URL prefix)"
      : "integrations",
  );

  const reconciler = new Reconciler({
    rollouts: rolloutApi,
    world: cachedWorld(clients.apps, pods, pdbs),
    writer: kubeClusterWriter(clients.apps, clients.policy, clients.core),
    events,
    metrics,
    log,
    ...(health ? { health } : {}),
    uncheckedServiceDiscovery: config.uncheckedServiceDiscovery,
    callbacks,
    ...(notifier ? { notifier } : {}),
    buildMetadataKeys: config.buildMetadataKeys,
  });

  const enqueue = (key: string | undefined) => {
    if (key && queue) queue.add(key);
  };
  // Rollouts: a new object, a spec change (generation) or a deletion; our own status writes do
  // not change the generation, so they do not wake the loop (it requeues itself).
  const generations = new Map<string, number | undefined>();
  rollouts.onChange((obj, event) => {
    const key = keyOf(obj.metadata?.namespace ?? "", obj.metadata?.name ?? "");
    if (event === "delete") {
      generations.delete(key);
      queue?.forget(key);
      return;
    }
    const generation = obj.metadata?.generation;
    // A deletion (deletionTimestamp set) wakes the loop too: the finalizer releases the workload.
    const deleting = Boolean((obj.metadata as { deletionTimestamp?: unknown } | undefined)?.deletionTimestamp);
    if (event === "add" || deleting || generations.get(key) !== generation) enqueue(key);
    generations.set(key, generation);
  });
  const rolloutOfStatefulSet = (namespace: string | undefined, name: string | undefined) => {
    const sts = namespace && name ? statefulSets.get(namespace, name) : undefined;
    const owner = owningRollout(sts)?.name;
    return owner && namespace ? keyOf(namespace, owner) : undefined;
  };
  statefulSets.onChange((sts) => enqueue(rolloutOfStatefulSet(sts.metadata?.namespace, sts.metadata?.name)));
  pods.onChange((pod) => {
    enqueue(rolloutOfStatefulSet(pod.metadata?.namespace, owningStatefulSet(pod)?.name));
  });
  pdbs.onChange((pdb) => {
    const owner = owningRollout(pdb)?.name;
    if (owner && pdb.metadata?.namespace) enqueue(keyOf(pdb.metadata.namespace, owner));
  });

  const elector = !config.leaderElection
    ? undefined
    : new LeaderElector(
        kubeLeaseApi(clients.coordination),
        {
          namespace: config.namespace,
          name: config.leaseName,
          identity: config.identity,
          leaseDurationSeconds: config.leaseDurationSeconds,
          renewDeadlineMs: Math.floor(config.leaseDurationSeconds * 666),
          retryPeriodMs: Math.max(500, Math.floor(config.leaseDurationSeconds * 133)),
        },
        {
          onStartedLeading: () => {
            log.info({ lease: `${config.namespace}/${config.leaseName}` }, "became leader");
            startWork().catch((err) => {
              log.fatal({ err }, "could not start work");
              void shutdown("startup-error", 1);
            });
          },
          // A replica that lost the Lease may have passes in flight: exit and come back as a standby.
          onStoppedLeading: () => {
            log.error("lost the leader Lease; exiting");
            metrics.leader.set(0);
            void shutdown("lost-lease", 1);
          },
          onNewLeader: (id) => log.info({ leader: id }, "leader observed"),
          onError: (err) =>
            apiStatusCode(err) === 404
              ? log.error(
                  `namespace ${config.namespace} not found: create it, or set BULKHEAD_NAMESPACE to the namespace for the leader Lease`,
                )
              : log.warn({ err: (err as Error).message }, "leader election error"),
        },
      );
  const synced = () => caches.every((c) => c.isSynced());
  const isLeader = () => (elector ? elector.isLeader() : queue !== undefined);
  const server = await startProbeServer(
    metrics.registry,
    { ready: synced, leader: isLeader },
    config.metricsHost,
    config.metricsPort,
  );
  log.info({ port: config.metricsPort }, "serving /healthz /readyz /metrics");

  // Only the leader sends alerts: it replays the alert Events it has, then follows changes.
  let alertsStarted = false;
  const startAlerts = () => {
    if (!alerts || alertsStarted) return;
    alertsStarted = true;
    const { notifier: alertNotifier, cache } = alerts;
    cache.onChange((event, change) => alertNotifier.observe(event as AlertEventObject, change));
    void cache.synced.then(() => {
      for (const event of cache.list()) alertNotifier.observe(event as AlertEventObject, "add");
    });
  };

  const startWork = async () => {
    await Promise.all(caches.map((c) => c.synced));
    metrics.leader.set(1);
    queue = new KeyedQueue(async (key) => (synced() ? reconciler.reconcile(key) : CACHE_RESYNC_WAIT_MS), {
      workers: config.workers,
      onError: (key, err, retryInMs) =>
        log.warn({ rollout: key, err: (err as Error).message, retryInMs }, "pass failed; backing off"),
    });
    for (const key of startupPassOrder(rollouts.list() as RolloutForOrder[])) enqueue(key);
    log.info({ rollouts: rollouts.list().length }, "leading: reconciling");
    startAlerts();
  };

  let shuttingDown = false;
  const shutdown = async (signal: string, code = 0) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal }, "shutting down");
    await queue?.stop();
    await callbacks.stop();
    await elector?.stop();
    notifier?.close();
    alerts?.notifier.close();
    await alerts?.cache.stop();
    health?.close();
    server.close();
    await Promise.allSettled(caches.map((c) => c.stop()));
    process.exit(code);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));

  if (!elector) {
    log.warn("leader election disabled (BULKHEAD_DISABLE_LEADER_ELECTION=true): run one replica only");
    await startWork();
    return;
  }
  elector.start();
}

main().catch((err: unknown) => {
  // Config and start-up errors: one clear line, non-zero exit.
  process.stderr.write(`bulkhead reconciler: ${(err as Error).message}\n`);
  process.exit(1);
});
