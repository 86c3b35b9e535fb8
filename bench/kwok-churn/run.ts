// Does the simulator delete pods nobody asked it to delete? A StatefulSet of N pods is rolled
// (native RollingUpdate, maxUnavailable 10%) or has all its pods deleted at once, and the pod
// watch of bench/support/pod-churn.ts counts the pods the StatefulSet controller had to
// create. A correct control plane creates exactly N. KWOK v0.8.0 with a delete stage that
// matches its own deletions created many more (hack/kwok/README.md, "Deletion by name").
//
// Usage: bench/kwok-churn/run.sh (starts and stops a cluster), or against a running cluster:
//   tsx bench/kwok-churn/run.ts --pods 200 --mode rolling|delete [--timeout-seconds 180]
// Prints one markdown row; exits 1 when pods created ≠ pods replaced or the run timed out.
import { AppsV1Api, CoreV1Api, KubeConfig, type V1StatefulSet } from "@kubernetes/client-node";
import { formatPodChurn, podChurnProblem, watchPodChurn } from "../support/pod-churn.js";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "");
const pods = Number(args.get("pods") ?? "200");
const mode = args.get("mode") ?? "rolling";
const timeoutMs = Number(args.get("timeout-seconds") ?? "180") * 1000;
if (!Number.isInteger(pods) || pods < 1) throw new Error(`--pods must be a positive integer (got ${args.get("pods")})`);
if (mode !== "rolling" && mode !== "delete") throw new Error(`--mode must be rolling or delete (got ${mode})`);

const kc = new KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until cond() holds; false when the deadline passed first. */
async function until(cond: () => Promise<boolean>, deadline: number): Promise<boolean> {
  while (!(await cond())) {
    if (Date.now() > deadline) return false;
    await sleep(500);
  }
  return true;
}

async function readyOn(ns: string, revision: string | undefined): Promise<number> {
  const list = await core.listNamespacedPod({ namespace: ns });
  return list.items.filter(
    (p) =>
      !p.metadata?.deletionTimestamp &&
      (revision === undefined || p.metadata?.labels?.["controller-revision-hash"] === revision) &&
      (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
  ).length;
}

async function main(): Promise<void> {
  const ns = `kwok-churn-${Date.now().toString(36)}`;
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await until(
    () =>
      core.readNamespacedServiceAccount({ name: "default", namespace: ns }).then(
        () => true,
        () => false,
      ),
    Date.now() + 60_000,
  );
  const labels = { app: "churn" };
  const sts: V1StatefulSet = {
    metadata: { name: "churn", namespace: ns },
    spec: {
      replicas: pods,
      serviceName: "churn",
      podManagementPolicy: "Parallel",
      selector: { matchLabels: labels },
      updateStrategy:
        mode === "rolling"
          ? { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "10%" as never } }
          : { type: "OnDelete" },
      template: { metadata: { labels }, spec: { containers: [{ name: "app", image: "registry.example/churn:v1" }] } },
    },
  };
  await apps.createNamespacedStatefulSet({ namespace: ns, body: sts });
  if (!(await until(async () => (await readyOn(ns, undefined)) === pods, Date.now() + timeoutMs)))
    throw new Error(`${pods} pods did not get Ready on v1 within the timeout`);

  const churn = await watchPodChurn(kc, ns);
  const started = Date.now();
  let revision: string | undefined;
  if (mode === "rolling") {
    await apps.patchNamespacedStatefulSet({
      name: "churn",
      namespace: ns,
      body: [{ op: "replace", path: "/spec/template/spec/containers/0/image", value: "registry.example/churn:v2" }],
    });
    await until(async () => {
      const s = await apps.readNamespacedStatefulSet({ name: "churn", namespace: ns });
      revision = s.status?.updateRevision;
      return (
        (s.status?.observedGeneration ?? 0) >= (s.metadata?.generation ?? 1) && revision !== s.status?.currentRevision
      );
    }, Date.now() + 30_000);
  } else {
    // Every pod at once, 20 requests in flight (the default grace period, like a drain).
    const names = Array.from({ length: pods }, (_, i) => `churn-${i}`);
    for (let i = 0; i < names.length; i += 20)
      await Promise.all(names.slice(i, i + 20).map((name) => core.deleteNamespacedPod({ name, namespace: ns })));
  }
  const finished = await until(async () => (await readyOn(ns, revision)) === pods, started + timeoutMs);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const c = await churn.finish();
  // "replaced": a rolling update moves every pod to a new revision; deleting every pod
  // replaces each one on the same revision, so here every pod counts once.
  const problem =
    mode === "rolling"
      ? podChurnProblem(c, { replaced: pods })
      : c.created === pods
        ? undefined
        : `created ${c.created} pods for ${pods} deleted`;
  const shown = mode === "rolling" ? formatPodChurn(c) : `created ${c.created} / deleted ${pods}`;
  process.stdout.write(
    `| ${pods} | ${mode} | ${finished ? seconds : `not done after ${seconds}`} | ${shown} | ${c.deleted} | ${problem ? "INVALID" : "valid"} |\n`,
  );
  await core.deleteNamespace({ name: ns });
  if (problem || !finished) {
    process.stderr.write(`kwok-churn: ${problem ?? "timed out"}\n`);
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`kwok-churn failed: ${(err as Error).message}\n`);
  process.exit(2);
});
