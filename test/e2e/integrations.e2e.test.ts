// Integrations end to end: the real reconciler process (reconciler/main.ts) on the real control
// plane, gated on a real Consul agent, calling back a local release-API receiver and posting to
// the fake Slack. The test plays consul-k8s: it registers each pod in Consul by pod IP (with the
// pod-name, k8s-namespace and pod-uid metadata consul-k8s sets) once the pod is Ready, and marks
// its check passing only after a delay. KWOK, like real IPAM, may give a recreated pod its
// predecessor's IP, so the gate must tell them apart by UID (the reconciler passes pod UIDs).
// Then Slack as people see it: two rollouts are two messages, and a drain refused for a minute
// by two webhook replicas (behind a round-robin TCP balancer, like a Service) is one alert per
// pod, sent by the reconciler from the replicas' alert Events, updated with the attempt count.
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createTcpServer, connect, type Server as TcpServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventsV1Api, type V1Pod } from "@kubernetes/client-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { verifyCallbackSignature } from "../../adapters/callbacks/signature.js";
import { systemClock } from "../../adapters/clock.js";
import { kubeAlertEvents } from "../../adapters/kube/alert-events.js";
import {
  managedControllerRevisionsCache,
  managedPodsCache,
  managedStatefulSetsCache,
  rolloutsCache,
  type ReadCache,
} from "../../adapters/kube/cache.js";
import { clusterView } from "../../adapters/kube/cluster-view.js";
import { kubeEventRecorder } from "../../adapters/kube/events.js";
import { ALERT_LABEL } from "../../api/alert-events.js";
import type { CertificateSource } from "../../certs/source.js";
import { createEvictionHandler, createLeakAlerter, type LeakAlerter } from "../../webhook/leak-guard/index.js";
import { createWebhookMetrics } from "../../webhook/metrics.js";
import { parseWebhookConfig } from "../../webhook/config.js";
import {
  admissionLimits,
  createApp,
  type RunningServer,
  serverTimeouts,
  startHttpsServer,
} from "../../webhook/server.js";
import { API_VERSION, KIND, PLURAL } from "../../api/labels.js";
import { podsOfStatus } from "../../api/pod-summary.js";
import { parseRollout, type RolloutStatus, type StatefulsetRollout } from "../../api/rollout.js";
import { ConsulAgent, freePort } from "../component/consul-agent.js";
import { FakeSlack } from "../support/fake-slack.js";
import {
  REPO_ROOT,
  admissionApi,
  coreApi,
  customObjectsApi,
  installRolloutCrd,
  issueServingCert,
  kubeConfig,
  kubeconfigPath,
  kubectl,
  newNamespace,
  sleep,
  waitFor,
} from "./support/cluster.js";

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
        await this.agent.register({
          id,
          name: SERVICE,
          address: pod.status.podIP,
          meta: {
            "pod-name": pod.metadata?.name ?? "",
            "k8s-namespace": this.namespace,
            "pod-uid": pod.metadata?.uid ?? "",
          },
        });
      }
      if (Date.now() - (this.readySince.get(id) ?? 0) >= PASS_DELAY_MS) {
        await this.agent.setCheck(id, "pass");
        if (!this.passedAt.has(id)) this.passedAt.set(id, Date.now());
      }
    }
    for (const id of registered) if (id.startsWith(`${NAME}-`) && !live.has(id)) await this.agent.deregister(id);
  }
}

const ORIGIN = "git@internal-github.com:slack/web.git";

/** The rollout as Bedrock's API writes it: the version label and the git annotations of the seed. */
function rolloutManifest(
  ns: string,
  image: string,
  stageId: string,
  bapiUrl: string,
  percent = 100,
): { spec: Record<string, unknown>; metadata: Record<string, unknown> } & Record<string, unknown> {
  const version = image.slice(image.lastIndexOf(":") + 1);
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name: NAME,
      namespace: ns,
      labels: { app: NAME, "app.kubernetes.io/version": version },
      annotations: {
        "slack.com/bedrock.git.branch": "master",
        "slack.com/bedrock.git.origin": ORIGIN,
        "slack.com/bedrock.git.commit": `sha-${version}`,
      },
    },
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
      percent,
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

/**
 * A round-robin TCP balancer in front of the webhook replicas, like a Service: TLS passes through
 * untouched; each connection goes to the next replica and is closed shortly after the replica
 * last answered, so the apiserver's keep-alive does not pin every call to one replica.
 */
class RoundRobin {
  private readonly server: TcpServer;
  private next = 0;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly backends: () => number[]) {
    this.server = createTcpServer((client) => {
      const ports = this.backends();
      const backend = connect(ports[this.next++ % ports.length]!, "127.0.0.1");
      this.sockets.add(client).add(backend);
      let idle: NodeJS.Timeout | undefined;
      const close = () => {
        clearTimeout(idle);
        client.destroy();
        backend.destroy();
        this.sockets.delete(client);
        this.sockets.delete(backend);
      };
      client.pipe(backend);
      backend.pipe(client);
      backend.on("data", () => {
        clearTimeout(idle);
        idle = setTimeout(close, 200);
      });
      client.on("error", close).on("close", close);
      backend.on("error", close).on("close", close);
    });
  }
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
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
  const replicas: Array<{ alerter: LeakAlerter; server: RunningServer; registry: Registry }> = [];
  const webhookCaches: Array<ReadCache<unknown>> = [];
  let balancer: RoundRobin | undefined;

  async function readRollout(): Promise<StatefulsetRollout> {
    const raw = await customObjectsApi().getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      name: NAME,
    });
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
    await admissionApi()
      .deleteValidatingWebhookConfiguration({ name: `bulkhead-integrations-${ns}` })
      .catch(() => undefined);
    for (const r of replicas) {
      r.alerter.close();
      await r.server.shutdown();
    }
    await balancer?.stop();
    await Promise.allSettled(webhookCaches.map((c) => c.stop()));
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
        return (r.status?.readyReplicas ?? 0) > 0 &&
          r.status?.phase !== "RolloutDone" &&
          /Consul/.test(r.status?.reason ?? "")
          ? r.status
          : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: "the rollout waiting on Consul with pods Ready" },
    );
    expect(sawConsulWait.reason).to.match(/not passing in Consul/);
    const done = await waitFor(
      async () => ((await readRollout()).status?.phase === "RolloutDone" ? readRollout() : undefined),
      {
        timeoutMs: 90_000,
        what: "RolloutDone for v1",
      },
    );
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
        "patch",
        `${PLURAL}.${GROUP}`,
        NAME,
        "--type=merge",
        "-p",
        JSON.stringify(
          (({ spec, metadata }) => ({
            spec,
            metadata: { labels: metadata.labels, annotations: metadata.annotations },
          }))(rolloutManifest(ns, "registry.example/web:v2", "stage-v2", receiver.url)),
        ),
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
      const pod = podsOfStatus(st, st.statefulsetName ?? "").find((p) => p.name === wave1Pod);
      return (
        !st.currentWave?.completedAt && pod?.ready && pod.revision === st.updateRevision && pod.consulPassing === false
      );
    });
    expect(gated, `a sample with ${wave1Pod} Ready on the new revision but not yet passing in Consul`).to.not.equal(
      undefined,
    );
    expect(gated?.reason).to.match(/not passing in Consul/);
    const newPod = (await coreApi().listNamespacedPod({ namespace: ns })).items.find(
      (p) => p.metadata?.name === wave1Pod,
    )!;
    expect(registrar.passedAt.get(Registrar.instanceId(newPod)), `${wave1Pod} (new) passed in Consul`).to.be.a(
      "number",
    );

    // Consul outage: once the reconciler has seen it (its status says so; a pass that started
    // before may still have recorded the next wave), no wave completes and no further pod is
    // moved while it lasts.
    await agent.stop();
    const settled = await waitFor(
      async () => {
        const r = await readRollout();
        return /cannot be checked in Consul/.test(r.status?.reason ?? "") ? r : undefined;
      },
      { timeoutMs: 30_000, what: "the reconciler reporting the Consul outage in status" },
    );
    // A window in which nothing may happen (an absence, so it can only be watched for a while).
    await sleep(6_000);
    const during = await readRollout();
    expect(during.status?.wavesCompleted, "waves completed during the outage").to.equal(settled.status?.wavesCompleted);
    expect(during.status?.updatedOrdinals ?? [], "pods moved during the outage").to.have.length(
      (settled.status?.updatedOrdinals ?? []).length,
    );
    expect(during.status?.phase).to.equal("Progressing");
    expect(during.status?.reason).to.match(
      /cannot be checked in Consul \(Consul at http:\/\/127\.0\.0\.1:\d+ \(dc dc1\): connect ECONNREFUSED/,
    );

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

    // status.buildMetadata from the labels and annotations.
    expect(done.status?.buildMetadata).to.deep.equal({
      version: "v2",
      branch: "master",
      commit: "sha-v2",
      origin: ORIGIN,
    });

    // Slack: two rollouts (v1, then v2), two top-level messages, each with its own thread page
    // and updated in place; the first is left at its final state as v1's record.
    const [first, second] = await waitFor(
      () => {
        const top = slack.messages.filter((m) => !m.threadTs);
        return top.length === 2 && /RolloutDone/.test(top[1]!.text) ? top : undefined;
      },
      { timeoutMs: 30_000, what: "v2's message at RolloutDone" },
    );
    await sleep(2_000);
    expect(
      slack.messages.filter((m) => !m.threadTs),
      "top-level messages for two rollouts",
    ).to.have.length(2);
    expect(first!.text).to.match(/RolloutDone/);
    expect(JSON.stringify(first!.blocks)).to.contain("`v1`").and.to.contain("`sha-v1`").and.to.not.contain("`v2`");
    expect(JSON.stringify(second!.blocks)).to.contain("`v2`").and.to.contain("`master`").and.to.contain(ORIGIN);
    expect(first!.updates).to.be.above(0);
    expect(second!.updates).to.be.above(0);
    for (const top of [first!, second!]) {
      expect(
        slack.messages.filter((m) => m.threadTs === top.ts),
        `thread pages of ${top.ts}`,
      ).to.have.length.above(0);
    }
    // status.slackMessage is v2's message, keyed to v2's rollout (generation, identity).
    const final = await readRollout();
    expect(final.status?.slackMessage).to.deep.include({
      ts: second!.ts,
      rollout: `${final.metadata.generation}/id-stage-v2`,
    });
    expect(slack.calls.every((c) => c.status === 200)).to.equal(true);
  });
  it("a drain refused for a minute by two webhook replicas: exactly one Slack alert per pod, updated with the attempt count", async () => {
    // Split the StatefulSet: v3 at 50% (RolloutDone with half the pods on the old revision).
    const v2 = (await readRollout()).status?.updateRevision;
    await kubectl(
      [
        "patch",
        `${PLURAL}.${GROUP}`,
        NAME,
        "--type=merge",
        "-p",
        JSON.stringify({ spec: rolloutManifest(ns, "registry.example/web:v3", "stage-v3", receiver.url, 50).spec }),
      ],
      { namespace: ns, check: true },
    );
    const split = await waitFor(
      async () => {
        const r = await readRollout();
        return r.status?.phase === "RolloutDone" && r.status.updateRevision !== v2 ? r : undefined;
      },
      { timeoutMs: 120_000, what: "v3 done at 50%" },
    );
    expect(split.status?.updatedReplicas).to.equal(REPLICAS / 2);
    const oldRevision = split.status?.currentRevision;

    // Two webhook replicas in this process (separate alerters, caches and metrics, as two pods
    // would have), behind the balancer.
    const kc = kubeConfig();
    const podsCache = managedPodsCache(kc);
    const stsCache = managedStatefulSetsCache(kc);
    const rolloutCache = rolloutsCache(kc);
    const revisionCache = managedControllerRevisionsCache(kc);
    webhookCaches.push(podsCache, stsCache, rolloutCache, revisionCache);
    await Promise.all(webhookCaches.map((c) => c.synced));
    const logger = pino({ level: "silent" });
    const cert = issueServingCert();
    const certificates: CertificateSource = {
      current: () => ({ cert: cert.certPem, key: cert.keyPem }),
      onChange: () => {},
      start: async () => ({ cert: cert.certPem, key: cert.keyPem }),
      stop: () => {},
    };
    const eventsApi = kc.makeApiClient(EventsV1Api);
    for (const instance of ["webhook-a", "webhook-b"]) {
      const registry = new Registry();
      const alerter = createLeakAlerter({
        events: kubeEventRecorder(eventsApi, "bulkhead-webhook", instance, () => undefined),
        alertEvents: kubeAlertEvents(eventsApi, "bulkhead-webhook", instance, () => undefined),
        logger,
        updateDelayMs: 2_000,
      });
      const handler = createEvictionHandler({
        view: clusterView({
          pods: podsCache,
          statefulSets: stsCache,
          rollouts: rolloutCache,
          controllerRevisions: revisionCache,
        }),
        reconcilerUsername: "system:serviceaccount:bulkhead-system:bulkhead-reconciler",
        defaultLeakProtection: "enforce",
        alerts: alerter,
        logger,
        registry,
      });
      const config = parseWebhookConfig({ BULKHEAD_NAMESPACE: "bulkhead-system" });
      const app = createApp({
        routes: [{ path: "/validate/eviction", maxBodyBytes: 64 * 1024, handler }],
        metrics: createWebhookMetrics(registry),
        logger,
        readiness: { notReadyReasons: () => [] },
        limits: admissionLimits(config),
      });
      const server = await startHttpsServer({
        app,
        certificates,
        host: "127.0.0.1",
        port: 0,
        logger,
        shutdownTimeoutMs: 2_000,
        clock: systemClock,
        timeouts: serverTimeouts(config),
      });
      replicas.push({ alerter, server, registry });
    }
    balancer = new RoundRobin(() => replicas.map((r) => r.server.port));
    await balancer.start();
    await admissionApi().createValidatingWebhookConfiguration({
      body: {
        metadata: { name: `bulkhead-integrations-${ns}` },
        webhooks: [
          {
            name: "eviction.integrations.bulkhead.dev",
            clientConfig: {
              url: `https://127.0.0.1:${balancer.port}/validate/eviction`,
              caBundle: Buffer.from(cert.caPem).toString("base64"),
            },
            rules: [
              {
                operations: ["CREATE"],
                apiGroups: [""],
                apiVersions: ["v1"],
                resources: ["pods/eviction"],
                scope: "Namespaced",
              },
            ],
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
            admissionReviewVersions: ["v1"],
            sideEffects: "NoneOnDryRun",
            failurePolicy: "Fail",
            timeoutSeconds: 5,
          },
        ],
      },
    });

    // A node with old pods, drained for a minute: kubectl retries each refused eviction every 5 s.
    const pods = (await coreApi().listNamespacedPod({ namespace: ns, labelSelector: `app=${NAME}` })).items;
    const oldPod = pods.find((p) => p.metadata?.labels?.["controller-revision-hash"] === oldRevision)!;
    const node = oldPod.spec!.nodeName!;
    const refused = pods
      .filter((p) => p.spec?.nodeName === node && p.metadata?.labels?.["controller-revision-hash"] === oldRevision)
      .map((p) => p.metadata!.name!);
    // Wait for the webhook to be in force (a dry-run eviction is refused).
    await waitFor(
      async () => {
        const r = await kubectl(
          ["create", "--raw", `/api/v1/namespaces/${ns}/pods/${oldPod.metadata!.name}/eviction`, "-f", "-"],
          {
            input: JSON.stringify({
              apiVersion: "policy/v1",
              kind: "Eviction",
              metadata: { name: oldPod.metadata!.name, namespace: ns },
              deleteOptions: { dryRun: ["All"] },
            }),
          },
        );
        return r.code !== 0 && r.stderr.includes("Bulkhead leak protection");
      },
      { timeoutMs: 30_000, intervalMs: 500, what: "the leak guard refusing a dry-run eviction" },
    );
    let drain;
    try {
      drain = await kubectl(
        ["drain", node, `--pod-selector=app=${NAME}`, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=60s"],
        { timeoutMs: 120_000 },
      );
    } finally {
      await kubectl(["uncordon", node], { check: true });
    }
    expect(drain.code, drain.stdout + drain.stderr).to.not.equal(0);
    expect(drain.stdout + drain.stderr).to.contain("will retry after 5s");
    for (const r of replicas) await r.alerter.idle();

    // Both replicas refused attempts (each wrote its own alert Events).
    const alertEvents = async () =>
      (await eventsApi.listNamespacedEvent({ namespace: ns, labelSelector: ALERT_LABEL })).items;
    const instances = new Set((await alertEvents()).map((e) => e.reportingInstance));
    expect([...instances].sort(), "replicas that refused attempts").to.deep.equal(["webhook-a", "webhook-b"]);
    const denied = async (): Promise<number> => {
      let n = 0;
      for (const r of replicas) {
        const metric = await r.registry.getSingleMetric("bulkhead_leak_guard_decisions_total")?.get();
        for (const v of metric?.values ?? []) if (v.labels.decision === "denied") n += v.value;
      }
      return n;
    };
    const attempts = await denied();
    expect(attempts, "refusals over the minute").to.be.at.least(refused.length * 5);

    // The reconciler (the one leader) keeps one message per pod; once every count has reached
    // the Events (2 s) and the message (its 30 s update interval), the messages add up to every refusal.
    const alertsFor = (pod: string) =>
      slack.messages.filter((m) => !m.threadTs && m.text.includes(`${ns}/${pod}`) && m.text.includes("refused"));
    const countOf = (text: string) => Number(/\((\d+) attempts?\)/.exec(text)?.[1] ?? 0);
    await waitFor(
      () => refused.reduce((sum, pod) => sum + alertsFor(pod).reduce((n, m) => n + countOf(m.text), 0), 0) === attempts,
      {
        timeoutMs: 90_000,
        intervalMs: 1_000,
        what: `Slack alerts counting all ${attempts} refusals`,
      },
    );
    for (const pod of refused) {
      const messages = alertsFor(pod);
      expect(messages, `alerts for ${pod}`).to.have.length(1);
      expect(messages[0]!.updates, `updates of the alert for ${pod}`).to.be.above(0);
      expect(countOf(messages[0]!.text)).to.be.above(1);
    }
  });
  it("a group of three zones (2 pods each) rolled together: one Slack message per group run, from the first member", async () => {
    const groupNs = await newNamespace("slack-groups");
    const zones = ["zone-a", "zone-b", "zone-c"];
    const member = (zone: string, image: string) => ({
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name: zone, namespace: groupNs },
      spec: {
        percent: 100,
        group: { name: "ingester", order: zones.indexOf(zone) + 1 },
        channel: "#ingester",
        notifyLevel: "debug",
        disruptionPolicy: { maxUnavailable: 1 },
        statefulset: {
          apiVersion: "apps/v1",
          kind: "StatefulSet",
          metadata: { name: zone },
          spec: {
            replicas: 2,
            serviceName: zone,
            selector: { matchLabels: { app: zone } },
            template: {
              metadata: { labels: { app: zone } },
              spec: {
                containers: [{ name: "app", image }],
                // One StatefulSet per zone (hack/cluster-up.sh labels the KWOK nodes zone-a/b/c).
                affinity: {
                  nodeAffinity: {
                    requiredDuringSchedulingIgnoredDuringExecution: {
                      nodeSelectorTerms: [
                        { matchExpressions: [{ key: "topology.kubernetes.io/zone", operator: "In", values: [zone] }] },
                      ],
                    },
                  },
                },
              },
            },
          },
        },
      },
    });
    const apply = (image: string) =>
      kubectl(["apply", "-f", "-"], {
        input: zones.map((z) => JSON.stringify(member(z, image))).join("\n---\n"),
        namespace: groupNs,
        check: true,
      });
    const members = async () => {
      const list = (await customObjectsApi().listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: groupNs,
        plural: PLURAL,
      })) as { items: unknown[] };
      return new Map(
        list.items.map((raw) => {
          const parsed = parseRollout(raw);
          if (!parsed.ok) throw new Error(parsed.error);
          return [parsed.value.metadata.name, parsed.value] as const;
        }),
      );
    };
    const allDone = async () => {
      const all = await members();
      return zones.every((z) => {
        const r = all.get(z);
        return r?.status?.phase === "RolloutDone" && r.status.observedGeneration === r.metadata.generation;
      })
        ? all
        : undefined;
    };
    const groupMessages = () => slack.messages.filter((m) => m.text.includes(`${groupNs}/ingester`));
    const ended = (ts: string | undefined) => async () => {
      const ref = (await members()).get("zone-a")?.status?.slackMessage;
      return ref?.rollout === "group:ingester:ended" && ref.ts === ts;
    };
    try {
      // Created together: the creation is one group run.
      await apply("registry.example/ingester:v1");
      await waitFor(allDone, { timeoutMs: 90_000, what: "the group created" });
      const created = await waitFor(
        () => (groupMessages()[0]?.text.startsWith("Group rollout done") ? groupMessages()[0] : undefined),
        {
          timeoutMs: 30_000,
          what: "the creation run's message at its end",
        },
      );
      await waitFor(ended(created.ts), { timeoutMs: 30_000, what: "zone-a's status holding the ended creation run" });

      // All three templates changed at once: zone-a, zone-b, zone-c roll in turn, one new message.
      await apply("registry.example/ingester:v2");
      const rolled = await waitFor(allDone, { timeoutMs: 120_000, what: "the group rolled to v2" });
      expect([...rolled.values()].map((r) => r.status?.updatedReplicas)).to.deep.equal([2, 2, 2]);
      const run = await waitFor(
        () => (groupMessages()[1]?.text.startsWith("Group rollout done") ? groupMessages()[1] : undefined),
        { timeoutMs: 30_000, what: "the v2 run's message at its end" },
      );
      await waitFor(ended(run.ts), { timeoutMs: 30_000, what: "zone-a's status holding the ended v2 run" });
      expect(run.text).to.equal(
        `Group rollout done ${groupNs}/ingester: RolloutDone, 3/3 members done, 6/6 pods moved`,
      );
      expect(run.updates, "the v2 run's message updated in place as the members moved").to.be.above(0);
      expect(JSON.stringify(run.blocks)).to.contain("`ingester:v2`");
      // Nothing else: no message of zone-b or zone-c, no pod pages in a thread.
      expect(groupMessages().map((m) => m.ts)).to.deep.equal([created.ts, run.ts]);
      expect(slack.messages.filter((m) => zones.some((z) => m.text.includes(`${groupNs}/${z}`)))).to.have.length(0);
      const final = await members();
      expect(final.get("zone-b")?.status?.slackMessage).to.equal(undefined);
      expect(final.get("zone-c")?.status?.slackMessage).to.equal(undefined);
    } finally {
      // The members' pods are pinned to the zone nodes: leave none behind for later drains.
      await kubectl(["delete", "namespace", groupNs, "--wait=false", "--ignore-not-found"]);
    }
  });
});
