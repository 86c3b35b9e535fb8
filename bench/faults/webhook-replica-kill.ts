// Fault scenario: one of two webhook replicas SIGKILLed under 500 AdmissionReviews per second.
// No cluster: two admission servers (bench/admission/server.ts: every real route over HTTPS on
// 127.0.0.1, answering from synthetic caches) are driven directly, open-loop at FAULTS_RATE
// (default 500/s) for FAULTS_SECONDS (default 20); replica B is SIGKILLed half-way.
//
// The driver calls the webhook the way the apiserver does through a Service with two endpoints:
// requests alternate between the replicas; a call that fails to connect or whose connection is
// reset is retried with the apiserver's webhook backoff (500 ms, x1.5, 5 steps), each retry on
// the other endpoint (kube-proxy would pick one at random until the endpoint is removed: this is
// the optimistic half of that); a call with no answer within 5 s (the chart's timeoutSeconds)
// is a failed admission, as is any answer that is not a 200 AdmissionReview with the request's
// uid. Check: 0 failed admissions.
import { existsSync, readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { fileURLToPath } from "node:url";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { evictionReview } from "../admission/world.js";
import { intEnv, Managed, report, sleep } from "./support.js";

const RATE = intEnv("FAULTS_RATE", 500, 1);
const SECONDS = intEnv("FAULTS_SECONDS", 20, 2);
const TIMEOUT_MS = 5000;
const BACKOFF = { initialMs: 500, factor: 1.5, steps: 5 };
const LOG_DIR = process.env.FAULTS_LOG_DIR ?? "/tmp";

interface Replica {
  name: string;
  process: Managed;
  port: number;
  agent: Agent;
}

async function startReplica(name: string): Promise<Replica> {
  const logFile = `${LOG_DIR}/webhook-${name}.log`;
  // Compiled (webhook-replica-kill.sh runs tsc first, as bench/admission/run.sh does): under tsx,
  // esbuild's keepNames helper costs more than some of the admission code.
  const compiled = import.meta.url.endsWith(".js");
  const server = fileURLToPath(
    new URL(compiled ? "../admission/server.js" : "../admission/server.ts", import.meta.url),
  );
  const proc = new Managed(
    process.execPath,
    compiled ? [server] : ["--import", "tsx", server],
    { ...process.env, BENCH_PODS: "100" },
    logFile,
  );
  proc.start();
  // server.ts prints {"port":N,"ca":"PEM"} once listening.
  for (let i = 0; i < 600; i++) {
    const text = existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
    const line = text
      .split("\n")
      .reverse()
      .find((l) => l.startsWith('{"port"'));
    if (line) {
      const { port, ca } = JSON.parse(line) as { port: number; ca: string };
      // No client-side queue: the apiserver's transport has no per-host connection limit.
      return { name, process: proc, port, agent: new Agent({ keepAlive: true, ca }) };
    }
    await sleep(100);
  }
  throw new Error(`replica ${name} did not start (log: ${logFile})`);
}

const RETRYABLE = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ECONNABORTED"]);

type CallResult =
  | { kind: "answered"; ok: boolean; what: string; kindOfAnswer: string }
  | { kind: "retryable"; code: string }
  | { kind: "failed"; why: string };

function call(r: Replica, body: string, uid: string): Promise<CallResult> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: r.port,
        path: "/validate/eviction",
        method: "POST",
        agent: r.agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          // What a wrong answer was, for the report: the status and the start of the body.
          const what = `HTTP ${res.statusCode}: ${text.slice(0, 120)}`;
          // The same kind of answer with other figures in it counts once (e.g. "webhook busy: N requests").
          const kindOfAnswer = `HTTP ${res.statusCode}: ${text.slice(0, 60).replace(/\d+/g, "N")}`;
          try {
            const review = JSON.parse(text) as { response?: { uid?: string } };
            const ok = res.statusCode === 200 && review.response?.uid === uid;
            resolve({ kind: "answered", ok, what, kindOfAnswer: ok ? "" : kindOfAnswer });
          } catch {
            resolve({ kind: "answered", ok: false, what, kindOfAnswer });
          }
        });
        res.on("error", () => resolve({ kind: "retryable", code: "ECONNRESET" }));
      },
    );
    // The apiserver's timeoutSeconds bounds the whole call, queueing for a socket included.
    const deadline = setTimeout(() => {
      req.destroy();
      resolve({ kind: "failed", why: `no answer within ${TIMEOUT_MS} ms` });
    }, TIMEOUT_MS);
    req.on("close", () => clearTimeout(deadline));
    req.on("error", (err: NodeJS.ErrnoException) => {
      const code = err.code ?? (err.message === "socket hang up" ? "ECONNRESET" : "unknown");
      resolve(
        RETRYABLE.has(code) || err.message === "socket hang up"
          ? { kind: "retryable", code }
          : { kind: "failed", why: code },
      );
    });
    req.end(body);
  });
}

async function main(): Promise<void> {
  const a = await startReplica("a");
  const b = await startReplica("b");
  const replicas = [a, b];
  const bodies = [evictionReview("web-0"), evictionReview("web-99")];
  let sent = 0;
  let answered = 0;
  let retried = 0;
  let answeredAfterRetry = 0;
  const failures: string[] = [];
  const latencies: number[] = [];
  let killedAt = 0;
  const total = RATE * SECONDS;
  // The driver's own event-loop delay: on a saturated machine the load generator falls behind
  // and reads answers late, and its timeouts then say more about it than about the replicas.
  const driverDelay = monitorEventLoopDelay({ resolution: 20 });
  driverDelay.enable();
  const start = performance.now();
  const inFlight: Array<Promise<void>> = [];
  // Failures by kind, replica and phase, so a failed run says what the answers were.
  const failureKinds = new Map<string, number>();
  /** Retried calls (a connection refused or reset) by code, replica and phase. */
  const retryKinds = new Map<string, number>();
  const fail = (i: number, replica: string, kind: string, detail: string) => {
    // By when the review was sent: the kill comes just before review total/2 is sent.
    const phase = i < total / 2 ? "sent before the kill" : "sent after the kill";
    const key = `${kind} (replica ${replica}, ${phase})`;
    failureKinds.set(key, (failureKinds.get(key) ?? 0) + 1);
    failures.push(`#${i}: ${detail}`);
  };
  const one = async (i: number) => {
    const body = bodies[i % 2]!;
    const uid = (JSON.parse(body) as { request: { uid: string } }).request.uid;
    const due = start + (i * 1000) / RATE;
    let target = i % 2;
    for (let attempt = 0; ; attempt++) {
      const replica = replicas[target]!;
      const result = await call(replica, body, uid);
      if (result.kind === "answered") {
        if (result.ok) {
          answered++;
          if (attempt > 0) answeredAfterRetry++;
          latencies.push(performance.now() - due);
        } else fail(i, replica.name, `a wrong answer, ${result.kindOfAnswer}`, `a wrong answer (${result.what})`);
        return;
      }
      if (result.kind === "failed" || attempt >= BACKOFF.steps) {
        const why = result.kind === "failed" ? result.why : result.code;
        fail(i, replica.name, why, `${why} after ${attempt + 1} attempt(s)`);
        return;
      }
      retried++;
      const retryKey = `${result.code} (replica ${replica.name}, ${i < total / 2 ? "sent before the kill" : "sent after the kill"})`;
      retryKinds.set(retryKey, (retryKinds.get(retryKey) ?? 0) + 1);
      await sleep(BACKOFF.initialMs * BACKOFF.factor ** attempt);
      target = 1 - target;
    }
  };
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    if (!killedAt && i >= total / 2) {
      await b.process.stop("SIGKILL");
      killedAt = performance.now() - start;
      process.stderr.write(`  replica b SIGKILLed at ${(killedAt / 1000).toFixed(1)} s (request ${i})\n`);
    }
    sent++;
    inFlight.push(one(i));
  }
  await Promise.all(inFlight);
  driverDelay.disable();
  const elapsed = (performance.now() - start) / 1000;
  await a.process.stop("SIGTERM");
  latencies.sort((x, y) => x - y);
  const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)] ?? NaN;
  report({
    scenario: "webhook-replica-kill",
    pass: failures.length === 0 && answered === total,
    checks: [
      {
        name: "0 failed admissions",
        pass: failures.length === 0,
        value: `${failures.length} failed of ${sent}${failures.length ? ` (e.g. ${failures.slice(0, 3).join("; ")})` : ""}`,
      },
      { name: "every review answered", pass: answered === total, value: `${answered}/${total}` },
      {
        name: "retries by kind (reported, not a gate; each retried call counts once per retry)",
        pass: true,
        value:
          [...retryKinds]
            .sort((x, y) => y[1] - x[1])
            .map(([k, n]) => `${n} x ${k}`)
            .join("; ") || "none",
      },
      {
        name: "failures by kind (reported, not a gate)",
        pass: true,
        value:
          [...failureKinds]
            .sort((x, y) => y[1] - x[1])
            .map(([k, n]) => `${n} x ${k}`)
            .join("; ") || "none",
      },
    ],
    figures: {
      rate: RATE,
      seconds: SECONDS,
      achievedPerSec: Math.round(sent / elapsed),
      killedAtSeconds: Number((killedAt / 1000).toFixed(1)),
      retries: retried,
      answeredAfterRetry,
      p50ms: Number(p(0.5).toFixed(1)),
      p99ms: Number(p(0.99).toFixed(1)),
      maxMs: Number((latencies.at(-1) ?? NaN).toFixed(1)),
      driverLoopDelayP99Ms: Math.round(driverDelay.percentile(99) / 1e6),
      driverLoopDelayMaxMs: Math.round(driverDelay.max / 1e6),
    },
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`webhook-replica-kill failed: ${(err as Error).stack ?? err}\n`);
  process.exit(2);
});
