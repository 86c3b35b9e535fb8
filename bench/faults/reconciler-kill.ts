// Fault scenario: the reconciler SIGKILLed at random points while many rollouts run.
// Started by bench/faults/reconciler-kill.sh (a fresh loopback cluster with the CRD); this
// driver owns the reconciler process: it starts it, kills its process group with SIGKILL after a
// seeded random delay, restarts it after another, and repeats until every rollout is done.
//
//   FAULTS_SEED            PRNG seed (printed; the same seed gives the same kill schedule)
//   FAULTS_ROLLOUTS        rollouts (default 20)        FAULTS_PODS     pods each (default 50)
//   FAULTS_MAX_UNAVAILABLE PDB maxUnavailable (default 10% of the pods, rounded up)
//   FAULTS_KILL_MIN_MS / FAULTS_KILL_MAX_MS   uptime before each kill (default 1000 / 8000)
//   FAULTS_TIMEOUT_SECONDS bound on the whole run (default 1500)
//
// Checks, with pod availability sampled every 200 ms from a pod watch:
//   every rollout reaches RolloutDone with all pods on the new revision;
//   no rollout ever has more pods unavailable than its budget;
//   no pod is taken down twice, counted from the reconciler's "take down" log lines (a line lost
//   to a SIGKILL can only undercount); the pod watch's deletions per pod name and deletions of
//   new-revision pods are reported too, but include deletions nothing in Bulkhead made (KWOK).
// Leader election is off (one replica, BULKHEAD_DISABLE_LEADER_ELECTION): the restart tests the
// status-as-memory path, not the Lease's takeover delay.
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { PodView } from "./pods.js";
import {
  faultsRollout,
  intEnv,
  loggedTakeDowns,
  Managed,
  newImagePatch,
  reconcilerArgs,
  report,
  ROLLOUT_CRD as CRD,
  seededRandom,
  seedFromEnv,
  sleep,
  takeDownCheck,
  until,
} from "./support.js";

const seed = seedFromEnv();
const random = seededRandom(seed);
const ROLLOUTS = intEnv("FAULTS_ROLLOUTS", 20, 1);
const PODS = intEnv("FAULTS_PODS", 50, 2);
const BUDGET = intEnv("FAULTS_MAX_UNAVAILABLE", Math.ceil(PODS / 10), 1);
const KILL_MIN = intEnv("FAULTS_KILL_MIN_MS", 1000);
const KILL_MAX = intEnv("FAULTS_KILL_MAX_MS", 8000, KILL_MIN);
const TIMEOUT_MS = intEnv("FAULTS_TIMEOUT_SECONDS", 1500, 10) * 1000;
const LOG_DIR = process.env.FAULTS_LOG_DIR ?? "/tmp";
const LABEL = "bulkhead.dev/faults=reconciler-kill";

process.stderr.write(
  `reconciler-kill: seed ${seed} (FAULTS_SEED=${seed} reproduces the kill schedule); ${ROLLOUTS} rollouts x ${PODS} pods, budget ${BUDGET}\n`,
);

const kc = new KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const namespaces = Array.from({ length: ROLLOUTS }, (_, i) => `faults-kill-${i}`);
const rollout = (namespace: string, image: string) =>
  faultsRollout({
    namespace,
    image,
    pods: PODS,
    maxUnavailable: BUDGET,
    templateLabels: { "bulkhead.dev/faults": "reconciler-kill" },
  });

interface View {
  generation: number;
  phase?: string;
  observedGeneration?: number;
  updatedReplicas?: number;
  updateRevision?: string;
}

async function statuses(): Promise<Map<string, View>> {
  const list = (await custom.listClusterCustomObject({ ...CRD })) as {
    items: Array<{ metadata: { namespace: string; generation: number }; status?: Omit<View, "generation"> }>;
  };
  return new Map(
    list.items
      .filter((r) => r.metadata.namespace.startsWith("faults-kill-"))
      .map((r) => [r.metadata.namespace, { generation: r.metadata.generation, ...(r.status ?? {}) }]),
  );
}

const isDone = (v: View | undefined, generation: number) =>
  v?.phase === "RolloutDone" &&
  v.generation >= generation &&
  v.observedGeneration === v.generation &&
  v.updatedReplicas === PODS;
const allDone = (s: Map<string, View>, generation: number) => namespaces.every((ns) => isDone(s.get(ns), generation));

async function main(): Promise<void> {
  const started = Date.now();
  const reconciler = new Managed(
    process.execPath,
    reconcilerArgs(),
    {
      ...process.env,
      BULKHEAD_DISABLE_LEADER_ELECTION: "true",
      BULKHEAD_METRICS_PORT: "0",
      BULKHEAD_METRICS_HOST: "127.0.0.1",
      LOG_LEVEL: "info",
    },
    `${LOG_DIR}/reconciler.log`,
  );
  for (const ns of namespaces) {
    await core.createNamespace({ body: { metadata: { name: ns } } });
  }
  await until(
    "default ServiceAccounts",
    async () => {
      for (const ns of namespaces) await core.readNamespacedServiceAccount({ name: "default", namespace: ns });
      return true;
    },
    60_000,
  );
  for (const ns of namespaces)
    await custom.createNamespacedCustomObject({
      ...CRD,
      namespace: ns,
      body: rollout(ns, "registry.example/faults:v1"),
    });
  reconciler.start();
  await until("every v1 rollout done", async () => allDone(await statuses(), 1), TIMEOUT_MS, 1000);
  process.stderr.write(`  v1 ready after ${Math.round((Date.now() - started) / 1000)} s\n`);

  const view = new PodView(kc, LABEL);
  await view.start();
  const maxUnavailable = new Map<string, number>(namespaces.map((ns) => [ns, 0]));
  let samples = 0;
  let violations = 0;
  const sampler = setInterval(() => {
    samples++;
    const ready = view.readyByNamespace();
    for (const ns of namespaces) {
      const unavailable = PODS - (ready.get(ns) ?? 0);
      if (unavailable > (maxUnavailable.get(ns) ?? 0)) maxUnavailable.set(ns, unavailable);
      if (unavailable > BUDGET) violations++;
    }
  }, 200);

  const rolloutStarted = Date.now();
  for (const ns of namespaces) {
    await custom.patchNamespacedCustomObject({
      ...CRD,
      namespace: ns,
      name: "app",
      body: newImagePatch("registry.example/faults:v2"),
    });
  }
  let kills = 0;
  let done = false;
  const killer = (async () => {
    while (!done) {
      await sleep(KILL_MIN + random() * (KILL_MAX - KILL_MIN));
      if (done) break;
      await reconciler.stop("SIGKILL");
      kills++;
      await sleep(random() * 1000);
      reconciler.start();
    }
  })();
  let error: string | undefined;
  try {
    await until(
      "every v2 rollout done",
      async () => allDone(await statuses(), 2),
      TIMEOUT_MS - (Date.now() - started),
      1000,
    );
  } catch (err) {
    error = (err as Error).message;
  }
  done = true;
  await killer;
  const rolloutSeconds = Math.round((Date.now() - rolloutStarted) / 1000);
  // Let the watch see the last deletions before judging.
  await sleep(2000);
  clearInterval(sampler);
  view.stop();
  await reconciler.stop("SIGTERM");

  const final = await statuses();
  const updateRevision = new Map([...final].map(([ns, v]) => [ns, v.updateRevision ?? ""]));
  const deletionsPerPod = new Map<string, number>();
  for (const d of view.deletions)
    deletionsPerPod.set(`${d.namespace}/${d.name}`, (deletionsPerPod.get(`${d.namespace}/${d.name}`) ?? 0) + 1);
  const twice = [...deletionsPerPod].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
  const newDeleted = view.deletions
    .filter((d) => d.revision === updateRevision.get(d.namespace))
    .map((d) => `${d.namespace}/${d.name}`);
  const worst = Math.max(...maxUnavailable.values());
  const completed = namespaces.filter((ns) => isDone(final.get(ns), 2)).length;
  const takeDowns = takeDownCheck(loggedTakeDowns([`${LOG_DIR}/reconciler.log`]), ROLLOUTS * PODS);
  report({
    scenario: "reconciler-kill",
    // The watch-based deletion check is reported, not gated: KWOK's pod-delete stage sometimes
    // deletes a just-recreated pod by name once more (its log: "failed to delete pod ... not
    // found" right after), which no eviction caused.
    pass: !error && completed === ROLLOUTS && violations === 0 && takeDowns.pass && kills > 0,
    checks: [
      {
        name: "every rollout completes",
        pass: completed === ROLLOUTS && !error,
        value: `${completed}/${ROLLOUTS}${error ? ` (${error})` : ""}`,
      },
      {
        name: `never more unavailable than the budget (${BUDGET})`,
        pass: violations === 0,
        value: `worst ${worst}, ${violations} sample(s) over, ${samples} samples`,
      },
      { name: 'no pod taken down twice (the reconciler\'s "take down" log lines)', ...takeDowns },
      {
        name: "no pod deleted twice (pod watch; includes deletions by anything, e.g. KWOK)",
        pass: twice.length === 0 && newDeleted.length === 0,
        value: `${view.deletions.length} deletions; deleted twice: ${twice.slice(0, 5).join(", ") || "none"}; new-revision pods deleted: ${newDeleted.slice(0, 5).join(", ") || "none"}`,
      },
      { name: "the reconciler was killed", pass: kills > 0, value: `${kills} SIGKILLs` },
    ],
    figures: {
      seed,
      rollouts: ROLLOUTS,
      pods: PODS,
      budget: BUDGET,
      kills,
      rolloutSeconds,
      worstUnavailable: worst,
      samples,
      watchRestarts: view.watchRestarts,
    },
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`reconciler-kill failed: ${(err as Error).stack ?? err}\n`);
  process.exit(2);
});
