// The memory attack of issue #13 against the webhook on loopback: the real server
// (bench/admission/server.ts, the real route table and limits) in a child process whose V8 heap
// is sized as the chart sizes it for a container memory limit L (old space = the chart's
// heapPercentOfMemoryLimit of L, semi-spaces 1 MiB; cgroups are not available here, so the
// percentage is applied by this script instead of by Node), and C clients each sending ~1.75 MB
// StatefulSet reviews back to back for a fixed time. Reports per scenario: answers by HTTP
// status, connection errors, whether the process stayed up (and still answers /healthz), and its
// peak RSS (VmHWM) against L. Bounded in time: every scenario stops after --seconds, and the
// child is killed if it does not exit. Human lines and the markdown table go to stderr; the last
// stdout line is the JSON verdict hack/faults.sh collects (pass: every process stayed up and
// inside its limit). The child also gets the image's glibc allocator settings (the Dockerfile's
// ENV MALLOC_*), since they change its RSS as much as the heap flags do.
//
//   bench/faults/memory-attack.sh [--limits 256] [--clients 16,32,64] [--seconds 15] [--dockerfile Dockerfile]
// The default limit is the chart's (webhook.resources.limits.memory 256Mi); --limits 128,256
// adds the smaller one measured in bench/RESULTS.md (the process stays up but its RSS exceeds it).
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { report } from "./support.js";

const { values: args } = parseArgs({
  options: {
    limits: { type: "string", default: "256" },
    "heap-percent": { type: "string", default: "40" },
    clients: { type: "string", default: "16,32,64" },
    seconds: { type: "string", default: "15" },
    "body-mb": { type: "string", default: "1.75" },
    // Relative to the working directory: hack/faults.sh runs from the repository's root.
    dockerfile: { type: "string", default: "Dockerfile" },
  },
});
const limits = args.limits.split(",").map(Number);
const heapPercent = Number(args["heap-percent"]);
const clientCounts = args.clients.split(",").map(Number);
const seconds = Number(args.seconds);
const bodyBytes = Math.round(Number(args["body-mb"]) * 1_000_000);
const ext = import.meta.filename.endsWith(".ts") ? ".ts" : ".js";
const SERVER = join(import.meta.dirname, `../admission/server${ext}`);

/** The image's `ENV MALLOC_*=N` lines (bench/support/node-options.sh exports the same for the other benchmarks). */
function imageMallocEnv(dockerfile: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(dockerfile, "utf8");
  } catch (err) {
    throw new Error(
      `cannot read ${dockerfile} for the image's MALLOC_* settings (run from the repository's root, or pass --dockerfile)`,
      { cause: err },
    );
  }
  return Object.fromEntries([...text.matchAll(/^ENV (MALLOC_[A-Z_]+)=([0-9]+)$/gm)].map((m) => [m[1]!, m[2]!]));
}
const mallocEnv = imageMallocEnv(args.dockerfile);

/** A StatefulSet UPDATE review of about `bytes`: object and oldObject each carry half, as many small env entries (object-heavy JSON, the costly kind to parse). */
function attackBody(bytes: number): string {
  const entries = Math.floor(bytes / 2 / 57);
  const env = Array.from({ length: entries }, (_, i) => ({ name: `VAR_${i}`, value: `v${"x".repeat(20)}${i}` }));
  const sts = {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name: "web", namespace: "bench", labels: { app: "web", "bulkhead.dev/managed": "true" } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: "web" } },
      updateStrategy: { type: "OnDelete" },
      template: {
        metadata: { labels: { app: "web", "bulkhead.dev/managed": "true" } },
        spec: { containers: [{ name: "app", image: "registry.example/web:2", env }] },
      },
    },
  };
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "attack",
      kind: { group: "apps", version: "v1", kind: "StatefulSet" },
      resource: { group: "apps", version: "v1", resource: "statefulsets" },
      name: "web",
      namespace: "bench",
      operation: "UPDATE",
      userInfo: { username: "attacker" },
      object: sts,
      oldObject: sts,
    },
  });
}

interface Server {
  child: ChildProcess;
  port: number;
  ca: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

/** What charts/bulkhead/templates/webhook-deployment.yaml puts in NODE_OPTIONS, for a limit in MiB. */
function chartNodeOptions(limitMib: number): string[] {
  return [`--max-old-space-size=${Math.floor((limitMib * heapPercent) / 100)}`, "--max-semi-space-size=1"];
}

async function startServer(limitMib: number): Promise<Server> {
  const loader = ext === ".ts" ? ["--import", "tsx"] : [];
  const child = spawn(process.execPath, [...chartNodeOptions(limitMib), ...loader, SERVER], {
    env: { ...process.env, ...mallocEnv, BENCH_PODS: "100", LOG_LEVEL: "silent" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const first = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (out.includes("\n")) resolve(out.split("\n")[0]!);
    });
    void exited.then(() => reject(new Error(`server exited before listening: ${stderr}`)));
  });
  const { port, ca } = JSON.parse(first) as { port: number; ca: string };
  return { child, port, ca, exited, stderr: () => stderr };
}

function kib(field: string, pid: number): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function post(server: Server, agent: Agent, path: string, body: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: server.port,
        method: "POST",
        path,
        ca: server.ca,
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      },
    );
    req.setTimeout(20_000, () => req.destroy(new Error("client timeout")));
    req.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end(body);
  });
}

function get(server: Server, path: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(
      { host: "127.0.0.1", port: server.port, method: "GET", path, ca: server.ca, agent: false },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.setTimeout(20_000, () => req.destroy(new Error("client timeout")));
    req.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

async function scenario(limitMib: number, clients: number, body: string) {
  const server = await startServer(limitMib);
  const pid = server.child.pid!;
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const outcomes = new Map<string, number>();
  let peakRssKib = kib("VmRSS", pid) ?? 0;
  const sampler = setInterval(() => (peakRssKib = Math.max(peakRssKib, kib("VmRSS", pid) ?? 0)), 100);
  let died: string | undefined;
  void server.exited.then(({ code, signal }) => (died = `exited code=${code} signal=${signal}`));
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < deadline && died === undefined) {
        const outcome = String(await post(server, agent, "/validate/statefulset", body));
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
    }),
  );
  clearInterval(sampler);
  const hwm = kib("VmHWM", pid);
  const stayedUp = died === undefined;
  const health = stayedUp ? await get(server, "/healthz") : "down";
  agent.destroy();
  server.child.kill("SIGTERM");
  const killer = setTimeout(() => server.child.kill("SIGKILL"), 5000);
  await server.exited;
  clearTimeout(killer);
  const peakMib = Math.round(Math.max(peakRssKib, hwm ?? 0) / 1024);
  return {
    limitMib,
    nodeOptions: chartNodeOptions(limitMib).join(" "),
    clients,
    stayedUp,
    ...(stayedUp ? {} : { died }),
    healthAfter: health,
    peakRssMib: peakMib,
    outcomes: Object.fromEntries([...outcomes].sort()),
    stderrTail: died ? server.stderr().slice(-600) : undefined,
  };
}

const body = attackBody(bodyBytes);
const mallocText =
  Object.entries(mallocEnv)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ") || "none";
const started = new Date().toISOString();
const loadBefore = loadavg().map((l) => l.toFixed(2));
process.stderr.write(
  `memory attack: ${body.length} byte reviews to /validate/statefulset, ${seconds}s per scenario, started ${started}, load ${loadBefore.join(" ")}, the image's allocator settings: ${mallocText}\n`,
);
const results: Array<Awaited<ReturnType<typeof scenario>>> = [];
for (const limit of limits) {
  for (const clients of clientCounts) {
    const r = await scenario(limit, clients, body);
    results.push(r);
    process.stderr.write(`${JSON.stringify(r)}\n`);
  }
}
process.stderr.write(
  `load after ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}\n`,
);
process.stderr.write(
  "| memory limit (NODE_OPTIONS) | clients | stayed up | /healthz after | peak RSS | inside limit | answers |\n|---|---|---|---|---|---|---|\n",
);
const answersOf = (r: (typeof results)[number]) =>
  Object.entries(r.outcomes)
    .map(([k, v]) => `${k}: ${v}`)
    .join(", ");
for (const r of results) {
  const inside = r.peakRssMib <= r.limitMib;
  process.stderr.write(
    `| ${r.limitMib} MiB (\`${r.nodeOptions}\`) | ${r.clients} | ${r.stayedUp ? "yes" : `**no** (${r.died})`} | ${r.healthAfter} | ${r.peakRssMib} MiB | ${inside ? "yes" : "**no**"} | ${answersOf(r)} |\n`,
  );
}
report({
  scenario: "memory-attack",
  pass: results.every((r) => r.stayedUp && r.peakRssMib <= r.limitMib),
  checks: results.map((r) => ({
    name: `${r.limitMib} MiB limit, ${r.clients} clients: stays up and inside its limit`,
    pass: r.stayedUp && r.peakRssMib <= r.limitMib,
    value: `${r.stayedUp ? "up" : `died (${r.died})`}, peak RSS ${r.peakRssMib} MiB, answers ${answersOf(r)}`,
  })),
  figures: {
    bodyBytes: body.length,
    seconds,
    limits: limits.join(","),
    clients: clientCounts.join(","),
    malloc: mallocText,
  },
});
