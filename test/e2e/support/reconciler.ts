// The reconciler as a real process (node_modules/.bin/tsx reconciler/main.ts) for e2e tests:
// started in its own process group on the test cluster's admin kubeconfig, stopped by signal.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { kubeconfigPath, kubectl, REPO_ROOT, waitFor } from "./cluster.js";

export const CONTROL_NAMESPACE = "bulkhead-system";
const LOG_DIR = mkdtempSync(join(tmpdir(), "bulkhead-reconciler-e2e-"));

// --- the reconciler process -----------------------------------------------------------------

export interface RunningReconciler {
  child: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
}

const leaseName = `e2e-reconciler-${randomBytes(3).toString("hex")}`;

// A release API for the tests' bapi callbacks: started before any reconciler, because the
// reconciler only calls URLs under its allow-list (BULKHEAD_CALLBACK_ALLOWED_URL_PREFIXES).
export const callbacksReceived: unknown[] = [];
const callbackServer: Server = createServer((req, res) => {
  let body = "";
  req.on("data", (c: Buffer) => (body += c.toString()));
  req.on("end", () => {
    callbacksReceived.push(JSON.parse(body));
    res.writeHead(200).end("{}");
  });
});
await new Promise<void>((r) => callbackServer.listen(0, "127.0.0.1", r));
callbackServer.unref();
export const CALLBACK_URL = `http://127.0.0.1:${(callbackServer.address() as { port: number }).port}/callback`;
export const running: RunningReconciler[] = [];

export function startReconciler(identity: string): RunningReconciler {
  const logFile = join(LOG_DIR, `${identity}.log`);
  const out = createWriteStream(logFile);
  const child = spawn(join(REPO_ROOT, "node_modules/.bin/tsx"), ["reconciler/main.ts"], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PATH: `${join(REPO_ROOT, "node_modules/.bin")}:${process.env.PATH ?? ""}`,
      KUBECONFIG: kubeconfigPath(),
      BULKHEAD_NAMESPACE: CONTROL_NAMESPACE,
      BULKHEAD_LEASE_NAME: leaseName,
      BULKHEAD_LEASE_DURATION_SECONDS: "3",
      BULKHEAD_METRICS_PORT: "0",
      BULKHEAD_METRICS_HOST: "127.0.0.1",
      POD_NAME: identity,
      LOG_LEVEL: "info",
      BULKHEAD_CALLBACK_ALLOWED_URL_PREFIXES: CALLBACK_URL,
    },
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group: a signal reaches tsx's node child too (tsx cannot relay SIGKILL).
    detached: true,
  });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const r = { child, logFile, exited };
  running.push(r);
  return r;
}

export async function stopReconciler(r: RunningReconciler, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (r.child.exitCode === null && r.child.signalCode === null) {
    try {
      process.kill(-r.child.pid!, signal);
    } catch {
      r.child.kill(signal);
    }
  }
  await r.exited;
  // Wait for the whole group (tsx's child) to be gone.
  await waitFor(
    () => {
      try {
        process.kill(-r.child.pid!, 0);
        return false;
      } catch {
        return true;
      }
    },
    { timeoutMs: 10_000, intervalMs: 50, what: "reconciler process group gone" },
  );
  const index = running.indexOf(r);
  if (index >= 0) running.splice(index, 1);
}

/** The namespace the reconciler keeps its Lease in. */
export async function ensureControlNamespace(): Promise<void> {
  const exists = await kubectl(["get", "namespace", CONTROL_NAMESPACE]);
  if (exists.code !== 0) await kubectl(["create", "namespace", CONTROL_NAMESPACE], { check: true });
}

/** The last lines of every started reconciler's log (for a failed test). */
export function reconcilerLogTails(lines = 30): string {
  return running
    .map((r) => `--- ${r.logFile} (tail)\n${readFileSync(r.logFile, "utf8").split("\n").slice(-lines).join("\n")}\n`)
    .join("");
}
