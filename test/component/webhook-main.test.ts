// webhook/main.ts as a real process: configuration errors stop it with the variable named;
// in cert-manager mode it serves the mounted certificate, is live but not ready while its caches
// cannot sync, and exits cleanly on SIGTERM.
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { call, testPair } from "./webhook-support.js";

const MAIN = join(import.meta.dirname, "../../webhook/main.ts");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function start(env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function until(what: string, proc: Proc, test: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("webhook main process", function () {
  this.timeout(30_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "bulkhead-main-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a bad configuration with exit code 2, naming the variables", async () => {
    const proc = start({ BULKHEAD_WEBHOOK_PORT: "none", BULKHEAD_DEFAULT_LEAK_PROTECTION: "strict" });
    expect(await proc.exited).to.equal(2);
    expect(proc.output()).to.match(
      /invalid webhook configuration:[\s\S]*BULKHEAD_WEBHOOK_PORT[\s\S]*BULKHEAD_DEFAULT_LEAK_PROTECTION/,
    );
  });

  it("serves the mounted certificate, is live but not ready without caches, and drains on SIGTERM", async () => {
    const pair = testPair();
    const certs = join(dir, "certs");
    await rm(certs, { recursive: true, force: true });
    await mkdir(certs);
    await writeFile(join(certs, "tls.crt"), pair.cert);
    await writeFile(join(certs, "tls.key"), pair.key);
    // A kubeconfig whose apiserver does not answer: the informers cannot sync.
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(
      kubeconfig,
      "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]\n" +
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n",
    );
    const port = await freePort();
    const proc = start({
      KUBECONFIG: kubeconfig,
      BULKHEAD_CERT_DIR: certs,
      BULKHEAD_WEBHOOK_HOST: "127.0.0.1",
      BULKHEAD_WEBHOOK_PORT: String(port),
      LOG_LEVEL: "info",
    });
    try {
      await until("the listening log line", proc, () => proc.output().includes("webhook listening"));
      expect((await call(port, pair.caBundle, "GET", "/healthz")).status).to.equal(200);
      const ready = await call(port, pair.caBundle, "GET", "/readyz");
      expect(ready.status).to.equal(503);
      expect(ready.text).to.equal(
        "not ready: informer caches not loaded yet: pods, statefulSets, rollouts, controllerRevisions",
      );
      const review = await call(port, pair.caBundle, "POST", "/validate/statefulset", "{}");
      expect(review.status).to.equal(400);

      proc.child.kill("SIGTERM");
      expect(await proc.exited).to.equal(0);
      expect(proc.output()).to.contain("shutting down: finishing in-flight reviews");
      expect(proc.output()).to.contain('"msg":"stopped"');
    } finally {
      proc.child.kill("SIGKILL");
    }
  });
});
