// Callback settings from the environment, parsed once with zod (a bad value names the field):
//   BULKHEAD_CALLBACK_SECRET          HMAC key for X-Bulkhead-Signature (unset: unsigned)
//   BULKHEAD_CALLBACK_TIMEOUT_MS      per-attempt timeout (default 5000)
//   BULKHEAD_CALLBACK_MAX_ATTEMPTS    attempts per send (default 5)
//   BULKHEAD_CALLBACK_BUDGET_MS       time budget of one send, retries included (default 30000)
import { z } from "zod";
import { DEFAULT_CALLBACK_OPTIONS, type CallbackSenderOptions } from "./sender.js";

const envSchema = z.object({
  BULKHEAD_CALLBACK_SECRET: z.string().min(16, "use at least 16 characters").optional(),
  BULKHEAD_CALLBACK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(DEFAULT_CALLBACK_OPTIONS.attemptTimeoutMs),
  BULKHEAD_CALLBACK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(DEFAULT_CALLBACK_OPTIONS.maxAttempts),
  BULKHEAD_CALLBACK_BUDGET_MS: z.coerce.number().int().min(100).max(600_000).default(DEFAULT_CALLBACK_OPTIONS.totalBudgetMs),
});

export function callbackOptionsFromEnv(env: Record<string, string | undefined> = process.env): CallbackSenderOptions {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw new Error(`Callback configuration: ${z.prettifyError(parsed.error)}`);
  const e = parsed.data;
  return {
    ...DEFAULT_CALLBACK_OPTIONS,
    ...(e.BULKHEAD_CALLBACK_SECRET ? { secret: e.BULKHEAD_CALLBACK_SECRET } : {}),
    attemptTimeoutMs: e.BULKHEAD_CALLBACK_TIMEOUT_MS,
    maxAttempts: e.BULKHEAD_CALLBACK_MAX_ATTEMPTS,
    totalBudgetMs: e.BULKHEAD_CALLBACK_BUDGET_MS,
  };
}
