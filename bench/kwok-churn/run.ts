// Does the simulator delete pods nobody asked it to delete? S StatefulSets of N pods each are
// rolled (native RollingUpdate, maxUnavailable 10%) or have all their pods deleted at once, and
// the pod watch of bench/support/pod-churn.ts counts the pods the StatefulSet controller had to
// create. A correct control plane creates exactly S × N. Unpatched KWOK v0.8.0 deletes by name
// and so can remove a recreated pod (hack/kwok/README.md, "Deletion by name").
//
// Usage: bench/kwok-churn/run.sh (starts and stops a cluster), or against a running cluster:
//   tsx bench/kwok-churn/run.ts --pods 200 --mode rolling|delete [--sets 1] [--in-flight 20]
//     [--timeout-seconds 180]
// Prints one markdown row; exits 1 when pods created ≠ pods replaced or the run timed out.
import { AppsV1Api, CoreV1Api, KubeConfig, type V1StatefulSet } from "@kubernetes/client-node";
import { formatPodChurn, podChurnProblem, watchPodChurn } from "../support/pod-churn.js";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "");
const pods = Number(args.get("pods") ?? "200");
const mode = args.get("mode") ?? "rolling";
const sets = Number(args.get("sets") ?? "1");
const inFlight = Number(args.get("in-flight") ?? "20");
const timeoutMs = Number(args.get("timeout-seconds") ?? "180") * 1000;
if (!Number.isInteger(pods) || pods < 1) throw new Error(`--pods must be a positive integer (got ${args.get("pods")})`);
if (!Number.isInteger(sets) || sets < 1 || sets > 100)
  throw new Error(`--sets must be an integer from 1 to 100 (got ${args.get("sets")})`);
if (!Number.isInteger(inFlight) || inFlight < 1 || inFlight > 500)
  throw new Error(`--in-flight must be an integer from 1 to 500 (got ${args.get("in-flight")})`);
const total = pods * sets;
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

/** Ready pods not being deleted; with `revisions` (set name -> update revision) only those on it. */
async function readyOn(ns: string, revisions: Map<string, string> | undefined): Promise<number> {
  const list = await core.listNamespacedPod({ namespace: ns });
  return list.items.filter(
    (p) =>
      !p.metadata?.deletionTimestamp &&
      (revisions === undefined ||
        p.metadata?.labels?.["controller-revision-hash"] === revisions.get(p.metadata?.labels?.app ?? "")) &&
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
  // One StatefulSet name "churn" keeps the pod names of the one-set runs (churn-0 ...).
  const names = Array.from({ length: sets }, (_, i) => (sets === 1 ? "churn" : `churn-${i}`));
  for (const name of names) {
    const labels = { app: name };
    const sts: V1StatefulSet = {
      metadata: { name, namespace: ns },
      spec: {
        replicas: pods,
        serviceName: name,
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
  }
  if (!(await until(async () => (await readyOn(ns, undefined)) === total, Date.now() + timeoutMs)))
    throw new Error(`${total} pods did not get Ready on v1 within the timeout`);

  const churn = await watchPodChurn(kc, ns);
  const started = Date.now();
  let revisions: Map<string, string> | undefined;
  if (mode === "rolling") {
    const image = [
      { op: "replace", path: "/spec/template/spec/containers/0/image", value: "registry.example/churn:v2" },
    ];
    await Promise.all(names.map((name) => apps.patchNamespacedStatefulSet({ name, namespace: ns, body: image })));
    const seen = new Map<string, string>();
    await until(async () => {
      for (const name of names) {
        const s = await apps.readNamespacedStatefulSet({ name, namespace: ns });
        const rev = s.status?.updateRevision;
        if (
          (s.status?.observedGeneration ?? 0) >= (s.metadata?.generation ?? 1) &&
          rev &&
          rev !== s.status?.currentRevision
        )
          seen.set(name, rev);
      }
      return seen.size === names.length;
    }, Date.now() + 30_000);
    revisions = seen;
  } else {
    // Every pod at once, --in-flight requests in flight (the default grace period, like a drain).
    const podNames = names.flatMap((set) => Array.from({ length: pods }, (_, i) => `${set}-${i}`));
    for (let i = 0; i < podNames.length; i += inFlight)
      await Promise.all(
        podNames.slice(i, i + inFlight).map((name) => core.deleteNamespacedPod({ name, namespace: ns })),
      );
  }
  const finished = await until(async () => (await readyOn(ns, revisions)) === total, started + timeoutMs);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const c = await churn.finish();
  // "replaced": a rolling update moves every pod to a new revision; deleting every pod
  // replaces each one on the same revision, so here every pod counts once.
  const problem =
    mode === "rolling"
      ? podChurnProblem(c, { replaced: total })
      : c.created === total
        ? undefined
        : `created ${c.created} pods for ${total} deleted`;
  const shown = mode === "rolling" ? formatPodChurn(c) : `created ${c.created} / deleted ${total}`;
  process.stdout.write(
    `| ${sets} × ${pods} | ${mode} | ${finished ? seconds : `not done after ${seconds}`} | ${shown} | ${c.deleted} | ${problem ? "INVALID" : "valid"} |\n`,
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
