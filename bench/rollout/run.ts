// Rollout wall time: Bulkhead vs native StatefulSet RollingUpdate on the same control plane.
//
// Usage: bench/rollout/run.sh (starts a cluster with a KWOK pod ready delay, the CRD and the
// reconciler, then runs this file), or against a prepared cluster:
//   tsx bench/rollout/run.ts --pods 100,1000 --delay-seconds 2 [--native-one-at-a-time-max 100]
//     [--methods bulkhead,native-10,native-1]
//
// For each size N it measures, from the template change to every pod Ready on the new revision:
//   bulkhead      a StatefulsetRollout, PDB maxUnavailable 10%
//   native-10%    RollingUpdate with rollingUpdate.maxUnavailable 10% (MaxUnavailableStatefulSet)
//   native-1      RollingUpdate one pod at a time (only up to --native-one-at-a-time-max pods)
// and prints the ideal bound: waves × pod start time = ceil(N / ceil(10% N)) × delay.
// Results go to stdout as a markdown table (copied into bench/RESULTS.md by hand).
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1StatefulSet } from "@kubernetes/client-node";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "");
const sizes = (args.get("pods") ?? "100").split(",").map(Number);
const delaySeconds = Number(args.get("delay-seconds") ?? "2");
const oneAtATimeMax = Number(args.get("native-one-at-a-time-max") ?? "100");
const timeoutMs = Number(args.get("timeout-seconds") ?? "3600") * 1000;
const methods = new Set((args.get("methods") ?? "bulkhead,native-10,native-1").split(","));

const kc = new KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(250);
  }
}

function template(image: string) {
  return { metadata: { labels: { app: "bench" } }, spec: { containers: [{ name: "app", image }] } };
}

async function namespace(prefix: string): Promise<string> {
  const name = `${prefix}-${Date.now().toString(36)}`;
  await core.createNamespace({ body: { metadata: { name } } });
  await until("default ServiceAccount", async () =>
    core.readNamespacedServiceAccount({ name: "default", namespace: name }).then(
      () => true,
      () => false,
    ),
  );
  return name;
}

async function podsOnRevisionReady(ns: string, n: number, revision: string): Promise<boolean> {
  const pods = await core.listNamespacedPod({ namespace: ns });
  const good = pods.items.filter(
    (p) =>
      !p.metadata?.deletionTimestamp &&
      p.metadata?.labels?.["controller-revision-hash"] === revision &&
      (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
  );
  return good.length === n;
}

async function nativeRun(n: number, maxUnavailable: number | string): Promise<number> {
  const ns = await namespace(`native-${n}`);
  const sts: V1StatefulSet = {
    metadata: { name: "bench", namespace: ns },
    spec: {
      replicas: n,
      serviceName: "bench",
      podManagementPolicy: "Parallel",
      selector: { matchLabels: { app: "bench" } },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: maxUnavailable as never } },
      template: template("registry.example/bench:v1"),
    },
  };
  const created = await apps.createNamespacedStatefulSet({ namespace: ns, body: sts });
  const kept = created.spec?.updateStrategy?.rollingUpdate?.maxUnavailable;
  if (maxUnavailable !== 1 && kept === undefined) {
    // The MaxUnavailableStatefulSet gate is off: the apiserver dropped the field.
    await core.deleteNamespace({ name: ns });
    return -1;
  }
  await until("native v1 ready", async () => {
    const s = await apps.readNamespacedStatefulSet({ name: "bench", namespace: ns });
    return (s.status?.readyReplicas ?? 0) === n;
  });
  const live = await apps.readNamespacedStatefulSet({ name: "bench", namespace: ns });
  live.spec!.template = template("registry.example/bench:v2") as never;
  const started = Date.now();
  await apps.replaceNamespacedStatefulSet({ name: "bench", namespace: ns, body: live });
  let revision = "";
  await until("native update revision", async () => {
    const s = await apps.readNamespacedStatefulSet({ name: "bench", namespace: ns });
    revision = s.status?.updateRevision ?? "";
    return (
      (s.status?.observedGeneration ?? 0) >= (s.metadata?.generation ?? 1) && revision !== s.status?.currentRevision
    );
  });
  await until("native v2 ready", () => podsOnRevisionReady(ns, n, revision));
  const ms = Date.now() - started;
  await core.deleteNamespace({ name: ns });
  return ms;
}

function rollout(ns: string, n: number, image: string) {
  return {
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: { name: "bench", namespace: ns },
    spec: {
      percent: 100,
      progressDeadlineSeconds: 3600,
      disruptionPolicy: { maxUnavailable: "10%" },
      statefulset: {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: "bench" },
        spec: {
          replicas: n,
          serviceName: "bench",
          podManagementPolicy: "Parallel",
          selector: { matchLabels: { app: "bench" } },
          template: template(image),
        },
      },
    },
  };
}

interface RolloutStatusView {
  phase?: string;
  observedGeneration?: number;
  updatedReplicas?: number;
  wavesCompleted?: number;
  updateRevision?: string;
}

async function bulkheadStatus(ns: string): Promise<{ generation: number; status: RolloutStatusView }> {
  const r = (await custom.getNamespacedCustomObject({
    group: "bulkhead.dev",
    version: "v1alpha1",
    namespace: ns,
    plural: "statefulsetrollouts",
    name: "bench",
  })) as {
    metadata: { generation: number };
    status?: RolloutStatusView;
  };
  return { generation: r.metadata.generation, status: r.status ?? {} };
}

async function bulkheadRun(n: number): Promise<{ ms: number; waves: number }> {
  const ns = await namespace(`bulkhead-${n}`);
  await custom.createNamespacedCustomObject({
    group: "bulkhead.dev",
    version: "v1alpha1",
    namespace: ns,
    plural: "statefulsetrollouts",
    body: rollout(ns, n, "registry.example/bench:v1"),
  });
  await until("bulkhead v1 done", async () => {
    const { generation, status } = await bulkheadStatus(ns);
    return status.phase === "RolloutDone" && status.observedGeneration === generation;
  });
  const started = Date.now();
  await custom.patchNamespacedCustomObject({
    group: "bulkhead.dev",
    version: "v1alpha1",
    namespace: ns,
    plural: "statefulsetrollouts",
    name: "bench",
    body: [
      {
        op: "replace",
        path: "/spec/statefulset/spec/template/spec/containers/0/image",
        value: "registry.example/bench:v2",
      },
    ],
  });
  let waves = 0;
  await until("bulkhead v2 done", async () => {
    const { generation, status } = await bulkheadStatus(ns);
    waves = status.wavesCompleted ?? 0;
    return status.phase === "RolloutDone" && status.observedGeneration === generation && status.updatedReplicas === n;
  });
  const ms = Date.now() - started;
  await core.deleteNamespace({ name: ns });
  return { ms, waves };
}

async function main(): Promise<void> {
  const rows: string[] = ["| pods | method | wall time (s) | waves | ideal bound (s) |", "|---:|---|---:|---:|---:|"];
  for (const n of sizes) {
    const wave = Math.ceil(n * 0.1);
    const ideal = Math.ceil(n / wave) * delaySeconds;
    if (methods.has("bulkhead")) {
      const b = await bulkheadRun(n);
      rows.push(`| ${n} | Bulkhead (PDB maxUnavailable 10%) | ${(b.ms / 1000).toFixed(1)} | ${b.waves} | ${ideal} |`);
      process.stderr.write(`${rows.at(-1)}\n`);
    }
    if (!methods.has("native-10")) continue;
    const n10 = await nativeRun(n, "10%");
    const n10text =
      n10 < 0
        ? "not run: the apiserver dropped rollingUpdate.maxUnavailable (MaxUnavailableStatefulSet off)"
        : (n10 / 1000).toFixed(1);
    rows.push(`| ${n} | native RollingUpdate maxUnavailable 10% | ${n10text} | – | ${ideal} |`);
    process.stderr.write(`${rows.at(-1)}\n`);
    if (n <= oneAtATimeMax && methods.has("native-1")) {
      const n1 = await nativeRun(n, 1);
      rows.push(`| ${n} | native RollingUpdate one at a time | ${(n1 / 1000).toFixed(1)} | – | ${n * delaySeconds} |`);
      process.stderr.write(`${rows.at(-1)}\n`);
    }
  }
  process.stdout.write(`${rows.join("\n")}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).message}\n`);
  process.exit(1);
});
