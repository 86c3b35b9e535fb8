// Consul connection settings from the environment, with the names the consul CLI uses, parsed once
// with zod so a bad value fails at start-up with the field named.
//   CONSUL_HTTP_ADDR   host:port or http(s)://host:port (default 127.0.0.1:8500)
//   CONSUL_HTTP_SSL    "true" selects https when the address has no scheme
//   CONSUL_HTTP_TOKEN  ACL token (sent as X-Consul-Token)
//   CONSUL_CACERT      path of a PEM CA bundle for verifying the agent's TLS certificate
//   BULKHEAD_CONSUL_TIMEOUT_MS  per-request timeout (default 5000)
import { z } from "zod";

export interface ConsulGateOptions {
  /** http(s)://host:port */
  baseUrl: string;
  token?: string;
  /** Path of a PEM CA bundle; read once when the gate is built. */
  caCertPath?: string;
  /** Per-request timeout in milliseconds. */
  timeoutMs: number;
}

const envSchema = z.object({
  CONSUL_HTTP_ADDR: z.string().min(1).default("127.0.0.1:8500"),
  CONSUL_HTTP_SSL: z.enum(["true", "false", "1", "0"]).optional(),
  CONSUL_HTTP_TOKEN: z.string().min(1).optional(),
  CONSUL_CACERT: z.string().min(1).optional(),
  BULKHEAD_CONSUL_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5000),
});

/** Normalises CONSUL_HTTP_ADDR to http(s)://host:port; throws naming the field when it is unusable. */
export function consulBaseUrl(addr: string, ssl: boolean): string {
  const withScheme = /^[a-z]+:\/\//i.test(addr) ? addr : `${ssl ? "https" : "http"}://${addr}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`CONSUL_HTTP_ADDR: "${addr}" is not host:port or an http(s) URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`CONSUL_HTTP_ADDR: scheme ${url.protocol} is not supported (use http or https)`);
  }
  if (url.pathname !== "/" && url.pathname !== "") {
    throw new Error(`CONSUL_HTTP_ADDR: "${addr}" must not have a path`);
  }
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${url.protocol}//${url.hostname}:${port}`;
}

export function consulOptionsFromEnv(env: Record<string, string | undefined> = process.env): ConsulGateOptions {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw new Error(`Consul configuration: ${z.prettifyError(parsed.error)}`);
  const e = parsed.data;
  const ssl = e.CONSUL_HTTP_SSL === "true" || e.CONSUL_HTTP_SSL === "1";
  return {
    baseUrl: consulBaseUrl(e.CONSUL_HTTP_ADDR, ssl),
    token: e.CONSUL_HTTP_TOKEN,
    caCertPath: e.CONSUL_CACERT,
    timeoutMs: e.BULKHEAD_CONSUL_TIMEOUT_MS,
  };
}
