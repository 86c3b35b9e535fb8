// The dashboard's watches, with the user's kubeconfig (their RBAC applies): rollouts and managed
// pods through the informer caches the other processes use, and Events about rollouts through a
// bounded list+watch of our own (an informer would keep every Event of the namespace).
import * as k8s from "@kubernetes/client-node";
import { watchManagedPods, watchRollouts } from "../../adapters/kube/cache.js";
import type { ReadCache } from "../../adapters/kube/cache.js";
import { systemClock } from "../../adapters/clock.js";
import type { Clock, Timer } from "../../api/clock.js";
import type { PodObject } from "../../api/observe.js";
import { KIND } from "../../api/labels.js";
import type { DashboardFeed, FeedChange, FeedEvent } from "./feed.js";

/** Events kept per rollout (newest), and rollouts with Events kept: the buffer's bounds. */
export const EVENTS_PER_ROLLOUT = 50;
export const ROLLOUTS_WITH_EVENTS = 2000;
const EVENT_PAGE = 500;
const EVENT_PAGES = 10;
export const RESTART_BASE_MS = 1000;
export const RESTART_MAX_MS = 30_000;

/** A bounded store of recent Events per rollout ("namespace/name" → oldest first). */
export class EventBuffer {
  private readonly byRollout = new Map<string, FeedEvent[]>();

  constructor(
    private readonly perRollout = EVENTS_PER_ROLLOUT,
    private readonly maxRollouts = ROLLOUTS_WITH_EVENTS,
  ) {}

  /** Adds or replaces (same uid) an Event; returns whether anything changed. */
  put(key: string, event: FeedEvent): boolean {
    let list = this.byRollout.get(key);
    if (!list) {
      if (this.byRollout.size >= this.maxRollouts) {
        const oldest = this.byRollout.keys().next().value;
        if (oldest !== undefined) this.byRollout.delete(oldest);
      }
      list = [];
      this.byRollout.set(key, list);
    }
    const at = list.findIndex((e) => e.uid === event.uid);
    if (at >= 0) {
      if (JSON.stringify(list[at]) === JSON.stringify(event)) return false;
      list.splice(at, 1);
    }
    list.push(event);
    list.sort((a, b) => a.time.localeCompare(b.time));
    if (list.length > this.perRollout) list.splice(0, list.length - this.perRollout);
    return true;
  }

  remove(key: string, uid: string): boolean {
    const list = this.byRollout.get(key);
    const at = list?.findIndex((e) => e.uid === uid) ?? -1;
    if (!list || at < 0) return false;
    list.splice(at, 1);
    return true;
  }

  get(key: string): readonly FeedEvent[] {
    return this.byRollout.get(key) ?? [];
  }

  clear(): void {
    this.byRollout.clear();
  }
}

function toFeedEvent(e: k8s.CoreV1Event): FeedEvent | undefined {
  const uid = e.metadata?.uid;
  if (!uid) return undefined;
  const when =
    e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  const source = e.reportingComponent || e.source?.component;
  return {
    uid,
    type: e.type ?? "Normal",
    reason: e.reason ?? "",
    message: (e.message ?? "").slice(0, 1024),
    time: when ? new Date(when as unknown as string).toISOString() : new Date(0).toISOString(),
    count: e.series?.count ?? e.count ?? 1,
    ...(source ? { source } : {}),
  };
}

const keyOf = (e: k8s.CoreV1Event): string =>
  `${e.involvedObject?.namespace ?? e.metadata?.namespace ?? ""}/${e.involvedObject?.name ?? ""}`;

/**
 * Events whose involvedObject is a StatefulsetRollout, listed then watched, restarted on errors
 * (after a delay on `clock`, doubling up to RESTART_MAX_MS).
 */
export class RolloutEvents {
  readonly buffer = new EventBuffer();
  private stopped = false;
  private abort: AbortController | undefined;
  private timer: Timer | undefined;
  private delayMs = RESTART_BASE_MS;

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly namespace: string | undefined,
    private readonly changed: (namespace: string) => void,
    private readonly clock: Pick<Clock, "setTimer">,
  ) {}

  start(): void {
    void this.run();
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    const core = this.kc.makeApiClient(k8s.CoreV1Api);
    const fieldSelector = `involvedObject.kind=${KIND}`;
    try {
      this.buffer.clear();
      let resourceVersion = "";
      let cont: string | undefined;
      for (let page = 0; page < EVENT_PAGES; page++) {
        const query = { fieldSelector, limit: EVENT_PAGE, ...(cont ? { _continue: cont } : {}) };
        const list =
          this.namespace === undefined
            ? await core.listEventForAllNamespaces(query)
            : await core.listNamespacedEvent({ namespace: this.namespace, ...query });
        for (const e of list.items) {
          const fe = toFeedEvent(e);
          if (fe) this.buffer.put(keyOf(e), fe);
        }
        resourceVersion = list.metadata?.resourceVersion ?? resourceVersion;
        cont = list.metadata?._continue;
        if (!cont) break;
      }
      this.changed(this.namespace ?? "");
      const path = this.namespace === undefined ? "/api/v1/events" : `/api/v1/namespaces/${this.namespace}/events`;
      this.abort = await new k8s.Watch(this.kc).watch(
        path,
        { fieldSelector, resourceVersion, allowWatchBookmarks: true },
        (phase: string, obj: k8s.CoreV1Event) => {
          if (phase === "BOOKMARK") return;
          const fe = toFeedEvent(obj);
          if (!fe) return;
          const key = keyOf(obj);
          const did = phase === "DELETED" ? this.buffer.remove(key, fe.uid) : this.buffer.put(key, fe);
          if (did) this.changed(obj.involvedObject?.namespace ?? "");
          this.delayMs = RESTART_BASE_MS;
        },
        () => this.restart(),
      );
    } catch {
      this.restart();
    }
  }

  private restart(): void {
    if (this.stopped || this.timer) return;
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      void this.run();
    }, this.delayMs);
    this.delayMs = Math.min(this.delayMs * 2, RESTART_MAX_MS);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.abort?.abort();
  }
}

/**
 * Watches rollouts, managed pods and rollout Events in one namespace, or all (undefined); their
 * restart delays run on `clock`. The default is for cli/kube-cluster.ts, whose Cluster has no
 * clock to hand on (the CLI's deps carry none).
 */
export function kubeFeed(kc: k8s.KubeConfig, namespace: string | undefined, clock: Clock = systemClock): DashboardFeed {
  const rollouts: ReadCache<k8s.KubernetesObject> = watchRollouts(kc, namespace, { clock });
  const pods: ReadCache<k8s.V1Pod> = watchManagedPods(kc, namespace, { clock });
  const listeners: Array<(change: FeedChange) => void> = [];
  const emit = (change: FeedChange): void => listeners.forEach((l) => l(change));
  rollouts.onChange((obj) => emit({ kind: "rollout", namespace: obj.metadata?.namespace ?? "" }));
  pods.onChange((obj) => emit({ kind: "pod", namespace: obj.metadata?.namespace ?? "" }));
  const events = new RolloutEvents(kc, namespace, (ns) => emit({ kind: "event", namespace: ns }), clock);
  events.start();
  return {
    rollouts: () => rollouts.list(),
    pods: (ns) => pods.list(ns) as readonly PodObject[],
    podsWatched: () => pods.isSynced(),
    events: (ns, name) => events.buffer.get(`${ns}/${name}`),
    onChange: (listener) => listeners.push(listener),
    synced: rollouts.synced,
    async stop() {
      events.stop();
      await Promise.allSettled([rollouts.stop(), pods.stop()]);
    },
  };
}
