// API requests through the real client against a stand-in apiserver that counts connections:
// with SharedConnectionKubeConfig the requests of one identity reuse kept-alive connections
// instead of opening one (a TLS handshake, against a real apiserver) per request. (undici opens a
// second connection early on, so "reused" is "at most 2 for 100 requests", not exactly 1.)
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { createServer, type Server } from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SharedConnectionKubeConfig } from "../../adapters/kube/client.js";

class CountingApiserver {
  connections = 0;
  requests = 0;
  readonly authorizations = new Set<string>();
  private readonly server: Server = createServer((req, res) => {
    this.requests++;
    this.authorizations.add(req.headers.authorization ?? "");
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: "default" } }));
    });
  });

  async start(): Promise<string> {
    this.server.on("connection", () => this.connections++);
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function load(kc: k8s.KubeConfig, server: string, users: k8s.User[]): k8s.KubeConfig {
  kc.loadFromOptions({
    clusters: [{ name: "stand-in", server, skipTLSVerify: true }],
    users,
    contexts: users.map((u) => ({ name: u.name, cluster: "stand-in", user: u.name })),
    currentContext: users[0]!.name,
  });
  return kc;
}

describe("kube client: one connection pool per TLS identity (stand-in apiserver)", function () {
  this.timeout(20_000);
  let apiserver: CountingApiserver;
  let server: string;
  beforeEach(async () => {
    apiserver = new CountingApiserver();
    server = await apiserver.start();
  });
  afterEach(() => apiserver.stop());

  const readSequentially = async (kc: k8s.KubeConfig, n: number) => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    for (let i = 0; i < n; i++) await core.readNamespace({ name: "default" });
  };

  it("the library's own KubeConfig opens a connection per request (what the subclass fixes)", async () => {
    await readSequentially(load(new k8s.KubeConfig(), server, [{ name: "a", token: "t" }]), 10);
    expect(apiserver.requests).to.equal(10);
    expect(apiserver.connections).to.equal(10);
  });

  it("sequential requests reuse kept-alive connections", async () => {
    const kc = new SharedConnectionKubeConfig();
    await readSequentially(load(kc, server, [{ name: "a", token: "t" }]), 100);
    expect(apiserver.requests).to.equal(100);
    expect(apiserver.connections).to.be.at.most(2);
    expect(kc.agentsCreated).to.equal(1);
  });

  it("concurrent requests open at most one connection each, and reuse them afterwards", async () => {
    const kc = load(new SharedConnectionKubeConfig(), server, [{ name: "a", token: "t" }]);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await Promise.all(Array.from({ length: 5 }, () => core.readNamespace({ name: "default" })));
    const afterBurst = apiserver.connections;
    expect(afterBurst).to.be.within(1, 5);
    await readSequentially(kc, 10);
    expect(apiserver.connections).to.equal(afterBurst);
  });

  it("another identity gets its own agent", async () => {
    const kc = new SharedConnectionKubeConfig();
    load(kc, server, [
      { name: "a", token: "t" },
      { name: "b", certData: Buffer.from("cert").toString("base64"), keyData: Buffer.from("key").toString("base64") },
    ]);
    await readSequentially(kc, 10);
    const first = apiserver.connections;
    kc.setCurrentContext("b");
    await readSequentially(kc, 10);
    expect(kc.agentsCreated).to.equal(2);
    expect(apiserver.connections).to.be.above(first);
    expect(apiserver.connections).to.be.at.most(first + 2);
    kc.setCurrentContext("a");
    await readSequentially(kc, 1);
    expect(kc.agentsCreated).to.equal(3);
  });

  it("the in-cluster ServiceAccount (a tokenFile auth provider) shares one agent too", async () => {
    const dir = await mkdtemp(join(tmpdir(), "bulkhead-token-"));
    try {
      const tokenFile = join(dir, "token");
      await writeFile(tokenFile, "sa-token");
      const kc = new SharedConnectionKubeConfig();
      load(kc, server, [{ name: "sa", authProvider: { name: "tokenFile", config: { tokenFile } } }]);
      await readSequentially(kc, 20);
      expect(apiserver.authorizations).to.deep.equal(new Set(["Bearer sa-token"]));
      expect(kc.agentsCreated).to.equal(1);
      expect(apiserver.connections).to.be.at.most(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("an exec-plugin user keeps the library's per-request agent (its credentials may carry a certificate)", async () => {
    const kc = new SharedConnectionKubeConfig();
    const exec = { command: "true", apiVersion: "client.authentication.k8s.io/v1" };
    const identity = () => (kc as unknown as { tlsIdentity(): string | undefined }).tlsIdentity();
    // The plugin is not run here: the identity is decided before any request is made.
    load(kc, server, [{ name: "a", exec }]);
    expect(identity()).to.equal(undefined);
    load(kc, server, [{ name: "a", authProvider: { name: "exec", config: {} } }]);
    expect(identity()).to.equal(undefined);
    load(kc, server, [{ name: "a", token: "t" }]);
    expect(identity()).to.be.a("string");
  });
});
