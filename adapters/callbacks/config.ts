// Callback sender settings from the environment, parsed once with zod (a bad value names the field):
//   BULKHEAD_CALLBACK_SECRET          HMAC key for X-Bulkhead-Signature (unset: unsigned)
//   BULKHEAD_CALLBACK_TIMEOUT_MS      per-attempt timeout (default 5000)
// The allow-list, retry age and queue bounds are the reconciler's (reconciler/config.ts).
import { z } from "zod";
import { DEFAULT_CALLBACK_OPTIONS, type CallbackSenderOptions } from "./sender.js";

const envSchema = z.object({
  BULKHEAD_CALLBACK_SECRET: z.string().min(16, "use at least 16 characters").optional(),
  BULKHEAD_CALLBACK_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(120_000)
    .default(DEFAULT_CALLBACK_OPTIONS.attemptTimeoutMs),
});

export function callbackOptionsFromEnv(env: Record<string, string | undefined> = process.env): CallbackSenderOptions {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw new Error(`Callback configuration: ${z.prettifyError(parsed.error)}`);
  const e = parsed.data;
  return {
    ...(e.BULKHEAD_CALLBACK_SECRET ? { secret: e.BULKHEAD_CALLBACK_SECRET } : {}),
    attemptTimeoutMs: e.BULKHEAD_CALLBACK_TIMEOUT_MS,
  };
}
