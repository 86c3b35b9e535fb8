// HMAC signature of a callback, so the release API can tell a Bulkhead callback from a forgery,
// tell which rollout sent it, and reject a replayed one. Headers on every callback:
//   X-Bulkhead-Timestamp: <unix seconds when this attempt was sent>
//   X-Bulkhead-Namespace / X-Bulkhead-Rollout: the rollout's namespace and name
//   Idempotency-Key: <stageId>/<rolloutIdentity or "->/<phase>, each part percent-encoded
//   X-Bulkhead-Signature: sha256=<lowercase hex HMAC-SHA256(secret, signed string)>
//   (the signature only when BULKHEAD_CALLBACK_SECRET is set)
// The signed string is five header values and the raw body, joined by "\n" (LF):
//   v1\n<timestamp>\n<namespace>\n<name>\n<idempotency key>\n<raw body>
// Namespace and name cannot contain "\n", and the key is percent-encoded, so no two callbacks
// share a signed string. The key is install-wide, so a receiver must check that the namespace
// (signed) is one allowed to report on the stage: otherwise one team could obtain a validly
// signed result for another team's stage id. docs/callbacks.md is the receiver's guide;
// verifyCallbackSignature below does the HMAC, the constant-time compare and the freshness check.
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "x-bulkhead-signature";
export const TIMESTAMP_HEADER = "x-bulkhead-timestamp";
export const NAMESPACE_HEADER = "x-bulkhead-namespace";
export const ROLLOUT_HEADER = "x-bulkhead-rollout";
export const IDEMPOTENCY_HEADER = "idempotency-key";
export const ATTEMPT_HEADER = "x-bulkhead-delivery-attempt";

/** What is signed: see the header comment. */
export interface SignedFields {
  timestamp: number;
  namespace: string;
  name: string;
  idempotencyKey: string;
  body: string;
}

export function callbackSignedString(f: SignedFields): string {
  return ["v1", String(f.timestamp), f.namespace, f.name, f.idempotencyKey, f.body].join("\n");
}

export function signCallback(secret: string, fields: SignedFields): string {
  return `sha256=${createHmac("sha256", secret).update(callbackSignedString(fields)).digest("hex")}`;
}

export interface VerifyInput {
  secret: string;
  body: string;
  /** Header values exactly as received. */
  signature: string | undefined;
  timestamp: string | undefined;
  namespace: string | undefined;
  name: string | undefined;
  idempotencyKey: string | undefined;
  /** Unix seconds; defaults to now. */
  nowSeconds?: number;
  /** Largest accepted clock difference; default 300 s. */
  toleranceSeconds?: number;
}

/** For receivers (and tests): true when the signature matches and the timestamp is fresh. */
export function verifyCallbackSignature(input: VerifyInput): boolean {
  const { secret, body, signature, timestamp, namespace, name, idempotencyKey } = input;
  if (!signature || !timestamp || !/^\d{1,12}$/.test(timestamp)) return false;
  if (namespace === undefined || name === undefined || idempotencyKey === undefined) return false;
  const ts = Number(timestamp);
  const now = input.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - ts) > (input.toleranceSeconds ?? 300)) return false;
  const want = Buffer.from(signCallback(secret, { timestamp: ts, namespace, name, idempotencyKey, body }));
  const got = Buffer.from(signature);
  return want.length === got.length && timingSafeEqual(want, got);
}
