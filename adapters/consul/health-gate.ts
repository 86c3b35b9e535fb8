// The Consul health gate (DESIGN.md §2): how many of a StatefulSet's pods pass their Consul checks.
// One pass reads GET /v1/catalog/services?dc= (which services exist) and, for each named service
// that exists, GET /v1/health/service/:name?dc= (instances with node and service checks); match.ts
// says which instance is which pod. It never throws: an unreachable or failing agent is
// { ok: false, error } — the reconciler waits, backs off and shows the error in status.reason.
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { Agent as HttpsAgent } from "node:https";
import Consul from "consul";
import { pino, type Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import type { HealthGate, HealthResult, PodIdentity } from "../../api/integrations.js";
import type { StatefulsetRollout } from "../../api/rollout.js";
import type { ConsulGateOptions } from "./config.js";
import { podsPassingAll, toServiceInstance, type ServiceInstance } from "./match.js";

export interface ConsulGateDeps {
  logger?: Logger;
  /** Where bulkhead_consul_queries_total is registered; none when omitted. */
  registry?: Registry;
}

/** Builds the gate the reconciler's main.ts wires in; throws only on an unreadable CONSUL_CACERT. */
export function consulHealthGate(
  options: ConsulGateOptions,
  deps: ConsulGateDeps = {},
): HealthGate & { close(): void } {
  const logger = deps.logger ?? pino({ enabled: false });
  const queries = new Counter({
    name: "bulkhead_consul_queries_total",
    help: "Consul health-gate passes, by outcome (ok or error).",
    labelNames: ["outcome"] as const,
    registers: deps.registry ? [deps.registry] : [],
  });
  const url = new URL(options.baseUrl);
  const secure = url.protocol === "https:";
  let agent: HttpsAgent | undefined;
  if (options.caCertPath) {
    let ca: string;
    try {
      ca = readFileSync(options.caCertPath, "utf8");
    } catch (err) {
      throw new Error(`CONSUL_CACERT: cannot read ${options.caCertPath}: ${(err as Error).message}`);
    }
    agent = new HttpsAgent({ keepAlive: true, ca });
  }
  const client = new Consul({
    host: url.hostname,
    port: Number(url.port),
    secure,
    ...(agent ? { agent } : {}),
    defaults: { ...(options.token ? { token: options.token } : {}), timeout: options.timeoutMs } as never,
  });

  /** /v1/catalog/services, with whether ACLs may have hidden services from it. */
  async function catalogServices(dc: string): Promise<{ services: object; filteredByAcls: boolean }> {
    // The client returns [response, body] when the request context asks for the response.
    const ctx = Object.assign(new EventEmitter(), { includeResponse: true });
    const result: unknown = await client.catalog.service.list({ dc, ctx } as never);
    const [res, body] = Array.isArray(result)
      ? (result as [{ headers?: Record<string, unknown> }, unknown])
      : [undefined, result];
    if (!body || typeof body !== "object") throw new Error("unexpected /v1/catalog/services response");
    const headers = res?.headers ?? {};
    // Consul marks results it filtered for a token without the permission; for the anonymous
    // token it does not, so no token and a default-deny policy count as filtered too.
    const filteredByAcls =
      headers["x-consul-results-filtered-by-acls"] === "true" ||
      (!options.token && headers["x-consul-default-acl-policy"] === "deny");
    return { services: body, filteredByAcls };
  }

  // What was last logged per rollout, so a condition that lasts is logged once, not every pass.
  const lastLogged = new Map<string, string>();
  function logOnce(key: string, what: string, log: () => void): void {
    if (lastLogged.get(key) === what) return;
    lastLogged.set(key, what);
    if (lastLogged.size > 10_000) lastLogged.delete(lastLogged.keys().next().value as string);
    log();
  }

  async function instancesOf(service: string, dc: string): Promise<ServiceInstance[]> {
    const entries: unknown = await client.health.service({ service, dc });
    if (!Array.isArray(entries)) throw new Error(`unexpected /v1/health/service/${service} response`);
    return entries.map(toServiceInstance);
  }

  return {
    async check(rollout: StatefulsetRollout, pods: PodIdentity[]): Promise<HealthResult> {
      const sd = rollout.spec.serviceDiscovery;
      // No serviceDiscovery: nothing gates the rollout.
      if (!sd) return { ok: true, report: { passingPods: pods.map((p) => p.name), services: [], missingServices: [] } };
      const key = `${rollout.metadata.namespace ?? ""}/${rollout.metadata.name}`;
      try {
        const { services: catalog, filteredByAcls } = await catalogServices(sd.dc);
        const known = new Set(Object.keys(catalog));
        const names = [...new Set(sd.serviceNames)];
        const services = names.filter((n) => known.has(n));
        const missingServices = names.filter((n) => !known.has(n));
        // With ACLs, a token without service:read sees services vanish rather than a 403: say so
        // instead of reporting them missing.
        if (missingServices.length > 0 && filteredByAcls) {
          throw new Error(
            `${missingServices.join(", ")} not visible: Consul filtered the catalog by ACLs; the token (CONSUL_HTTP_TOKEN) needs service:read`,
          );
        }
        const lists = await Promise.all(services.map((s) => instancesOf(s, sd.dc)));
        const byService = new Map(services.map((s, i) => [s, lists[i] ?? []]));
        const passingPods = podsPassingAll(names, byService, pods);
        queries.inc({ outcome: "ok" });
        if (missingServices.length > 0) {
          logOnce(key, `missing:${missingServices.join(",")}`, () =>
            logger.warn({ rollout: key, dc: sd.dc, missingServices }, "Consul services not found"),
          );
        } else {
          logOnce(key, "ok", () => logger.info({ rollout: key, dc: sd.dc, services }, "Consul health check ok"));
        }
        return { ok: true, report: { passingPods, services, missingServices } };
      } catch (err) {
        queries.inc({ outcome: "error" });
        const error = `Consul at ${options.baseUrl} (dc ${sd.dc}): ${describeError(err)}`;
        logOnce(key, `error:${error}`, () => logger.warn({ rollout: key, err: error }, "Consul health check failed"));
        return { ok: false, error };
      }
    },
    close() {
      client.destroy();
    },
  };
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { code?: string; statusCode?: number };
  const parts = [e.message || e.code || "request failed"];
  if (e.statusCode) parts.unshift(`HTTP ${e.statusCode}`);
  return parts.join(": ");
}
