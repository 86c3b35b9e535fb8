// Sends the release-API callback (spec.bapi.bapiUrl): one POST of the JSON payload, retried with
// exponential backoff and jitter on network errors, timeouts, 5xx, 408 and 429 (Retry-After
// honoured up to maxDelayMs), never on other 4xx or a redirect. Every attempt has its own timeout
// (AbortController) and the whole send has a time budget, so a reconcile pass is never held for
// long. Honest result: ok only on a 2xx; the reconciler records status.lastCallbackStageId only
// then, so a crash between send and record re-sends with the same Idempotency-Key.
//
// Headers: Content-Type: application/json; Idempotency-Key (api/callback-payload.ts);
// X-Bulkhead-Delivery-Attempt: <n>; X-Bulkhead-Timestamp and, with a secret,
// X-Bulkhead-Signature: sha256=<hex> (signature.ts says how to verify).
import { pino, type Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import { callbackIdempotencyKey } from "../../api/callback-payload.js";
import type { CallbackPayload, CallbackResult, CallbackSender } from "../../api/integrations.js";
import { backoffDelayMs, retryAfterMs } from "./backoff.js";
import { ATTEMPT_HEADER, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signCallback, TIMESTAMP_HEADER } from "./signature.js";

export interface CallbackSenderOptions {
  /** HMAC secret (BULKHEAD_CALLBACK_SECRET); no signature header without it. */
  secret?: string;
  /** Timeout of one attempt, response body included. */
  attemptTimeoutMs: number;
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** No attempt is started that could end after this much time since send() began. */
  totalBudgetMs: number;
}

export const DEFAULT_CALLBACK_OPTIONS: CallbackSenderOptions = {
  attemptTimeoutMs: 5000,
  maxAttempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 8000,
  totalBudgetMs: 30_000,
};

export interface CallbackSenderDeps {
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
  logger?: Logger;
  /** Where bulkhead_callback_attempts_total is registered; none when omitted. */
  registry?: Registry;
}

type Attempt =
  | { kind: "ok"; status: number }
  | { kind: "fail"; retryable: boolean; error: string; retryAfterMs?: number; label: string };

const USER_AGENT = "bulkhead-callback/1";

export function httpCallbackSender(options: Partial<CallbackSenderOptions> = {}, deps: CallbackSenderDeps = {}): CallbackSender {
  const opts = { ...DEFAULT_CALLBACK_OPTIONS, ...options };
  const doFetch = deps.fetch ?? fetch;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = deps.random ?? Math.random;
  const now = deps.now ?? Date.now;
  const logger = deps.logger ?? pino({ enabled: false });
  const attempts = new Counter({
    name: "bulkhead_callback_attempts_total",
    help: "Release-API callback attempts, by outcome (success, http_4xx, http_5xx, timeout, network, redirect).",
    labelNames: ["outcome"] as const,
    registers: deps.registry ? [deps.registry] : [],
  });

  async function attempt(url: URL, body: string, key: string, n: number): Promise<Attempt> {
    const timestamp = Math.floor(now() / 1000);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": USER_AGENT,
      [IDEMPOTENCY_HEADER]: key,
      [ATTEMPT_HEADER]: String(n),
      [TIMESTAMP_HEADER]: String(timestamp),
    };
    if (opts.secret) headers[SIGNATURE_HEADER] = signCallback(opts.secret, timestamp, body);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), opts.attemptTimeoutMs);
    try {
      const res = await doFetch(url, { method: "POST", headers, body, signal: controller.signal, redirect: "manual" });
      // Read (and bound) the body under the same timeout, so the connection is released.
      const text = (await res.text()).slice(0, 300);
      const detail = text ? `: ${text}` : "";
      if (res.status >= 200 && res.status < 300) return { kind: "ok", status: res.status };
      if (res.status >= 300 && res.status < 400) {
        const to = res.headers.get("location");
        return { kind: "fail", retryable: false, label: "redirect", error: `HTTP ${res.status} redirect${to ? ` to ${to}` : ""}; set bapiUrl to the final URL` };
      }
      const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
      const after = retryAfterMs(res.headers.get("retry-after"), now());
      return {
        kind: "fail",
        retryable,
        label: res.status >= 500 ? "http_5xx" : "http_4xx",
        error: `HTTP ${res.status}${detail}`,
        ...(after !== undefined ? { retryAfterMs: after } : {}),
      };
    } catch (err) {
      if (controller.signal.aborted) {
        return { kind: "fail", retryable: true, label: "timeout", error: `no response within ${opts.attemptTimeoutMs} ms` };
      }
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const cause = e.cause?.code ?? e.cause?.message;
      return { kind: "fail", retryable: true, label: "network", error: `${e.message}${cause ? ` (${cause})` : ""}` };
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async send(bapiUrl: string, payload: CallbackPayload): Promise<CallbackResult> {
      let url: URL;
      try {
        url = new URL(bapiUrl);
        if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`unsupported scheme ${url.protocol}`);
      } catch (err) {
        return { ok: false, retryable: false, error: `bad bapiUrl "${bapiUrl}": ${(err as Error).message}` };
      }
      const body = JSON.stringify(payload);
      const key = callbackIdempotencyKey(payload);
      const log = logger.child({ stageId: payload.stageId, rollout: `${payload.namespace}/${payload.name}`, url: url.origin });
      const started = now();
      let last: Attempt | undefined;
      for (let n = 1; n <= opts.maxAttempts; n++) {
        if (n > 1 && last?.kind === "fail") {
          const backoff = backoffDelayMs(n - 1, opts.baseDelayMs, opts.maxDelayMs, random);
          const delay = Math.min(opts.maxDelayMs, Math.max(backoff, last.retryAfterMs ?? 0));
          if (now() - started + delay + opts.attemptTimeoutMs > opts.totalBudgetMs) {
            log.warn({ attempts: n - 1 }, "callback retry budget exhausted");
            break;
          }
          await sleep(delay);
        }
        last = await attempt(url, body, key, n);
        if (last.kind === "ok") {
          attempts.inc({ outcome: "success" });
          log.info({ attempt: n, status: last.status }, "callback accepted");
          return { ok: true, status: last.status };
        }
        attempts.inc({ outcome: last.label });
        log.warn({ attempt: n, err: last.error, retryable: last.retryable }, "callback attempt failed");
        if (!last.retryable) break;
      }
      const failure = last?.kind === "fail" ? last : { retryable: true, error: "no attempt made" };
      return { ok: false, retryable: failure.retryable, error: `callback to ${url.origin}${url.pathname} failed: ${failure.error}` };
    },
  };
}
