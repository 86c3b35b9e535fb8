// The reconciler's RolloutNotifier: a queue between the reconcile pass and Slack, so Slack never
// delays a pass. The pass calls notify(rollout) and returns at once; a few workers here send
// through the publisher (rollout-notifier.ts) on their own time.
//
// - Coalesced per rollout: only the newest state of a rollout waits; a state that arrives while
//   an older one waits replaces it (Slack shows the present, not history).
// - Rate-limited per channel: at most one publish in flight per channel, and the next starts
//   `minChannelIntervalMs` after the last ended (Slack allows about one message a second per
//   channel). A Retry-After or a 10 s timeout delays that channel's messages, no pass.
// - Bounded: at most `maxPending` rollouts wait; beyond that new ones are dropped and counted
//   (their next state, one pass later, tries again).
// - The message ref reaches status.slackMessage without a write on every pass: the publisher
//   returns a ref, and only when it differs from the rollout's status does this write it, with
//   a status update on a fresh read (re-read on conflict). The ref is also kept here (bounded),
//   so a pass that overwrote status from an older read does not make the next publish post a
//   second message; the next notify writes it back.
// - Rollout groups (api/group-notify.ts): a member of a group hands its state here like any
//   rollout, but what waits is the group's one message, under the key of the member that owns it
//   (the first in group order with a channel): its members are the group's rollouts as the cache
//   lists them, each as last handed over here when it was (a pass's decision is newer than the
//   cache), and its ref goes to the owner's status.slackMessage through the same status write.
import type { Logger } from "pino";
import type { Counter, Registry } from "prom-client";
import { sharedCounter } from "../metrics.js";
import { isConflict, isNotFound } from "../kube/client.js";
import type { RawRollout, RolloutApi } from "../kube/rollouts.js";
import type { RolloutNotifier } from "../../api/integrations.js";
import { groupNameOf, groupRollouts } from "../../api/groups.js";
import { groupMessageOwner, groupOfRunKey, groupRunKey } from "../../api/group-notify.js";
import { parseRollout, type StatefulsetRollout } from "../../api/rollout.js";
import { planGroupMessage } from "./group-blocks.js";
import { planMessage, rolloutRunOf, type SlackMessageRef } from "./rollout-blocks.js";
import type { Clock, Timer } from "../../api/clock.js";
import { systemClock } from "../clock.js";
import type { RolloutPublisher } from "./rollout-notifier.js";

export interface RolloutOutboxOptions {
  publisher: RolloutPublisher;
  /** Reads and writes rollout status (the ref goes to status.slackMessage). */
  // Reads and status writes only.
  rollouts: Pick<RolloutApi, "get" | "replaceStatus">;
  /**
   * The rollouts of a namespace as the informer cache has them (raw): a group's members are
   * those naming it, parsed only when no newer state of theirs was handed over here.
   */
  namespaceRollouts: (namespace: string) => readonly unknown[];
  logger: Logger;
  registry?: Registry;
  clock?: Clock;
  /** Least time between the end of one publish and the start of the next in a channel (default 1 s). */
  minChannelIntervalMs?: number;
  /** Rollouts waiting at once; beyond that new ones are dropped (default 1,000). */
  maxPending?: number;
  /** Publishes in flight at once, each in its own channel (default 4). */
  maxInFlight?: number;
  /** Message refs remembered (least recently used forgotten; default 1,000). */
  maxKnownRefs?: number;
}

export interface RolloutOutbox extends RolloutNotifier {
  /** Resolves when nothing waits and nothing is in flight (tests, shutdown). */
  idle(): Promise<void>;
  /** Drops what waits and stops timers; publishes in flight finish. */
  close(): void;
  readonly pending: number;
}

const DROPPED_METRIC = "bulkhead_slack_rollout_outbox_dropped_total";
const STATUS_ATTEMPTS = 3;

function droppedCounter(registry: Registry | undefined): Counter | undefined {
  if (!registry) return undefined;
  return sharedCounter(registry, {
    name: DROPPED_METRIC,
    help: "Rollout notifications dropped because the Slack outbox was full.",
  });
}

/** What waits for Slack: one rollout's message, or a group's (keyed by its owner). */
type Job =
  | { kind: "rollout"; rollout: StatefulsetRollout }
  | { kind: "group"; group: string; owner: StatefulsetRollout; members: StatefulsetRollout[] };

const subjectOf = (job: Job): StatefulsetRollout => (job.kind === "rollout" ? job.rollout : job.owner);

/**
 * A member's state as the group message needs it: without the pod list (either shape), history and previous
 * template, which the message does not show and which would make the states kept here large.
 */
function forGroupMessage(rollout: StatefulsetRollout): StatefulsetRollout {
  if (!rollout.status) return rollout;
  const {
    pods: _pods,
    podSummary: _podSummary,
    history: _history,
    previousTemplate: _previous,
    ...status
  } = rollout.status;
  return { ...rollout, status };
}

/** Whether a ref belongs to the rollout as it is now: its group's run, or its own rollout. */
function refIsFor(rollout: StatefulsetRollout, ref: SlackMessageRef): boolean {
  const group = groupOfRunKey(ref.rollout);
  return group !== undefined ? groupNameOf(rollout) === group : ref.rollout === rolloutRunOf(rollout);
}

const sameRef = (a: SlackMessageRef | undefined, b: SlackMessageRef | undefined): boolean =>
  a?.channel === b?.channel &&
  a?.ts === b?.ts &&
  a?.rollout === b?.rollout &&
  (a?.pageTs ?? []).join() === (b?.pageTs ?? []).join();

export function createRolloutOutbox(options: RolloutOutboxOptions): RolloutOutbox {
  const { publisher, rollouts } = options;
  const clock = options.clock ?? systemClock;
  const minInterval = options.minChannelIntervalMs ?? 1_000;
  const maxPending = options.maxPending ?? 1_000;
  const maxInFlight = Math.max(1, options.maxInFlight ?? 4);
  const maxKnown = options.maxKnownRefs ?? 1_000;
  const log = options.logger.child({ component: "slack-outbox" });
  const dropped = droppedCounter(options.registry);

  /** Newest job per rollout key (a group's under its owner's), in arrival order of the key. */
  const waiting = new Map<string, Job>();
  const inFlight = new Set<string>();
  const busyChannels = new Set<string>();
  /** When each channel may be used again (entries in the past are pruned). */
  const channelFreeAt = new Map<string, number>();
  /** Last ref per rollout key (LRU). */
  const known = new Map<string, SlackMessageRef>();
  /** Last state handed over per grouped rollout key (LRU, maxKnownRefs; see forGroupMessage). */
  const memberStates = new Map<string, StatefulsetRollout>();
  let wakeTimer: { at: number; timer: Timer } | undefined;
  let closed = false;
  let idleWaiters: Array<() => void> = [];

  const keyOf = (r: StatefulsetRollout): string => `${r.metadata.namespace ?? ""}/${r.metadata.name}`;

  function remember(key: string, ref: SlackMessageRef): void {
    known.delete(key);
    known.set(key, ref);
    if (known.size > maxKnown) known.delete(known.keys().next().value as string);
  }

  function rememberMember(key: string, rollout: StatefulsetRollout): void {
    memberStates.delete(key);
    memberStates.set(key, forGroupMessage(rollout));
    if (memberStates.size > maxKnown) memberStates.delete(memberStates.keys().next().value as string);
  }

  /** The group's members in group order: the cache's list, each as last handed over here if it was. */
  function membersOf(rollout: StatefulsetRollout, group: string): StatefulsetRollout[] {
    const namespace = rollout.metadata.namespace ?? "";
    const byName = new Map<string, StatefulsetRollout>();
    for (const raw of options.namespaceRollouts(namespace)) {
      const name = (raw as { metadata?: { name?: string } }).metadata?.name ?? "";
      if (groupNameOf(raw as { spec?: { group?: { name?: string } } }) !== group || name === rollout.metadata.name)
        continue;
      const handed = memberStates.get(`${namespace}/${name}`);
      const parsed = handed ? undefined : parseRollout(raw);
      const member = handed ?? (parsed?.ok ? forGroupMessage(parsed.value) : undefined);
      if (member) byName.set(name, member);
    }
    byName.set(rollout.metadata.name, forGroupMessage(rollout));
    return groupRollouts([...byName.values()], namespace, group);
  }

  /**
   * The group's ref: kept here or in the owner's status, if it is this group's (open or ended);
   * failing that, an open run's ref in another member's status (the owner changed mid-run, e.g. a
   * member earlier in group order was created after the run began): the owner takes it over.
   */
  function groupRefFor(
    key: string,
    owner: StatefulsetRollout,
    group: string,
    members: readonly StatefulsetRollout[],
  ): SlackMessageRef | undefined {
    const mine = known.get(key);
    if (mine && groupOfRunKey(mine.rollout) === group) return mine;
    const stored = owner.status?.slackMessage;
    if (stored && groupOfRunKey(stored.rollout) === group) return stored;
    const open = groupRunKey(group);
    for (const m of members) {
      const ref = known.get(keyOf(m)) ?? m.status?.slackMessage;
      if (ref?.rollout === open) return ref;
    }
    return undefined;
  }

  /**
   * This rollout's ref (kept here or in status); failing that, the latest earlier rollout's, which
   * the publisher does not update but marks superseded when it posts the new rollout's message.
   */
  function refFor(key: string, rollout: StatefulsetRollout): SlackMessageRef | undefined {
    const run = rolloutRunOf(rollout);
    const mine = known.get(key);
    const stored = rollout.status?.slackMessage;
    if (mine?.rollout === run) return mine;
    if (stored?.rollout === run) return stored;
    return mine ?? stored;
  }

  function checkIdle(): void {
    if (waiting.size > 0 || inFlight.size > 0) return;
    const done = idleWaiters;
    idleWaiters = [];
    done.forEach((w) => w());
  }

  function pump(): void {
    if (closed) return;
    const now = clock.now();
    for (const [channel, at] of channelFreeAt) if (at <= now) channelFreeAt.delete(channel);
    let earliest = Number.POSITIVE_INFINITY;
    for (const [key, job] of waiting) {
      if (inFlight.size >= maxInFlight) break;
      if (inFlight.has(key)) continue;
      const channel = subjectOf(job).spec.channel ?? "";
      if (busyChannels.has(channel)) continue;
      const freeAt = channelFreeAt.get(channel) ?? 0;
      if (freeAt > now) {
        earliest = Math.min(earliest, freeAt);
        continue;
      }
      waiting.delete(key);
      inFlight.add(key);
      busyChannels.add(channel);
      void run(key, channel, job);
    }
    if (earliest !== Number.POSITIVE_INFINITY && (!wakeTimer || wakeTimer.at > earliest)) {
      wakeTimer?.timer.cancel();
      wakeTimer = {
        at: earliest,
        timer: clock.setTimer(() => {
          wakeTimer = undefined;
          pump();
        }, earliest - now),
      };
    }
    checkIdle();
  }

  async function run(key: string, channel: string, job: Job): Promise<void> {
    const rollout = subjectOf(job);
    try {
      const ref =
        job.kind === "rollout"
          ? await publisher.publish(rollout, refFor(key, rollout))
          : await publisher.publishGroup(job.owner, job.members, groupRefFor(key, job.owner, job.group, job.members));
      if (ref && refIsFor(rollout, ref)) {
        remember(key, ref);
        if (!sameRef(ref, rollout.status?.slackMessage)) await recordRef(rollout, ref);
        // The owner's state kept here now has its ref, so the other members' passes do not take
        // the ref for lost (and re-read the owner) until the owner's next pass hands it over.
        const kept = job.kind === "group" ? memberStates.get(key) : undefined;
        if (kept) memberStates.set(key, { ...kept, status: { ...kept.status, slackMessage: ref } });
      }
    } catch (err) {
      log.warn({ rollout: key, err }, "slack rollout notification failed");
    } finally {
      inFlight.delete(key);
      busyChannels.delete(channel);
      channelFreeAt.set(channel, clock.now() + minInterval);
      pump();
    }
  }

  /**
   * Writes the ref to status.slackMessage on a fresh read, only while the live rollout is still
   * the rollout the message is for (a newer rollout has, or will post, its own message) or, for a
   * group's message, still names that group.
   */
  async function recordRef(rollout: StatefulsetRollout, ref: SlackMessageRef): Promise<void> {
    const namespace = rollout.metadata.namespace ?? "";
    const name = rollout.metadata.name;
    for (let attempt = 1; attempt <= STATUS_ATTEMPTS; attempt++) {
      const raw = await rollouts.get(namespace, name);
      if (!raw || raw.metadata?.deletionTimestamp) return;
      const live = parseRollout(raw);
      if (!live.ok || !refIsFor(live.value, ref)) return;
      if (sameRef(live.value.status?.slackMessage, ref)) return;
      try {
        const status = { ...((raw.status as Record<string, unknown> | undefined) ?? {}), slackMessage: ref };
        await rollouts.replaceStatus(namespace, name, { ...raw, status } as RawRollout);
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!isConflict(err) || attempt === STATUS_ATTEMPTS) throw err;
      }
    }
  }

  /**
   * A group member's new state: the group's message is what may need sending, under its owner's
   * key. Skipped early, as for a rollout, when the owner's level wants nothing and the owner's
   * status has not lost the ref kept here.
   */
  function notifyGroup(rollout: StatefulsetRollout, group: string): void {
    rememberMember(keyOf(rollout), rollout);
    const members = membersOf(rollout, group);
    const owner = groupMessageOwner(members);
    if (!owner) return;
    const key = keyOf(owner);
    const mine = known.get(key);
    const refLost =
      mine !== undefined && groupOfRunKey(mine.rollout) === group && !sameRef(mine, owner.status?.slackMessage);
    const plan = planGroupMessage(group, owner, members, groupRefFor(key, owner, group, members));
    if (plan.action === "skip" && !waiting.has(key) && !refLost) return;
    if (!waiting.has(key) && waiting.size >= maxPending) {
      dropped?.inc();
      log.warn({ rollout: key, group, waiting: waiting.size }, "slack outbox full; group notification dropped");
      return;
    }
    waiting.set(key, { kind: "group", group, owner, members });
    pump();
  }

  return {
    notify(rollout) {
      try {
        if (closed) return;
        const group = groupNameOf(rollout);
        if (group) return notifyGroup(rollout, group);
        if (!rollout.spec.channel) return;
        const key = keyOf(rollout);
        // Skip early what the channel's level does not want (no queue slot, no worker) — unless
        // status lost the ref kept here (a pass wrote over it): the publish writes it back.
        const mine = known.get(key);
        const refLost = mine?.rollout === rolloutRunOf(rollout) && !sameRef(mine, rollout.status?.slackMessage);
        if (planMessage(rollout, refFor(key, rollout)).action === "skip" && !waiting.has(key) && !refLost) return;
        if (!waiting.has(key) && waiting.size >= maxPending) {
          dropped?.inc();
          log.warn({ rollout: key, waiting: waiting.size }, "slack outbox full; notification dropped");
          return;
        }
        waiting.set(key, { kind: "rollout", rollout });
        pump();
      } catch (err) {
        log.error({ err }, "slack outbox failed");
      }
    },
    idle() {
      if (waiting.size === 0 && inFlight.size === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    close() {
      closed = true;
      wakeTimer?.timer.cancel();
      wakeTimer = undefined;
      waiting.clear();
      publisher.close();
      checkIdle();
    },
    get pending() {
      return waiting.size;
    },
  };
}
