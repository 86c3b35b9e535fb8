// Integrations end to end: the real reconciler process (reconciler/main.ts) on the real control
// plane, gated on a real Consul agent, calling back a local release-API receiver and posting to
// the fake Slack. The test plays consul-k8s: it registers each pod in Consul by pod IP (with the
// pod-name, k8s-namespace and pod-uid metadata consul-k8s sets) once the pod is Ready, and marks
// its check passing only after a delay. KWOK, like real IPAM, may give a recreated pod its
// predecessor's IP, so the gate must tell them apart by UID (the reconciler passes pod UIDs).
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Pod } from "@kubernetes/client-node";
import { verifyCallbackSignature } from "../../adapters/callbacks/signature.js";
import { API_VERSION, KIND, PLURAL } from "../../api/labels.js";
import { parseRollout, type RolloutStatus, type StatefulsetRollout } from "../../api/rollout.js";
import { ConsulAgent, freePort } from "../component/consul-agent.js";
import { FakeSlack } from "../support/fake-slack.js";
import { REPO_ROOT, coreApi, customObjectsApi, installRolloutCrd, kubeconfigPath, kubectl, newNamespace, sleep, waitFor } from "./support/cluster.js";

const [GROUP, VERSION] = API_VERSION.split("/") as [string, string];
const SECRET = "e2e-callback-secret-0123456789";
const NAME = "web";
const REPLICAS = 4;
const SERVICE = "web-e2e";
const PASS_DELAY_MS = 3_000;

interface Callback {
  body: Record<string, unknown>;
  idempotencyKey: string;
  signatureValid: boolean;
}

/** The release API: records every callback and answers 200. */
class CallbackReceiver {
  readonly received: Callback[] = [];
  private readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const h = (n: string) => first(req, n);
      this.received.push({
        body: JSON.parse(raw) as Record<string, unknown>,
        idempotencyKey: h("idempotency-key") ?? "",
        signatureValid: verifyCallbackSignature({
          secret: SECRET,
          body: raw,
          signature: h("x-bulkhead-signature"),
          timestamp: h("x-bulkhead-timestamp"),
          namespace: h("x-bulkhead-namespace"),
          name: h("x-bulkhead-rollout"),
          idempotencyKey: h("idempotency-key"),
        }),
      });
      res.writeHead(200).end("ok");
    });
  });
  url = "";
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}/bapi/callback`;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
  forStage(stageId: string): Callback[] {
    return this.received.filter((c) => c.body.stageId === stageId);
  }
}

function first(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Registers Ready pods in Consul by pod IP (as consul-k8s would), each with a TTL check that the
 * registrar marks passing PASS_DELAY_MS after it first saw the pod Ready. Re-registers after an
 * agent restart (a -dev agent forgets everything) and deregisters pods that are gone.
 */
class Registrar {
  /** instance id -> when its check was (first) marked passing. */
  readonly passedAt = new Map<string, number>();
  private readonly readySince = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly agent: ConsulAgent,
    private readonly namespace: string,
  ) {}

  static instanceId(pod: V1Pod): string {
    return `${pod.metadata?.name}-${pod.metadata?.uid?.slice(0, 8)}`;
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.tick()
        .catch(() => undefined) // agent down: try again next tick
        .finally(() => (this.busy = false));
    }, 250);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    const pods = (await coreApi().listNamespacedPod({ namespace: this.namespace })).items;
    const res = await fetch(`${this.agent.baseUrl}/v1/agent/services`);
    if (!res.ok) return;
    const registered = new Set(Object.keys((await res.json()) as Record<string, unknown>));
    const live = new Set<string>();
    for (const pod of pods) {
      const ready = pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
      if (!pod.status?.podIP || !ready || pod.metadata?.deletionTimestamp) continue;
      const id = Registrar.instanceId(pod);
      live.add(id);
      if (!this.readySince.has(id)) this.readySince.set(id, Date.now());
      if (!registered.has(id)) {
        await this.agent.register({ id, name: SERVICE, address: pod.status.podIP, meta: { "pod-name": pod.metadata?.name ?? "", "k8s-namespace": this.namespace, "pod-uid": pod.metadata?.uid ?? "" } });
      }
      if (Date.now() - (this.readySince.get(id) ?? 0) >= PASS_DELAY_MS) {
        await this.agent.setCheck(id, "pass");
        if (!this.passedAt.has(id)) this.passedAt.set(id, Date.now());
      }
    }
    for (const id of registered) if (id.startsWith(`${NAME}-`) && !live.has(id)) await this.agent.deregister(id);
  }
}

function rolloutManifest(ns: string, image: string, stageId: string, bapiUrl: string): { spec: Record<string, unknown> } & Record<string, unknown> {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: NAME, namespace: ns },
    spec: {
      statefulset: {
        metadata: { name: NAME },
        spec: {
          replicas: REPLICAS,
          serviceName: NAME,
          selector: { matchLabels: { app: NAME } },
          template: { metadata: { labels: { app: NAME } }, spec: { containers: [{ name: "app", image }] } },
        },
      },
      percent: 100,
      disruptionPolicy: { maxUnavailable: 1 },
      serviceDiscovery: { dc: "dc1", serviceNames: [SERVICE] },
      bapi: { bapiUrl, stageId },
      rolloutIdentity: `id-${stageId}`,
      channel: "#deploys",
      notifyLevel: "debug",
      progressDeadlineSeconds: 300,
    },
  };
}

describe("integrations e2e: Consul-gated rollout, callbacks, Slack (real reconciler)", function () {
  this.timeout(240_000);
  let ns: string;
  let agent: ConsulAgent;
  let receiver: CallbackReceiver;
  let slack: FakeSlack;
  let registrar: Registrar;
  let reconciler: ChildProcess | undefined;
  let logFile: string;

  async function readRollout(): Promise<StatefulsetRollout> {
    const raw = await customObjectsApi().getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name: NAME });
    const parsed = parseRollout(raw);
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.value;
  }

  before(async function () {
    this.timeout(120_000);
    await installRolloutCrd();
    ns = await newNamespace("integrations", { optIn: true });
    agent = await ConsulAgent.start();
    receiver = new CallbackReceiver();
    await receiver.start();
    slack = await new FakeSlack().start();
    registrar = new Registrar(agent, ns);
    registrar.start();
    logFile = join(mkdtempSync(join(tmpdir(), "integrations-e2e-")), "reconciler.log");
    const log = createWriteStream(logFile);
    reconciler = spawn(process.execPath, ["--import", "tsx", "reconciler/main.ts"], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        KUBECONFIG: kubeconfigPath(),
        BULKHEAD_DISABLE_LEADER_ELECTION: "true",
        BULKHEAD_METRICS_HOST: "127.0.0.1",
        BULKHEAD_METRICS_PORT: String(await freePort()),
        LOG_LEVEL: "debug",
        CONSUL_HTTP_ADDR: `127.0.0.1:${agent.httpPort}`,
        BULKHEAD_CONSUL_TIMEOUT_MS: "1000",
        BULKHEAD_CALLBACK_SECRET: SECRET,
        BULKHEAD_CALLBACK_ALLOWED_URL_PREFIXES: receiver.url,
        SLACK_TOKEN: slack.token,
        SLACK_API_URL: slack.apiUrl,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    reconciler.stdout?.pipe(log);
    reconciler.stderr?.pipe(log);
    process.stderr.write(`      [integrations e2e] reconciler log: ${logFile}\n`);
  });

  after(async () => {
    registrar?.stop();
    if (reconciler && reconciler.exitCode === null) {
      const exited = new Promise((r) => reconciler!.once("exit", r));
      reconciler.kill("SIGTERM");
      await Promise.race([exited, sleep(5_000)]);
      if (reconciler.exitCode === null) reconciler.kill("SIGKILL");
    }
    await agent?.stop();
    await receiver?.stop();
    await slack?.stop();
    // Later files run their own reconcilers: leave them no rollout of ours.
    if (ns) await kubectl(["delete", "namespace", ns, "--wait=false", "--ignore-not-found"]);
  });

  it("creates the StatefulSet and finishes only once every pod passes in Consul; one callback", async () => {
    await customObjectsApi().createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      body: rolloutManifest(ns, "registry.example/web:v1", "stage-v1", receiver.url),
    });
    // Pods come up Ready in Kubernetes at once; Consul passes them PASS_DELAY_MS later.
    const sawConsulWait = await waitFor(
      async () => {
        const r = await readRollout();
        return (r.status?.readyReplicas ?? 0) > 0 && r.status?.phase !== "RolloutDone" && /Consul/.test(r.status?.reason ?? "") ? r.status : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: "the rollout waiting on Consul with pods Ready" },
    );
    expect(sawConsulWait.reason).to.match(/not passing in Consul/);
    const done = await waitFor(async () => ((await readRollout()).status?.phase === "RolloutDone" ? readRollout() : undefined), {
      timeoutMs: 90_000,
      what: "RolloutDone for v1",
    });
    expect(done.status?.readyReplicasServiceDiscovery).to.equal(REPLICAS);
    expect(done.status?.consulServices).to.deep.equal([SERVICE]);
    const lastPass = Math.max(...registrar.passedAt.values());
    expect(Date.parse(done.status?.lastUpdated ?? "0")).to.be.at.least(lastPass - 1000);
    await waitFor(() => receiver.forStage("stage-v1").length === 1, { timeoutMs: 30_000, what: "the v1 callback" });
  });

  it("rolls v2 wave by wave, each wave waiting for Consul; pauses during a Consul outage and recovers; one success callback", async () => {
    const before = await readRollout();
    const v1Revision = before.status?.updateRevision;
    await kubectl(
      [
        "patch", `${PLURAL}.${GROUP}`, NAME, "--type=merge", "-p",
        JSON.stringify({ spec: rolloutManifest(ns, "registry.example/web:v2", "stage-v2", receiver.url).spec }),
      ],
      { namespace: ns, check: true },
    );
    // Wave 1 waits for its new pod to pass in Consul: sampled status shows the pod Ready on the
    // new revision, not passing in Consul, and the wave not complete; then the wave completes.
    const samples: RolloutStatus[] = [];
    const wave1 = await waitFor(
      async () => {
        const status = (await readRollout()).status;
        if (!status || status.updateRevision === v1Revision || !status.currentWave) return undefined;
        if (status.currentWave.number === 1) samples.push(status);
        return (status.wavesCompleted ?? 0) >= 1 ? samples.at(-1) : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: "wave 1 of v2 complete" },
    );
    const wave1Pod = wave1.currentWave!.pods[0]!;
    const gated = samples.find((st) => {
      const pod = st.pods?.find((p) => p.name === wave1Pod);
      return !st.currentWave?.completedAt && pod?.ready && pod.revision === st.updateRevision && pod.consulPassing === false;
    });
    expect(gated, `a sample with ${wave1Pod} Ready on the new revision but not yet passing in Consul`).to.not.equal(undefined);
    expect(gated?.reason).to.match(/not passing in Consul/);
    const newPod = (await coreApi().listNamespacedPod({ namespace: ns })).items.find((p) => p.metadata?.name === wave1Pod)!;
    expect(registrar.passedAt.get(Registrar.instanceId(newPod)), `${wave1Pod} (new) passed in Consul`).to.be.a("number");

    // Consul outage: once the reconciler has seen it (a pass already under way may still record
    // the next wave), no wave completes and no further pod is moved while it lasts, and the
    // status says why.
    await agent.stop();
    await sleep(1_500);
    const settled = await readRollout();
    await sleep(6_000);
    const during = await readRollout();
    expect(during.status?.wavesCompleted, "waves completed during the outage").to.equal(settled.status?.wavesCompleted);
    expect(during.status?.updatedOrdinals ?? [], "pods moved during the outage").to.have.length((settled.status?.updatedOrdinals ?? []).length);
    expect(during.status?.phase).to.equal("Progressing");
    expect(during.status?.reason).to.match(/cannot be checked in Consul \(Consul at http:\/\/127\.0\.0\.1:\d+ \(dc dc1\): connect ECONNREFUSED/);

    // The agent comes back empty; the registrar re-registers the pods and the rollout finishes.
    await agent.run();
    const done = await waitFor(
      async () => {
        const r = await readRollout();
        return r.status?.phase === "RolloutDone" && r.status.updateRevision !== v1Revision ? r : undefined;
      },
      { timeoutMs: 120_000, what: "RolloutDone for v2" },
    );
    expect(done.status?.updatedReplicas).to.equal(REPLICAS);

    await waitFor(() => receiver.forStage("stage-v2").length >= 1, { timeoutMs: 30_000, what: "the v2 callback" });
    await sleep(3_000);
    const callbacks = receiver.forStage("stage-v2");
    expect(callbacks, "success callbacks for stage-v2").to.have.length(1);
    const cb = callbacks[0]!;
    expect(cb.signatureValid).to.equal(true);
    expect(cb.idempotencyKey).to.equal("stage-v2/id-stage-v2/RolloutDone");
    expect(cb.body).to.deep.include({
      stageId: "stage-v2",
      rolloutIdentity: "id-stage-v2",
      namespace: ns,
      name: NAME,
      phase: "RolloutDone",
      percent: 100,
      replicas: REPLICAS,
      updatedReplicas: REPLICAS,
      readyReplicas: REPLICAS,
      updateRevision: done.status?.updateRevision,
    });
    expect((await readRollout()).status?.lastCallbackStageId).to.equal("stage-v2");
    expect(receiver.forStage("stage-v1")).to.have.length(1);

    // Slack: one summary message per rollout, updated in place, ending at RolloutDone.
    const top = slack.messages.filter((m) => !m.threadTs);
    expect(top.length).to.be.within(1, 2);
    expect(top.at(-1)?.text).to.match(/RolloutDone/);
    expect(slack.calls.every((c) => c.status === 200)).to.equal(true);
  });
});
