// The reconciler process: the only place that wires real adapters (DESIGN.md §2).
// Caches start at once (a standby stays warm); the work queue runs only while this replica
// holds the leader Lease. Informer events only enqueue rollout keys.
//
// main() reads as the start-up order: config, clients, informers, integrations (Consul,
// callbacks, Slack), controller, informer events, leadership, servers, shutdown. Each part is
// a named function below; the state they share is the Work (the queue, present while leading).
import type * as k8s from "@kubernetes/client-node";
import { pino, type Logger } from "pino";
import { httpCallbackSender } from "../adapters/callbacks/sender.js";
import { callbackOptionsFromEnv } from "../adapters/callbacks/config.js";
import { systemClock } from "../adapters/clock.js";
import { consulOptionsFromEnv } from "../adapters/consul/config.js";
import { consulHealthGate } from "../adapters/consul/health-gate.js";
import { alertEventsCache, kubeAlertEvents } from "../adapters/kube/alert-events.js";
import {
  managedPodsCache,
  managedStatefulSetsCache,
  rolloutPdbsCache,
  rolloutsCache,
  type ReadCache,
} from "../adapters/kube/cache.js";
import { apiStatusCode, loadKubeConfig, makeClients, type KubeClients } from "../adapters/kube/client.js";
import { kubeEventRecorder, type EventRecorder } from "../adapters/kube/events.js";
import { kubeLeaseApi, LeaderElector } from "../adapters/kube/leader-election.js";
import { kubeClusterWriter, kubeRolloutApi, type RolloutApi } from "../adapters/kube/rollouts.js";
import { createAlertNotifier, type AlertNotifier } from "../adapters/slack/alert-notifier.js";
import { createSlackClient, type SlackClient } from "../adapters/slack/client.js";
import { slackRolloutNotifier } from "../adapters/slack/rollout-notifier.js";
import { owningRollout, owningStatefulSet } from "../api/ownership.js";
import { startupPassOrder, type RolloutForOrder } from "../api/pass-order.js";
import { createRolloutOutbox, type RolloutOutbox } from "../adapters/slack/rollout-outbox.js";
import type { AlertEventObject } from "../api/alert-events.js";
import type { Clock } from "../api/clock.js";
import type { HealthGate } from "../api/integrations.js";
import type { RolloutPhase } from "../api/rollout.js";
import { CallbackDispatcher } from "./callback-dispatcher.js";
import { loadConfig, type ReconcilerConfig } from "./config.js";
import { keyOf, Reconciler } from "./controller.js";
import { GroupWakeups } from "./group-wakeups.js";
import { createMetrics, type ReconcilerMetrics } from "./metrics.js";
import { KeyedQueue } from "./queue.js";
import { startProbeServer } from "./server.js";
import { StatefulSetTriggers } from "./triggers.js";
import { cachedWorld } from "./world.js";

/** How long a pass waits for a cache that is re-syncing after a watch error. */
const CACHE_RESYNC_WAIT_MS = 1000;

/** What runs only while this replica leads: the work queue (the passes) and the Slack alerts. */
interface Work {
  queue?: KeyedQueue;
  alertsStarted?: boolean;
}

/** What the process-wide parts are built from. */
interface Base {
  config: ReconcilerConfig;
  log: Logger;
  clock: Clock;
  kc: k8s.KubeConfig;
  clients: KubeClients;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const log = pino({ level: config.logLevel, base: { component: "reconciler", identity: config.identity } });
  const kc = loadKubeConfig(config.kubeconfig);
  const base: Base = { config, log, clock: systemClock, kc, clients: makeClients(kc) };
  const work: Work = {};

  const informers = startInformers(base);
  const metrics = createMetrics(() =>
    informers.rollouts.list().map((r) => (r as { status?: { phase?: RolloutPhase } }).status?.phase),
  );
  const integrations = startIntegrations(base, informers, metrics, work);
  const reconciler = createController(base, informers, metrics, integrations);
  routeInformerEvents(informers, work);

  // Started by leadership (or at once without leader election); shutdown is its way out.
  const startWork = () => startWorking(base, informers, metrics, integrations, reconciler, work);
  const elector = config.leaderElection
    ? leaderElector(base, metrics, {
        startWork: () =>
          startWork().catch((err) => {
            log.fatal({ err }, "could not start work");
            void shutdown("startup-error", 1);
          }),
        lostLease: (code) => void shutdown("lost-lease", code),
      })
    : undefined;
  const server = await startServers(base, informers, metrics, () =>
    elector ? elector.isLeader() : work.queue !== undefined,
  );
  const shutdown = shutdownSequence(log, { work, integrations, elector, server, informers });
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));

  if (!elector) {
    log.warn("leader election disabled (BULKHEAD_DISABLE_LEADER_ELECTION=true): run one replica only");
    await startWork();
    return;
  }
  elector.start();
}

// --- informers ------------------------------------------------------------------------------

type Informers = ReturnType<typeof startInformers>;

/**
 * The caches the passes read. They restart themselves after a list/watch error
 * (adapters/kube/cache.ts) and report not-synced meanwhile; passes wait for them rather than act
 * on a stale view of the world.
 */
function startInformers({ kc, log, clock }: Base) {
  const cacheError = (which: string) => (err: unknown) =>
    log.warn({ err: (err as Error).message, cache: which }, "informer cache error; it restarts with backoff");
  const options = (which: string) => ({ onError: cacheError(which), clock });
  const rollouts = rolloutsCache(kc, options("rollouts"));
  const pods = managedPodsCache(kc, options("pods"));
  const statefulSets = managedStatefulSetsCache(kc, options("statefulsets"));
  const pdbs = rolloutPdbsCache(kc, options("pdbs"));
  const all: Array<ReadCache<k8s.KubernetesObject>> = [rollouts, pods, statefulSets, pdbs];
  return { rollouts, pods, statefulSets, pdbs, all, cacheError, synced: () => all.every((c) => c.isSynced()) };
}

// --- integrations: Consul, release-API callbacks, Slack ---------------------------------------

interface Integrations {
  rolloutApi: RolloutApi;
  events: EventRecorder;
  /** Absent when Consul is not configured. */
  health?: HealthGate & { close(): void };
  callbacks: CallbackDispatcher;
  /** Absent without a Slack token. */
  slack?: SlackParts;
}

function startIntegrations(base: Base, informers: Informers, metrics: ReconcilerMetrics, work: Work): Integrations {
  const { config, log, clock, clients } = base;
  const health = config.consulEnabled
    ? consulHealthGate(consulOptionsFromEnv(config.env), { logger: log, registry: metrics.registry })
    : undefined;
  const rolloutApi = kubeRolloutApi(clients.custom);
  const events = kubeEventRecorder(clients.events, "bulkhead.dev/reconciler", config.identity, (err) =>
    log.warn({ err }, "event write failed"),
  );
  const sender = httpCallbackSender(callbackOptionsFromEnv(config.env), { registry: metrics.registry, clock });
  // Callbacks run beside the passes, never inside them: a dead endpoint delays no rollout.
  const callbacks = new CallbackDispatcher(config.callbacks, {
    sender,
    rollouts: rolloutApi,
    events,
    log,
    clock,
    registry: metrics.registry,
    requeue: (namespace, name) => work.queue?.add(keyOf(namespace, name)),
  });
  const slack = config.slack ? startSlack(config.slack, base, informers, metrics, rolloutApi) : undefined;
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
  return { rolloutApi, events, ...(health ? { health } : {}), callbacks, ...(slack ? { slack } : {}) };
}

interface SlackParts {
  /** Rollout messages: the pass hands the newest state to the outbox. */
  notifier: RolloutOutbox;
  /** Leak and pin-failure alerts, from the alert Events the webhook replicas write. */
  alerts: { notifier: AlertNotifier; cache: ReadCache<k8s.EventsV1Event> };
}

/** Slack runs beside the passes, never inside them. */
function startSlack(
  slack: NonNullable<ReconcilerConfig["slack"]>,
  base: Base,
  informers: Informers,
  metrics: ReconcilerMetrics,
  rolloutApi: RolloutApi,
): SlackParts {
  const client = createSlackClient({
    token: slack.token,
    ...(slack.apiUrl ? { apiUrl: slack.apiUrl } : {}),
    logger: base.log,
    registry: metrics.registry,
    clock: base.clock,
  });
  return {
    notifier: rolloutNotifier(client, base, informers, metrics, rolloutApi),
    alerts: alertNotifier(client, base, informers, metrics),
  };
}

/**
 * One message per rollout (per group run for grouped rollouts), updated in place; published from
 * the outbox, never from a pass.
 */
function rolloutNotifier(
  client: SlackClient,
  { log, clock }: Base,
  informers: Informers,
  metrics: ReconcilerMetrics,
  rolloutApi: RolloutApi,
): RolloutOutbox {
  const publisher = slackRolloutNotifier({ client, logger: log, registry: metrics.registry, clock });
  return createRolloutOutbox({
    publisher,
    rollouts: rolloutApi,
    // A group's one message lists its members as the cache has them (adapters/slack/rollout-outbox.ts).
    namespaceRollouts: (namespace) => informers.rollouts.list(namespace),
    logger: log,
    registry: metrics.registry,
    clock,
  });
}

/**
 * Leak and pin-failure alerts: the webhook replicas write alert Events; the leader turns them
 * into one Slack message per alert (api/alert-events.ts). Their cache does not gate passes.
 */
function alertNotifier(
  client: SlackClient,
  { config, log, clock, kc, clients }: Base,
  informers: Informers,
  metrics: ReconcilerMetrics,
): SlackParts["alerts"] {
  const alertEvents = kubeAlertEvents(clients.events, "bulkhead.dev/reconciler", config.identity, (err) =>
    log.warn({ err }, "cannot annotate alert Event"),
  );
  const channelOf = (namespace: string, name: string) =>
    (informers.rollouts.get(namespace, name) as { spec?: { channel?: string } } | undefined)?.spec?.channel;
  return {
    notifier: createAlertNotifier({ client, alertEvents, channelOf, logger: log, registry: metrics.registry, clock }),
    cache: alertEventsCache(kc, informers.cacheError("alert-events")),
  };
}

// --- controller -----------------------------------------------------------------------------

function createController(
  { config, log, clock, clients }: Base,
  informers: Informers,
  metrics: ReconcilerMetrics,
  integrations: Integrations,
): Reconciler {
  const { health, slack } = integrations;
  return new Reconciler({
    rollouts: integrations.rolloutApi,
    world: cachedWorld(clients.apps, informers.pods, informers.pdbs, informers.rollouts, informers.statefulSets),
    writer: kubeClusterWriter(clients.apps, clients.policy, clients.core),
    events: integrations.events,
    metrics,
    log,
    clock,
    ...(health ? { health } : {}),
    uncheckedServiceDiscovery: config.uncheckedServiceDiscovery,
    callbacks: integrations.callbacks,
    ...(slack ? { notifier: slack.notifier } : {}),
    buildMetadataKeys: config.buildMetadataKeys,
  });
}

/** Informer events only enqueue rollout keys (dropped while not leading: startWork enqueues all). */
function routeInformerEvents({ rollouts, pods, statefulSets, pdbs }: Informers, work: Work): void {
  const enqueue = (key: string | undefined) => {
    if (key && work.queue) work.queue.add(key);
  };
  // Rollouts: a new object, a spec change (generation) or a deletion; our own status writes do
  // not change the generation, so they do not wake the loop (it requeues itself).
  const generations = new Map<string, number | undefined>();
  // A change of one group member wakes the others (group-wakeups.ts).
  const groupWakeups = new GroupWakeups(
    (namespace) => rollouts.list(namespace),
    (namespace, name) => enqueue(keyOf(namespace, name)),
  );
  rollouts.onChange((obj, event) => {
    const key = keyOf(obj.metadata?.namespace ?? "", obj.metadata?.name ?? "");
    groupWakeups.changed(obj, event === "delete");
    if (event === "delete") {
      generations.delete(key);
      work.queue?.forget(key);
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
  // Not on the status counts the StatefulSet controller rewrites on every pod change (triggers.ts).
  const statefulSetTriggers = new StatefulSetTriggers();
  statefulSets.onChange((sts, event) => {
    if (statefulSetTriggers.changed(sts, event))
      enqueue(rolloutOfStatefulSet(sts.metadata?.namespace, sts.metadata?.name));
  });
  pods.onChange((pod) => {
    enqueue(rolloutOfStatefulSet(pod.metadata?.namespace, owningStatefulSet(pod)?.name));
  });
  pdbs.onChange((pdb) => {
    const owner = owningRollout(pdb)?.name;
    if (owner && pdb.metadata?.namespace) enqueue(keyOf(pdb.metadata.namespace, owner));
  });
}

/** Becoming leader: wait for the caches, start the queue with every rollout, start the alerts. */
async function startWorking(
  { config, log, clock }: Base,
  informers: Informers,
  metrics: ReconcilerMetrics,
  integrations: Integrations,
  reconciler: Reconciler,
  work: Work,
): Promise<void> {
  await Promise.all(informers.all.map((c) => c.synced));
  metrics.leader.set(1);
  work.queue = new KeyedQueue(async (key) => (informers.synced() ? reconciler.reconcile(key) : CACHE_RESYNC_WAIT_MS), {
    workers: config.workers,
    clock,
    onError: (key, err, retryInMs) =>
      log.warn({ rollout: key, err: (err as Error).message, retryInMs }, "pass failed; backing off"),
  });
  // After a (re)start, rollouts with work first, longest-unwritten status first (api/pass-order.ts).
  for (const key of startupPassOrder(informers.rollouts.list() as RolloutForOrder[])) work.queue.add(key);
  log.info({ rollouts: informers.rollouts.list().length }, "leading: reconciling");
  if (integrations.slack && !work.alertsStarted) {
    work.alertsStarted = true;
    startAlerts(integrations.slack.alerts);
  }
}

/** Only the leader sends alerts: it replays the alert Events it has, then follows changes. */
function startAlerts({ notifier, cache }: SlackParts["alerts"]): void {
  cache.onChange((event, change) => notifier.observe(event as AlertEventObject, change));
  void cache.synced.then(() => {
    for (const event of cache.list()) notifier.observe(event as AlertEventObject, "add");
  });
}

// --- leadership, servers, shutdown ----------------------------------------------------------

function leaderElector(
  { config, log, clock, clients }: Base,
  metrics: ReconcilerMetrics,
  on: { startWork(): void; lostLease(code: number): void },
): LeaderElector {
  return new LeaderElector(
    kubeLeaseApi(clients.coordination),
    {
      namespace: config.namespace,
      name: config.leaseName,
      identity: config.identity,
      leaseDurationSeconds: config.leaseDurationSeconds,
      renewDeadlineMs: Math.floor(config.leaseDurationSeconds * 666),
      retryPeriodMs: Math.max(500, Math.floor(config.leaseDurationSeconds * 133)),
      clock,
    },
    {
      onStartedLeading: () => {
        log.info({ lease: `${config.namespace}/${config.leaseName}` }, "became leader");
        on.startWork();
      },
      // A replica that lost the Lease may have passes in flight: exit and come back as a standby.
      onStoppedLeading: () => {
        log.error("lost the leader Lease; exiting");
        metrics.leader.set(0);
        on.lostLease(1);
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
}

async function startServers(
  { config, log }: Base,
  informers: Informers,
  metrics: ReconcilerMetrics,
  leading: () => boolean,
) {
  const server = await startProbeServer(
    metrics.registry,
    { ready: informers.synced, leader: leading },
    config.metricsHost,
    config.metricsPort,
  );
  log.info({ port: config.metricsPort }, "serving /healthz /readyz /metrics");
  return server;
}

/** Stops in order: passes, callbacks, the Lease (released for a fast handover), Slack, servers, caches. */
function shutdownSequence(
  log: Logger,
  parts: {
    work: Work;
    integrations: Integrations;
    elector: LeaderElector | undefined;
    server: { close(): void };
    informers: Informers;
  },
): (signal: string, code?: number) => Promise<void> {
  let shuttingDown = false;
  return async (signal, code = 0) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ signal }, "shutting down");
    const { work, integrations, elector, server, informers } = parts;
    await work.queue?.stop();
    await integrations.callbacks.stop();
    await elector?.stop();
    integrations.slack?.notifier.close();
    integrations.slack?.alerts.notifier.close();
    await integrations.slack?.alerts.cache.stop();
    integrations.health?.close();
    server.close();
    await Promise.allSettled(informers.all.map((c) => c.stop()));
    process.exit(code);
  };
}

main().catch((err: unknown) => {
  // Config and start-up errors: one clear line, non-zero exit.
  process.stderr.write(`bulkhead reconciler: ${(err as Error).message}\n`);
  process.exit(1);
});
