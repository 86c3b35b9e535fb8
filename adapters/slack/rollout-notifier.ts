// Slack rollout notifications (DESIGN.md §2), the RolloutNotifier the reconciler calls each pass.
// One summary message per rollout, posted once and then updated in place (chat.update); the pod
// list in thread replies of ≤ 50 pods (api/slack-rollout-blocks.ts), each page posted once and
// then updated in place, its ts kept in SlackMessageRef.pageTs[page] ("" = not posted yet), so a
// restarted reconciler edits the same messages.
//
// Staying inside Slack's limits: a message is only sent when its rendered content changed; one
// rollout's messages are refreshed at most every `minRefreshIntervalMs` (default 15 s) and with at
// most `maxCallsPerRefresh` calls (default 6) — pages left over go out at the next refresh — so a
// rollout costs at most 4 × 6 = 24 calls a minute however fast its waves go. A phase change is
// sent at once, and the first refresh in a terminal phase sends everything still pending. A
// publish that is throttled is not lost: a trailing refresh runs when the interval is over, with
// the latest rollout it was given (it edits messages but posts no new page, whose ts the
// reconciler could not store; new pages go out with the next publish).
// 429 + Retry-After is honoured by the client (bounded). After a failed call, that channel is
// left alone for `failureBackoffMs` (doubling up to 5 minutes), so an outage costs one slow call
// per channel per back-off, never a stalled rollout. publish() never throws.
import { createHash } from "node:crypto";
import { pino, type Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import type { RolloutNotifier, SlackMessageRef } from "../../api/integrations.js";
import { isTerminal, type StatefulsetRollout } from "../../api/rollout.js";
import { notifyAction, podPages, replicasOf, rolloutSummary, type PodPage, type SlackText } from "../../api/slack-rollout-blocks.js";
import type { SlackClient } from "./client.js";

export interface RolloutNotifierOptions {
  client: SlackClient;
  logger?: Logger;
  registry?: Registry;
  now?: () => number;
  minRefreshIntervalMs?: number;
  maxCallsPerRefresh?: number;
  failureBackoffMs?: number;
  /** Run a trailing refresh after a throttled publish (default true). */
  trailingRefresh?: boolean;
  /** Rollout messages whose last rendered content is remembered (least recently used dropped). */
  maxTrackedMessages?: number;
}

export interface ClosableRolloutNotifier extends RolloutNotifier {
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
  const existing = registry?.getSingleMetric(PUBLISHES_METRIC);
  if (existing) return existing as Counter<"result">;
  return new Counter({
    name: PUBLISHES_METRIC,
    help: "Rollout notification publishes by result (posted, updated, unchanged, throttled, trailing, level_skip, no_channel, backing_off, failed).",
    labelNames: ["result"],
    registers: registry ? [registry] : [],
  });
}

/** What was last sent for one summary message (process memory; lost on restart, which costs one refresh). */
interface MessageState {
  lastRefreshAt: number;
  lastPhase: string | undefined;
  summaryHash: string | undefined;
  pageHashes: Array<string | undefined>;
  /** Work on one message's Slack messages runs one at a time. */
  chain: Promise<unknown>;
  trailing?: { timer: NodeJS.Timeout; rollout: StatefulsetRollout; ref: SlackMessageRef };
}

const MAX_BACKOFF_MS = 5 * 60_000;

function hashOf(message: SlackText): string {
  return createHash("sha256").update(JSON.stringify(message)).digest("base64url");
}

export function slackRolloutNotifier(options: RolloutNotifierOptions): ClosableRolloutNotifier {
  const { client } = options;
  const now = options.now ?? Date.now;
  const log = (options.logger ?? pino({ enabled: false })).child({ component: "slack-rollout" });
  const minInterval = options.minRefreshIntervalMs ?? 15_000;
  const maxCalls = Math.max(1, options.maxCallsPerRefresh ?? 6);
  const baseBackoff = options.failureBackoffMs ?? 30_000;
  const trailingEnabled = options.trailingRefresh ?? true;
  const maxTracked = options.maxTrackedMessages ?? 1_000;
  const publishes = publishesCounter(options.registry);
  const states = new Map<string, MessageState>();
  const backoff = new Map<string, { until: number; ms: number }>();

  function stateFor(ref: SlackMessageRef): MessageState {
    const key = `${ref.channel}/${ref.ts}`;
    let state = states.get(key);
    if (state) states.delete(key);
    else state = { lastRefreshAt: Number.NEGATIVE_INFINITY, lastPhase: undefined, summaryHash: undefined, pageHashes: [], chain: Promise.resolve() };
    states.set(key, state);
    if (states.size > maxTracked) {
      const [oldestKey, oldest] = states.entries().next().value as [string, MessageState];
      if (oldest.trailing) clearTimeout(oldest.trailing.timer);
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

  /**
   * Posts (when allowed) or updates pages within `budget` calls; stops at the first failure.
   * Returns the page ts list and the number of calls made.
   */
  async function syncPages(
    ref: SlackMessageRef,
    rollout: StatefulsetRollout,
    state: MessageState,
    budget: number,
    allowPosts: boolean,
  ): Promise<{ pageTs: string[]; calls: number }> {
    const pages: PodPage[] = podPages(rollout);
    const pageTs = [...(ref.pageTs ?? [])];
    let calls = 0;
    const send = async (i: number, message: SlackText): Promise<boolean> => {
      calls++;
      const ts = pageTs[i];
      const sent = ts
        ? await client.update(ref.channel, ts, message.text, message.blocks)
        : await client.reply(ref.channel, ref.ts, message.text, message.blocks);
      if (!sent) {
        failed(ref.channel);
        return false;
      }
      while (pageTs.length < i) pageTs.push("");
      pageTs[i] = sent.ts;
      state.pageHashes[i] = hashOf(message);
      return true;
    };
    for (const page of pages) {
      if (calls >= budget) return { pageTs, calls };
      const ts = pageTs[page.index];
      if (!ts && (!page.shown || !allowPosts)) continue;
      if (ts && state.pageHashes[page.index] === hashOf(page.message)) continue;
      if (!(await send(page.index, page.message))) return { pageTs, calls };
    }
    // Pages left over after a scale-down say so, instead of listing pods that are gone.
    const gone: SlackText = { text: `No pods on this page: the StatefulSet has ${replicasOf(rollout)} replicas.`, blocks: [] };
    for (let i = pages.length; i < pageTs.length && calls < budget; i++) {
      if (!pageTs[i] || state.pageHashes[i] === hashOf(gone)) continue;
      if (!(await send(i, gone))) break;
    }
    return { pageTs, calls };
  }

  function withPages(ref: { channel: string; ts: string }, pageTs: string[]): SlackMessageRef {
    while (pageTs.length > 0 && pageTs[pageTs.length - 1] === "") pageTs.pop();
    return pageTs.some((t) => t !== "") ? { ...ref, pageTs } : { channel: ref.channel, ts: ref.ts };
  }

  /** Brings an existing message (and its pages) up to date within the call budget. */
  async function refresh(
    existing: SlackMessageRef,
    rollout: StatefulsetRollout,
    state: MessageState,
    allowPosts: boolean,
  ): Promise<[SlackMessageRef, PublishResult]> {
    const phase = rollout.status?.phase;
    const phaseChanged = phase !== state.lastPhase;
    let budget = isTerminal(phase) && phaseChanged ? Number.POSITIVE_INFINITY : maxCalls;
    const summary = rolloutSummary(rollout);
    const summaryHash = hashOf(summary);
    let calls = 0;
    if (summaryHash !== state.summaryHash) {
      budget--;
      calls++;
      const updated = await client.update(existing.channel, existing.ts, summary.text, summary.blocks);
      if (!updated) {
        failed(existing.channel);
        return [existing, "failed"];
      }
      state.summaryHash = summaryHash;
    }
    backoff.delete(existing.channel);
    state.lastPhase = phase;
    const pages = await syncPages(existing, rollout, state, budget, allowPosts);
    calls += pages.calls;
    if (calls > 0) state.lastRefreshAt = now();
    return [withPages(existing, pages.pageTs), calls > 0 ? "updated" : "unchanged"];
  }

  function scheduleTrailing(state: MessageState, rollout: StatefulsetRollout, ref: SlackMessageRef): void {
    if (!trailingEnabled) return;
    if (state.trailing) {
      state.trailing.rollout = rollout;
      state.trailing.ref = ref;
      return;
    }
    const delay = Math.max(0, state.lastRefreshAt + minInterval - now());
    const timer = setTimeout(() => {
      const pending = state.trailing;
      state.trailing = undefined;
      if (!pending || backingOff(pending.ref.channel)) return;
      void serialized(state, () => refresh(pending.ref, pending.rollout, state, false))
        .then(([, result]) => publishes.inc({ result: result === "updated" ? "trailing" : result }))
        .catch((err: unknown) => log.error({ err }, "trailing slack refresh failed"));
    }, delay);
    timer.unref();
    state.trailing = { timer, rollout, ref };
  }

  async function publish(rollout: StatefulsetRollout, existing: SlackMessageRef | undefined): Promise<[SlackMessageRef | undefined, PublishResult]> {
    const channel = rollout.spec.channel;
    if (!channel) return [existing, "no_channel"];
    const phase = rollout.status?.phase;
    const action = notifyAction(rollout.spec.notifyLevel, phase, existing !== undefined);
    if (action === "skip") return [existing, "level_skip"];
    if (backingOff(existing?.channel ?? channel)) return [existing, "backing_off"];

    if (action === "post" || !existing) {
      const summary = rolloutSummary(rollout);
      const posted = await client.post(channel, summary.text, summary.blocks);
      if (!posted) {
        failed(channel);
        return [undefined, "failed"];
      }
      backoff.delete(channel);
      const ref = { channel: posted.channel, ts: posted.ts };
      const state = stateFor(ref);
      Object.assign(state, { lastRefreshAt: now(), lastPhase: phase, summaryHash: hashOf(summary) });
      const budget = isTerminal(phase) ? Number.POSITIVE_INFINITY : maxCalls - 1;
      const pages = await serialized(state, () => syncPages(ref, rollout, state, budget, true));
      return [withPages(ref, pages.pageTs), "posted"];
    }

    const state = stateFor(existing);
    return serialized(state, async () => {
      const phaseChanged = phase !== state.lastPhase;
      if (!phaseChanged && now() - state.lastRefreshAt < minInterval) {
        scheduleTrailing(state, rollout, existing);
        return [existing, "throttled"] as [SlackMessageRef, PublishResult];
      }
      if (state.trailing) {
        clearTimeout(state.trailing.timer);
        state.trailing = undefined;
      }
      return refresh(existing, rollout, state, true);
    });
  }

  return {
    async publish(rollout, existing) {
      const key = `${rollout.metadata.namespace ?? ""}/${rollout.metadata.name}`;
      try {
        const [ref, result] = await publish(rollout, existing);
        publishes.inc({ result });
        if (result === "failed") log.warn({ rollout: key, channel: rollout.spec.channel }, "slack rollout notification failed; will retry later");
        else log.debug({ rollout: key, result }, "slack rollout notification");
        return ref;
      } catch (err) {
        // The client does not throw; this guards the renderers against an odd status.
        publishes.inc({ result: "failed" });
        log.error({ rollout: key, err }, "slack rollout notification failed");
        return existing;
      }
    },
    close() {
      for (const state of states.values()) {
        if (state.trailing) clearTimeout(state.trailing.timer);
        state.trailing = undefined;
      }
    },
  };
}
