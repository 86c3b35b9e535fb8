// Slack rollout notifications (DESIGN.md §2), the RolloutNotifier the reconciler calls each pass.
// One summary message per rollout, posted once and then updated in place (chat.update); the pod
// list in thread replies of ≤ 50 pods (adapters/slack/rollout-blocks.ts), each page posted once and
// then updated in place, its ts kept in SlackMessageRef.pageTs[page] ("" = not posted yet), so a
// restarted reconciler edits the same messages.
//
// Staying inside Slack's limits: a message is only sent when its rendered content changed; one
// rollout's messages are refreshed at most every `minRefreshIntervalMs` (default 15 s) and with at
// most `maxCallsPerRefresh` calls (default 6), so a rollout costs at most 4 × 6 = 24 calls a
// minute however fast its waves go. A phase change is sent at once, and the first refresh in a
// terminal phase sends everything still pending.
// Nothing is lost to the throttle: what a publish could not send (throttled, over the call cap,
// or over the `maxPublishMs` time budget that keeps a reconcile pass short) is sent by a trailing
// refresh when the interval is over, with the latest rollout given. The ts of a page posted by a
// trailing refresh is remembered and returned by the next publish (a restart in between would
// post that page again).
// 429 + Retry-After is honoured by the client (bounded). After a failed call, that channel is
// left alone for `failureBackoffMs` (doubling up to 5 minutes), so an outage costs one slow call
// per channel per back-off, never a stalled rollout. publish() never throws; on a failed update
// it returns the ref it was given (the message exists; posting a new one would duplicate it).
import { createHash } from "node:crypto";
import { pino, type Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import { sharedCounter } from "../metrics.js";
import type { Clock, Timer } from "../../api/clock.js";
import { groupNameOf } from "../../api/groups.js";
import { groupOfRunKey } from "../../api/group-notify.js";
import { isTerminal, type RolloutPhase, type StatefulsetRollout } from "../../api/rollout.js";
import { groupSummary, planGroupMessage } from "./group-blocks.js";
import {
  planMessage,
  podPages,
  replicasOf,
  rolloutSummary,
  type PodPage,
  type SlackMessageRef,
  type SlackText,
} from "./rollout-blocks.js";
import { systemClock } from "../clock.js";
import type { SlackClient } from "./client.js";

export interface RolloutNotifierOptions {
  client: SlackClient;
  logger?: Logger;
  registry?: Registry;
  clock?: Clock;
  minRefreshIntervalMs?: number;
  maxCallsPerRefresh?: number;
  /** No new call is started once a publish has taken this long (default 10 s). */
  maxPublishMs?: number;
  failureBackoffMs?: number;
  /** Run a trailing refresh for what a publish left unsent (default true). */
  trailingRefresh?: boolean;
  /** Rollout messages whose last rendered content is remembered (least recently used dropped). */
  maxTrackedMessages?: number;
}

/** Sends one state of a rollout to Slack. Called by rollout-outbox.ts, outside the reconcile pass. */
export interface RolloutPublisher {
  /**
   * Posts the rollout's message, or updates it in place when `known` is this rollout's message
   * (adapters/slack/rollout-blocks.ts planMessage). Never throws: a Slack failure is logged and
   * counted. Returns the ref to keep in status.slackMessage, stamped with the rollout it is for:
   * undefined when nothing could be posted, the message (with any new page ts) otherwise — also
   * when an update failed, since the message exists and posting another would duplicate it.
   */
  publish(rollout: StatefulsetRollout, known: SlackMessageRef | undefined): Promise<SlackMessageRef | undefined>;
  /**
   * The same for a rollout group's one message (adapters/slack/group-blocks.ts planGroupMessage):
   * `owner` is the member that owns it (api/group-notify.ts), `membersInOrder` every member as last
   * known, `known` the group's ref from the owner's status. The returned ref is stamped with the
   * group's run (open, or ended once the run's last update was sent).
   */
  publishGroup(
    owner: StatefulsetRollout,
    membersInOrder: readonly StatefulsetRollout[],
    known: SlackMessageRef | undefined,
  ): Promise<SlackMessageRef | undefined>;
  /** Cancels pending trailing refreshes (shutdown, tests). */
  close(): void;
}

type PublishResult =
  | "posted"
  | "updated"
  | "unchanged"
  | "throttled"
  | "trailing"
  | "level_skip"
  | "no_channel"
  | "backing_off"
  | "failed";

const PUBLISHES_METRIC = "bulkhead_slack_rollout_publishes_total";

function publishesCounter(registry: Registry | undefined): Counter<"result"> {
  const spec = {
    name: PUBLISHES_METRIC,
    help: "Rollout notification publishes by result (posted, updated, unchanged, throttled, trailing, level_skip, no_channel, backing_off, failed).",
    labelNames: ["result" as const],
  };
  // Without a registry the counter still counts (tests read it), registered nowhere.
  return registry ? sharedCounter(registry, spec) : new Counter({ ...spec, registers: [] });
}

/**
 * One state of a message's subject (a rollout, or a group), rendered on demand: the summary, the
 * pod pages of its thread (none for a group) and what a page left after a scale-down says.
 */
interface Rendered {
  phase: RolloutPhase | undefined;
  summary(): SlackText;
  pages(): PodPage[];
  gone(): SlackText;
  /** The rollout, for the superseded note (a group message is never superseded). */
  rollout?: StatefulsetRollout;
}

function renderRollout(rollout: StatefulsetRollout): Rendered {
  return {
    phase: rollout.status?.phase,
    summary: () => rolloutSummary(rollout),
    pages: () => podPages(rollout),
    gone: () => ({ text: `No pods on this page: the StatefulSet has ${replicasOf(rollout)} replicas.`, blocks: [] }),
    rollout,
  };
}

/** What was last sent for one summary message (process memory; lost on restart, which costs one refresh). */
interface MessageState {
  lastRefreshAt: number;
  lastPhase: string | undefined;
  summaryHash: string | undefined;
  pageHashes: Array<string | undefined>;
  /** Page ts known here, including pages posted by a trailing refresh. */
  pageTs: string[];
  /** Work on one rollout's Slack messages runs one at a time. */
  chain: Promise<unknown>;
  trailing?: { timer: Timer; rendered: Rendered; ref: SlackMessageRef };
  /** The last state sent, to mark the message superseded when a newer rollout replaces it. */
  lastRollout?: StatefulsetRollout;
}

interface SendOutcome {
  ref: SlackMessageRef;
  result: PublishResult;
  /** Something is left to send (call cap or time budget reached). */
  incomplete: boolean;
}

const MAX_BACKOFF_MS = 5 * 60_000;

function hashOf(message: SlackText): string {
  return createHash("sha256").update(JSON.stringify(message)).digest("base64url");
}

export function slackRolloutNotifier(options: RolloutNotifierOptions): RolloutPublisher {
  const { client } = options;
  const clock = options.clock ?? systemClock;
  const now = () => clock.now();
  const log = (options.logger ?? pino({ enabled: false })).child({ component: "slack-rollout" });
  const minInterval = options.minRefreshIntervalMs ?? 15_000;
  const maxCalls = Math.max(1, options.maxCallsPerRefresh ?? 6);
  const maxPublishMs = options.maxPublishMs ?? 10_000;
  const baseBackoff = options.failureBackoffMs ?? 30_000;
  const trailingEnabled = options.trailingRefresh ?? true;
  const maxTracked = options.maxTrackedMessages ?? 1_000;
  const publishes = publishesCounter(options.registry);
  const states = new Map<string, MessageState>();
  const backoff = new Map<string, { until: number; ms: number }>();

  function stateFor(ref: { channel: string; ts: string }): MessageState {
    const key = `${ref.channel}/${ref.ts}`;
    let state = states.get(key);
    if (state) states.delete(key);
    else
      state = {
        lastRefreshAt: Number.NEGATIVE_INFINITY,
        lastPhase: undefined,
        summaryHash: undefined,
        pageHashes: [],
        pageTs: [],
        chain: Promise.resolve(),
      };
    states.set(key, state);
    if (states.size > maxTracked) {
      const [oldestKey, oldest] = states.entries().next().value as [string, MessageState];
      if (oldest.trailing) oldest.trailing.timer.cancel();
      states.delete(oldestKey);
    }
    return state;
  }

  function serialized<T>(state: MessageState, work: () => Promise<T>): Promise<T> {
    const run = state.chain.then(work, work);
    state.chain = run.catch(() => undefined);
    return run;
  }

  function backingOff(channel: string): boolean {
    const b = backoff.get(channel);
    return b !== undefined && now() < b.until;
  }
  function failed(channel: string): void {
    const ms = Math.min(MAX_BACKOFF_MS, (backoff.get(channel)?.ms ?? baseBackoff / 2) * 2);
    backoff.set(channel, { until: now() + ms, ms });
  }

  /** The page ts list: the stored ref's, completed by what this process posted since. */
  function knownPageTs(ref: SlackMessageRef, state: MessageState): string[] {
    const stored = ref.pageTs ?? [];
    const length = Math.max(stored.length, state.pageTs.length);
    return Array.from({ length }, (_, i) => stored[i] || state.pageTs[i] || "");
  }

  function withPages(ref: { channel: string; ts: string }, pageTs: string[]): SlackMessageRef {
    const trimmed = [...pageTs];
    while (trimmed.length > 0 && trimmed[trimmed.length - 1] === "") trimmed.pop();
    return trimmed.some((t) => t !== "")
      ? { channel: ref.channel, ts: ref.ts, pageTs: trimmed }
      : { channel: ref.channel, ts: ref.ts };
  }

  /**
   * Brings the summary (unless `summaryDone`) and the pages up to date within `maxCallsNow`
   * calls and the time budget; stops at the first failed call.
   */
  async function send(
    ref: { channel: string; ts: string; pageTs?: string[] },
    rendered: Rendered,
    state: MessageState,
    maxCallsNow: number,
    started: number,
  ): Promise<SendOutcome> {
    const phase = rendered.phase;
    const pageTs = knownPageTs(ref, state);
    let calls = 0;
    let incomplete = false;
    const canCall = (): boolean => {
      if (calls < maxCallsNow && now() - started < maxPublishMs) return true;
      incomplete = true;
      return false;
    };
    const finish = (result: PublishResult): SendOutcome => {
      state.pageTs = pageTs;
      if (result !== "failed") state.lastRollout = rendered.rollout;
      if (calls > 0) state.lastRefreshAt = now();
      return { ref: withPages(ref, pageTs), result, incomplete };
    };

    const summary = rendered.summary();
    const summaryHash = hashOf(summary);
    if (summaryHash !== state.summaryHash) {
      if (!canCall()) return finish("unchanged");
      calls++;
      if (!(await client.update(ref.channel, ref.ts, summary.text, summary.blocks))) {
        failed(ref.channel);
        return finish("failed");
      }
      state.summaryHash = summaryHash;
    }
    backoff.delete(ref.channel);
    state.lastPhase = phase;

    const pages = rendered.pages();
    const gone = rendered.gone();
    const work: Array<{ index: number; message: SlackText }> = [];
    for (const page of pages) {
      const ts = pageTs[page.index];
      if (!ts && !page.shown) continue;
      if (ts && state.pageHashes[page.index] === hashOf(page.message)) continue;
      work.push({ index: page.index, message: page.message });
    }
    // Pages left over after a scale-down say so, instead of listing pods that are gone.
    for (let i = pages.length; i < pageTs.length; i++) {
      if (pageTs[i] && state.pageHashes[i] !== hashOf(gone)) work.push({ index: i, message: gone });
    }
    for (const { index, message } of work) {
      if (!canCall()) break;
      calls++;
      const ts = pageTs[index];
      const sent = ts
        ? await client.update(ref.channel, ts, message.text, message.blocks)
        : await client.reply(ref.channel, ref.ts, message.text, message.blocks);
      if (!sent) {
        failed(ref.channel);
        return finish("failed");
      }
      while (pageTs.length < index) pageTs.push("");
      pageTs[index] = sent.ts;
      state.pageHashes[index] = hashOf(message);
    }
    return finish(calls > 0 ? "updated" : "unchanged");
  }

  function scheduleTrailing(state: MessageState, rendered: Rendered, ref: SlackMessageRef): void {
    if (!trailingEnabled) return;
    if (state.trailing) {
      state.trailing.rendered = rendered;
      state.trailing.ref = ref;
      return;
    }
    const delay = Math.max(0, state.lastRefreshAt + minInterval - now());
    const timer = clock.setTimer(() => {
      const pending = state.trailing;
      state.trailing = undefined;
      if (!pending || backingOff(pending.ref.channel)) return;
      void serialized(state, async () => {
        const outcome = await send(pending.ref, pending.rendered, state, maxCalls, now());
        publishes.inc({ result: outcome.result === "updated" ? "trailing" : outcome.result });
        if (outcome.incomplete) scheduleTrailing(state, pending.rendered, outcome.ref);
      }).catch((err: unknown) => log.error({ err }, "trailing slack refresh failed"));
    }, delay);
    state.trailing = { timer, rendered, ref };
  }

  async function publish(
    rollout: StatefulsetRollout,
    known: SlackMessageRef | undefined,
  ): Promise<[SlackMessageRef | undefined, PublishResult]> {
    const started = now();
    const channel = rollout.spec.channel;
    if (!channel) return [known, "no_channel"];
    const { action, existing, run } = planMessage(rollout, known);
    if (action === "skip") return [known, "level_skip"];
    const [ref, result] = await postOrUpdate(renderRollout(rollout), existing, action, channel, started, false);
    // A group's message is not this rollout's to mark (the rollout has left the group).
    if (action === "post" && result !== "failed" && known && known.rollout !== run && !groupOfRunKey(known.rollout))
      await markSuperseded(known, run);
    return [ref ? { ...ref, rollout: run } : ref, result];
  }

  async function publishGroup(
    owner: StatefulsetRollout,
    membersInOrder: readonly StatefulsetRollout[],
    known: SlackMessageRef | undefined,
  ): Promise<[SlackMessageRef | undefined, PublishResult]> {
    const started = now();
    const channel = owner.spec.channel;
    const group = groupNameOf(owner);
    if (!channel || !group) return [known, "no_channel"];
    const plan = planGroupMessage(group, owner, membersInOrder, known);
    if (plan.action === "skip") return [known, "level_skip"];
    const namespace = owner.metadata.namespace ?? "";
    const rendered: Rendered = {
      phase: plan.phase,
      summary: () => groupSummary(group, namespace, membersInOrder, plan.phase),
      pages: () => [],
      gone: () => ({ text: "", blocks: [] }),
    };
    const [ref, result] = await postOrUpdate(rendered, plan.existing, plan.action, channel, started, plan.ends);
    // Stamped with the plan's run only once it was sent: an end not sent leaves the run open.
    const sent = result === "posted" || result === "updated" || result === "unchanged";
    if (!ref) return [known, result];
    return [
      sent ? { ...ref, rollout: plan.run } : { ...ref, ...(known?.rollout ? { rollout: known.rollout } : {}) },
      result,
    ];
  }

  /**
   * A newer rollout posted its own message: the previous one, if it was left mid-way, gets one
   * last update saying so (from the last state sent; after a restart that state is not known and
   * the message stays as it was).
   */
  async function markSuperseded(previous: SlackMessageRef, nextRun: string): Promise<void> {
    const state = states.get(`${previous.channel}/${previous.ts}`);
    const last = state?.lastRollout;
    if (!state || !last || isTerminal(last.status?.phase) || backingOff(previous.channel)) return;
    if (state.trailing) {
      state.trailing.timer.cancel();
      state.trailing = undefined;
    }
    await serialized(state, async () => {
      const summary = rolloutSummary(last, nextRun);
      if (await client.update(previous.channel, previous.ts, summary.text, summary.blocks)) {
        state.summaryHash = hashOf(summary);
        state.lastRollout = undefined;
      } else failed(previous.channel);
    });
  }

  /** `force`: send now, past the throttle, with no call cap (the last update of a group run). */
  async function postOrUpdate(
    rendered: Rendered,
    existing: SlackMessageRef | undefined,
    action: "post" | "update",
    channel: string,
    started: number,
    force: boolean,
  ): Promise<[SlackMessageRef | undefined, PublishResult]> {
    if (backingOff(existing?.channel ?? channel)) return [existing, "backing_off"];
    const phase = rendered.phase;
    const terminal = isTerminal(phase);

    if (action === "post" || !existing) {
      const summary = rendered.summary();
      const posted = await client.post(channel, summary.text, summary.blocks);
      if (!posted) {
        failed(channel);
        return [undefined, "failed"];
      }
      backoff.delete(channel);
      const state = stateFor(posted);
      Object.assign(state, { lastRefreshAt: now(), lastPhase: phase, summaryHash: hashOf(summary) });
      const outcome = await serialized(state, () =>
        send(posted, rendered, state, terminal ? Number.POSITIVE_INFINITY : maxCalls - 1, started),
      );
      if (outcome.incomplete) scheduleTrailing(state, rendered, outcome.ref);
      return [outcome.ref, outcome.result === "failed" ? "failed" : "posted"];
    }

    const state = stateFor(existing);
    return serialized(state, async (): Promise<[SlackMessageRef, PublishResult]> => {
      const phaseChanged = phase !== state.lastPhase;
      if (!force && !phaseChanged && now() - state.lastRefreshAt < minInterval) {
        scheduleTrailing(state, rendered, existing);
        return [withPages(existing, knownPageTs(existing, state)), "throttled"];
      }
      if (state.trailing) {
        state.trailing.timer.cancel();
        state.trailing = undefined;
      }
      const outcome = await send(
        existing,
        rendered,
        state,
        force || (terminal && phaseChanged) ? Number.POSITIVE_INFINITY : maxCalls,
        started,
      );
      if (outcome.incomplete) scheduleTrailing(state, rendered, outcome.ref);
      return [outcome.ref, outcome.result];
    });
  }

  return {
    async publish(rollout, existing) {
      const key = `${rollout.metadata.namespace ?? ""}/${rollout.metadata.name}`;
      try {
        const [ref, result] = await publish(rollout, existing);
        publishes.inc({ result });
        if (result === "failed")
          log.warn(
            { rollout: key, channel: rollout.spec.channel },
            "slack rollout notification failed; will retry later",
          );
        else log.debug({ rollout: key, result }, "slack rollout notification");
        return ref;
      } catch (err) {
        // The client does not throw; this guards the renderers against an odd status.
        publishes.inc({ result: "failed" });
        log.error({ rollout: key, err }, "slack rollout notification failed");
        return existing;
      }
    },
    async publishGroup(owner, membersInOrder, existing) {
      const key = `${owner.metadata.namespace ?? ""}/group:${groupNameOf(owner) ?? ""}`;
      try {
        const [ref, result] = await publishGroup(owner, membersInOrder, existing);
        publishes.inc({ result });
        if (result === "failed")
          log.warn({ group: key, channel: owner.spec.channel }, "slack group notification failed; will retry later");
        else log.debug({ group: key, owner: owner.metadata.name, result }, "slack group notification");
        return ref;
      } catch (err) {
        publishes.inc({ result: "failed" });
        log.error({ group: key, err }, "slack group notification failed");
        return existing;
      }
    },
    close() {
      for (const state of states.values()) {
        if (state.trailing) state.trailing.timer.cancel();
        state.trailing = undefined;
      }
    },
  };
}
