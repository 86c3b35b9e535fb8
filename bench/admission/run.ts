// Admission benchmark: requests/s and latency of real AdmissionReviews over HTTPS on loopback.
// Usage: bench/admission/run.sh [--duration 20] [--rate 1000] [--connections 10] [--pods 1000]
// (compiles with tsc first: under tsx, esbuild's keepNames helper costs more than the code measured).
// The server runs in a child process. Latency at the target rate comes from an open-loop paced
// generator (paced.ts); the unthrottled ceiling (requests/s) from autocannon. Results: stdout
// and bench/out/.
import autocannon from "autocannon";
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, extname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { handlerMicroseconds } from "./handler-cost.js";
import { pacedLoad } from "./paced.js";
import { syntheticView, evictionReview, statefulSetReview } from "./world.js";

const self = fileURLToPath(import.meta.url);
const here = dirname(self);
const compiled = extname(self) === ".js";
// run.sh compiles into a temporary directory and says where the repository is.
const REPO = process.env.BULKHEAD_REPO ?? join(here, "../..");
const options = new Command()
  .option("--duration <s>", "seconds per measured run", "20")
  .option("--rate <n>", "target reviews per second", "1000")
  .option("--connections <n>", "keep-alive connections (the apiserver reuses connections)", "10")
  .option("--pods <n>", "pods of the synthetic managed StatefulSet", "1000")
  .option("--scenarios <keys>", "which scenarios, in this order (comma-separated)", "denied,allowed,statefulset")
  .parse()
  .opts<{ duration: string; rate: string; connections: string; pods: string; scenarios: string }>();
const duration = Number(options.duration);
const rate = Number(options.rate);
const connections = Number(options.connections);
const pods = Number(options.pods);
const SCENARIO_KEYS = ["denied", "allowed", "statefulset"];
const scenarioKeys = options.scenarios.split(",").map((key) => key.trim());
for (const key of scenarioKeys) {
  if (!SCENARIO_KEYS.includes(key)) {
    console.error(`--scenarios: unknown scenario "${key}"; known: ${SCENARIO_KEYS.join(", ")}`);
    process.exit(2);
  }
}

const loadBefore = loadavg().map((l) => Math.round(l * 100) / 100);
const server = spawn(
  process.execPath,
  compiled ? [join(here, "server.js")] : ["--import", "tsx", join(here, "server.ts")],
  {
    // The chart's heap flags (run.sh), for the server only.
    env: { ...process.env, BENCH_PODS: String(pods), NODE_OPTIONS: process.env.BENCH_WEBHOOK_NODE_OPTIONS ?? "" },
    stdio: ["ignore", "pipe", "inherit"],
  },
);
// The server's stdout: its address first, then one line of stalls per SIGUSR2 (server.ts).
const serverLines = createInterface({ input: server.stdout! })[Symbol.asyncIterator]();
async function nextServerLine(): Promise<unknown> {
  const next = await serverLines.next();
  if (next.done) throw new Error("benchmark server closed its stdout");
  return JSON.parse(next.value) as unknown;
}
const { port, ca } = await Promise.race([
  nextServerLine() as Promise<{ port: number; ca: string }>,
  new Promise<never>((_, reject) =>
    server.once("exit", (code) => reject(new Error(`benchmark server exited ${code}`))),
  ),
]);
/** The server's event-loop delay and GC pauses since the previous call. */
async function serverStalls(): Promise<unknown> {
  server.kill("SIGUSR2");
  return ((await nextServerLine()) as { stalls: unknown }).stalls;
}

interface Scenario {
  key: string;
  name: string;
  path: string;
  body: string;
}
const allScenarios: Scenario[] = [
  {
    key: "denied",
    name: "eviction of an old pod, rollout split at 50% (enforce → 429)",
    path: "/validate/eviction",
    body: evictionReview(`web-${pods - 1}`, true),
  },
  {
    key: "allowed",
    name: "eviction of a pod on the update revision (allowed)",
    path: "/validate/eviction",
    body: evictionReview("web-0"),
  },
  {
    key: "statefulset",
    name: "StatefulSet UPDATE, template unchanged (allowed)",
    path: "/validate/statefulset",
    body: statefulSetReview(syntheticView(1)),
  },
];
const scenarios = scenarioKeys.map((key) => allScenarios.find((s) => s.key === key)!);

function ceiling(s: Scenario, seconds: number, conns: number): Promise<autocannon.Result> {
  return autocannon({
    url: `https://127.0.0.1:${port}${s.path}`,
    method: "POST",
    headers: { "content-type": "application/json" },
    body: s.body,
    connections: conns,
    duration: seconds,
    tlsOptions: { ca },
  });
}

const row = (r: autocannon.Result) => ({
  reqPerSec: Math.round(r.requests.average),
  p50ms: r.latency.p50,
  p99ms: r.latency.p99,
  non2xx: r.non2xx,
  errors: r.errors,
  timeouts: r.timeouts,
});

const results = [];
try {
  for (const s of scenarios) {
    const url = `https://127.0.0.1:${port}${s.path}`;
    await pacedLoad({ url, ca, body: s.body, rate, seconds: 3, connections }); // warm-up: JIT, TLS, caches
    await serverStalls();
    const atRate = await pacedLoad({ url, ca, body: s.body, rate, seconds: duration, connections });
    const stalls = (await serverStalls()) as { allocatedBytes: number };
    const serverStallsAtRate = {
      ...stalls,
      allocatedKBPerReview: Math.round(stalls.allocatedBytes / atRate.completed / 102.4) / 10,
    };
    const unthrottled = row(await ceiling(s, Math.max(5, Math.round(duration / 2)), connections));
    const handlerUs = await handlerMicroseconds(pods, s.path, s.body);
    const result = {
      scenario: s.name,
      path: s.path,
      bodyBytes: Buffer.byteLength(s.body),
      handlerUs,
      atRate,
      serverStallsAtRate,
      unthrottled,
    };
    results.push(result);
    console.log(JSON.stringify(result));
  }
} finally {
  server.kill("SIGTERM");
}

// Other work on the machine shows in the figures: record the load average around the run.
const machine = {
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? "unknown"}`,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  loadAverageBefore: loadBefore,
  loadAverageAfter: loadavg().map((l) => Math.round(l * 100) / 100),
};
const report = {
  date: new Date().toISOString(),
  machine,
  compiled,
  command: `bench/admission/run.sh --duration ${duration} --rate ${rate} --connections ${connections} --pods ${pods} --scenarios ${scenarioKeys.join(",")}`,
  results,
};
const out = join(REPO, "bench/out");
mkdirSync(out, { recursive: true });
const file = join(out, `admission-${report.date.replace(/[:.]/g, "-")}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
console.log(
  `machine: ${machine.cpus}, ${machine.memoryGiB} GiB, Node ${machine.node}, load ${loadBefore.join(" ")} → ${machine.loadAverageAfter.join(" ")}`,
);
console.log(`written: ${file}`);
