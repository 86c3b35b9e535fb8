// The webhook's configuration, parsed once from the environment. A bad value stops the process at
// start with a message naming the variable.
import { z } from "zod";
import { UNCHECKED_HEALTH_GATE_MODES } from "../api/rollout-admission.js";
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

const SIZE_UNITS: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** "512KiB", "16MiB", "1048576b" → bytes; undefined when it is not a size. */
export function parseSize(text: string): number | undefined {
  const m = /^([1-9][0-9]*)(b|kib|mib|gib)$/i.exec(text.trim());
  return m ? Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]! : undefined;
}

const size = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined) return undefined;
    const bytes = parseSize(text);
    if (bytes === undefined) {
      ctx.addIssue({ code: "custom", message: `"${text}" is not a size such as 16MiB, 512KiB or 1048576b` });
      return z.NEVER;
    }
    return bytes;
  });
const nonEmpty = z.string().trim().min(1);
const optionalNonEmpty = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

/** Go's http.Transport IdleConnTimeout, which the apiserver's webhook client uses. */
export const APISERVER_IDLE_TIMEOUT_MS = 90_000;

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
    // Per-path body limits are fixed in the route table (webhook/routes.ts); these bound the process.
    // Memory is bounded by the body budget; the request cap must still take ordinary bursts: one
    // apiserver sends up to 200 mutating requests at once (--max-mutating-requests-inflight), and at
    // 500 reviews/s a 64 cap turned a 0.4 s stall into 503s, i.e. refused pod creates
    // (bench/RESULTS.md, webhook-replica-kill).
    BULKHEAD_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(10_000).default(512),
    BULKHEAD_IN_FLIGHT_BODY_BYTES: size,
    BULKHEAD_HEADERS_TIMEOUT: duration("10s"),
    BULKHEAD_BODY_TIMEOUT: duration("10s"),
    BULKHEAD_IDLE_TIMEOUT: duration("120s"),
    BULKHEAD_CACHE_MAX_STALENESS: duration("5m"),
    BULKHEAD_EVENT_WINDOW: duration("10m"),
    BULKHEAD_EVENT_MAX_KEYS: z.coerce.number().int().min(1).max(100_000).default(1000),
    BULKHEAD_SHUTDOWN_TIMEOUT: duration("25s"),
    // Below the rollout webhook's timeoutSeconds (30 in the chart), so the dry-run answers first.
    BULKHEAD_DRY_RUN_TIMEOUT: duration("20s"),
    // Read for its presence only, as the reconciler does: is there a Consul health gate at all?
    CONSUL_HTTP_ADDR: optionalNonEmpty,
    BULKHEAD_UNCHECKED_SERVICE_DISCOVERY: z.enum(UNCHECKED_HEALTH_GATE_MODES).default("refuse"),
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
  })
  .refine((env) => env.BULKHEAD_IDLE_TIMEOUT > APISERVER_IDLE_TIMEOUT_MS, {
    path: ["BULKHEAD_IDLE_TIMEOUT"],
    message:
      "must be longer than the apiserver's 90s idle keep-alive: if the webhook closed first, a review sent on the closing connection would fail",
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
  /** Admission requests served at once; more are answered 503. */
  maxInFlight: number;
  /**
   * Sum of the bodies (as declared, or the path's limit when undeclared) of the requests in
   * flight; more is answered 503. Undefined: derived from the heap limit at start (main.ts).
   */
  inFlightBodyBytes: number | undefined;
  headersTimeoutMs: number;
  /** The whole request (headers and body) must arrive within this, however slowly it trickles. */
  bodyTimeoutMs: number;
  /** Idle keep-alive connections are closed after this; longer than the apiserver's 90 s. */
  idleTimeoutMs: number;
  /** How long a cache whose watch is down still counts as synced (DESIGN.md §4 fails open beyond it). */
  cacheMaxStalenessMs: number;
  /** One Event per object and reason per window... */
  eventWindowMs: number;
  /** ...for at most this many objects and reasons per window. */
  eventMaxKeys: number;
  shutdownTimeoutMs: number;
  dryRunTimeoutMs: number;
  /** The reconciler has Consul (same rule as reconciler/config.ts: CONSUL_HTTP_ADDR is set). */
  consulConfigured: boolean;
  uncheckedServiceDiscovery: (typeof UNCHECKED_HEALTH_GATE_MODES)[number];
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
    maxInFlight: e.BULKHEAD_MAX_IN_FLIGHT,
    inFlightBodyBytes: e.BULKHEAD_IN_FLIGHT_BODY_BYTES,
    headersTimeoutMs: e.BULKHEAD_HEADERS_TIMEOUT,
    bodyTimeoutMs: e.BULKHEAD_BODY_TIMEOUT,
    idleTimeoutMs: e.BULKHEAD_IDLE_TIMEOUT,
    cacheMaxStalenessMs: e.BULKHEAD_CACHE_MAX_STALENESS,
    eventWindowMs: e.BULKHEAD_EVENT_WINDOW,
    eventMaxKeys: e.BULKHEAD_EVENT_MAX_KEYS,
    shutdownTimeoutMs: e.BULKHEAD_SHUTDOWN_TIMEOUT,
    dryRunTimeoutMs: e.BULKHEAD_DRY_RUN_TIMEOUT,
    consulConfigured: e.CONSUL_HTTP_ADDR !== undefined,
    uncheckedServiceDiscovery: e.BULKHEAD_UNCHECKED_SERVICE_DISCOVERY,
    logLevel: e.LOG_LEVEL,
    testRolloutCacheDelayMs: e.BULKHEAD_TEST_ROLLOUT_CACHE_DELAY,
  };
}
