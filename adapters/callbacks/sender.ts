// Sends one attempt of the release-API callback (spec.bapi.bapiUrl): a POST of the JSON payload
// with its own timeout (AbortController). Retries, their timing and their age bound belong to the
// reconciler's callback queue (reconciler/callback-dispatcher.ts), so no worker waits on a
// backoff. Redirects are never followed. The response body is discarded unread and no header of
// the response is reported except Retry-After: the result names only a class of failure, so a
// rollout's author cannot use the reconciler to read what an address answers.
//
// Headers: Content-Type: application/json; Idempotency-Key (api/callback-payload.ts);
// X-Bulkhead-Namespace / X-Bulkhead-Rollout; X-Bulkhead-Delivery-Attempt: <n>;
// X-Bulkhead-Timestamp and, with a secret, X-Bulkhead-Signature (signature.ts).
import { Counter, type Registry } from "prom-client";
import { callbackIdempotencyKey } from "../../api/callback-payload.js";
import type { Clock } from "../../api/clock.js";
import type { CallbackPayload, CallbackResult, CallbackSender } from "../../api/integrations.js";
import { retryAfterMs } from "./backoff.js";
import {
  ATTEMPT_HEADER,
  IDEMPOTENCY_HEADER,
  NAMESPACE_HEADER,
  ROLLOUT_HEADER,
  SIGNATURE_HEADER,
  signCallback,
  TIMESTAMP_HEADER,
} from "./signature.js";
import { systemClock } from "../clock.js";

export interface CallbackSenderOptions {
  /** HMAC secret (BULKHEAD_CALLBACK_SECRET); no signature header without it. */
  secret?: string;
  /** Timeout of one attempt, until the response headers. */
  attemptTimeoutMs: number;
}

export const DEFAULT_CALLBACK_OPTIONS: CallbackSenderOptions = { attemptTimeoutMs: 5000 };

export interface CallbackSenderDeps {
  fetch?: typeof fetch;
  clock?: Clock;
  /** Where bulkhead_callback_attempts_total is registered; none when omitted. */
  registry?: Registry;
}

const USER_AGENT = "bulkhead-callback/1";

/** A network error's cause code (ECONNREFUSED, ENOTFOUND, ...) when it is just a code. */
function causeCode(err: unknown): string | undefined {
  const code = (err as { cause?: { code?: unknown } }).cause?.code;
  return typeof code === "string" && /^[A-Z0-9_]{1,40}$/.test(code) ? code : undefined;
}

export function httpCallbackSender(
  options: Partial<CallbackSenderOptions> = {},
  deps: CallbackSenderDeps = {},
): CallbackSender {
  const opts = { ...DEFAULT_CALLBACK_OPTIONS, ...options };
  const doFetch = deps.fetch ?? fetch;
  const clock = deps.clock ?? systemClock;
  const attempts = new Counter({
    name: "bulkhead_callback_attempts_total",
    help: "Release-API callback attempts, by outcome (success, http_4xx, http_5xx, timeout, network, redirect, bad_url).",
    labelNames: ["outcome"] as const,
    registers: deps.registry ? [deps.registry] : [],
  });

  async function post(
    bapiUrl: string,
    payload: CallbackPayload,
    n: number,
  ): Promise<CallbackResult & { outcome: string }> {
    let url: URL;
    try {
      url = new URL(bapiUrl);
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("scheme");
    } catch {
      return { ok: false, retryable: false, outcome: "bad_url", error: "spec.bapi.bapiUrl is not an http(s) URL" };
    }
    const body = JSON.stringify(payload);
    const idempotencyKey = callbackIdempotencyKey(payload);
    const timestamp = Math.floor(clock.now() / 1000);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": USER_AGENT,
      [IDEMPOTENCY_HEADER]: idempotencyKey,
      [NAMESPACE_HEADER]: payload.namespace,
      [ROLLOUT_HEADER]: payload.name,
      [ATTEMPT_HEADER]: String(n),
      [TIMESTAMP_HEADER]: String(timestamp),
    };
    if (opts.secret)
      headers[SIGNATURE_HEADER] = signCallback(opts.secret, {
        timestamp,
        namespace: payload.namespace,
        name: payload.name,
        idempotencyKey,
        body,
      });
    const controller = new AbortController();
    const timer = clock.setTimer(() => controller.abort(), opts.attemptTimeoutMs);
    try {
      const res = await doFetch(url, { method: "POST", headers, body, signal: controller.signal, redirect: "manual" });
      // The body is never read: discard it so the connection is released.
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, outcome: "success" };
      if (res.status >= 300 && res.status < 400) {
        return {
          ok: false,
          retryable: false,
          outcome: "redirect",
          error: `redirect (HTTP ${res.status}) not followed; set spec.bapi.bapiUrl to the final URL`,
        };
      }
      const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
      const after = retryAfterMs(res.headers.get("retry-after"), clock.now());
      return {
        ok: false,
        retryable,
        outcome: res.status >= 500 ? "http_5xx" : "http_4xx",
        error: `HTTP ${res.status}`,
        ...(after !== undefined ? { retryAfterMs: after } : {}),
      };
    } catch (err) {
      if (controller.signal.aborted)
        return {
          ok: false,
          retryable: true,
          outcome: "timeout",
          error: `timeout (no response within ${opts.attemptTimeoutMs} ms)`,
        };
      const code = causeCode(err);
      return {
        ok: false,
        retryable: true,
        outcome: "network",
        error: code ? `network error (${code})` : "network error",
      };
    } finally {
      timer.cancel();
    }
  }

  return {
    async attempt(bapiUrl, payload, n) {
      const { outcome, ...result } = await post(bapiUrl, payload, n);
      attempts.inc({ outcome });
      return result;
    },
  };
}
