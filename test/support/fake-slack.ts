// A local HTTP server speaking the parts of the Slack Web API Bulkhead uses: chat.postMessage
// (including thread replies) and chat.update, form-encoded or JSON, with bearer-token auth. It
// records every call and can answer 429 + Retry-After, HTTP 5xx or a platform error on demand,
// or hold answers back (a slow Slack). Point a client at `apiUrl`.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeSlackMessage {
  channel: string;
  ts: string;
  text: string;
  blocks?: unknown[];
  threadTs?: string;
  /** Number of chat.update calls applied to this message. */
  updates: number;
}

export interface FakeSlackCall {
  method: string;
  status: number;
  at: number;
  args: Record<string, unknown>;
  error?: string;
}

type Fault =
  | { kind: "rate_limit"; retryAfterSeconds: number }
  | { kind: "http"; status: number }
  | { kind: "platform"; error: string };

export class FakeSlack {
  readonly token: string;
  readonly messages: FakeSlackMessage[] = [];
  readonly calls: FakeSlackCall[] = [];
  private server: Server | undefined;
  private faults: Fault[] = [];
  private alwaysRateLimit: number | undefined;
  private delayMs = 0;
  private held = new Set<() => void>();
  /** Runs as each call is received, before it is answered (a test moves its fake clock here: a slow Slack in fake time). */
  onCall: (() => void) | undefined;
  /** Requests received, answered or not (a held-back answer counts at once). */
  received = 0;
  private seq = 0;
  private channelIds = new Map<string, string>();

  constructor(token = "xoxb-fake-token") {
    this.token = token;
  }

  /** Starts on 127.0.0.1 on a free port. */
  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    // Held-back answers are released (their connections are closed below) so no timer outlives the test.
    for (const release of this.held) release();
    this.held.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Base URL for WebClient's slackApiUrl, ending in /api/. */
  get apiUrl(): string {
    if (!this.server) throw new Error("fake Slack is not started");
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/`;
  }

  /** The next `count` calls answer 429 with Retry-After. */
  rateLimitNext(count: number, retryAfterSeconds: number): void {
    for (let i = 0; i < count; i++) this.faults.push({ kind: "rate_limit", retryAfterSeconds });
  }

  /** Every call from now on answers 429 with Retry-After (a Slack that keeps rate-limiting). */
  rateLimitAlways(retryAfterSeconds: number): void {
    this.alwaysRateLimit = retryAfterSeconds;
  }

  /** The next `count` calls answer this HTTP status. */
  failNext(count: number, status = 503): void {
    for (let i = 0; i < count; i++) this.faults.push({ kind: "http", status });
  }

  /** The next call answers {ok: false, error}. */
  platformErrorNext(error: string): void {
    this.faults.push({ kind: "platform", error });
  }

  /** Every answer is held back this long (a slow Slack); Infinity holds answers until releaseHeld(). */
  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  /** The channel ID a channel name maps to (stable per name). */
  channelId(name: string): string {
    if (/^[CGD][A-Z0-9]{6,}$/.test(name)) return name;
    let id = this.channelIds.get(name);
    if (!id) {
      id = `C${String(this.channelIds.size + 1).padStart(8, "0")}`;
      this.channelIds.set(name, id);
    }
    return id;
  }

  callsOf(method: string): FakeSlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.url ?? "").replace(/^\/api\//, "").split("?")[0] ?? "";
    const args = parseBody(await readBody(req), req.headers["content-type"] ?? "");
    this.received += 1;
    this.onCall?.();
    if (this.delayMs > 0) await this.hold(this.delayMs);
    if (!this.server) return;
    const record = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void => {
      this.calls.push({
        method,
        status,
        at: Date.now(),
        args,
        ...(typeof body.error === "string" ? { error: body.error } : {}),
      });
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "POST") return record(405, { ok: false, error: "method_not_allowed" });
    const auth = req.headers.authorization ?? (typeof args.token === "string" ? `Bearer ${args.token}` : "");
    if (auth !== `Bearer ${this.token}`) return record(200, { ok: false, error: "invalid_auth" });
    const fault: Fault | undefined =
      this.alwaysRateLimit !== undefined
        ? { kind: "rate_limit", retryAfterSeconds: this.alwaysRateLimit }
        : this.faults.shift();
    if (fault?.kind === "rate_limit") {
      return record(429, { ok: false, error: "ratelimited" }, { "retry-after": String(fault.retryAfterSeconds) });
    }
    if (fault?.kind === "http") return record(fault.status, { ok: false, error: "service_unavailable" });
    if (fault?.kind === "platform") return record(200, { ok: false, error: fault.error });
    switch (method) {
      case "chat.postMessage":
        return record(200, this.postMessage(args));
      case "chat.update":
        return record(200, this.update(args));
      default:
        return record(200, { ok: false, error: "unknown_method" });
    }
  }

  /** Answers every held-back call now. */
  releaseHeld(): void {
    for (const release of [...this.held]) release();
  }

  private hold(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const release = (): void => {
        if (timer) clearTimeout(timer);
        this.held.delete(release);
        resolve();
      };
      const timer = Number.isFinite(ms) ? setTimeout(release, ms) : undefined;
      this.held.add(release);
    });
  }

  private postMessage(args: Record<string, unknown>): Record<string, unknown> {
    const channel = typeof args.channel === "string" ? args.channel : "";
    if (!channel) return { ok: false, error: "channel_not_found" };
    if (typeof args.text !== "string" && args.blocks === undefined) return { ok: false, error: "no_text" };
    this.seq += 1;
    const ts = `${Math.floor(Date.now() / 1000)}.${String(this.seq).padStart(6, "0")}`;
    const message: FakeSlackMessage = {
      channel: this.channelId(channel),
      ts,
      text: typeof args.text === "string" ? args.text : "",
      ...(args.blocks !== undefined ? { blocks: args.blocks as unknown[] } : {}),
      ...(typeof args.thread_ts === "string" ? { threadTs: args.thread_ts } : {}),
      updates: 0,
    };
    this.messages.push(message);
    return { ok: true, channel: message.channel, ts, message: { text: message.text, ts } };
  }

  private update(args: Record<string, unknown>): Record<string, unknown> {
    const channel = typeof args.channel === "string" ? args.channel : "";
    // Like Slack, chat.update wants the channel ID, not its name.
    const message = this.messages.find((m) => m.channel === channel && m.ts === args.ts);
    if (!message)
      return {
        ok: false,
        error: this.messages.some((m) => m.channel === channel) ? "message_not_found" : "channel_not_found",
      };
    if (typeof args.text === "string") message.text = args.text;
    if (args.blocks !== undefined) message.blocks = args.blocks as unknown[];
    message.updates += 1;
    return { ok: true, channel: message.channel, ts: message.ts, text: message.text };
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => resolve(body));
    req.on("error", reject);
  });
}

/** Slack accepts form-encoded bodies (blocks as a JSON string) and JSON bodies. */
function parseBody(body: string, contentType: string): Record<string, unknown> {
  if (contentType.includes("application/json")) {
    try {
      return JSON.parse(body) as Record<string, unknown>;
    } catch {
      return {};
    }
  }
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    args[key] = key === "blocks" || key === "attachments" ? safeJson(value) : value;
  }
  return args;
}

function safeJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
