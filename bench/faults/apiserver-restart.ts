// Fault scenario: kube-apiserver stopped for FAULTS_OUTAGE_SECONDS (default 20) mid-rollout and
// restarted with the same command line. Started by bench/faults/apiserver-restart.sh (a fresh
// cluster, the webhook with its configurations, the reconciler on its ServiceAccount). The
// reconciler runs as two replicas with leader election on (Lease bulkhead-system/bulkhead-reconciler),
// each restarted when it exits, as the chart and the kubelet run it.
//
// During the run, every 200 ms:
//   - GET the webhook's /readyz (WEBHOOK_URL): it must stay Ready throughout;
//   - a dry-run create of a managed pod (a copy of one of the rollout's pods under a new name) —
//     dry run goes through the admission webhooks, including the fail-closed pod-create hook.
//     Outcomes: admitted, apiserver unreachable (the outage itself), or refused (the apiserver
//     answered and said no, e.g. "failed calling webhook").
// Pod availability is sampled every 200 ms from a pod watch (re-listed after the outage).
// Checks: the rollout completes; the webhook never reports not-Ready; no stretch of refused
// creates is longer than the outage; never more pods unavailable than the budget; no pod taken
// down twice (the "take down" log lines of both replicas).
import { readFileSync, writeFileSync, openSync } from "node:fs";
import { spawn } from "node:child_process";
import { Agent as HttpsAgent, request } from "node:https";
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { PodView } from "./pods.js";
import {
  commandLineOf,
  ControlPlaneSupervisor,
  faultsRollout,
  intEnv,
  isAlive,
  loggedTakeDowns,
  Managed,
  newImagePatch,
  reconcilerArgs,
  report,
  ROLLOUT_CRD as CRD,
  sleep,
  takeDownCheck,
  until,
} from "./support.js";

const PODS = intEnv("FAULTS_PODS", 50, 2);
const BUDGET = intEnv("FAULTS_MAX_UNAVAILABLE", Math.ceil(PODS / 10), 1);
const OUTAGE_MS = intEnv("FAULTS_OUTAGE_SECONDS", 20, 1) * 1000;
const TIMEOUT_MS = intEnv("FAULTS_TIMEOUT_SECONDS", 900, 10) * 1000;
const DIR = process.env.FAULTS_DIR ?? "";
const WEBHOOK_URL = process.env.WEBHOOK_URL ?? "";
const NS = "faults-apiserver";
if (!DIR || !WEBHOOK_URL) throw new Error("run through bench/faults/apiserver-restart.sh (FAULTS_DIR and WEBHOOK_URL)");

const kc = new KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (source the cluster env)`);
  return v;
};
const apiserver = new URL(env("BULKHEAD_APISERVER"));
const adminAgent = new HttpsAgent({
  ca: readFileSync(env("BULKHEAD_CA_CERT")),
  cert: readFileSync(env("BULKHEAD_ADMIN_CERT")),
  key: readFileSync(env("BULKHEAD_ADMIN_KEY")),
  keepAlive: false,
});
const insecure = new HttpsAgent({ rejectUnauthorized: false, keepAlive: false });

function httpsCall(
  url: URL,
  agent: HttpsAgent,
  method: string,
  body?: string,
): Promise<{ status: number; text: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(
      url,
      { method, agent, timeout: 2000, headers: body ? { "content-type": "application/json" } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8").slice(0, 500) }),
        );
        res.on("error", (e) => resolve({ error: e.message }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end(body);
  });
}

const LABEL = "bulkhead.dev/faults=apiserver-restart";
const rollout = (image: string) =>
  faultsRollout({
    namespace: NS,
    image,
    pods: PODS,
    maxUnavailable: BUDGET,
    templateLabels: { "bulkhead.dev/faults": "apiserver-restart" },
  });

async function status(): Promise<{
  generation: number;
  phase?: string;
  observedGeneration?: number;
  updatedReplicas?: number;
  wavesCompleted?: number;
}> {
  const r = (await custom.getNamespacedCustomObject({ ...CRD, namespace: NS, name: "app" })) as {
    metadata: { generation: number };
    status?: Record<string, unknown>;
  };
  return { generation: r.metadata.generation, ...(r.status ?? {}) };
}

/** Longest run of consecutive samples matching `bad`, in ms (samples are 200 ms apart). */
function longestRun<T>(samples: Array<{ at: number; v: T }>, bad: (v: T) => boolean): number {
  let longest = 0;
  let from: number | undefined;
  for (const s of samples) {
    if (bad(s.v)) {
      from ??= s.at;
      longest = Math.max(longest, s.at - from);
    } else from = undefined;
  }
  return longest;
}

async function main(): Promise<void> {
  // Two reconciler replicas with leader election, as the chart runs them; each is restarted when
  // it exits (a leader that cannot renew its Lease exits), as the kubelet restarts a container.
  const replicas = ["a", "b"].map(
    (id) =>
      new Managed(
        process.execPath,
        reconcilerArgs(),
        {
          ...process.env,
          KUBECONFIG: process.env.RECONCILER_KUBECONFIG ?? process.env.KUBECONFIG,
          POD_NAME: `bulkhead-reconciler-${id}`,
          BULKHEAD_NAMESPACE: "bulkhead-system",
          BULKHEAD_METRICS_PORT: "0",
          BULKHEAD_METRICS_HOST: "127.0.0.1",
          LOG_LEVEL: "info",
        },
        `${DIR}/logs/reconciler-${id}.log`,
        1000,
      ),
  );
  await core.createNamespace({ body: { metadata: { name: NS, labels: { "bulkhead.dev/enabled": "true" } } } });
  await until(
    "default ServiceAccount",
    async () => Boolean(await core.readNamespacedServiceAccount({ name: "default", namespace: NS })),
    60_000,
  );
  await custom.createNamespacedCustomObject({ ...CRD, namespace: NS, body: rollout("registry.example/faults:v1") });
  for (const r of replicas) r.start();
  await until(
    "v1 done",
    async () => {
      const s = await status();
      return s.phase === "RolloutDone" && s.observedGeneration === s.generation;
    },
    TIMEOUT_MS,
    1000,
  );

  // The probe pod: one of the rollout's pods under a name no replica has.
  const model = (await core.listNamespacedPod({ namespace: NS })).items[0] as V1Pod;
  const probe = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `app-${PODS + 1000}`,
      namespace: NS,
      labels: model.metadata?.labels ?? {},
      ownerReferences: model.metadata?.ownerReferences ?? [],
    },
    // Only the containers' name and image: the API server adds the token volume itself.
    spec: { containers: model.spec!.containers.map((c) => ({ name: c.name, image: c.image })) },
  };
  const probeBody = JSON.stringify(probe);
  const createUrl = new URL(`/api/v1/namespaces/${NS}/pods?dryRun=All`, apiserver);

  const ready: Array<{ at: number; v: boolean }> = [];
  const creates: Array<{ at: number; v: "admitted" | "unreachable" | "refused" }> = [];
  const refusals: string[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const at = Date.now();
      const [r, c] = await Promise.all([
        httpsCall(new URL("/readyz", WEBHOOK_URL), insecure, "GET"),
        httpsCall(createUrl, adminAgent, "POST", probeBody),
      ]);
      ready.push({ at, v: "status" in r && r.status === 200 });
      if ("error" in c) creates.push({ at, v: "unreachable" });
      else if (c.status === 201 || c.status === 200) creates.push({ at, v: "admitted" });
      else if (c.status === 503 && /apiserver|not ready|etcd/i.test(c.text) && !/webhook/i.test(c.text))
        creates.push({ at, v: "unreachable" });
      else {
        creates.push({ at, v: "refused" });
        if (refusals.length < 5) refusals.push(`HTTP ${c.status}: ${c.text.replace(/\s+/g, " ").slice(0, 200)}`);
      }
      await sleep(Math.max(0, 200 - (Date.now() - at)));
    }
  })();

  const view = new PodView(kc, LABEL);
  await view.start();
  let worstUnavailable = 0;
  let budgetSamples = 0;
  let overBudget = 0;
  const budgetSampler = setInterval(() => {
    budgetSamples++;
    const unavailable = PODS - (view.readyByNamespace().get(NS) ?? 0);
    worstUnavailable = Math.max(worstUnavailable, unavailable);
    if (unavailable > BUDGET) overBudget++;
  }, 200);

  await custom.patchNamespacedCustomObject({
    ...CRD,
    namespace: NS,
    name: "app",
    body: newImagePatch("registry.example/faults:v2"),
  });
  await until("the first v2 wave", async () => ((await status()).wavesCompleted ?? 0) >= 1, TIMEOUT_MS, 250);

  // The other components are supervised from here on, as static pods are by the kubelet.
  const supervisor = new ControlPlaneSupervisor(DIR, ["kube-controller-manager", "kube-scheduler", "kwok"]);
  supervisor.start();
  // Stop the apiserver, keep it down for the outage, restart it with the same command line.
  const pidFile = `${DIR}/pids/kube-apiserver.pid`;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  const argv = commandLineOf(pid);
  const stoppedAt = Date.now();
  // SIGTERM closes its listener at once but drains for up to 60 s: SIGKILL after 5 s.
  process.kill(pid, "SIGTERM");
  const gone = () => !isAlive(pid);
  await until("kube-apiserver exited after SIGTERM", gone, 5000, 100).catch(() => process.kill(pid, "SIGKILL"));
  await until("kube-apiserver exited", gone, 30_000, 100);
  await sleep(Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt)));
  const log = openSync(`${DIR}/logs/kube-apiserver.log`, "a");
  const restarted = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ["ignore", log, log] });
  restarted.unref();
  writeFileSync(pidFile, `${restarted.pid}\n`);
  const restartedAt = Date.now();
  process.stderr.write(
    `  kube-apiserver down for ${((restartedAt - stoppedAt) / 1000).toFixed(1)} s (SIGTERM at ${new Date(stoppedAt).toISOString()})\n`,
  );

  let error: string | undefined;
  try {
    await until(
      "v2 done",
      async () => {
        const s = await status();
        return s.phase === "RolloutDone" && s.observedGeneration === s.generation && s.updatedReplicas === PODS;
      },
      TIMEOUT_MS,
      1000,
    );
  } catch (err) {
    error = (err as Error).message;
  }
  await sleep(2000);
  sampling = false;
  await sampler;
  clearInterval(budgetSampler);
  view.stop();
  // Read before the replicas stop: the leader releases the Lease on SIGTERM.
  const lease = await kc
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ namespace: "bulkhead-system", name: "bulkhead-reconciler" })
    .catch(() => undefined);
  await Promise.all(replicas.map((r) => r.stop("SIGTERM")));
  supervisor.stop();

  const becameLeader = ["a", "b"].map(
    (id) =>
      `${id}: ${readFileSync(`${DIR}/logs/reconciler-${id}.log`, "utf8").split('"msg":"became leader"').length - 1}`,
  );
  const notReady = ready.filter((s) => !s.v).length;
  const longestRefusedMs = longestRun(creates, (v) => v === "refused");
  const longestNotAdmittedMs = longestRun(creates, (v) => v !== "admitted");
  const lastRefusal = creates.filter((c) => c.v === "refused").at(-1);
  const takeDowns = takeDownCheck(loggedTakeDowns(["a", "b"].map((id) => `${DIR}/logs/reconciler-${id}.log`)), PODS);
  report({
    scenario: "apiserver-restart",
    pass: !error && notReady === 0 && longestRefusedMs <= OUTAGE_MS && overBudget === 0 && takeDowns.pass,
    checks: [
      { name: "the rollout completes", pass: !error, value: error ?? `${PODS}/${PODS} pods on the new revision` },
      {
        name: "the webhook stays Ready",
        pass: notReady === 0,
        value: `${notReady} of ${ready.length} /readyz samples not Ready (longest ${(longestRun(ready, (v) => !v) / 1000).toFixed(1)} s)`,
      },
      {
        name: `no managed pod create refused for longer than the outage (${OUTAGE_MS / 1000} s)`,
        pass: longestRefusedMs <= OUTAGE_MS,
        value: `longest refused stretch ${(longestRefusedMs / 1000).toFixed(1)} s; ${creates.filter((c) => c.v === "refused").length} refused samples${lastRefusal ? `, last ${((lastRefusal.at - restartedAt) / 1000).toFixed(1)} s after the restart` : ""}${refusals.length ? `; e.g. ${refusals[0]}` : ""}`,
      },
      {
        name: `never more unavailable than the budget (${BUDGET})`,
        pass: overBudget === 0,
        value: `worst ${worstUnavailable}, ${overBudget} sample(s) over, ${budgetSamples} samples (pod watch restarts: ${view.watchRestarts})`,
      },
      { name: 'no pod taken down twice (both replicas\' "take down" log lines)', ...takeDowns },
    ],
    figures: {
      pods: PODS,
      budget: BUDGET,
      podDeletionsSeen: view.deletions.length,
      outageSeconds: Number(((restartedAt - stoppedAt) / 1000).toFixed(1)),
      longestNotAdmittedSeconds: Number((longestNotAdmittedMs / 1000).toFixed(1)),
      createSamples: creates.length,
      readySamples: ready.length,
      leaseHolder: lease?.spec?.holderIdentity ?? "none",
      leaseTransitions: lease?.spec?.leaseTransitions ?? 0,
      becameLeader: becameLeader.join(", "),
      reconcilerExits:
        replicas
          .map((r, i) => `${["a", "b"][i]}: ${r.unplannedExits.length} (${r.unplannedExits.join("; ")})`)
          .join(", ") || "none",
      controlPlaneRestarts:
        Object.entries(supervisor.restarts)
          .map(([name, n]) => `${name} x${n}`)
          .join(", ") || "none",
    },
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`apiserver-restart failed: ${(err as Error).stack ?? err}\n`);
  process.exit(2);
});
