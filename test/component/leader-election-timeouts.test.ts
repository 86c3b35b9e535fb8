// Leader election through the real client against a stand-in apiserver that serves Leases, then
// hangs: it accepts every request and never answers. Each Lease call is bounded, so the leader
// stops leading at its renew deadline instead of waiting on a call that never returns, the hung
// requests are aborted (their connections closed by the client), and the loop keeps trying.
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { kubeLeaseApi, LeaderElector } from "../../adapters/kube/leader-election.js";
import { until } from "../support/until.js";

const LEASES = "/apis/coordination.k8s.io/v1/namespaces/bulkhead-system/leases";

/** Serves one namespace's Leases with resourceVersion checks, or, once `hang` is set, nothing at all. */
class StandInApiserver {
  hang = false;
  hungRequests = 0;
  /** Hung requests whose connection the client closed (it gave up on them). */
  abortedByClient = 0;
  private lease: k8s.V1Lease | undefined;
  private rv = 1;
  private readonly server: Server = createServer((req, res) => void this.serve(req, res));

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (this.hang) {
      this.hungRequests++;
      res.on("close", () => this.abortedByClient++);
      return;
    }
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const notFound = { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 };
    const conflict = { kind: "Status", apiVersion: "v1", status: "Failure", reason: "Conflict", code: 409 };
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString("utf8")) as k8s.V1Lease) : undefined;
    const stored = (lease: k8s.V1Lease) => {
      this.lease = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(this.rv++) } };
      return this.lease;
    };
    if (req.method === "GET" && req.url === `${LEASES}/bulkhead-reconciler`) {
      if (this.lease) send(200, this.lease);
      else send(404, notFound);
    } else if (req.method === "POST" && req.url === LEASES && body) {
      if (this.lease) send(409, conflict);
      else send(201, stored(body));
    } else if (req.method === "PUT" && req.url === `${LEASES}/bulkhead-reconciler` && body) {
      if (body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) send(409, conflict);
      else send(200, stored(body));
    } else send(404, notFound);
  }
}

function clientFor(server: string): k8s.CoordinationV1Api {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "stand-in", server, skipTLSVerify: true }],
    users: [{ name: "reconciler" }],
    contexts: [{ name: "stand-in", cluster: "stand-in", user: "reconciler" }],
    currentContext: "stand-in",
  });
  return kc.makeApiClient(k8s.CoordinationV1Api);
}

describe("leader election: every Lease call is bounded (stand-in apiserver that hangs)", function () {
  this.timeout(20_000);
  let apiserver: StandInApiserver;
  let elector: LeaderElector | undefined;

  beforeEach(() => {
    apiserver = new StandInApiserver();
  });
  afterEach(async () => {
    await elector?.stop();
    await apiserver.stop();
  });

  it("a leader whose apiserver stops answering stops leading at the renew deadline, and its hung calls are aborted", async () => {
    const url = await apiserver.start();
    const log: string[] = [];
    const errors: string[] = [];
    elector = new LeaderElector(
      kubeLeaseApi(clientFor(url)),
      {
        namespace: "bulkhead-system",
        name: "bulkhead-reconciler",
        identity: "a",
        leaseDurationSeconds: 2,
        renewDeadlineMs: 1200,
        retryPeriodMs: 200,
        requestTimeoutMs: 300,
      },
      {
        onStartedLeading: () => log.push("started"),
        onStoppedLeading: () => log.push("stopped"),
        onError: (err) => errors.push((err as Error).message),
      },
    );
    elector.start();
    await until("the elector to lead", () => elector!.isLeader());
    expect(log).to.deep.equal(["started"]);

    apiserver.hang = true;
    await until("the leader to stop leading", () => log.includes("stopped"));
    expect(elector.isLeader()).to.equal(false);
    expect(log).to.deep.equal(["started", "stopped"]);
    expect(apiserver.hungRequests, "the elector went on trying after the first hung call").to.be.at.least(2);
    expect(errors.some((e) => /Lease read got no answer within 300 ms; request aborted/.test(e))).to.equal(true);
    // The client closed every hung request it gave up on (the signal reaches the socket).
    await until("the hung requests to be closed", () => apiserver.abortedByClient >= apiserver.hungRequests - 1);

    // Once the apiserver answers again the replica campaigns and leads again.
    apiserver.hang = false;
    await until("the elector to lead again", () => elector!.isLeader());
    expect(log).to.deep.equal(["started", "stopped", "started"]);
  });

  it("the per-call bound is at most half the renew deadline, so a read and a renewal fit in it", async () => {
    const url = await apiserver.start();
    apiserver.hang = true;
    const errors: string[] = [];
    elector = new LeaderElector(
      kubeLeaseApi(clientFor(url)),
      {
        namespace: "bulkhead-system",
        name: "bulkhead-reconciler",
        identity: "b",
        renewDeadlineMs: 400,
        retryPeriodMs: 100,
        requestTimeoutMs: 60_000,
      },
      { onStartedLeading: () => {}, onStoppedLeading: () => {}, onError: (err) => errors.push((err as Error).message) },
    );
    elector.start();
    await until("two failed attempts", () => errors.length >= 2);
    expect(errors[0]).to.equal("Lease read got no answer within 200 ms; request aborted");
    expect(elector.isLeader()).to.equal(false);
  });
});
