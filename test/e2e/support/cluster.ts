// End-to-end harness: one real control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, KWOK nodes) per mocha run, started by hack/cluster-up.sh.
//
// Load it as a mocha root-hook plugin:
//   mocha --node-option import=tsx --require test/e2e/support/cluster.ts 'test/e2e/**/*.e2e.test.ts'
// and import the helpers from test files:
//   import { kubectl, newNamespace, waitFor, coreApi } from "./support/cluster.js";
//
// Environment:
//   BULKHEAD_E2E_KUBECONFIG  reuse a running cluster (e.g. `make cluster-up`, then
//                            BULKHEAD_E2E_KUBECONFIG=.cluster/kubeconfig); nothing is stopped
//   BULKHEAD_E2E_DIR         cluster directory to use instead of a fresh temp dir
//   BULKHEAD_E2E_NODES       number of KWOK nodes (default 3)
//   BULKHEAD_E2E_KEEP=1      leave the cluster running after the run (prints how to reach it)
//   BULKHEAD_KWOK_POD_READY_DELAY  see hack/kwok/README.md
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PolicyV1Api,
  RbacAuthorizationV1Api,
} from "@kubernetes/client-node";
import type { Context, Suite } from "mocha";
import { PodChurnGuard } from "./pod-churn.js";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const HACK = join(REPO_ROOT, "hack");

/** Label that opts a namespace into Bulkhead (DESIGN.md). */
export const OPT_IN_LABEL = "bulkhead.dev/enabled";
/** Label put on every namespace this harness creates. */
export const E2E_LABEL = "bulkhead.dev/e2e";

export interface ClusterInfo {
  /** Cluster directory (pki/, logs/, env); undefined when reusing an external cluster. */
  dir: string | undefined;
  kubeconfig: string;
  binDir: string;
  /** Cluster CA (PEM paths); set when the cluster was started by hack/cluster-up.sh. */
  caCertFile: string | undefined;
  caKeyFile: string | undefined;
  /** Whether this process started the cluster (and so must stop it). */
  owned: boolean;
  /** Milliseconds hack/cluster-up.sh took (0 when reused). */
  startMs: number;
}

interface State {
  cluster?: ClusterInfo;
  kc?: KubeConfig;
  namespaces: string[];
  stopping: boolean;
  /** Pods created ≈ pods replaced, checked after every test (see pod-churn.ts). */
  churn?: PodChurnGuard;
}
// Kept on globalThis so that every module instance (mocha's --require and the test files'
// imports) shares one cluster.
const STATE_KEY = Symbol.for("bulkhead.e2e.cluster");
const g = globalThis as unknown as Record<symbol, State | undefined>;
const state: State = (g[STATE_KEY] ??= { namespaces: [], stopping: false });

function cluster(): ClusterInfo {
  if (!state.cluster) {
    throw new Error("e2e cluster is not running: load test/e2e/support/cluster.ts with mocha --require");
  }
  return state.cluster;
}

export function clusterInfo(): ClusterInfo {
  return cluster();
}
/**
 * The running test recreates up to `count` StatefulSet pods on the same revision on purpose
 * (it evicts or deletes pods, or deletes a node). Every other same-revision recreation fails
 * the run: it means the simulator deleted pods nobody asked it to (hack/kwok/README.md).
 */
export function allowPodRecreations(count: number, reason: string): void {
  state.churn?.allow(count, reason);
}

/** Like allowPodRecreations, for every pod that ran on `node` (the test drains or deletes it). */
export function allowPodRecreationsFromNode(node: string, reason: string): void {
  state.churn?.allowFromNode(node, reason);
}

/** Path of the admin kubeconfig (O=system:masters). */
export function kubeconfigPath(): string {
  return cluster().kubeconfig;
}
/** Directory with etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok (and helm if built). */
export function binDir(): string {
  return cluster().binDir;
}
/** An admin KubeConfig for @kubernetes/client-node (cached). */
export function kubeConfig(): KubeConfig {
  if (!state.kc) {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath());
    state.kc = kc;
  }
  return state.kc;
}
export const coreApi = (): CoreV1Api => kubeConfig().makeApiClient(CoreV1Api);
export const appsApi = (): AppsV1Api => kubeConfig().makeApiClient(AppsV1Api);
export const policyApi = (): PolicyV1Api => kubeConfig().makeApiClient(PolicyV1Api);
export const admissionApi = (): AdmissionregistrationV1Api => kubeConfig().makeApiClient(AdmissionregistrationV1Api);
export const rbacApi = (): RbacAuthorizationV1Api => kubeConfig().makeApiClient(RbacAuthorizationV1Api);
export const coordinationApi = (): CoordinationV1Api => kubeConfig().makeApiClient(CoordinationV1Api);
export const customObjectsApi = (): CustomObjectsApi => kubeConfig().makeApiClient(CustomObjectsApi);

/** A KubeConfig for the same cluster that authenticates with a bearer token (e.g. from `kubectl create token`). */
export function kubeConfigForToken(token: string, user = "token-user"): KubeConfig {
  const admin = kubeConfig();
  const c = admin.getCurrentCluster();
  if (!c) throw new Error("admin kubeconfig has no current cluster");
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [c],
    users: [{ name: user, token }],
    contexts: [{ name: user, cluster: c.name, user }],
    currentContext: user,
  });
  return kc;
}

/**
 * Applies the chart's StatefulsetRollout CRD (generated from api/rollout.ts) and waits until
 * it is served: Established alone is not enough, its storage may still answer 429.
 */
export async function installRolloutCrd(): Promise<void> {
  const crd = "crd/statefulsetrollouts.bulkhead.dev";
  await kubectl(["apply", "--server-side", "--force-conflicts", "-f", join(REPO_ROOT, "charts/bulkhead/crds/")], {
    check: true,
  });
  await kubectl(["wait", "--for=condition=Established", crd, "--timeout=60s"], { check: true });
  await waitFor(async () => (await kubectl(["get", "statefulsetrollouts", "-A"])).code === 0, {
    timeoutMs: 30_000,
    what: "StatefulsetRollouts to be served",
  });
}

/** The helm binary hack/build-control-plane.sh built (`make control-plane` builds it). */
export function helmBinary(): string {
  const beside = join(binDir(), "helm");
  if (existsSync(beside)) return beside;
  const printed = spawnSync(join(HACK, "build-control-plane.sh"), ["--print-bin-dir"], { encoding: "utf8" });
  const fromBuild = join(printed.stdout.trim().split("\n").pop() ?? "", "helm");
  if (printed.status === 0 && existsSync(fromBuild)) return fromBuild;
  throw new Error(`helm not built: run \`make control-plane\` (looked in ${beside} and ${fromBuild})`);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}
export interface KubectlOptions {
  /** Written to kubectl's stdin (e.g. a manifest for `apply -f -`). */
  input?: string;
  /** Adds `--namespace NS`. */
  namespace?: string;
  /** Kill kubectl after this long (default 60 s). */
  timeoutMs?: number;
  /** Throw (with stderr) when kubectl exits non-zero. Default false. */
  check?: boolean;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

/**
 * Run the real kubectl binary against the e2e cluster (asynchronously, so an in-process
 * webhook server can answer while kubectl waits).
 */
export function kubectl(args: string[], opts: KubectlOptions = {}): Promise<RunResult> {
  const full = ["--kubeconfig", kubeconfigPath(), ...(opts.namespace ? ["--namespace", opts.namespace] : []), ...args];
  return run(join(binDir(), "kubectl"), full, opts).then((r) => {
    if (opts.check && r.code !== 0) {
      throw new Error(`kubectl ${args.join(" ")} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    }
    return r;
  });
}

/** `kubectl apply -f -` with the given manifest (YAML or JSON); throws on failure. */
export async function applyManifest(manifest: string, namespace?: string): Promise<string> {
  const r = await kubectl(["apply", "-f", "-"], { input: manifest, check: true, ...(namespace ? { namespace } : {}) });
  return r.stdout;
}

function run(
  cmd: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.on("error", () => {}); // kubectl may exit before reading stdin
    child.stdin.end(opts.input ?? "");
  });
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Describes the condition, for the timeout message ("10 pods Ready"). */
  what?: string;
}

/**
 * Poll `fn` until it returns a truthy value, and return that value. Exceptions thrown by
 * `fn` count as "not yet". On timeout, throws an error naming `what`, the last value and
 * the last error.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 250;
  const started = Date.now();
  let lastErr: unknown;
  let lastValue: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      lastValue = v;
      lastErr = undefined;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() - started >= timeoutMs) {
      const parts = [`timed out after ${timeoutMs}ms waiting for ${opts.what ?? "condition"}`];
      if (lastErr !== undefined) parts.push(`last error: ${describeError(lastErr)}`);
      else parts.push(`last value: ${safeJson(lastValue)}`);
      throw new Error(parts.join("; "));
    }
    await sleep(Math.min(intervalMs, Math.max(0, timeoutMs - (Date.now() - started))));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function describeError(err: unknown): string {
  if (err && typeof err === "object") {
    const e = err as { message?: string; code?: unknown; body?: unknown };
    const body = typeof e.body === "string" ? e.body : e.body ? safeJson(e.body) : "";
    return [e.message, e.code !== undefined ? `code=${String(e.code)}` : "", body]
      .filter(Boolean)
      .join(" ")
      .slice(0, 800);
  }
  return String(err);
}
function safeJson(v: unknown): string {
  try {
    return (JSON.stringify(v) ?? String(v)).slice(0, 800);
  } catch {
    return String(v);
  }
}

export interface NamespaceOptions {
  /** Label the namespace bulkhead.dev/enabled=true so Bulkhead manages it. */
  optIn?: boolean;
  labels?: Record<string, string>;
}

/**
 * Create a namespace unique to this test (`<prefix>-<random>`), wait until its default
 * ServiceAccount exists (pods can be created), and return its name. Namespaces are deleted
 * at the end of the run when the cluster is reused; an owned cluster is simply stopped.
 */
export async function newNamespace(prefix: string, opts: NamespaceOptions = {}): Promise<string> {
  const base =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 50) || "e2e";
  const name = `${base}-${randomBytes(3).toString("hex")}`;
  const labels: Record<string, string> = { [E2E_LABEL]: "true", ...opts.labels };
  if (opts.optIn) labels[OPT_IN_LABEL] = "true";
  const core = coreApi();
  await core.createNamespace({ body: { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } } });
  state.namespaces.push(name);
  await waitFor(() => core.readNamespacedServiceAccount({ name: "default", namespace: name }), {
    timeoutMs: 30_000,
    intervalMs: 100,
    what: `ServiceAccount default in namespace ${name}`,
  });
  return name;
}

export interface ServingCert {
  certPem: string;
  keyPem: string;
  /** PEM of the CA that signed certPem (use base64 of it as a webhook caBundle). */
  caPem: string;
}

/**
 * Issue a serving certificate signed by the cluster CA (SANs default to 127.0.0.1 and
 * localhost), for HTTPS servers the apiserver calls (webhooks). Needs a cluster started by
 * hack/cluster-up.sh, or BULKHEAD_CA_CERT/BULKHEAD_CA_KEY for a reused one.
 */
export function issueServingCert(opts: { ips?: string[]; dns?: string[]; cn?: string } = {}): ServingCert {
  const c = cluster();
  const caCert = c.caCertFile ?? process.env.BULKHEAD_CA_CERT;
  const caKey = c.caKeyFile ?? process.env.BULKHEAD_CA_KEY;
  if (!caCert || !caKey) throw new Error("cluster CA unknown: set BULKHEAD_CA_CERT and BULKHEAD_CA_KEY");
  const ips = opts.ips ?? ["127.0.0.1"];
  const dns = opts.dns ?? ["localhost"];
  const work = mkdtempSync(join(tmpdir(), "bulkhead-cert-"));
  try {
    const key = join(work, "tls.key");
    const csr = join(work, "tls.csr");
    const crt = join(work, "tls.crt");
    const ext = join(work, "ext.cnf");
    const san = [...ips.map((i) => `IP:${i}`), ...dns.map((d) => `DNS:${d}`)].join(",");
    writeFileSync(
      ext,
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
    );
    const openssl = (args: string[]): void => {
      const r = spawnSync("openssl", args, { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
    };
    openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key]);
    openssl(["req", "-new", "-key", key, "-subj", `/CN=${opts.cn ?? "bulkhead-e2e-server"}`, "-out", csr]);
    openssl([
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      caCert,
      "-CAkey",
      caKey,
      "-CAcreateserial",
      "-CAserial",
      join(work, "ca.srl"),
      "-days",
      "2",
      "-sha256",
      "-extfile",
      ext,
      "-out",
      crt,
    ]);
    return {
      certPem: readFileSync(crt, "utf8"),
      keyPem: readFileSync(key, "utf8"),
      caPem: readFileSync(caCert, "utf8"),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------
// Cluster lifecycle (root hooks)

function parseEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

function runScript(script: string, args: string[], timeoutMs: number): Promise<RunResult> {
  // stderr (progress) is streamed so a slow first build is visible; stdout is captured.
  return new Promise((resolvePromise, reject) => {
    const child = spawn(join(HACK, script), args, { stdio: ["ignore", "pipe", "pipe"], env: process.env });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      if (process.env.BULKHEAD_E2E_QUIET !== "1") process.stderr.write(d);
    });
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? 1, stdout, stderr });
    });
  });
}

async function startCluster(): Promise<ClusterInfo> {
  const external = process.env.BULKHEAD_E2E_KUBECONFIG;
  if (external) {
    let bin = process.env.BULKHEAD_BIN;
    if (!bin) {
      const r = await runScript("build-control-plane.sh", ["--print-bin-dir", "kube"], 60_000);
      bin = r.stdout.trim().split("\n").pop();
      if (r.code !== 0 || !bin) throw new Error(`cannot locate kubectl: ${r.stderr}`);
    }
    const envFile = join(dirname(resolve(external)), "env");
    const env = existsSync(envFile) ? parseEnvFile(envFile) : {};
    return {
      dir: env.BULKHEAD_CLUSTER_DIR,
      kubeconfig: resolve(external),
      binDir: bin,
      caCertFile: env.BULKHEAD_CA_CERT ?? process.env.BULKHEAD_CA_CERT,
      caKeyFile: env.BULKHEAD_CA_KEY ?? process.env.BULKHEAD_CA_KEY,
      owned: false,
      startMs: 0,
    };
  }
  const dir = process.env.BULKHEAD_E2E_DIR
    ? resolve(process.env.BULKHEAD_E2E_DIR)
    : mkdtempSync(join(tmpdir(), "bulkhead-e2e-"));
  mkdirSync(dir, { recursive: true });
  const nodes = process.env.BULKHEAD_E2E_NODES ?? "3";
  const t0 = Date.now();
  // cluster-up builds missing binaries first; a cold build can take a long time.
  const r = await runScript("cluster-up.sh", ["--dir", dir, "--nodes", nodes], 3 * 3600_000);
  if (r.code !== 0)
    throw new Error(`hack/cluster-up.sh failed (exit ${r.code}); logs in ${dir}/logs\n${r.stderr.slice(-3000)}`);
  const env = parseEnvFile(join(dir, "env"));
  const need = (k: string): string => {
    const v = env[k];
    if (!v) throw new Error(`${dir}/env lacks ${k}`);
    return v;
  };
  return {
    dir,
    kubeconfig: need("KUBECONFIG"),
    binDir: need("BULKHEAD_BIN"),
    caCertFile: need("BULKHEAD_CA_CERT"),
    caKeyFile: need("BULKHEAD_CA_KEY"),
    owned: true,
    startMs: Date.now() - t0,
  };
}

function anyFailed(suite: Suite | undefined): boolean {
  if (!suite) return false;
  return suite.tests.some((t) => t.state === "failed") || suite.suites.some(anyFailed);
}

function stopClusterSync(reason: string): void {
  const c = state.cluster;
  if (!c?.owned || !c.dir || state.stopping) return;
  state.stopping = true;
  process.stderr.write(`[e2e] stopping cluster in ${c.dir} (${reason})\n`);
  spawnSync(join(HACK, "cluster-down.sh"), ["--dir", c.dir], { stdio: ["ignore", "ignore", "inherit"] });
}

let signalHandlersInstalled = false;
function installSignalHandlers(): void {
  if (signalHandlersInstalled) return;
  signalHandlersInstalled = true;
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      if (process.env.BULKHEAD_E2E_KEEP !== "1") stopClusterSync(sig);
      process.exit(130);
    });
  }
  process.once("exit", () => {
    if (process.env.BULKHEAD_E2E_KEEP !== "1") stopClusterSync("exit");
  });
}

export const mochaHooks = {
  async beforeAll(this: Context): Promise<void> {
    this.timeout(3 * 3600_000);
    if (state.cluster) return;
    installSignalHandlers();
    state.cluster = await startCluster();
    const c = state.cluster;
    process.stderr.write(
      `[e2e] cluster ${c.owned ? `started in ${c.startMs}ms at ${c.dir}` : `reused via ${c.kubeconfig}`}; KUBECONFIG=${c.kubeconfig}\n`,
    );
    state.churn = await PodChurnGuard.start(kubeConfig(), (ns) => state.namespaces.includes(ns));
  },

  beforeEach(): void {
    state.churn?.beginTest();
  },

  async afterEach(this: Context): Promise<void> {
    this.timeout(60_000);
    const title = this.currentTest?.fullTitle() ?? "unknown test";
    const problem = await state.churn?.endTest(title);
    // Reported now, failed at the end: a failing root afterEach hook would skip every later test.
    if (problem) process.stderr.write(`[e2e] POD CHURN in "${title}": ${problem}\n`);
  },

  async afterAll(this: Context): Promise<void> {
    this.timeout(120_000);
    const c = state.cluster;
    if (!c) return;
    state.churn?.stop();
    const churn = state.churn?.violations() ?? [];
    await stopOrCleanUp.call(this, c, churn.length > 0);
    if (churn.length > 0) {
      throw new Error(
        `pods created ≠ pods replaced in ${churn.length} test(s); the run is not valid:\n  ${churn.join("\n  ")}`,
      );
    }
  },
};

/** End of run: an owned cluster is stopped (logs kept when something failed), a reused one cleaned up. */
async function stopOrCleanUp(this: Context, c: ClusterInfo, churnFailed: boolean): Promise<void> {
  if (!c.owned) {
    // Reused cluster: delete what this run created, without waiting.
    for (const ns of state.namespaces) {
      // A rollout's finalizer (api/lifecycle.ts) is removed only by a running reconciler, and
      // this run's are stopped: drop it, or the namespace would stay Terminating. Everything
      // in the namespace is deleted anyway.
      const rollouts = await kubectl(["get", "statefulsetrollouts", "-n", ns, "-o", "name"]).catch(() => undefined);
      for (const name of (rollouts?.code === 0 ? rollouts.stdout : "").split("\n").filter(Boolean)) {
        await kubectl(["patch", name, "-n", ns, "--type=merge", "-p", '{"metadata":{"finalizers":null}}']).catch(
          () => undefined,
        );
      }
      await kubectl(["delete", "namespace", ns, "--wait=false", "--ignore-not-found"]).catch(() => undefined);
    }
    return;
  }
  if (process.env.BULKHEAD_E2E_KEEP === "1") {
    process.stderr.write(
      `[e2e] BULKHEAD_E2E_KEEP=1: cluster left running; source ${c.dir}/env; stop with hack/cluster-down.sh --dir ${c.dir}\n`,
    );
    return;
  }
  const failed = churnFailed || anyFailed(this.test?.parent);
  stopClusterSync("end of run");
  if (c.dir && !failed && !process.env.BULKHEAD_E2E_DIR) rmSync(c.dir, { recursive: true, force: true });
  else if (c.dir) process.stderr.write(`[e2e] component logs kept in ${c.dir}/logs\n`);
}
