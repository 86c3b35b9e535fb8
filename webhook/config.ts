// The webhook's configuration, parsed once from the environment. A bad value stops the process at
// start with a message naming the variable.
import { z } from "zod";
import { LEAK_PROTECTION_MODES } from "../api/rollout.js";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "720h", "1h30m", "90s", "500ms", "7d" → milliseconds; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+(ms|s|m|h|d))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(amount) * UNITS[unit!]!;
  return total > 0 ? total : undefined;
}

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined) {
        ctx.addIssue({ code: "custom", message: `"${text}" is not a duration such as 720h, 30m or 90s` });
        return z.NEVER;
      }
      return ms;
    });

const port = z.coerce.number().int().min(1).max(65535);
const nonEmpty = z.string().trim().min(1);
const optionalNonEmpty = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

const envSchema = z
  .object({
    KUBECONFIG: optionalNonEmpty,
    BULKHEAD_NAMESPACE: nonEmpty.default("bulkhead-system"),
    BULKHEAD_WEBHOOK_PORT: port.default(8443),
    BULKHEAD_WEBHOOK_HOST: nonEmpty.default("0.0.0.0"),
    BULKHEAD_SERVICE_NAME: nonEmpty.default("bulkhead-webhook"),
    BULKHEAD_CERT_SECRET: nonEmpty.default("bulkhead-webhook-tls"),
    BULKHEAD_CERT_DIR: optionalNonEmpty,
    BULKHEAD_CERT_RENEW_BEFORE: duration("720h"),
    BULKHEAD_CERT_VALIDITY: duration("8760h"),
    BULKHEAD_CERT_CHECK_INTERVAL: duration("1m"),
    BULKHEAD_RECONCILER_USERNAME: nonEmpty.default("system:serviceaccount:bulkhead-system:bulkhead-reconciler"),
    BULKHEAD_DEFAULT_LEAK_PROTECTION: z.enum(LEAK_PROTECTION_MODES).default("enforce"),
    BULKHEAD_BODY_LIMIT: z
      .string()
      .regex(/^[1-9][0-9]*(b|kb|mb)$/i, 'a size such as "3mb", "512kb" or "1048576b"')
      .default("3mb"),
    BULKHEAD_SHUTDOWN_TIMEOUT: duration("25s"),
    SLACK_TOKEN: optionalNonEmpty,
    SLACK_API_URL: optionalNonEmpty.pipe(z.url({ message: "an http(s) URL" }).optional()),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    // TEST AND FAULT-INJECTION ONLY (adapters/kube/delayed-cache.ts): serve the rollout cache this
    // much behind the watch. Unset in every real install; the chart has no value for it.
    BULKHEAD_TEST_ROLLOUT_CACHE_DELAY: z
      .string()
      .optional()
      .transform((text, ctx) => {
        if (text === undefined) return undefined;
        const ms = parseDuration(text);
        if (ms === undefined) {
          ctx.addIssue({ code: "custom", message: `"${text}" is not a duration such as 2s or 500ms` });
          return z.NEVER;
        }
        return ms;
      }),
  })
  .refine((env) => env.BULKHEAD_CERT_RENEW_BEFORE < env.BULKHEAD_CERT_VALIDITY, {
    path: ["BULKHEAD_CERT_RENEW_BEFORE"],
    message: "must be shorter than BULKHEAD_CERT_VALIDITY, or the certificate would be renewed on every check",
  });

export interface WebhookConfig {
  kubeconfig: string | undefined;
  namespace: string;
  port: number;
  host: string;
  serviceName: string;
  certSecret: string;
  /** cert-manager mode: read tls.crt/tls.key from here instead of managing the Secret. */
  certDir: string | undefined;
  certRenewBeforeMs: number;
  certValidityMs: number;
  certCheckIntervalMs: number;
  reconcilerUsername: string;
  defaultLeakProtection: (typeof LEAK_PROTECTION_MODES)[number];
  bodyLimit: string;
  shutdownTimeoutMs: number;
  slackToken: string | undefined;
  slackApiUrl: string | undefined;
  logLevel: string;
  /** Test and fault injection only: the rollout cache answers this many ms behind the watch. */
  testRolloutCacheDelayMs: number | undefined;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses the environment; throws ConfigError listing every bad variable by name. */
export function parseWebhookConfig(env: Record<string, string | undefined>): WebhookConfig {
  // An empty string means "unset" for defaults, as Helm renders absent values that way.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const result = envSchema.safeParse(present);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".") || "environment"}: ${i.message}`);
    throw new ConfigError(`invalid webhook configuration:\n  ${problems.join("\n  ")}`);
  }
  const e = result.data;
  return {
    kubeconfig: e.KUBECONFIG,
    namespace: e.BULKHEAD_NAMESPACE,
    port: e.BULKHEAD_WEBHOOK_PORT,
    host: e.BULKHEAD_WEBHOOK_HOST,
    serviceName: e.BULKHEAD_SERVICE_NAME,
    certSecret: e.BULKHEAD_CERT_SECRET,
    certDir: e.BULKHEAD_CERT_DIR,
    certRenewBeforeMs: e.BULKHEAD_CERT_RENEW_BEFORE,
    certValidityMs: e.BULKHEAD_CERT_VALIDITY,
    certCheckIntervalMs: e.BULKHEAD_CERT_CHECK_INTERVAL,
    reconcilerUsername: e.BULKHEAD_RECONCILER_USERNAME,
    defaultLeakProtection: e.BULKHEAD_DEFAULT_LEAK_PROTECTION,
    bodyLimit: e.BULKHEAD_BODY_LIMIT,
    shutdownTimeoutMs: e.BULKHEAD_SHUTDOWN_TIMEOUT,
    slackToken: e.SLACK_TOKEN,
    slackApiUrl: e.SLACK_API_URL,
    logLevel: e.LOG_LEVEL,
    testRolloutCacheDelayMs: e.BULKHEAD_TEST_ROLLOUT_CACHE_DELAY,
  };
}
