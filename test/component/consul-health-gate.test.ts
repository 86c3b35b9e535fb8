// The Consul health gate against a real Consul agent (consul agent -dev on loopback).
import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { generateCertificatePair } from "../../certs/generate.js";
import { consulHealthGate } from "../../adapters/consul/health-gate.js";
import type { HealthGate, PodIdentity } from "../../api/integrations.js";
import { parseRollout, type StatefulsetRollout } from "../../api/rollout.js";
import { ConsulAgent } from "./consul-agent.js";

function rollout(serviceNames: string[], dc = "dc1"): StatefulsetRollout {
  const parsed = parseRollout({
    metadata: { name: "web", namespace: "shop" },
    spec: {
      statefulset: { spec: { selector: { matchLabels: { app: "web" } }, template: {} } },
      serviceDiscovery: { dc, serviceNames },
    },
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

const pods: PodIdentity[] = [0, 1, 2].map((i) => ({ name: `web-${i}`, namespace: "shop", ip: `10.9.0.${10 + i}` }));

describe("Consul health gate (real agent)", function () {
  this.timeout(60_000);
  let agent: ConsulAgent;
  let gate: HealthGate & { close(): void };

  before(async () => {
    agent = await ConsulAgent.start();
    gate = consulHealthGate({ baseUrl: agent.baseUrl, timeoutMs: 2000 });
    for (const [i, pod] of pods.entries()) {
      await agent.register({ id: `web-${i}`, name: "web", address: pod.ip ?? "" });
      await agent.register({
        id: `web-${i}-admin`,
        name: "web-admin",
        address: pod.ip ?? "",
        meta: { "pod-name": pod.name, "k8s-namespace": "shop" },
      });
    }
    // Another StatefulSet's instance of the same service: never counted for ours.
    await agent.register({ id: "other-0", name: "web", address: "10.9.1.1" });
    await agent.setCheck("other-0", "pass");
  });

  after(async () => {
    gate?.close();
    await agent?.stop();
  });

  it("counts no pod while every TTL check is still critical", async () => {
    const result = await gate.check(rollout(["web"]), pods);
    expect(result).to.deep.equal({ ok: true, report: { passingPods: [], services: ["web"], missingServices: [] } });
  });

  it("counts a pod once its checks pass, per service, and requires every named service", async () => {
    await agent.setCheck("web-0", "pass");
    await agent.setCheck("web-1", "pass");
    await agent.setCheck("web-0-admin", "pass");
    const webOnly = await gate.check(rollout(["web"]), pods);
    expect(webOnly.ok && webOnly.report.passingPods).to.deep.equal(["web-0", "web-1"]);
    const both = await gate.check(rollout(["web", "web-admin"]), pods);
    expect(both).to.deep.equal({
      ok: true,
      report: { passingPods: ["web-0"], services: ["web", "web-admin"], missingServices: [] },
    });
  });

  it("drops a pod whose check turns critical, and does not count warning as passing", async () => {
    await agent.setCheck("web-1", "fail");
    await agent.setCheck("web-0", "warn");
    const result = await gate.check(rollout(["web"]), pods);
    expect(result.ok && result.report.passingPods).to.deep.equal([]);
    await agent.setCheck("web-0", "pass");
    await agent.setCheck("web-1", "pass");
    const again = await gate.check(rollout(["web"]), pods);
    expect(again.ok && again.report.passingPods).to.deep.equal(["web-0", "web-1"]);
  });

  it("does not match a pod that has no IP yet, or a pod-name in the metadata that differs", async () => {
    await agent.setCheck("web-1-admin", "pass");
    const renamed: PodIdentity[] = [
      { name: "web-0", namespace: "shop" },
      { name: "not-web-1", namespace: "shop", ip: "10.9.0.11" },
    ];
    const result = await gate.check(rollout(["web-admin"]), renamed);
    expect(result.ok && result.report.passingPods).to.deep.equal([]);
  });

  it("does not count the passing registration of a pod's predecessor (same name, reused IP) for the new pod", async () => {
    await agent.register({
      id: "db-0-old",
      name: "db",
      address: "10.9.2.1",
      meta: { "pod-name": "db-0", "k8s-namespace": "shop", "pod-uid": "uid-old" },
    });
    await agent.setCheck("db-0-old", "pass");
    await agent.register({
      id: "db-0-new",
      name: "db",
      address: "10.9.2.1",
      meta: { "pod-name": "db-0", "k8s-namespace": "shop", "pod-uid": "uid-new" },
    });
    const recreated: PodIdentity[] = [{ name: "db-0", namespace: "shop", uid: "uid-new", ip: "10.9.2.1" }];
    const before = await gate.check(rollout(["db"]), recreated);
    expect(before.ok && before.report.passingPods).to.deep.equal([]);
    await agent.setCheck("db-0-new", "pass");
    const after = await gate.check(rollout(["db"]), recreated);
    expect(after.ok && after.report.passingPods).to.deep.equal(["db-0"]);
  });

  it("reports a service Consul does not know as missing, at once (no pod passes)", async () => {
    const result = await gate.check(rollout(["web", "no-such-service"]), pods);
    expect(result).to.deep.equal({
      ok: true,
      report: { passingPods: [], services: ["web"], missingServices: ["no-such-service"] },
    });
  });

  it("logs a lasting condition once, not on every pass", async () => {
    const lines: Array<{ msg: string }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as { msg: string });
        done();
      },
    });
    const logged = consulHealthGate(
      { baseUrl: agent.baseUrl, timeoutMs: 2000 },
      { logger: pino({ level: "info" }, sink) },
    );
    try {
      for (let i = 0; i < 3; i++) await logged.check(rollout(["web", "no-such-service"]), pods);
      for (let i = 0; i < 2; i++) await logged.check(rollout(["web"]), pods);
      await logged.check(rollout(["web", "no-such-service"]), pods);
      expect(lines.map((l) => l.msg)).to.deep.equal([
        "Consul services not found",
        "Consul health check ok",
        "Consul services not found",
      ]);
    } finally {
      logged.close();
    }
  });

  it("returns an error naming the datacenter when it is unknown", async () => {
    const result = await gate.check(rollout(["web"], "dc-nowhere"), pods);
    expect(result.ok).to.equal(false);
    if (!result.ok)
      expect(result.error)
        .to.match(/dc-nowhere/)
        .and.to.match(/No path to datacenter/i);
  });

  it("returns an error (never throws) while the agent is down, and recovers when it is back", async () => {
    await agent.stop();
    const down = await gate.check(rollout(["web"]), pods);
    expect(down.ok).to.equal(false);
    if (!down.ok)
      expect(down.error)
        .to.include(agent.baseUrl)
        .and.to.match(/ECONNREFUSED/);

    await agent.run();
    // A -dev agent keeps nothing across a restart: the services are gone until re-registered.
    const empty = await gate.check(rollout(["web"]), pods);
    expect(empty.ok && empty.report.missingServices).to.deep.equal(["web"]);
    await agent.register({ id: "web-2", name: "web", address: "10.9.0.12" });
    await agent.setCheck("web-2", "pass");
    const back = await gate.check(rollout(["web"]), pods);
    expect(back.ok && back.report.passingPods).to.deep.equal(["web-2"]);
  });

  it("gives up on an agent that accepts connections but never answers, after the timeout", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    const port = (silent.address() as { port: number }).port;
    const hungGate = consulHealthGate({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 300 });
    try {
      const started = Date.now();
      const result = await hungGate.check(rollout(["web"]), pods);
      expect(result.ok).to.equal(false);
      if (!result.ok) expect(result.error).to.match(/timed out/);
      // It waited for its timeout (a lower bound only: how much later it answers is the machine's business).
      expect(Date.now() - started).to.be.at.least(250);
      expect(sockets).to.have.length(1);
    } finally {
      hungGate.close();
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  describe("over HTTPS with CONSUL_CACERT", () => {
    let dir: string;
    let tlsAgent: ConsulAgent;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "consul-tls-"));
      const pair = generateCertificatePair(
        { serviceName: "consul", namespace: "test" },
        { caValidityMs: 3_600_000, servingValidityMs: 3_600_000 },
      );
      const files = { caFile: join(dir, "ca.pem"), certFile: join(dir, "cert.pem"), keyFile: join(dir, "key.pem") };
      writeFileSync(files.caFile, pair.caBundle);
      writeFileSync(files.certFile, pair.cert);
      writeFileSync(files.keyFile, pair.key);
      tlsAgent = await ConsulAgent.start({ tls: files });
      await tlsAgent.register({ id: "tls-0", name: "web", address: "10.9.0.10" });
      await tlsAgent.setCheck("tls-0", "pass");
    });
    after(async () => {
      await tlsAgent?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("verifies the agent's certificate with the configured CA", async () => {
      const tlsGate = consulHealthGate({
        baseUrl: `https://127.0.0.1:${tlsAgent.httpsPort}`,
        caCertPath: join(dir, "ca.pem"),
        timeoutMs: 2000,
      });
      try {
        const result = await tlsGate.check(rollout(["web"]), pods);
        expect(result).to.deep.equal({
          ok: true,
          report: { passingPods: ["web-0"], services: ["web"], missingServices: [] },
        });
      } finally {
        tlsGate.close();
      }
    });

    it("refuses an agent whose certificate the CA did not sign", async () => {
      const untrusted = consulHealthGate({ baseUrl: `https://127.0.0.1:${tlsAgent.httpsPort}`, timeoutMs: 2000 });
      try {
        const result = await untrusted.check(rollout(["web"]), pods);
        expect(result.ok).to.equal(false);
        if (!result.ok) expect(result.error).to.match(/certificate/i);
      } finally {
        untrusted.close();
      }
    });

    it("fails fast with the field named when CONSUL_CACERT cannot be read", () => {
      expect(() =>
        consulHealthGate({ baseUrl: "https://127.0.0.1:1", caCertPath: join(dir, "missing.pem"), timeoutMs: 2000 }),
      ).to.throw(/CONSUL_CACERT/);
    });
  });

  describe("with ACLs (default deny) and CONSUL_HTTP_TOKEN", () => {
    let aclAgent: ConsulAgent;
    const token = "3f8a0c52-6d1e-4a55-9b1e-2d9a7f0c1b77";
    before(async () => {
      aclAgent = await ConsulAgent.start({ aclManagementToken: token });
      await aclAgent.register({ id: "acl-0", name: "web", address: "10.9.0.10" });
      await aclAgent.setCheck("acl-0", "pass");
    });
    after(() => aclAgent?.stop());

    it("sends the token and sees the services", async () => {
      const withToken = consulHealthGate({ baseUrl: aclAgent.baseUrl, token, timeoutMs: 2000 });
      try {
        const result = await withToken.check(rollout(["web"]), pods);
        expect(result).to.deep.equal({
          ok: true,
          report: { passingPods: ["web-0"], services: ["web"], missingServices: [] },
        });
      } finally {
        withToken.close();
      }
    });

    it("without a token, says the services are hidden by ACLs instead of calling them missing", async () => {
      const noToken = consulHealthGate({ baseUrl: aclAgent.baseUrl, timeoutMs: 2000 });
      try {
        const result = await noToken.check(rollout(["web"]), pods);
        expect(result.ok).to.equal(false);
        if (!result.ok)
          expect(result.error).to.match(/web not visible: Consul filtered the catalog by ACLs.*service:read/);
      } finally {
        noToken.close();
      }
    });

    it("with a token lacking service:read, says so (Consul marks the results as filtered)", async () => {
      const nodeOnly = await aclAgent.createToken("node-read-only", 'node_prefix "" { policy = "read" }');
      const weak = consulHealthGate({ baseUrl: aclAgent.baseUrl, token: nodeOnly, timeoutMs: 2000 });
      try {
        const result = await weak.check(rollout(["web"]), pods);
        expect(result.ok).to.equal(false);
        if (!result.ok) expect(result.error).to.match(/filtered the catalog by ACLs/);
      } finally {
        weak.close();
      }
    });
  });
});
