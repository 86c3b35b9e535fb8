// `kubectl sroll dashboard` in a real headless browser (Chromium from the OS packages, driven by
// puppeteer-core; hack/install-browser.sh installs it) against the real control plane, with the
// real reconciler process and the dashboard process as a user starts it. The overview lists the
// rollouts; a 30-pod rollout's tiles change colour wave by wave without a reload; the Pause
// button pauses it; a drain refused by the leak guard (the webhook's eviction handler, in this
// process) shows in the Events panel. Screenshots go to test-artifacts/dashboard/.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { pino } from "pino";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import {
  admissionApi,
  coreApi,
  customObjectsApi,
  installRolloutCrd,
  kubeconfigPath,
  kubectl,
  newNamespace,
  REPO_ROOT,
  waitFor,
  allowPodRecreationsFromNode,
} from "./support/cluster.js";
import { startLocalLeakGuard, type LocalLeakGuard } from "./support/local-webhook.js";

const ARTIFACTS = join(REPO_ROOT, "test-artifacts", "dashboard");
const GROUP = "bulkhead.dev";
const VERSION = "v1alpha1";
const PLURAL = "statefulsetrollouts";
const REPLICAS = 30;
const image = (tag: string): string => `registry.example/bulkhead/web:${tag}`;
const logger = pino({ level: process.env.BULKHEAD_E2E_LOG ?? "silent" });

// The page functions below run in the browser; this file is compiled without the DOM types.
interface BrowserElement {
  textContent: string | null;
  dataset: Record<string, string | undefined>;
  scrollIntoView(): void;
}
declare const document: {
  querySelector(selector: string): BrowserElement | null;
  querySelectorAll(selector: string): ArrayLike<BrowserElement> & Iterable<BrowserElement>;
  getElementById(id: string): BrowserElement | null;
};
declare const window: { sameDocument?: boolean };

/** Chromium from the OS packages (hack/install-browser.sh), or BULKHEAD_CHROMIUM. */
function chromiumPath(): string {
  const candidates = [process.env.BULKHEAD_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter(
    (p): p is string => !!p,
  );
  const found = candidates.find((p) => existsSync(p));
  if (!found)
    throw new Error(
      `no Chromium found (looked at ${candidates.join(", ")}): run hack/install-browser.sh, or set BULKHEAD_CHROMIUM`,
    );
  return found;
}

interface RolloutView {
  spec: { pauseRequested?: boolean };
  status?: { phase?: string; paused?: boolean; updateRevision?: string; currentRevision?: string; reason?: string };
}

describe("kubectl sroll dashboard in a headless browser", function () {
  this.timeout(240_000);
  this.bail(true); // each step builds on the one before
  let namespace = "";
  let reconciler: ChildProcess | undefined;
  let dashboard: ChildProcess | undefined;
  let reconcilerLog = "";
  let dashboardLog = "";
  let url = "";
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  const rolloutApi = { group: GROUP, version: VERSION, plural: PLURAL };

  async function rollout(name: string): Promise<RolloutView> {
    return (await customObjectsApi().getNamespacedCustomObject({ ...rolloutApi, namespace, name })) as RolloutView;
  }

  function template(name: string, tag: string): Record<string, unknown> {
    return {
      metadata: { labels: { app: name } },
      spec: {
        containers: [{ name: "app", image: image(tag), resources: { requests: { cpu: "10m", memory: "16Mi" } } }],
        terminationGracePeriodSeconds: 1,
      },
    };
  }

  async function createRollout(name: string, replicas: number, spec: Record<string, unknown> = {}): Promise<void> {
    await customObjectsApi().createNamespacedCustomObject({
      ...rolloutApi,
      namespace,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "StatefulsetRollout",
        metadata: { name },
        spec: {
          statefulset: {
            metadata: { name },
            spec: {
              replicas,
              serviceName: name,
              podManagementPolicy: "Parallel",
              selector: { matchLabels: { app: name } },
              template: template(name, "v1"),
            },
          },
          percent: 100,
          progressDeadlineSeconds: 120,
          disruptionPolicy: { maxUnavailable: 5 },
          ...spec,
        },
      },
    });
  }

  async function patchSpec(name: string, spec: Record<string, unknown>): Promise<void> {
    await kubectl(["patch", "statefulsetrollout", name, "--type=merge", "-p", JSON.stringify({ spec })], {
      namespace,
      check: true,
    });
  }

  async function waitPhase(name: string, phase: string, timeoutMs = 120_000): Promise<void> {
    try {
      await waitFor(async () => (await rollout(name)).status?.phase === phase, {
        timeoutMs,
        what: `${name} ${phase}`,
        intervalMs: 500,
      });
    } catch (err) {
      throw new Error(
        `${(err as Error).message}; status: ${JSON.stringify((await rollout(name)).status?.reason)}\nreconciler:\n${reconcilerLog.slice(-2000)}`,
      );
    }
  }

  /** Counts of tiles by revision class on the page: {new: n, old: m, ...}. */
  function tileCounts(): Promise<Record<string, number>> {
    return page.evaluate(() => {
      const tiles = [...document.querySelectorAll(".tile[data-ordinal]")];
      const counts: Record<string, number> = {};
      for (const t of tiles) counts[t.dataset.rev ?? "?"] = (counts[t.dataset.rev ?? "?"] ?? 0) + 1;
      counts.total = tiles.length;
      return counts;
    });
  }

  /** `kubectl sroll ARGS` (cli/main.ts, as the plugin runs it) against this namespace. */
  function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "cli/main.ts", ...args, "--kubeconfig", kubeconfigPath(), "-n", namespace],
        { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });
  }

  const shot = (file: string) => page.screenshot({ path: join(ARTIFACTS, file), fullPage: true });

  before(async function () {
    this.timeout(180_000);
    mkdirSync(ARTIFACTS, { recursive: true });
    await installRolloutCrd();
    namespace = await newNamespace("dashboard", { optIn: true });
    const env = { ...process.env, KUBECONFIG: kubeconfigPath(), LOG_LEVEL: "info" };
    reconciler = spawn(process.execPath, ["--import", "tsx", "reconciler/main.ts"], {
      cwd: REPO_ROOT,
      env: {
        ...env,
        BULKHEAD_DISABLE_LEADER_ELECTION: "true",
        BULKHEAD_METRICS_HOST: "127.0.0.1",
        BULKHEAD_METRICS_PORT: "0",
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

    // The dashboard exactly as `kubectl sroll dashboard --port 0 -n NS` starts it.
    dashboard = spawn(
      process.execPath,
      ["--import", "tsx", "cli/main.ts", "dashboard", "--port", "0", "--kubeconfig", kubeconfigPath(), "-n", namespace],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    dashboard.stdout?.setEncoding("utf8").on("data", (d: string) => (dashboardLog += d));
    dashboard.stderr?.setEncoding("utf8").on("data", (d: string) => (dashboardLog += d));
    url = await waitFor(
      () =>
        /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(dashboardLog)?.[1] ??
        (dashboard?.exitCode !== null ? `exited: ${dashboardLog}` : undefined),
      { timeoutMs: 60_000, what: "the dashboard's URL" },
    );
    expect(url, dashboardLog).to.match(/^http:/);

    browser = await puppeteer.launch({
      executablePath: chromiumPath(),
      headless: true,
      args: ["--no-sandbox", "--disable-dev-shm-usage"],
    });
    page = await browser.newPage();
    // tsx compiles this file with esbuild's keepNames, which wraps named functions in __name();
    // the functions handed to the page run there, where __name does not exist.
    await page.evaluateOnNewDocument("globalThis.__name = (fn) => fn;");
    await page.setViewport({ width: 1280, height: 1000 });
    page.on("pageerror", (err) => pageErrors.push(String(err)));
  });

  after(async function () {
    this.timeout(60_000);
    await browser?.close().catch(() => undefined);
    for (const child of [dashboard, reconciler]) {
      if (!child || child.exitCode !== null) continue;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGINT");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") {
      process.stderr.write(
        `[dashboard e2e] page errors: ${pageErrors.join("; ") || "none"}\ndashboard log:\n${dashboardLog.slice(-3000)}\n`,
      );
    }
  });

  it("the overview lists the rollouts, with phase and pods", async () => {
    await createRollout("web", REPLICAS);
    await createRollout("cache", 2);
    await Promise.all([waitPhase("web", "RolloutDone"), waitPhase("cache", "RolloutDone")]);
    await page.goto(url);
    await page.waitForFunction(
      (ns: string) =>
        ["web", "cache"].every((n) =>
          document.querySelector(`tr[data-rollout="${ns}/${n}"]`)?.textContent?.includes("RolloutDone"),
        ),
      { timeout: 30_000 },
      namespace,
    );
    const web = await page.$eval(`tr[data-rollout="${namespace}/web"]`, (tr) => tr.textContent ?? "");
    expect(web).to.include(`${REPLICAS} / ${REPLICAS} / ${REPLICAS}`).and.include("100% / 100%");
    // The phase filter narrows the list without a round trip.
    await page.select("#filter-phase", "RolloutFailed");
    expect(await page.$$("#overview tbody tr")).to.have.length(0);
    await page.select("#filter-phase", "");
    await shot("overview.png");
  });

  it("a 30-pod rollout page shows 30 tiles whose colours change wave by wave, without a reload", async () => {
    await page.goto(`${url}#/r/${namespace}/web`);
    await page.waitForFunction(
      (n: number) => document.querySelectorAll('.tile[data-ordinal][data-state="ready"]').length === n,
      { timeout: 30_000 },
      REPLICAS,
    );
    expect(await tileCounts()).to.deep.equal({ new: REPLICAS, total: REPLICAS });
    // A marker that a reload would lose.
    await page.evaluate(() => (window.sameDocument = true));

    await patchSpec("web", {
      statefulset: { spec: { template: template("web", "v2") } },
      disruptionPolicy: { maxUnavailable: 3 },
      minPodEvictionIntervalSeconds: 2,
    });
    // Mid-rollout: some tiles on the new revision (blue), some still old (grey), a wave outlined.
    await page.waitForFunction(
      () => {
        const tiles = [...document.querySelectorAll(".tile[data-ordinal]")];
        const onNew = tiles.filter((t) => t.dataset.rev === "new").length;
        const onOld = tiles.filter((t) => t.dataset.rev === "old").length;
        return onNew >= 6 && onOld >= 6 && document.querySelector(".tile.wave") !== null;
      },
      { timeout: 120_000, polling: 100 },
    );
    const mid = await tileCounts();
    expect(mid.total).to.equal(REPLICAS);
    await shot("rollout-waves.png");
    await page.waitForFunction(
      (n: number) =>
        document.querySelectorAll('.tile[data-rev="new"][data-state="ready"]').length === n &&
        document.getElementById("phase")?.textContent === "RolloutDone",
      { timeout: 180_000, polling: 250 },
      REPLICAS,
    );
    expect(await page.evaluate(() => window.sameDocument)).to.equal(true);
    // The waves timeline and the history show what happened.
    expect(await page.$$("#waves tbody tr")).to.have.length.greaterThan(3);
    const history = await page.$eval("#history tbody", (t) => t.textContent ?? "");
    expect(history).to.include("Done").and.include(image("v2"));
    await shot("rollout-done.png");
    expect(pageErrors).to.deep.equal([]);
  });

  it("the Pause button pauses the rollout after a confirmation, and the page shows it", async () => {
    await patchSpec("web", {
      statefulset: { spec: { template: template("web", "v3") } },
      disruptionPolicy: { maxUnavailable: 2 },
      minPodEvictionIntervalSeconds: 5,
    });
    await page.waitForFunction(
      () =>
        document.querySelectorAll('.tile[data-rev="new"]').length >= 2 &&
        document.querySelectorAll('.tile[data-rev="old"]').length >= 10,
      { timeout: 120_000, polling: 100 },
    );
    await page.click("#action-pause");
    await page.waitForSelector("#confirm[open] #confirm-changes", { timeout: 10_000 });
    expect(await page.$eval("#confirm-changes", (ul) => ul.textContent)).to.include(
      "spec.pauseRequested: false → true",
    );
    await shot("pause-confirm.png");
    await page.click("#confirm-ok");
    await waitFor(async () => (await rollout("web")).status?.paused === true, {
      timeoutMs: 60_000,
      what: "status.paused true",
    });
    await page.waitForFunction(() => document.getElementById("phase")?.textContent === "Paused", { timeout: 30_000 });
    expect((await rollout("web")).spec.pauseRequested).to.equal(true);
    // Pausing again is refused with the CLI's message, and changes nothing.
    await page.click("#action-pause");
    await page.waitForSelector("#confirm[open] #confirm-refusal", { timeout: 10_000 });
    expect(await page.$eval("#confirm-refusal", (p) => p.textContent)).to.include("already paused");
    await page.keyboard.press("Escape");
    await shot("paused.png");
  });

  it("kubectl sroll history lists the three rollouts the page shows", async () => {
    const r = await runCli(["history", "web", "-o", "json"]);
    expect(r.code, r.stderr).to.equal(0);
    const history = JSON.parse(r.stdout) as Array<{
      outcome: string;
      trigger: string;
      toImage?: string;
      waves: number;
    }>;
    expect(history.map((e) => [e.outcome, e.trigger, e.toImage])).to.deep.equal([
      ["InProgress", "update", `app=${image("v3")}`],
      ["Done", "update", `app=${image("v2")}`],
      ["Done", "create", `app=${image("v1")}`],
    ]);
    // 30 pods, 3 at a time.
    expect(history[1]!.waves).to.equal(10);
    const table = await runCli(["history", "web"]);
    expect(table.stdout).to.match(/^# +STARTED +DURATION +OUTCOME/);
    expect(await page.$$("#history tbody tr")).to.have.length(3);
  });

  describe("with the leak guard", () => {
    let guard: LocalLeakGuard | undefined;
    const webhookName = `dashboard-${Date.now()}.e2e.bulkhead.dev`;

    after(async () => {
      await admissionApi()
        .deleteValidatingWebhookConfiguration({ name: webhookName })
        .catch(() => undefined);
      await guard?.stop();
    });

    it("a drain refused by the leak guard shows in the Events panel", async () => {
      guard = await startLocalLeakGuard(`system:serviceaccount:${namespace}:bulkhead-reconciler`, logger);
      await admissionApi().createValidatingWebhookConfiguration({
        body: {
          metadata: { name: webhookName },
          webhooks: [
            {
              name: `eviction.${webhookName}`,
              clientConfig: guard.clientConfig("/validate/eviction"),
              rules: [
                {
                  operations: ["CREATE"],
                  apiGroups: [""],
                  apiVersions: ["v1"],
                  resources: ["pods/eviction"],
                  scope: "Namespaced",
                },
              ],
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
              admissionReviewVersions: ["v1"],
              sideEffects: "NoneOnDryRun",
              failurePolicy: "Fail",
              timeoutSeconds: 5,
            },
          ],
        },
      });

      // An old pod of the paused split, and its node: drain that node for that pod.
      const status = (await rollout("web")).status!;
      const list = await coreApi().listNamespacedPod({ namespace, labelSelector: "app=web" });
      const old = list.items.find(
        (p) =>
          p.metadata?.labels?.["controller-revision-hash"] === status.currentRevision && !p.metadata?.deletionTimestamp,
      );
      expect(old, `an old pod (revision ${status.currentRevision})`).to.not.equal(undefined);
      const podName = old!.metadata!.name!;
      const node = old!.spec!.nodeName!;
      // The apiserver picks the configuration up asynchronously: wait until a dry run is refused.
      await waitFor(
        async () => {
          const r = await kubectl(
            ["create", "--raw", `/api/v1/namespaces/${namespace}/pods/${podName}/eviction`, "-f", "-"],
            {
              input: JSON.stringify({
                apiVersion: "policy/v1",
                kind: "Eviction",
                metadata: { name: podName, namespace },
                deleteOptions: { dryRun: ["All"] },
              }),
            },
          );
          return r.code !== 0 && r.stderr.includes("Bulkhead leak protection");
        },
        { what: "the leak guard refusing a dry-run eviction", timeoutMs: 30_000, intervalMs: 500 },
      );
      allowPodRecreationsFromNode(node, "a refused drain may still evict the node's pods that are not guarded");
      let drain;
      try {
        drain = await kubectl(
          [
            "drain",
            node,
            `--pod-selector=statefulset.kubernetes.io/pod-name=${podName}`,
            "--ignore-daemonsets",
            "--timeout=8s",
          ],
          { timeoutMs: 60_000 },
        );
      } finally {
        await kubectl(["uncordon", node], { check: true });
      }
      expect(drain.code, drain.stdout + drain.stderr).to.not.equal(0);
      expect(drain.stdout + drain.stderr).to.include("Bulkhead leak protection");

      await page.waitForFunction(
        (pod: string) =>
          [...document.querySelectorAll('#events tr[data-reason="LeakGuardDenied"]')].some((tr) =>
            tr.textContent?.includes(pod),
          ),
        { timeout: 60_000, polling: 250 },
        podName,
      );
      const row = await page.$eval('#events tr[data-reason="LeakGuardDenied"]', (tr) => tr.textContent ?? "");
      expect(row).to.include("Warning");
      await page.$eval("#events", (t) => t.scrollIntoView());
      await shot("leak-guard-refusal.png");
      expect(pageErrors).to.deep.equal([]);
    });
  });
});
