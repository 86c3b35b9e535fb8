// The dashboard's HTTP server: the page and its assets (from this package, never a CDN), one
// server-sent-events stream per open page (views pushed when the watches change something, at
// most a few times a second), and the actions, decided by cli/actions-plan.ts exactly as the CLI
// decides them. Local by default; requests for another Host (DNS rebinding) and cross-site
// POSTs (no custom header, wrong Origin) are refused, since the actions write with the user's
// credentials.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import type { Clock, Timer } from "../../api/clock.js";
import { pausePlan, promotePlan, resumePlan, retryPlan, rollbackPlan } from "../actions-plan.js";
import type { ActionResult } from "../actions-plan.js";
import { parseRollout } from "../../api/rollout.js";
import type { StatefulsetRollout } from "../../api/rollout.js";
import { decideAndPatch } from "../commands/actions.js";
import type { Cluster } from "../deps.js";
import { CliError } from "../errors.js";
import type { DashboardFeed } from "./feed.js";
import { overviewRow, recordWave, rolloutView, sortRows } from "./view-model.js";
import type { WaveLog } from "./view-model.js";

export const MAX_STREAMS = 32;
/** A stream whose unsent output exceeds this is a client that stopped reading: dropped. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const MAX_BODY_BYTES = 16 * 1024;
/** Views are recomputed at most this often, however fast the watches change. */
export const PUSH_INTERVAL_MS = 200;
/** A comment line sent on every stream this often, so idle connections are not cut by proxies. */
export const HEARTBEAT_MS = 20_000;

export const ACTIONS = ["pause", "resume", "promote", "rollback", "retry"] as const;
export type DashboardAction = (typeof ACTIONS)[number];

export interface ActionRequest {
  namespace: string;
  name: string;
  action: DashboardAction;
  percent?: number;
  /** The new rolloutIdentity of a rollback or retry, chosen at preview so confirm applies the same. */
  identity?: string;
  /** The changes the user confirmed: apply refuses if the decision now says something else. */
  expect?: string[];
}

/** The same pure decisions as `kubectl sroll pause|resume|promote|rollback|retry`. */
export function actionDecision(request: ActionRequest): (rollout: StatefulsetRollout) => ActionResult {
  const identity = request.identity ?? "";
  switch (request.action) {
    case "pause":
      return pausePlan;
    case "resume":
      return resumePlan;
    case "promote":
      return (r) => promotePlan(r, request.percent);
    case "rollback":
      return (r) => rollbackPlan(r, identity);
    case "retry":
      return (r) => retryPlan(r, identity);
  }
}

/** Checks a POSTed action; the message says what is wrong. */
export function parseActionRequest(body: unknown): { ok: true; value: ActionRequest } | { ok: false; error: string } {
  if (!body || typeof body !== "object") return { ok: false, error: "expected a JSON object" };
  const b = body as Record<string, unknown>;
  if (typeof b.namespace !== "string" || typeof b.name !== "string" || !b.namespace || !b.name)
    return { ok: false, error: "namespace and name are required" };
  if (typeof b.action !== "string" || !(ACTIONS as readonly string[]).includes(b.action))
    return { ok: false, error: `action must be one of ${ACTIONS.join(", ")}` };
  const value: ActionRequest = { namespace: b.namespace, name: b.name, action: b.action as DashboardAction };
  if (b.percent !== undefined) {
    if (typeof b.percent !== "number" || !Number.isInteger(b.percent) || b.percent < 0 || b.percent > 100)
      return { ok: false, error: "percent must be a whole number from 0 to 100" };
    value.percent = b.percent;
  }
  if (b.identity !== undefined) {
    if (typeof b.identity !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(b.identity))
      return { ok: false, error: "identity must be 1-63 letters, digits, '.', '_' or '-'" };
    value.identity = b.identity;
  }
  if (b.expect !== undefined) {
    if (!Array.isArray(b.expect) || b.expect.length > 20 || !b.expect.every((c) => typeof c === "string"))
      return { ok: false, error: "expect must be the list of changes from the preview" };
    value.expect = b.expect as string[];
  }
  return { ok: true, value };
}

export interface DashboardOptions {
  feed: DashboardFeed;
  cluster: Cluster;
  /** Rollouts are shown and acted on in this namespace only; undefined: every namespace. */
  namespace: string | undefined;
  host: string;
  port: number;
  randomIdentity: () => string;
  now: () => Date;
  /** The push debounce and the heartbeat run on this clock (api/clock.ts). */
  clock: Pick<Clock, "setTimer">;
}

export interface RunningDashboard {
  url: string;
  port: number;
  close(): Promise<void>;
}

type View = { kind: "overview" } | { kind: "rollout"; namespace: string; name: string };

interface Stream {
  res: ServerResponse;
  view: View;
  last: string;
}

const ASSETS: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
  "/assets/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/assets/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
};

function loadAssets(): Map<string, Buffer> {
  const dir = new URL("./assets/", import.meta.url);
  const loaded = new Map<string, Buffer>();
  for (const { file } of Object.values(ASSETS)) {
    if (loaded.has(file)) continue;
    // From a build (dist/cli/dashboard), the assets are still the checkout's cli/dashboard/assets.
    const candidates = [new URL(file, dir), new URL(`../../../cli/dashboard/assets/${file}`, import.meta.url)];
    const found = candidates
      .map((u) => fileURLToPath(u))
      .find((p) => {
        try {
          readFileSync(p);
          return true;
        } catch {
          return false;
        }
      });
    if (!found)
      throw new CliError(
        `the dashboard's ${file} is missing from this installation (looked in ${candidates.map((u) => fileURLToPath(u)).join(", ")})`,
      );
    loaded.set(file, readFileSync(found));
  }
  return loaded;
}

export async function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  const assets = loadAssets();
  const { feed, clock } = options;
  const streams = new Set<Stream>();
  const waveLogs = new Map<string, WaveLog>();
  let pushTimer: Timer | undefined;
  let heartbeat: Timer | undefined;
  /** Set on close (or a failed start): no timer is set from then on. */
  let stopped = false;

  const rollouts = (): Array<{ rollout: StatefulsetRollout; group?: string }> =>
    feed.rollouts().flatMap((raw) => {
      const parsed = parseRollout(raw);
      if (!parsed.ok) return [];
      if (options.namespace !== undefined && parsed.value.metadata.namespace !== options.namespace) return [];
      const group = (raw as { spec?: { group?: unknown } }).spec?.group;
      return [{ rollout: parsed.value, ...(typeof group === "string" ? { group } : {}) }];
    });

  // The waves timeline: remembered from every status seen, per rollout (bounded by the rollouts).
  const noteWaves = (): void => {
    const seen = new Set<string>();
    for (const { rollout } of rollouts()) {
      const key = `${rollout.metadata.namespace}/${rollout.metadata.name}`;
      seen.add(key);
      waveLogs.set(key, recordWave(waveLogs.get(key), rollout.status ?? {}));
    }
    for (const key of waveLogs.keys()) if (!seen.has(key)) waveLogs.delete(key);
  };

  const viewJson = (view: View, all: Array<{ rollout: StatefulsetRollout; group?: string }>): string => {
    if (view.kind === "overview") {
      return JSON.stringify({
        kind: "overview",
        namespace: options.namespace ?? null,
        rows: sortRows(all.map(({ rollout, group }) => overviewRow(rollout, group))),
      });
    }
    const found = all.find(
      ({ rollout }) => rollout.metadata.namespace === view.namespace && rollout.metadata.name === view.name,
    );
    if (!found) return JSON.stringify({ kind: "missing", namespace: view.namespace, name: view.name });
    const pods = feed.podsWatched() ? feed.pods(view.namespace) : undefined;
    const key = `${view.namespace}/${view.name}`;
    return JSON.stringify({
      kind: "rollout",
      rollout: rolloutView(found.rollout, pods, feed.events(view.namespace, view.name), waveLogs.get(key)),
    });
  };

  const push = (only?: Stream): void => {
    const all = rollouts();
    const cache = new Map<string, string>();
    for (const stream of only ? [only] : streams) {
      const key = stream.view.kind === "overview" ? "overview" : `${stream.view.namespace}/${stream.view.name}`;
      let json = cache.get(key);
      if (json === undefined) {
        json = viewJson(stream.view, all);
        cache.set(key, json);
      }
      if (json === stream.last) continue;
      if (stream.res.writableLength > MAX_BUFFERED_BYTES) {
        stream.res.destroy();
        continue;
      }
      stream.last = json;
      stream.res.write(`event: view\ndata: ${json}\n\n`);
    }
  };

  const schedulePush = (): void => {
    if (pushTimer || stopped) return;
    pushTimer = clock.setTimer(() => {
      pushTimer = undefined;
      noteWaves();
      if (streams.size > 0) push();
    }, PUSH_INTERVAL_MS);
  };
  feed.onChange(schedulePush);

  // Re-armed each time it runs: the Clock has one-shot timers only.
  const armHeartbeat = (): void => {
    if (stopped) return;
    heartbeat = clock.setTimer(() => {
      for (const s of streams) s.res.write(": keep-alive\n\n");
      armHeartbeat();
    }, HEARTBEAT_MS);
  };
  armHeartbeat();

  const stopTimers = (): void => {
    stopped = true;
    heartbeat?.cancel();
    pushTimer?.cancel();
    pushTimer = undefined;
  };

  const allowedHosts = new Set<string>();
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent)
        sendJson(res, 500, {
          ok: false,
          error: `unexpected failure: ${err instanceof Error ? err.message : String(err)}`,
        });
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Referrer-Policy", "no-referrer");
    const host = req.headers.host ?? "";
    if (!allowedHosts.has(host)) {
      sendJson(res, 421, {
        ok: false,
        error: `this dashboard answers for ${[...allowedHosts].join(", ")}, not ${host || "(no Host)"}`,
      });
      return;
    }
    const url = new URL(req.url ?? "/", `http://${host}`);
    if (req.method === "GET" && ASSETS[url.pathname]) {
      const asset = ASSETS[url.pathname]!;
      res.writeHead(200, {
        "Content-Type": asset.type,
        "Cache-Control": "no-cache",
        // Nothing from elsewhere: scripts, styles and connections stay on this origin.
        "Content-Security-Policy":
          "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      });
      res.end(assets.get(asset.file));
      return;
    }
    if (req.method === "GET" && url.pathname === "/api/stream") {
      openStream(url, res);
      return;
    }
    if (req.method === "POST" && (url.pathname === "/api/actions/preview" || url.pathname === "/api/actions/apply")) {
      const refused = crossSite(req, host);
      if (refused) {
        sendJson(res, 403, { ok: false, error: refused });
        return;
      }
      const body = await readBody(req);
      if (!body.ok) {
        sendJson(res, body.status, { ok: false, error: body.error });
        return;
      }
      const parsed = parseActionRequest(body.value);
      if (!parsed.ok) {
        sendJson(res, 400, { ok: false, error: parsed.error });
        return;
      }
      const result = url.pathname.endsWith("/preview") ? await preview(parsed.value) : await apply(parsed.value);
      sendJson(res, 200, result);
      return;
    }
    sendJson(res, 404, { ok: false, error: `no ${req.method} ${url.pathname} here` });
  }

  function openStream(url: URL, res: ServerResponse): void {
    const namespace = url.searchParams.get("namespace");
    const name = url.searchParams.get("name");
    const view: View = namespace && name ? { kind: "rollout", namespace, name } : { kind: "overview" };
    if (streams.size >= MAX_STREAMS) {
      sendJson(res, 503, { ok: false, error: `too many open dashboard pages (${MAX_STREAMS}); close some` });
      return;
    }
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", Connection: "keep-alive" });
    res.write("retry: 2000\n\n");
    const stream: Stream = { res, view, last: "" };
    streams.add(stream);
    res.on("close", () => streams.delete(stream));
    noteWaves();
    push(stream);
  }

  function inScope(request: ActionRequest): string | undefined {
    if (options.namespace !== undefined && request.namespace !== options.namespace) {
      return `this dashboard was started for namespace ${options.namespace}; ${request.namespace}/${request.name} is outside it`;
    }
    return undefined;
  }

  async function preview(request: ActionRequest): Promise<unknown> {
    const outside = inScope(request);
    if (outside) return { ok: false, error: outside };
    const withIdentity: ActionRequest =
      request.action === "rollback" || request.action === "retry"
        ? { ...request, identity: request.identity ?? options.randomIdentity() }
        : request;
    try {
      const raw = await options.cluster.rollouts.get(request.namespace, request.name);
      const parsed = parseRollout(raw);
      if (!parsed.ok)
        return {
          ok: false,
          error: `${request.namespace}/${request.name} does not match the StatefulsetRollout schema: ${parsed.error}`,
        };
      const decision = actionDecision(withIdentity)(parsed.value);
      if (!decision.ok) return { ok: false, refused: true, error: decision.error };
      return { ok: true, changes: decision.plan.changes, notes: decision.plan.notes, request: withIdentity };
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  }

  async function apply(request: ActionRequest): Promise<unknown> {
    const outside = inScope(request);
    if (outside) return { ok: false, error: outside };
    const decide = actionDecision(request);
    const expected = request.expect;
    // Apply what was confirmed, or nothing: a rollout that changed since the preview is shown again.
    const confirmed = (rollout: StatefulsetRollout): ActionResult => {
      const decision = decide(rollout);
      if (decision.ok && expected && JSON.stringify(decision.plan.changes) !== JSON.stringify(expected)) {
        return {
          ok: false,
          error: `the rollout changed since the confirmation; it would now change: ${decision.plan.changes.join("; ")}. Review it again.`,
        };
      }
      return decision;
    };
    try {
      const result = await decideAndPatch(options.cluster, request.namespace, request.name, confirmed);
      if (!result.ok) return { ok: false, refused: true, error: result.error };
      return { ok: true, changes: result.plan.changes, notes: result.plan.notes };
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, options.host, () => resolve());
    });
  } catch (err) {
    stopTimers();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const hostInUrl = options.host.includes(":") ? `[${options.host}]` : options.host;
  for (const h of [hostInUrl, ...(options.host === "127.0.0.1" || options.host === "::1" ? ["localhost"] : [])])
    allowedHosts.add(`${h}:${port}`);
  return {
    url: `http://${hostInUrl}:${port}/`,
    port,
    async close() {
      stopTimers();
      for (const s of streams) s.res.end();
      streams.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** A reason to refuse a POST that a page on another site could have sent; undefined if fine. */
function crossSite(req: IncomingMessage, host: string): string | undefined {
  if (req.headers["x-bulkhead-dashboard"] !== "1")
    return "missing the X-Bulkhead-Dashboard header: actions come from the dashboard page only";
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${host}`) return `requests from ${origin} are not accepted`;
  if (!(req.headers["content-type"] ?? "").startsWith("application/json"))
    return "expected Content-Type: application/json";
  return undefined;
}

async function readBody(
  req: IncomingMessage,
): Promise<{ ok: true; value: unknown } | { ok: false; status: number; error: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return { ok: false, status: 413, error: `request body over ${MAX_BODY_BYTES} bytes` };
    chunks.push(chunk as Buffer);
  }
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString("utf8")) };
  } catch {
    return { ok: false, status: 400, error: "the body is not JSON" };
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" });
  res.end(JSON.stringify(body));
}
