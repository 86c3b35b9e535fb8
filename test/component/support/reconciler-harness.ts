// The wiring the reconciler component tests share: a Reconciler on an in-memory cluster (silent
// log, metrics on a registry of its own), and the full loop around it — the release-API callback
// dispatcher and a KeyedQueue that every change of the cluster feeds.
import pino from "pino";
import type { EventRecorder } from "../../../adapters/kube/events.js";
import type { ClusterWriter, RolloutApi } from "../../../adapters/kube/rollouts.js";
import { parseAllowedCallbackPrefix } from "../../../api/callback-payload.js";
import type { Clock } from "../../../api/clock.js";
import type { CallbackQueue, CallbackSender } from "../../../api/integrations.js";
import { CallbackDispatcher } from "../../../reconciler/callback-dispatcher.js";
import { Reconciler } from "../../../reconciler/controller.js";
import { createMetrics } from "../../../reconciler/metrics.js";
import { KeyedQueue, type Handler } from "../../../reconciler/queue.js";
import type { WorldSource } from "../../../reconciler/world.js";
import type { FakeCluster } from "../reconciler.fake-cluster.js";

/** A Reconciler whose rollouts, world and writer are all `cluster`. */
export function fakeReconciler(
  cluster: RolloutApi & WorldSource & ClusterWriter,
  deps: { events: EventRecorder; callbacks: CallbackQueue; clock?: Clock },
): Reconciler {
  return new Reconciler({
    rollouts: cluster,
    world: cluster,
    writer: cluster,
    events: deps.events,
    metrics: createMetrics(() => [], false),
    log: pino({ enabled: false }),
    callbacks: deps.callbacks,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
}

/** The one release API the dispatcher allows: a spec.bapi.bapiUrl must start with it. */
const RELEASE_API = parseAllowedCallbackPrefix("http://release.local/");

export interface LoopOptions {
  /** Events of both the passes and the dispatcher (default: dropped). */
  events?: EventRecorder;
  /** The callbacks' sender (default: every attempt answers 200). */
  sender?: CallbackSender;
  /** Callback attempts in flight at once (default 1). */
  concurrency?: number;
  /** What the dispatcher reads and writes rollouts through (default: the cluster). */
  callbackRollouts?: Pick<RolloutApi, "get" | "replaceStatus">;
  /** The Reconciler's clock (default: the system's). */
  clock?: Clock;
  /** Wraps each pass the queue runs (default: the reconcile pass alone). */
  wrapPass?: (reconcile: Handler) => Handler;
}

export interface Loop {
  cluster: FakeCluster;
  queue: KeyedQueue;
  callbacks: CallbackDispatcher;
  reconciler: Reconciler;
  /** Stops the queue, then the dispatcher, then the cluster's timers. */
  stop(): Promise<void>;
}

/** The reconcile loop on `cluster`: each change queues a pass (backoff 20 ms). */
export function reconcileLoop(cluster: FakeCluster, options: LoopOptions = {}): Loop {
  if (!RELEASE_API.ok) throw new Error(RELEASE_API.error);
  const events = options.events ?? { record: async () => {} };
  const callbacks = new CallbackDispatcher(
    {
      allowList: [RELEASE_API.value],
      maxRetryAgeMs: 60_000,
      concurrency: options.concurrency ?? 1,
      maxQueued: 10,
      baseDelayMs: 10,
    },
    {
      sender: options.sender ?? { attempt: async () => ({ ok: true, status: 200 }) },
      rollouts: options.callbackRollouts ?? cluster,
      events,
      log: pino({ enabled: false }),
    },
  );
  const reconciler = fakeReconciler(cluster, { events, callbacks, clock: options.clock });
  const reconcile: Handler = (key) => reconciler.reconcile(key);
  const queue = new KeyedQueue(options.wrapPass ? options.wrapPass(reconcile) : reconcile, { baseBackoffMs: 20 });
  cluster.onChange = (key) => queue.add(key);
  return {
    cluster,
    queue,
    callbacks,
    reconciler,
    async stop() {
      await queue.stop();
      await callbacks.stop();
      cluster.stop();
    },
  };
}
