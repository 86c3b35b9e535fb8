// THE Slack module's client (DESIGN.md §2): chat.postMessage / chat.update over @slack/web-api,
// with a configurable API base URL (tests and air-gapped installs point it at their own server).
// Rate limits (429 + Retry-After) are honoured with a bounded retry: at most `maxAttempts`
// calls, and a Retry-After longer than `maxRetryAfterMs` gives up rather than wait. Calls never
// throw: a failure is logged and counted and the result is undefined, so Slack can never fail
// a rollout or an admission. Callers that must not wait at all go through queue.ts.
import { ErrorCode, type Logger as SlackLogger, LogLevel, WebClient } from "@slack/web-api";
import type { Logger } from "pino";
import type { Counter, Registry } from "prom-client";
import { sharedCounter } from "../metrics.js";
import type { Clock } from "../../api/clock.js";
import { systemClock } from "../clock.js";

/** A Block Kit block (section, context, header, ...); builders live beside this file. */
export interface SlackBlock {
  type: string;
  block_id?: string;
  [field: string]: unknown;
}

/** A posted message: `channel` is the channel ID Slack answered with (chat.update needs it). */
export interface SlackMessage {
  channel: string;
  ts: string;
}

export interface SlackClient {
  /** chat.postMessage; `channel` may be a name ("#deploys") or an ID. */
  post(channel: string, text: string, blocks?: SlackBlock[]): Promise<SlackMessage | undefined>;
  /** chat.update of a message posted earlier; `channel` must be the ID post() returned. */
  update(channel: string, ts: string, text: string, blocks?: SlackBlock[]): Promise<SlackMessage | undefined>;
  /** chat.postMessage in the thread of `threadTs`. */
  reply(channel: string, threadTs: string, text: string, blocks?: SlackBlock[]): Promise<SlackMessage | undefined>;
}

export interface SlackClientOptions {
  token: string;
  /** Base URL of the Web API, default https://slack.com/api/. */
  apiUrl?: string;
  /** Calls per message including retries (default 3). */
  maxAttempts?: number;
  /** A Retry-After longer than this is not waited for; the message is dropped (default 30 s). */
  maxRetryAfterMs?: number;
  /** Wait before retrying a network or 5xx failure (default 1 s). */
  retryDelayMs?: number;
  /** Per-call HTTP timeout (default 10 s). */
  timeoutMs?: number;
  logger: Logger;
  registry?: Registry;
  clock?: Clock;
}

type Outcome = "ok" | "rate_limited" | "error" | "gave_up";

const REQUESTS_METRIC = "bulkhead_slack_requests_total";

function requestsCounter(registry: Registry | undefined): Counter<"method" | "outcome"> | undefined {
  if (!registry) return undefined;
  return sharedCounter(registry, {
    name: REQUESTS_METRIC,
    help: "Slack Web API calls by method and outcome (ok, rate_limited, error, gave_up).",
    labelNames: ["method", "outcome"],
  });
}

interface CallError {
  code?: string;
  retryAfter?: number;
  data?: { error?: string };
  statusCode?: number;
  message?: string;
}

export function createSlackClient(options: SlackClientOptions): SlackClient {
  const maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
  const retryDelayMs = options.retryDelayMs ?? 1_000;
  const clock = options.clock ?? systemClock;
  const log = options.logger.child({ component: "slack" });
  const counter = requestsCounter(options.registry);
  // The library's own retries would wait up to ~30 minutes; ours are bounded, so switch them off
  // and have 429s surface as errors carrying retryAfter.
  const web = new WebClient(options.token, {
    slackApiUrl: options.apiUrl ?? "https://slack.com/api/",
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: options.timeoutMs ?? 10_000,
    logger: libraryLogger(log),
  });
  const count = (method: string, outcome: Outcome): void => counter?.inc({ method, outcome });

  async function call(
    method: "chat.postMessage" | "chat.update",
    args: Record<string, unknown>,
  ): Promise<SlackMessage | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result =
          method === "chat.postMessage"
            ? await web.chat.postMessage(args as unknown as Parameters<typeof web.chat.postMessage>[0])
            : await web.chat.update(args as unknown as Parameters<typeof web.chat.update>[0]);
        count(method, "ok");
        if (typeof result.channel === "string" && typeof result.ts === "string")
          return { channel: result.channel, ts: result.ts };
        log.warn({ method, channel: args.channel }, "slack answered without channel and ts");
        return undefined;
      } catch (err) {
        const e = (err ?? {}) as CallError;
        const wait = retryWait(e);
        count(method, e.code === ErrorCode.RateLimitedError ? "rate_limited" : "error");
        if (wait === undefined || attempt >= maxAttempts || wait > maxRetryAfterMs) {
          count(method, "gave_up");
          log.warn(
            { method, channel: args.channel, attempt, error: describe(e), retryAfterMs: wait },
            "slack call failed; message dropped",
          );
          return undefined;
        }
        log.info({ method, channel: args.channel, attempt, retryAfterMs: wait }, "slack call failed; retrying");
        await clock.sleep(wait);
      }
    }
  }

  /** How long to wait before retrying, or undefined when retrying cannot help. */
  function retryWait(e: CallError): number | undefined {
    switch (e.code) {
      case ErrorCode.RateLimitedError:
        return Math.max(0, (e.retryAfter ?? 1) * 1000);
      case ErrorCode.RequestError:
        return retryDelayMs;
      case ErrorCode.HTTPError:
        return e.statusCode !== undefined && e.statusCode >= 500 ? retryDelayMs : undefined;
      default:
        // Platform errors (channel_not_found, invalid_auth, ...) will not change on retry.
        return undefined;
    }
  }

  const withBlocks = (blocks: SlackBlock[] | undefined): Record<string, unknown> =>
    blocks && blocks.length > 0 ? { blocks } : {};

  return {
    post: (channel, text, blocks) =>
      call("chat.postMessage", { channel, text, ...withBlocks(blocks), unfurl_links: false }),
    update: (channel, ts, text, blocks) => call("chat.update", { channel, ts, text, ...withBlocks(blocks) }),
    reply: (channel, threadTs, text, blocks) =>
      call("chat.postMessage", { channel, text, thread_ts: threadTs, ...withBlocks(blocks), unfurl_links: false }),
  };
}

/** The library's own log lines, at debug: this client logs each failure once, with context. */
function libraryLogger(log: Logger): SlackLogger {
  const line = (msg: unknown[]): string => msg.map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ");
  let level = LogLevel.DEBUG;
  return {
    debug: (...msg: unknown[]) => log.trace(line(msg)),
    info: (...msg: unknown[]) => log.debug(line(msg)),
    warn: (...msg: unknown[]) => log.debug(line(msg)),
    error: (...msg: unknown[]) => log.debug(line(msg)),
    setLevel: (l: LogLevel) => void (level = l),
    getLevel: () => level,
    setName: () => undefined,
  };
}

function describe(e: CallError): string {
  if (e.code === ErrorCode.PlatformError) return `slack error ${e.data?.error ?? "unknown"}`;
  if (e.code === ErrorCode.RateLimitedError) return `rate limited (Retry-After ${e.retryAfter ?? "?"} s)`;
  if (e.code === ErrorCode.HTTPError) return `HTTP ${e.statusCode ?? "?"}`;
  return e.message ?? String(e);
}
