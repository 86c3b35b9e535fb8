// The processes a rollout benchmark starts and stops: Bulkhead's webhook and reconciler (compiled
// JavaScript, as production runs them) and grafana/rollout-operator, each in its own process
// group with its log under the cluster's logs directory.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { createServer } from "node:net";
import { request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";
import { join } from "node:path";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = (url.startsWith("https:") ? httpsRequest : httpRequest)(
      url,
      { rejectUnauthorized: false, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

/** A /metrics page as text (the webhook's over HTTPS with its own certificate), or why not. */
export function metricsText(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = (url.startsWith("https:") ? httpsRequest : httpRequest)(
      url,
      { rejectUnauthorized: false, timeout: 5000 },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve(res.statusCode === 200 ? text : `unavailable: HTTP ${res.statusCode}`));
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer within 5 s")));
    req.on("error", (err) => resolve(`unavailable: ${err.message}`));
    req.end();
  });
}

export class Started {
  private exited = false;
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly log: string,
  ) {
    child.once("exit", () => (this.exited = true));
  }
  get pid(): number {
    return this.child.pid!;
  }
  get running(): boolean {
    return !this.exited;
  }
  /** Polls url until it answers 200; fails early if the process exits. */
  async ready(url: string, timeoutMs = 120_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!(await answers(url))) {
      if (!this.running) throw new Error(`${this.name} exited before it was ready (log: ${this.log})`);
      if (Date.now() > end)
        throw new Error(`${this.name} not ready at ${url} after ${timeoutMs / 1000} s (log: ${this.log})`);
      await sleep(200);
    }
  }
  /** SIGTERM to the process group, SIGKILL after 15 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    const gone = new Promise<void>((r) => this.child.once("exit", () => r()));
    try {
      process.kill(-this.pid, "SIGTERM");
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-this.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }, 15_000);
    await gone;
    clearTimeout(timer);
  }
}

const live = new Set<Started>();
/** Stops every process still running (on the way out, also after a failure). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop()));
}
// Interrupted: the processes started here run in their own process groups, so stop them first.
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => void stopAll().finally(() => process.exit(130)));

export function start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, logsDir: string): Started {
  const log = join(logsDir, `${name.replace(/[^\w.-]+/g, "-")}.log`);
  const out = createWriteStream(log, { flags: "a" });
  const child = spawn(command, args, { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const s = new Started(name, child, log);
  live.add(s);
  child.once("exit", () => live.delete(s));
  return s;
}

export interface BulkheadBuild {
  /** What the figures are labelled with (a git ref). */
  label: string;
  /** A directory holding the compiled tree (webhook/main.js, reconciler/main.js) and node_modules. */
  dir: string;
}

export interface BulkheadProcesses {
  webhook: Started;
  reconciler: Started;
  /** The reconciler's /metrics (pass durations, status writes, pods taken down). */
  reconcilerMetricsUrl: string;
  /** The webhook's /metrics (latency per path, pinning's live reads). */
  webhookMetricsUrl: string;
  stop(): Promise<void>;
}

let leases = 0;
const logLevel = () => process.env.BENCH_LOG_LEVEL ?? "warn";

/**
 * BENCH_PROFILE_DIR (opt-in, off by default: sampling costs CPU): each Bulkhead process also runs
 * with --cpu-prof and writes its profile on exit into DIR/<process>-<build label>/ (open the
 * .cpuprofile in Chrome DevTools or speedscope).
 */
function nodeOptions(base: string | undefined, processName: string, label: string): string {
  const dir = process.env.BENCH_PROFILE_DIR;
  if (!dir) return base ?? "";
  const sub = `${processName}-${label.replace(/[^a-zA-Z0-9.+-]/g, "-")}`;
  return `${base ?? ""} --cpu-prof --cpu-prof-dir=${join(dir, sub)}`.trim();
}

/**
 * NODE_OPTIONS: BENCH_WEBHOOK_NODE_OPTIONS and BENCH_RECONCILER_NODE_OPTIONS (the chart's heap
 * flags, bench/rollout/lib.sh's bench_node_options).
 * The webhook (its configurations already applied by the shell, which injects its CA on start)
 * and the reconciler on the token of bulkhead-system/bulkhead-reconciler, so the webhook knows it.
 * Each start uses a fresh Lease name, so a new reconciler does not wait out the last one's lease.
 */
export async function startBulkhead(build: BulkheadBuild, logsDir: string, node: string): Promise<BulkheadProcesses> {
  const reconcilerKubeconfig = process.env.RECONCILER_KUBECONFIG;
  const webhookKubeconfig = process.env.WEBHOOK_KUBECONFIG;
  if (!reconcilerKubeconfig || !webhookKubeconfig)
    throw new Error("RECONCILER_KUBECONFIG and WEBHOOK_KUBECONFIG must be set (bench/rollout/lib.sh sets them)");
  // The webhook configurations point at this port (bench/rollout/lib.sh renders them).
  const webhookPort = Number(process.env.BENCH_WEBHOOK_PORT);
  if (!webhookPort) throw new Error("BENCH_WEBHOOK_PORT is not set (bench/rollout/lib.sh sets it)");
  const webhook = start(
    `webhook-${build.label}`,
    node,
    [join(build.dir, "webhook/main.js")],
    {
      ...process.env,
      KUBECONFIG: webhookKubeconfig,
      BULKHEAD_NAMESPACE: "bulkhead-system",
      BULKHEAD_WEBHOOK_PORT: String(webhookPort),
      BULKHEAD_WEBHOOK_HOST: "127.0.0.1",
      LOG_LEVEL: logLevel(),
      NODE_OPTIONS: nodeOptions(process.env.BENCH_WEBHOOK_NODE_OPTIONS, "webhook", build.label),
    },
    logsDir,
  );
  await webhook.ready(`https://127.0.0.1:${webhookPort}/readyz`);
  const metricsPort = await freePort();
  leases += 1;
  const reconciler = start(
    `reconciler-${build.label}`,
    node,
    [join(build.dir, "reconciler/main.js")],
    {
      ...process.env,
      KUBECONFIG: reconcilerKubeconfig,
      BULKHEAD_METRICS_PORT: String(metricsPort),
      BULKHEAD_METRICS_HOST: "127.0.0.1",
      BULKHEAD_LEASE_NAME: `bench-reconciler-${leases}`,
      POD_NAME: `bench-reconciler-${leases}`,
      LOG_LEVEL: logLevel(),
      NODE_OPTIONS: nodeOptions(process.env.BENCH_RECONCILER_NODE_OPTIONS, "reconciler", build.label),
    },
    logsDir,
  );
  await reconciler.ready(`http://127.0.0.1:${metricsPort}/readyz`);
  return {
    webhook,
    reconciler,
    reconcilerMetricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    webhookMetricsUrl: `https://127.0.0.1:${webhookPort}/metrics`,
    stop: async () => {
      await reconciler.stop();
      await webhook.stop();
    },
  };
}

/** The flags this rollout-operator binary knows (its -help output), to pick the fastest settings it has. */
export async function operatorFlags(binary: string): Promise<Set<string>> {
  const child = spawn(binary, ["-help"], { stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  child.stdout.on("data", (c: Buffer) => (text += c.toString()));
  child.stderr.on("data", (c: Buffer) => (text += c.toString()));
  await new Promise((r) => child.once("exit", r));
  return new Set([...text.matchAll(/^\s+-([\w.-]+)/gm)].map((m) => m[1]!));
}

/**
 * grafana/rollout-operator out of cluster, watching one namespace. `fastest` adds what the
 * binary offers to act sooner: a 1 s reconcile interval and no client-side rate limit.
 * Log level info for both (its default, debug, logs every pod on every pass).
 */
export async function startOperator(
  binary: string,
  flags: Set<string>,
  namespace: string,
  fastest: boolean,
  logsDir: string,
): Promise<{ process: Started; args: string[] }> {
  const port = await freePort();
  const args = [
    `-kubernetes.api-url=${process.env.BULKHEAD_APISERVER}`,
    `-kubernetes.config-file=${process.env.KUBECONFIG}`,
    `-kubernetes.namespace=${namespace}`,
    `-server.port=${port}`,
    "-log.level=info",
  ];
  if (flags.has("server-tls.enabled")) args.push("-server-tls.enabled=false");
  if (fastest) {
    args.push("-reconcile.interval=1s");
    if (flags.has("kubernetes.client-qps")) args.push("-kubernetes.client-qps=0");
    if (flags.has("kubernetes.client-burst")) args.push("-kubernetes.client-burst=0");
  }
  const p = start(
    `rollout-operator-${fastest ? "fastest" : "default"}-${namespace}`,
    binary,
    args,
    process.env,
    logsDir,
  );
  await p.ready(`http://127.0.0.1:${port}/ready`);
  return { process: p, args };
}
