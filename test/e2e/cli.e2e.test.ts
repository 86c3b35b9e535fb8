// `kubectl sroll` on the real control plane (issue 9): the real kubectl binary finds the
// plugin on PATH (cli/kubectl-sroll.js, as `npm link` installs it), and drives a rollout run by
// the real reconciler process (reconciler/main.ts) through apply, phases, pause, promote,
// resume, rollback, a failure, retry and a rollback out of the failure. `status -w` exits 0
// when a rollout is done and non-zero when it fails; refusals exit 1 and change nothing.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { expect } from "chai";
import { API_VERSION, PLURAL } from "../../api/labels.js";
import {
  binDir,
  coreApi,
  customObjectsApi,
  installRolloutCrd,
  kubeConfig,
  kubeconfigPath,
  newNamespace,
  REPO_ROOT,
  waitFor,
  type RunResult,
} from "./support/cluster.js";

const [GROUP, VERSION] = API_VERSION.split("/") as [string, string];
const NAME = "web-e2e";
const REPLICAS = 4;
const image = (tag: string): string => `registry.example/bulkhead/web:${tag}`;

/** A service config in the documented format (docs/config-format.md). */
function serviceConfig(cluster: string): string {
  return `images:
  web:
    dockerfile: Dockerfile
services:
  web:
    kind: StatefulSet
    disruption_policy:
      max_unavailable: 50%
    containers:
      - image: web
        resources: { requests: { cpu: 10m, memory: 16Mi } }
    stages:
      e2e:
        strategy: OnDelete
        orchestration:
          min_pod_eviction_interval_seconds: 0
          phases: [25, 50, 100]
          progress_deadline_seconds: 8
        clusters: [${cluster}]
        replicas: ${REPLICAS}
`;
}

interface RolloutView {
  metadata: { generation?: number };
  spec: {
    percent: number;
    pauseRequested?: boolean;
    rolloutIdentity?: string;
    statefulset: { spec: { template: unknown } };
  };
  status?: { phase?: string; paused?: boolean; observedGeneration?: number; rolloutIdentity?: string; reason?: string };
}

describe("kubectl sroll through kubectl's plugin lookup, with the real reconciler", function () {
  this.bail(true); // each step builds on the one before
  let namespace = "";
  let pluginDir = "";
  let configFile = "";
  let context = "";
  let reconciler: ChildProcess | undefined;
  let reconcilerLog = "";

  /** `kubectl sroll ARGS` exactly as a user types it (kubectl takes no flags before a plugin name). */
  function sroll(...args: string[]): Promise<RunResult> {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: [pluginDir, binDir(), process.env.PATH ?? ""].join(delimiter),
      NO_COLOR: "1",
    };
    delete env.KUBECONFIG; // the flags below must be what selects the cluster
    return run(
      join(binDir(), "kubectl"),
      ["sroll", ...args, "--kubeconfig", kubeconfigPath(), "--context", context, "-n", namespace],
      env,
      150_000,
    );
  }

  /** `kubectl sroll status NAME -w`, interrupted (SIGINT, as Ctrl-C) once it has shown the rollout. */
  function interruptedWatch(): Promise<RunResult> {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: [pluginDir, binDir(), process.env.PATH ?? ""].join(delimiter),
      NO_COLOR: "1",
    };
    delete env.KUBECONFIG;
    const args = [
      "sroll",
      "status",
      NAME,
      "-w",
      "--kubeconfig",
      kubeconfigPath(),
      "--context",
      context,
      "-n",
      namespace,
    ];
    return new Promise((resolve, reject) => {
      const child = spawn(join(binDir(), "kubectl"), args, { env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      let sent = false;
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        stderr += d;
        // The first progress line means the watch is running; now press Ctrl-C.
        if (!sent && /updated \d+\/\d+/.test(stderr)) {
          sent = true;
          child.kill("SIGINT");
        }
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      child.on("error", reject);
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      });
    });
  }

  async function rollout(): Promise<RolloutView> {
    return (await customObjectsApi().getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace,
      name: NAME,
    })) as RolloutView;
  }

  /** "image (Ready)" of every live pod, sorted: what the assertions compare. */
  async function podImages(): Promise<string[]> {
    const pods = await coreApi().listNamespacedPod({ namespace, labelSelector: `app=${NAME}` });
    return pods.items
      .filter((p) => !p.metadata?.deletionTimestamp)
      .map(
        (p) =>
          `${p.spec?.containers[0]?.image ?? "?"}${p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ? "" : " (not Ready)"}`,
      )
      .sort();
  }

  /** Waits until exactly these images run on Ready pods, e.g. {v1: 3, v2: 1}. */
  async function expectPods(expected: Record<string, number>): Promise<void> {
    const want = Object.entries(expected)
      .flatMap(([img, n]) => Array<string>(n).fill(img))
      .sort();
    let seen: string[] = [];
    try {
      await waitFor(async () => JSON.stringify((seen = await podImages())) === JSON.stringify(want), {
        timeoutMs: 30_000,
        what: `pods ${want.join(", ")}`,
      });
    } catch (err) {
      throw new Error(
        `${(err as Error).message}; pods seen: ${seen.join(", ")}; rollout status: ${JSON.stringify((await rollout()).status)}`,
      );
    }
  }

  /** `status -w`, which must end with `code`. */
  async function watchUntilEnd(code: number): Promise<RunResult> {
    const r = await sroll("status", NAME, "-w", "--timeout", "120s");
    expect(
      r.code,
      `status -w exit code\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}\nreconciler:\n${reconcilerLog.slice(-3000)}`,
    ).to.equal(code);
    return r;
  }

  function expectOk(r: RunResult, what: string): void {
    expect(r.code, `${what}: ${r.stderr}`).to.equal(0);
  }

  before(async function () {
    this.timeout(120_000);
    await installRolloutCrd();
    namespace = await newNamespace("sroll-cli");
    context = kubeConfig().getCurrentContext();

    // What `npm link` does: a kubectl-sroll on PATH pointing at the launcher in the checkout.
    pluginDir = mkdtempSync(join(tmpdir(), "sroll-plugin-"));
    symlinkSync(join(REPO_ROOT, "cli/kubectl-sroll.js"), join(pluginDir, "kubectl-sroll"));
    configFile = join(pluginDir, "service.yaml");
    writeFileSync(configFile, serviceConfig(kubeConfig().getCurrentCluster()?.name ?? "unknown"));

    reconciler = spawn(process.execPath, ["--import", "tsx", "reconciler/main.ts"], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        KUBECONFIG: kubeconfigPath(),
        BULKHEAD_DISABLE_LEADER_ELECTION: "true",
        BULKHEAD_METRICS_HOST: "127.0.0.1",
        BULKHEAD_METRICS_PORT: "0",
        LOG_LEVEL: "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    reconciler.stdout?.setEncoding("utf8").on("data", (d: string) => (reconcilerLog += d));
    reconciler.stderr?.setEncoding("utf8").on("data", (d: string) => (reconcilerLog += d));
    await waitFor(() => reconcilerLog.includes("leading: reconciling") || reconciler?.exitCode !== null, {
      timeoutMs: 60_000,
      what: "the reconciler to start",
    });
    expect(reconciler.exitCode, `reconciler exited:\n${reconcilerLog}`).to.equal(null);
  });

  after(async () => {
    if (reconciler && reconciler.exitCode === null) {
      const exited = new Promise((resolve) => reconciler?.once("exit", resolve));
      reconciler.kill("SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (reconciler.exitCode === null) reconciler.kill("SIGKILL");
    }
    if (pluginDir) rmSync(pluginDir, { recursive: true, force: true });
  });

  it("is found by kubectl's plugin lookup and answers --help", async () => {
    const list = await run(
      join(binDir(), "kubectl"),
      ["plugin", "list"],
      { ...process.env, PATH: [pluginDir, binDir(), process.env.PATH ?? ""].join(delimiter) },
      30_000,
    );
    expect(list.stdout).to.include(join(pluginDir, "kubectl-sroll"));
    const help = await sroll("promote", "--help");
    expectOk(help, "promote --help");
    expect(help.stdout).to.include("Usage: kubectl-sroll promote").and.include("Examples:");
  });

  it("render turns the config file into a StatefulsetRollout", async () => {
    const r = await sroll("render", configFile, "--stage", "e2e", "--image", `web=${image("v1")}`, "-o", "json");
    expectOk(r, "render");
    const object = JSON.parse(r.stdout) as {
      metadata: { name: string; namespace: string };
      spec: { percent: number; phases: number[] };
    };
    expect(object.metadata).to.deep.include({ name: NAME, namespace });
    expect(object.spec).to.deep.include({ percent: 25, phases: [25, 50, 100] });
  });

  it("apply creates the rollout; status -w follows it to RolloutDone and exits 0", async () => {
    const r = await sroll("apply", configFile, "--stage", "e2e", "--image", `web=${image("v1")}`);
    expectOk(r, "apply");
    expect(r.stdout).to.match(
      new RegExp(`^statefulsetrollout.bulkhead.dev/${NAME} created \\(rollout identity \\w+\\)`),
    );
    await watchUntilEnd(0);
    await expectPods({ [image("v1")]: REPLICAS });
    const listed = await sroll("list");
    expectOk(listed, "list");
    expect(listed.stdout).to.match(
      new RegExp(`^NAME +PHASE +PERCENT +UPDATED +READY +TOTAL +AGE\\n${NAME} +RolloutDone +25% +4 +4 +4 +`),
    );
  });

  it("a new image stops at the first phase (25%: one pod)", async () => {
    const r = await sroll("apply", configFile, "--stage", "e2e", "--image", `web=${image("v2")}`);
    expectOk(r, "apply v2");
    expect(r.stdout).to.include("configured: new rollout");
    await watchUntilEnd(0);
    await expectPods({ [image("v1")]: 3, [image("v2")]: 1 });
  });

  it("pause holds the rollout where it is, even when promoted", async () => {
    expectOk(await sroll("pause", NAME), "pause");
    const promoted = await sroll("promote", NAME);
    expectOk(promoted, "promote while paused");
    expect(promoted.stdout).to.include("spec.percent: 25 → 50");
    expect(promoted.stderr).to.include("paused; it moves towards 50% once resumed");
    await waitFor(async () => (await rollout()).status?.phase === "Paused", {
      timeoutMs: 30_000,
      what: "phase Paused",
    });
    const again = await sroll("pause", NAME);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/already paused/);
    await expectPods({ [image("v1")]: 3, [image("v2")]: 1 });
    const status = await sroll("status", NAME);
    expectOk(status, "status");
    expect(status.stdout).to.match(/Paused: +yes/);
    // A paused rollout never ends by itself: Ctrl-C leaves the watch with 130, changing nothing.
    const generation = (await rollout()).metadata.generation;
    const watch = await interruptedWatch();
    expect(watch.code, watch.stderr).to.equal(130);
    expect(watch.stderr).to.include(`interrupted; ${NAME} is Paused`);
    expect((await rollout()).metadata.generation).to.equal(generation);
  });

  it("resume continues to the promoted phase (50%: two pods)", async () => {
    const r = await sroll("resume", NAME);
    expectOk(r, "resume");
    expect(r.stdout).to.include("spec.pauseRequested: true → false");
    await watchUntilEnd(0);
    await expectPods({ [image("v1")]: 2, [image("v2")]: 2 });
    const refused = await sroll("resume", NAME);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.include("is not paused");
  });

  it("promote to a given percent finishes the rollout", async () => {
    expectOk(await sroll("promote", NAME, "100"), "promote 100");
    await watchUntilEnd(0);
    await expectPods({ [image("v2")]: REPLICAS });
    const r = await sroll("promote", NAME);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include("already at its last phase");
  });

  it("rollback returns every pod to the previous template", async () => {
    const r = await sroll("rollback", NAME);
    expectOk(r, "rollback");
    expect(r.stdout).to.include(`spec.statefulset.spec.template: web=${image("v2")} → web=${image("v1")}`);
    await watchUntilEnd(0);
    await expectPods({ [image("v1")]: REPLICAS });
  });

  it("status -w exits non-zero when the rollout fails, and a failed rollout is not promoted", async () => {
    expectOk(
      await sroll("apply", configFile, "--stage", "e2e", "--image", `web=${image("v3-never-ready")}`),
      "apply a version that never gets Ready",
    );
    const r = await watchUntilEnd(1);
    expect(r.stderr).to.match(new RegExp(`rollout ${NAME} failed: .*not Ready within progressDeadlineSeconds`));
    const status = await sroll("status", NAME);
    expect(status.code, "status of a failed rollout").to.equal(1);
    const promoted = await sroll("promote", NAME);
    expect(promoted.code).to.equal(1);
    expect(promoted.stderr).to.include("has failed");
    expect((await rollout()).spec.percent).to.equal(25);
  });

  it("retry restarts the failed rollout under a new identity (and it fails again)", async () => {
    const before = await rollout();
    const r = await sroll("retry", NAME);
    expectOk(r, "retry");
    const after = await rollout();
    expect(after.spec.rolloutIdentity).to.be.a("string").and.not.equal(before.spec.rolloutIdentity);
    // The reconciler takes the new identity up, restarts, and the same bad version fails again.
    await waitFor(async () => (await rollout()).status?.rolloutIdentity === after.spec.rolloutIdentity, {
      timeoutMs: 30_000,
      what: "the new identity in status",
    });
    await watchUntilEnd(1);
  });

  it("rollback out of the failure brings every pod back, Ready, on the last good version", async () => {
    const r = await sroll("rollback", NAME);
    expectOk(r, "rollback");
    expect(r.stdout).to.include("spec.percent: 25 → 100");
    await watchUntilEnd(0);
    await expectPods({ [image("v1")]: REPLICAS });
  });
});

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}
