// Starts a real Consul agent (`consul agent -dev`, built by hack/build-consul.sh) on loopback for
// tests, and registers services with TTL checks the tests flip between passing and critical.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:net";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The consul binary: $BULKHEAD_CONSUL_BIN, else what hack/build-consul.sh has built. */
export function consulBinary(): string {
  const fromEnv = process.env.BULKHEAD_CONSUL_BIN;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`BULKHEAD_CONSUL_BIN=${fromEnv} does not exist`);
    return fromEnv;
  }
  try {
    return (
      execFileSync(join(repoRoot, "hack", "build-consul.sh"), ["--print-bin"], { encoding: "utf8" })
        .trim()
        .split("\n")
        .pop() ?? ""
    );
  } catch {
    throw new Error(
      "the Consul agent is not built: run hack/build-consul.sh (about 10 minutes on 2 cores, cached afterwards)",
    );
  }
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

/**
 * `count` distinct free ports: every listener stays open until all are bound, so the kernel cannot
 * hand the same port out twice (one at a time, a port just closed can come back at once, and
 * Consul refuses to start with its Serf and server ports equal).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const srv = createServer();
      servers.push(srv);
      await new Promise<void>((resolve, reject) => {
        srv.once("error", reject);
        srv.listen(0, "127.0.0.1", () => resolve());
      });
    }
    return servers.map((srv) => {
      const addr = srv.address();
      return typeof addr === "object" && addr ? addr.port : 0;
    });
  } finally {
    await Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
  }
}

export interface RegisteredInstance {
  id: string;
  name: string;
  address: string;
  meta?: Record<string, string>;
}

/** PEM files for the agent's HTTPS listener. */
export interface AgentTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface AgentOptions {
  tls?: AgentTls;
  /** Enables ACLs with default policy deny; this is the management token. */
  aclManagementToken?: string;
}

export class ConsulAgent {
  private proc: ChildProcess | undefined;
  private output = "";
  readonly dc = "dc1";

  private constructor(
    readonly binary: string,
    readonly httpPort: number,
    private readonly ports: { serfLan: number; serfWan: number; server: number; https?: number },
    private readonly options: AgentOptions = {},
  ) {}

  /** Starts an agent; with `tls`, it also serves HTTPS on `httpsPort`. */
  static async start(options: AgentOptions = {}): Promise<ConsulAgent> {
    const [http, serfLan, serfWan, server, https] = await freePorts(options.tls ? 5 : 4);
    const agent = new ConsulAgent(
      consulBinary(),
      http!,
      { serfLan: serfLan!, serfWan: serfWan!, server: server!, ...(https ? { https } : {}) },
      options,
    );
    await agent.run();
    return agent;
  }

  get httpsPort(): number | undefined {
    return this.ports.https;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** (Re)starts the process on the same ports; a -dev agent starts with an empty catalog. */
  async run(): Promise<void> {
    if (this.proc) throw new Error("consul agent already running");
    const args = [
      "agent",
      "-dev",
      "-bind",
      "127.0.0.1",
      "-client",
      "127.0.0.1",
      `-http-port=${this.httpPort}`,
      "-grpc-port=-1",
      "-grpc-tls-port=-1",
      "-dns-port=-1",
      `-serf-lan-port=${this.ports.serfLan}`,
      `-serf-wan-port=${this.ports.serfWan}`,
      `-server-port=${this.ports.server}`,
      "-log-level=warn",
      "-datacenter",
      this.dc,
    ];
    const { tls, aclManagementToken } = this.options;
    if (tls && this.ports.https) {
      args.push(
        "-hcl",
        `ports { https = ${this.ports.https} }\n` +
          `tls { defaults { ca_file = ${JSON.stringify(tls.caFile)} cert_file = ${JSON.stringify(tls.certFile)} key_file = ${JSON.stringify(tls.keyFile)} verify_incoming = false } }`,
      );
    }
    if (aclManagementToken) {
      const token = JSON.stringify(aclManagementToken);
      args.push(
        "-hcl",
        `acl { enabled = true default_policy = "deny" tokens { initial_management = ${token} agent = ${token} } }`,
      );
    }
    this.output = "";
    const proc = spawn(this.binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-8000);
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`consul agent exited with ${proc.exitCode}:\n${this.output}`);
      try {
        const res = await fetch(`${this.baseUrl}/v1/status/leader`, { headers: this.authHeaders() });
        // The dev server is usable once it has elected itself and registered its own node.
        if (res.ok && (await res.json()) !== "") {
          const nodes = await fetch(`${this.baseUrl}/v1/catalog/nodes`, { headers: this.authHeaders() });
          if (nodes.ok && ((await nodes.json()) as unknown[]).length > 0) return;
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.stop();
    throw new Error(`consul agent did not become ready within 30s:\n${this.output}`);
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }

  private authHeaders(): Record<string, string> {
    return this.options.aclManagementToken ? { "x-consul-token": this.options.aclManagementToken } : {};
  }

  private async put(path: string, body?: unknown): Promise<void> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method: "PUT",
      headers: { ...this.authHeaders(), ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
  }

  /** Creates an ACL token with a policy of these HCL rules; returns its secret. */
  async createToken(name: string, rules: string): Promise<string> {
    const call = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
      const res = await fetch(`${this.baseUrl}${path}`, {
        method: "PUT",
        headers: { ...this.authHeaders(), "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as Record<string, unknown>;
    };
    await call("/v1/acl/policy", { Name: name, Rules: rules });
    const token = await call("/v1/acl/token", { Description: name, Policies: [{ Name: name }] });
    return String(token.SecretID);
  }

  /** Registers a service instance with one TTL check (starts critical), id `<instance id>:ttl`. */
  async register(instance: RegisteredInstance): Promise<void> {
    await this.put("/v1/agent/service/register", {
      ID: instance.id,
      Name: instance.name,
      Address: instance.address,
      Port: 8080,
      ...(instance.meta ? { Meta: instance.meta } : {}),
      Check: { CheckID: `${instance.id}:ttl`, Name: "ttl", TTL: "10m" },
    });
  }

  async deregister(id: string): Promise<void> {
    await this.put(`/v1/agent/service/deregister/${encodeURIComponent(id)}`);
  }

  async setCheck(instanceId: string, status: "pass" | "warn" | "fail"): Promise<void> {
    await this.put(`/v1/agent/check/${status}/${encodeURIComponent(`${instanceId}:ttl`)}`);
  }
}
