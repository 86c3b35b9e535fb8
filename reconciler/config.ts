// The reconciler's configuration, parsed once from the environment with zod. A bad value fails
// start-up with a message naming the variable. Integration settings (Slack, Consul, callbacks)
// are parsed here so the process fails fast, and passed through to their adapters.
import { hostname } from "node:os";
import { z } from "zod";
import { UNCHECKED_HEALTH_GATE_MODES, type UncheckedHealthGateMode } from "../api/rollout-admission.js";
import { DEFAULT_BUILD_METADATA_KEYS, type BuildMetadataKeys } from "../api/build-metadata.js";
import { parseAllowedCallbackPrefix, type AllowedCallbackPrefix } from "../api/callback-payload.js";

const optional = z.string().min(1).optional();
/** An annotation key: an optional DNS-subdomain prefix and a name (as Kubernetes checks it). */
const annotationKey = z
  .string()
  .regex(
    /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/,
    "an annotation key such as example.com/git.branch",
  );

/** Comma-separated URL prefixes (chart value callback.allowedUrlPrefixes); empty: callbacks off. */
const allowedPrefixes = z
  .string()
  .default("")
  .transform((text, ctx): AllowedCallbackPrefix[] => {
    const out: AllowedCallbackPrefix[] = [];
    for (const entry of text
      .split(",")
      .map((e) => e.trim())
      .filter((e) => e !== "")) {
      const parsed = parseAllowedCallbackPrefix(entry);
      if (parsed.ok) out.push(parsed.value);
      else ctx.addIssue({ code: "custom", message: parsed.error });
    }
    return out;
  });

const envSchema = z.object({
  KUBECONFIG: optional,
  BULKHEAD_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "a namespace name")
    .default("bulkhead-system"),
  BULKHEAD_LEASE_NAME: z
    .string()
    .regex(/^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/, "a Lease name")
    .default("bulkhead-reconciler"),
  POD_NAME: optional,
  BULKHEAD_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  BULKHEAD_METRICS_HOST: z.string().min(1).default("0.0.0.0"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  BULKHEAD_WORKERS: z.coerce.number().int().min(1).max(64).default(4),
  BULKHEAD_LEASE_DURATION_SECONDS: z.coerce.number().int().min(2).max(300).default(15),
  BULKHEAD_DISABLE_LEADER_ELECTION: z.enum(["true", "false"]).default("false"),
  SLACK_TOKEN: optional,
  SLACK_API_URL: z.url().optional(),
  CONSUL_HTTP_ADDR: optional,
  CONSUL_HTTP_TOKEN: optional,
  CONSUL_CACERT: optional,
  BULKHEAD_UNCHECKED_SERVICE_DISCOVERY: z.enum(UNCHECKED_HEALTH_GATE_MODES).default("refuse"),
  BULKHEAD_CALLBACK_SECRET: optional,
  BULKHEAD_BUILD_BRANCH_ANNOTATION: annotationKey.default(DEFAULT_BUILD_METADATA_KEYS.branch),
  BULKHEAD_BUILD_COMMIT_ANNOTATION: annotationKey.default(DEFAULT_BUILD_METADATA_KEYS.commit),
  BULKHEAD_BUILD_ORIGIN_ANNOTATION: annotationKey.default(DEFAULT_BUILD_METADATA_KEYS.origin),
  BULKHEAD_CALLBACK_ALLOWED_URL_PREFIXES: allowedPrefixes,
  BULKHEAD_CALLBACK_MAX_RETRY_AGE_SECONDS: z.coerce.number().int().min(10).max(86_400).default(600),
  BULKHEAD_CALLBACK_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  BULKHEAD_CALLBACK_MAX_QUEUED: z.coerce.number().int().min(1).max(100_000).default(1000),
});

export interface ReconcilerConfig {
  kubeconfig?: string;
  namespace: string;
  leaseName: string;
  identity: string;
  metricsPort: number;
  metricsHost: string;
  logLevel: string;
  workers: number;
  leaseDurationSeconds: number;
  leaderElection: boolean;
  slack?: { token: string; apiUrl?: string };
  /** Consul is gated only when CONSUL_HTTP_ADDR is set. */
  consulEnabled: boolean;
  /** serviceDiscovery without Consul: refused at admission, or only reported (a status condition either way). */
  uncheckedServiceDiscovery: UncheckedHealthGateMode;
  callbackSecretSet: boolean;
  /** Annotations status.buildMetadata reads git branch, commit and origin from. */
  buildMetadataKeys: BuildMetadataKeys;
  callbacks: CallbackQueueConfig;
  /** The raw environment, for the integration adapters' own parsers. */
  env: Record<string, string | undefined>;
}

/** The callback queue's bounds and the install's allow-list (reconciler/callback-dispatcher.ts). */
export interface CallbackQueueConfig {
  allowList: AllowedCallbackPrefix[];
  /** A callback still failing this long after it was first queued is given up and recorded as failed. */
  maxRetryAgeMs: number;
  /** Attempts in flight at once, across all rollouts. */
  concurrency: number;
  /** Rollouts with a callback waiting; beyond it a pass is retried later. */
  maxQueued: number;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): ReconcilerConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid reconciler configuration: ${fields}`);
  }
  const e = parsed.data;
  const config: ReconcilerConfig = {
    namespace: e.BULKHEAD_NAMESPACE,
    leaseName: e.BULKHEAD_LEASE_NAME,
    identity: e.POD_NAME ?? hostname(),
    metricsPort: e.BULKHEAD_METRICS_PORT,
    metricsHost: e.BULKHEAD_METRICS_HOST,
    logLevel: e.LOG_LEVEL,
    workers: e.BULKHEAD_WORKERS,
    leaseDurationSeconds: e.BULKHEAD_LEASE_DURATION_SECONDS,
    leaderElection: e.BULKHEAD_DISABLE_LEADER_ELECTION !== "true",
    consulEnabled: e.CONSUL_HTTP_ADDR !== undefined,
    uncheckedServiceDiscovery: e.BULKHEAD_UNCHECKED_SERVICE_DISCOVERY,
    callbackSecretSet: e.BULKHEAD_CALLBACK_SECRET !== undefined,
    buildMetadataKeys: {
      branch: e.BULKHEAD_BUILD_BRANCH_ANNOTATION,
      commit: e.BULKHEAD_BUILD_COMMIT_ANNOTATION,
      origin: e.BULKHEAD_BUILD_ORIGIN_ANNOTATION,
    },
    callbacks: {
      allowList: e.BULKHEAD_CALLBACK_ALLOWED_URL_PREFIXES,
      maxRetryAgeMs: e.BULKHEAD_CALLBACK_MAX_RETRY_AGE_SECONDS * 1000,
      concurrency: e.BULKHEAD_CALLBACK_CONCURRENCY,
      maxQueued: e.BULKHEAD_CALLBACK_MAX_QUEUED,
    },
    env,
  };
  if (e.KUBECONFIG) config.kubeconfig = e.KUBECONFIG;
  if (e.SLACK_TOKEN)
    config.slack = e.SLACK_API_URL ? { token: e.SLACK_TOKEN, apiUrl: e.SLACK_API_URL } : { token: e.SLACK_TOKEN };
  return config;
}
