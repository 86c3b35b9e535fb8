// HMAC signature of a callback, so the release API can tell a Bulkhead callback from a forgery
// and reject a replayed one. Headers on every callback:
//   X-Bulkhead-Timestamp: <unix seconds when this attempt was sent>
//   X-Bulkhead-Signature: sha256=<lowercase hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
//   (the signature only when BULKHEAD_CALLBACK_SECRET is set)
// A receiver recomputes the HMAC over the raw bytes of the body, compares in constant time, and
// rejects timestamps outside its tolerance (verifyCallbackSignature below does all three).
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "x-bulkhead-signature";
export const TIMESTAMP_HEADER = "x-bulkhead-timestamp";
export const IDEMPOTENCY_HEADER = "idempotency-key";
export const ATTEMPT_HEADER = "x-bulkhead-delivery-attempt";

export function signCallback(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

export interface VerifyInput {
  secret: string;
  body: string;
  signature: string | undefined;
  timestamp: string | undefined;
  /** Unix seconds; defaults to now. */
  nowSeconds?: number;
  /** Largest accepted clock difference; default 300 s. */
  toleranceSeconds?: number;
}

/** For receivers (and tests): true when the signature matches and the timestamp is fresh. */
export function verifyCallbackSignature(input: VerifyInput): boolean {
  const { secret, body, signature, timestamp } = input;
  if (!signature || !timestamp || !/^\d{1,12}$/.test(timestamp)) return false;
  const ts = Number(timestamp);
  const now = input.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - ts) > (input.toleranceSeconds ?? 300)) return false;
  const want = Buffer.from(signCallback(secret, ts, body));
  const got = Buffer.from(signature);
  return want.length === got.length && timingSafeEqual(want, got);
}
