// Shared pieces of the fault scenarios (bench/faults/*.ts): a seeded PRNG, process groups that
// can be SIGKILLed and restarted, condition waits with a time bound, the rollout every scenario
// rolls out, and the result line every scenario prints. Loopback only.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, createWriteStream, existsSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";

import { seedFromEnv as seedFrom } from "../../test/support/seeded-random.js";

export { seededRandom } from "../../test/support/seeded-random.js";

/** FAULTS_SEED, or a fresh seed; every scenario prints the one it used. */
export const seedFromEnv = (): number => seedFrom("FAULTS_SEED");

export function intEnv(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new Error(`${name} must be an integer >= ${min} (got ${raw})`);
  return Number(raw);
}

/** Node arguments that start the reconciler: compiled JS when the scenario built it (lib.sh), else tsx. */
export function reconcilerArgs(): string[] {
  const compiled = process.env.FAULTS_RECONCILER_JS;
  return compiled ? [compiled] : ["--import", "tsx", "reconciler/main.ts"];
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until true; throws naming `what` after `timeoutMs` (every scenario is bounded). */
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 250,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await cond()) return;
    } catch {
      // Transient (e.g. the apiserver is restarting): poll again.
    }
    if (Date.now() > end) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

export const ROLLOUT_CRD = { group: "bulkhead.dev", version: "v1alpha1", plural: "statefulsetrollouts" } as const;

/**
 * The rollout every cluster scenario rolls out: `pods` pods (Parallel pod management, so a
 * wave's replacements start together), PDB budget `maxUnavailable`, all at once (percent 100).
 */
export function faultsRollout(opts: {
  namespace: string;
  image: string;
  pods: number;
  maxUnavailable: number;
  templateLabels?: Record<string, string>;
}) {
  return {
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: { name: "app", namespace: opts.namespace },
    spec: {
      percent: 100,
      progressDeadlineSeconds: 3600,
      disruptionPolicy: { maxUnavailable: opts.maxUnavailable },
      statefulset: {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: "app" },
        spec: {
          replicas: opts.pods,
          serviceName: "app",
          podManagementPolicy: "Parallel",
          selector: { matchLabels: { app: "faults" } },
          template: {
            metadata: { labels: { app: "faults", ...opts.templateLabels } },
            spec: { containers: [{ name: "app", image: opts.image }] },
          },
        },
      },
    },
  };
}

/** The JSON patch that starts a rollout: a new image for faultsRollout's container. */
export function newImagePatch(image: string) {
  return [{ op: "replace", path: "/spec/statefulset/spec/template/spec/containers/0/image", value: image }];
}

/**
 * A process in its own process group, so SIGKILL reaches tsx and its node child together. With
 * `restartAfterExitMs`, a process that exits by itself (not through stop()) is started again after
 * that delay, as the kubelet restarts a container.
 */
export class Managed {
  private child: ChildProcess | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  starts = 0;
  /** Exits not asked for by stop(), e.g. the reconciler exiting when it loses the leader Lease. */
  readonly unplannedExits: string[] = [];

  constructor(
    private readonly command: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly logFile: string,
    private readonly restartAfterExitMs?: number,
  ) {}

  start(): void {
    const log = createWriteStream(this.logFile, { flags: "a" });
    log.write(`--- start ${++this.starts} at ${new Date().toISOString()}\n`);
    const child = spawn(this.command, this.args, { env: this.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.child = child;
    child.once("exit", (code, signal) => {
      if (this.stopping || this.child !== child) return;
      this.child = undefined;
      this.unplannedExits.push(`${new Date().toISOString()} ${signal ?? `exit ${code}`}`);
      if (this.restartAfterExitMs === undefined) return;
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        this.start();
      }, this.restartAfterExitMs);
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Signals the whole group and waits for the process to exit (bounded). */
  async stop(signal: NodeJS.Signals = "SIGKILL", timeoutMs = 10_000): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    this.stopping = true;
    try {
      process.kill(-child.pid, signal);
      await Promise.race([exited, sleep(timeoutMs)]);
    } catch {
      // Already gone.
    } finally {
      this.stopping = false;
      this.child = undefined;
    }
  }
}

/** The command line of a running process, from /proc (to restart it exactly as it was). */
export function commandLineOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, "utf8")
    .split("\0")
    .filter((s) => s !== "");
}

export function machine(): string {
  const cpus = readFileSync("/proc/cpuinfo", "utf8")
    .split("\n")
    .filter((l) => l.startsWith("processor")).length;
  const memKb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
  return `${cpus} cores, ${Math.round(memKb / 1048576)} GiB`;
}

export function loadAverage(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

/**
 * Pods the reconciler took down, per "<namespace>/<pod>", from its "take down" log lines with
 * result "evicted" (reconciler/controller.ts: one line per pod after its delete), over every log
 * given (one per replica or life). A line cut by SIGKILL is skipped, so this can only undercount.
 */
export function loggedTakeDowns(files: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const file of files) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (!line.includes('"msg":"take down"')) continue;
      try {
        const e = JSON.parse(line) as { rollout?: string; pod?: string; result?: string };
        if (e.result !== "evicted" || !e.rollout || !e.pod) continue;
        const key = `${e.rollout.split("/")[0]}/${e.pod}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      } catch {
        // A line cut by SIGKILL.
      }
    }
  }
  return counts;
}

/** The take-down check's value and verdict: how many, and which pods more than once. */
export function takeDownCheck(counts: Map<string, number>, pods: number): { pass: boolean; value: string } {
  const twice = [...counts].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return {
    pass: twice.length === 0,
    value: `${total} take-downs logged for ${pods} pods; taken down twice: ${twice.slice(0, 5).join(", ") || "none"}`,
  };
}

export interface Verdict {
  scenario: string;
  pass: boolean;
  checks: Array<{ name: string; pass: boolean; value: string }>;
  figures: Record<string, string | number>;
}

/** Prints the verdict (human lines on stderr, one JSON line on stdout) and sets the exit code. */
export function report(v: Verdict): void {
  for (const c of v.checks) process.stderr.write(`  ${c.pass ? "PASS" : "FAIL"}  ${c.name}: ${c.value}\n`);
  process.stderr.write(`  figures: ${JSON.stringify(v.figures)}\n`);
  process.stderr.write(`${v.scenario}: ${v.pass ? "PASS" : "FAIL"}\n`);
  process.stdout.write(
    `${JSON.stringify({ ...v, loadAverage: loadAverage(), machine: machine(), at: new Date().toISOString() })}\n`,
  );
  process.exitCode = v.pass ? 0 : 1;
}

/**
 * Restarts control-plane components (kube-scheduler, kube-controller-manager, kwok) that exit,
 * with their original command lines, as the kubelet restarts static pods on a real node. Without
 * it a component that exits after an apiserver restart (kube-scheduler exits when it finds its
 * cache inconsistent after re-listing) leaves new pods Pending for ever, and the scenario would
 * measure the loopback cluster's missing supervisor rather than Bulkhead.
 */
export class ControlPlaneSupervisor {
  /** Restarts so far, by component name. */
  readonly restarts: Record<string, number> = {};
  private readonly argv = new Map<string, string[]>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dir: string,
    private readonly names: readonly string[],
  ) {
    for (const name of names) this.argv.set(name, commandLineOf(this.pid(name)));
  }

  start(everyMs = 500): void {
    this.timer = setInterval(() => this.check(), everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private pid(name: string): number {
    return Number(readFileSync(`${this.dir}/pids/${name}.pid`, "utf8").trim());
  }

  private check(): void {
    for (const name of this.names) {
      if (isAlive(this.pid(name))) continue;
      const argv = this.argv.get(name)!;
      const log = openSync(`${this.dir}/logs/${name}.log`, "a");
      writeSync(log, `--- ${name} exited; restarted by the fault harness at ${new Date().toISOString()}\n`);
      const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ["ignore", log, log] });
      child.unref();
      closeSync(log);
      writeFileSync(`${this.dir}/pids/${name}.pid`, `${child.pid}\n`);
      this.restarts[name] = (this.restarts[name] ?? 0) + 1;
      process.stderr.write(`  ${name} exited: restarted (as the kubelet would a static pod)\n`);
    }
  }
}

/** Running and not a zombie. */
export function isAlive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
}
