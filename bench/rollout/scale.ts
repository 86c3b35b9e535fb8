// Scale benchmark (issue #15): R rollouts × P pods (default 50 × 200 = 10,000 pods), all rolled
// from v1 to v2 at once by one Bulkhead (webhook + reconciler, compiled JavaScript) on the local
// control plane. Reports the wall time of each rollout (from its template change to its
// StatefulSet reporting all pods updated and Ready) and of the slowest, the peak RSS and CPU of
// every process (the control plane's too), apiserver requests by client from the audit log,
// pods created against pods replaced, and Bulkhead's memory per watched pod (RSS with R × P
// pods on v1 minus RSS before any, per pod) extrapolated to 100 StatefulSets × 1,000 pods.
//
// Usage: bench/rollout/scale.sh (cluster with the audit log, build, processes), which runs
//   scale.js --rollouts 50 --pods 200 --delay-seconds 2 --build LABEL=DIR [--timeout-seconds 1800] [--out FILE]
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { auditLogSize, requestsByClient } from "./audit.js";
import { sleep, startBulkhead, stopAll } from "./contenders.js";
import { formatPodChurn, podChurnProblem, watchPodChurn } from "../support/pod-churn.js";
import { ApiserverPodCounters } from "./apiserver-counters.js";
import { ProcessSampler, rssMiBOf } from "./processes.js";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "");
const rollouts = Number(args.get("rollouts") ?? "50");
const podsEach = Number(args.get("pods") ?? "200");
const delaySeconds = Number(args.get("delay-seconds") ?? "2");
const timeoutMs = Number(args.get("timeout-seconds") ?? "1800") * 1000;
const [label, dir] = (args.get("build") ?? "").split("=");
if (!label || !dir) throw new Error("--build LABEL=DIR is required");
const clusterDir = process.env.BULKHEAD_CLUSTER_DIR;
if (!clusterDir) throw new Error("BULKHEAD_CLUSTER_DIR is not set: source the cluster's env file");
const logsDir = process.env.BENCH_LOGS ?? join(clusterDir, "logs");
const auditLog = join(clusterDir, "logs/audit.log");

const kc = new KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const RESOURCE = { group: "bulkhead.dev", version: "v1alpha1", plural: "statefulsetrollouts" };
const labels = { app: "bench", name: "bench" };
const total = rollouts * podsEach;
const load = () => loadavg().map((l) => Math.round(l * 100) / 100);
const log = (s: string) => process.stderr.write(`[scale ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

function rollout(n: number, image: string) {
  return {
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: { name: "bench" },
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
          selector: { matchLabels: labels },
          template: { metadata: { labels }, spec: { containers: [{ name: "app", image }] } },
        },
      },
    },
  };
}

interface SetState {
  namespace: string;
  updateRevision: string;
  done: boolean;
}

/** One list of every bench StatefulSet (not one read each: 50 readers would load the apiserver). */
async function statefulSets(): Promise<
  Map<string, SetState & { generationSeen: boolean; updated: number; ready: number }>
> {
  const list = await apps.listStatefulSetForAllNamespaces({ fieldSelector: "metadata.name=bench" });
  const out = new Map<string, SetState & { generationSeen: boolean; updated: number; ready: number }>();
  for (const s of list.items) {
    const st = s.status ?? { replicas: 0 };
    const ns = s.metadata!.namespace!;
    out.set(ns, {
      namespace: ns,
      updateRevision: st.updateRevision ?? "",
      generationSeen: (st.observedGeneration ?? 0) >= (s.metadata?.generation ?? 1),
      updated: st.updatedReplicas ?? 0,
      ready: st.readyReplicas ?? 0,
      done: (st.updatedReplicas ?? 0) === podsEach && (st.readyReplicas ?? 0) === podsEach,
    });
  }
  return out;
}

async function waitAll(what: string, check: () => Promise<boolean>, limitMs = timeoutMs): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${limitMs / 1000} s: ${what}`);
    await sleep(1000);
  }
}

function clusterProcesses(): { name: string; pid: number }[] {
  const pidsDir = join(clusterDir!, "pids");
  return readdirSync(pidsDir)
    .filter((f) => f.endsWith(".pid"))
    .map((f) => ({ name: f.replace(/\.pid$/, ""), pid: Number(readFileSync(join(pidsDir, f), "utf8").trim()) }));
}

async function main(): Promise<void> {
  const counters = new ApiserverPodCounters();
  const bulkhead = await startBulkhead({ label: label!, dir: dir! }, logsDir, process.execPath);
  const idle = { reconciler: rssMiBOf(bulkhead.reconciler.pid) ?? 0, webhook: rssMiBOf(bulkhead.webhook.pid) ?? 0 };
  const namespaces = Array.from({ length: rollouts }, (_, i) => `scale-${String(i).padStart(2, "0")}`);
  log(`creating ${rollouts} rollouts × ${podsEach} pods on v1 (load ${load().join(" ")})`);
  const createdAt = Date.now();
  for (const ns of namespaces) {
    await core.createNamespace({ body: { metadata: { name: ns, labels: { "bulkhead.dev/enabled": "true" } } } });
  }
  await waitAll("default ServiceAccounts", async () => {
    const sas = await core.listServiceAccountForAllNamespaces({ fieldSelector: "metadata.name=default" });
    return namespaces.every((ns) => sas.items.some((s) => s.metadata?.namespace === ns));
  });
  await Promise.all(
    namespaces.map((ns) =>
      custom.createNamespacedCustomObject({
        ...RESOURCE,
        namespace: ns,
        body: rollout(podsEach, "registry.example/bench:v1"),
      }),
    ),
  );
  await waitAll(`${total} pods Ready on v1`, async () => {
    const sets = await statefulSets();
    return namespaces.every((ns) => sets.get(ns)?.done);
  });
  const v1Seconds = (Date.now() - createdAt) / 1000;
  log(`${total} pods Ready on v1 after ${v1Seconds.toFixed(0)} s`);
  await waitAll("every rollout RolloutDone on v1", async () => {
    const list = (await custom.listClusterCustomObject(RESOURCE)) as {
      items: { status?: { phase?: string } }[];
    };
    return list.items.length === rollouts && list.items.every((r) => r.status?.phase === "RolloutDone");
  });
  const watching = { reconciler: rssMiBOf(bulkhead.reconciler.pid) ?? 0, webhook: rssMiBOf(bulkhead.webhook.pid) ?? 0 };
  const perPodKiB = {
    reconciler: ((watching.reconciler - idle.reconciler) * 1024) / total,
    webhook: ((watching.webhook - idle.webhook) * 1024) / total,
  };
  log(
    `RSS idle → watching ${total} pods: reconciler ${idle.reconciler.toFixed(0)} → ${watching.reconciler.toFixed(0)} MiB, ` +
      `webhook ${idle.webhook.toFixed(0)} → ${watching.webhook.toFixed(0)} MiB`,
  );

  const before = await counters.counts();
  const churn = await watchPodChurn(kc);
  const auditFrom = auditLogSize(auditLog);
  const from = new Map([...(await statefulSets())].map(([ns, s]) => [ns, s.updateRevision]));
  const loadAtStart = load();
  const sampler = new ProcessSampler([
    ...clusterProcesses(),
    { name: "bulkhead webhook", pid: bulkhead.webhook.pid },
    { name: "bulkhead reconciler", pid: bulkhead.reconciler.pid },
  ]).start();
  log(`rolling all ${rollouts} to v2 at once (load ${loadAtStart.join(" ")})`);
  const changedAt = new Map<string, number>();
  await Promise.all(
    namespaces.map(async (ns) => {
      await custom.patchNamespacedCustomObject({
        ...RESOURCE,
        namespace: ns,
        name: "bench",
        body: [
          {
            op: "replace",
            path: "/spec/statefulset/spec/template/spec/containers/0/image",
            value: "registry.example/bench:v2",
          },
        ],
      });
      changedAt.set(ns, Date.now());
    }),
  );
  const t0 = Math.min(...changedAt.values());
  const doneAt = new Map<string, number>();
  const progress = new Map<string, { updated: number; ready: number }>();
  let lastReport = Date.now();
  while (doneAt.size < rollouts && Date.now() - t0 < timeoutMs) {
    const sets = await statefulSets();
    const now = Date.now();
    if (now - lastReport > 30_000) {
      lastReport = now;
      const moved = [...progress.values()].reduce((sum, p) => sum + p.updated, 0);
      log(
        `${((now - t0) / 1000).toFixed(0)} s: ${doneAt.size}/${rollouts} rollouts done, ${moved}/${total} pods updated`,
      );
    }
    for (const [ns, s] of sets) {
      const moved = s.generationSeen && s.updateRevision !== from.get(ns);
      progress.set(ns, { updated: moved ? s.updated : 0, ready: s.ready });
      if (moved && s.done && !doneAt.has(ns)) doneAt.set(ns, now);
    }
    if (doneAt.size < rollouts) await sleep(500);
  }
  const usage = sampler.stop();
  const loadAtEnd = load();
  const report = await churn.finish();
  const after = await counters.counts();
  const requests = await requestsByClient(auditLog, auditFrom);
  const walls = namespaces.map((ns) => (doneAt.has(ns) ? (doneAt.get(ns)! - changedAt.get(ns)!) / 1000 : undefined));
  const finished = walls.filter((w): w is number => w !== undefined).sort((a, b) => a - b);
  const updated = [...progress.values()].reduce((s, p) => s + p.updated, 0);
  const problem = podChurnProblem(report, { replaced: finished.length === rollouts ? total : report.replaced });
  const verdict = {
    ok: problem === undefined,
    text: problem ? `INVALID: ${problem}` : formatPodChurn(report),
    createdByApiserver: after.created - before.created,
  };
  const extrapolate = (idleMiB: number, perPod: number) => Math.round(idleMiB + (perPod * 100_000) / 1024);

  const lines = [
    `rollouts: ${rollouts} × ${podsEach} pods (${total}), PDB maxUnavailable 10%, pods Ready ${delaySeconds} s after start; Bulkhead ${label}`,
    `load average at the change: ${loadAtStart.join(" ")}; at the end: ${loadAtEnd.join(" ")}; v1 creation took ${v1Seconds.toFixed(0)} s`,
    "",
    "| rollouts done | slowest (s) | median (s) | fastest (s) | ideal per rollout (s) | pods created / replaced | evictions |",
    "|---:|---:|---:|---:|---:|---|---:|",
    `| ${finished.length}/${rollouts}${finished.length < rollouts ? ` (not finished after ${timeoutMs / 1000} s: ${updated}/${total} updated)` : ""} | ${finished.at(-1)?.toFixed(1) ?? "–"} | ${finished[Math.floor(finished.length / 2)]?.toFixed(1) ?? "–"} | ${finished[0]?.toFixed(1) ?? "–"} | ${Math.ceil(podsEach / Math.ceil(podsEach * 0.1)) * delaySeconds} | ${verdict.text} (apiserver: ${verdict.createdByApiserver} pod creates) | ${after.evicted - before.evicted} |`,
    "",
    "| process | peak RSS during the roll (MiB) | VmHWM (MiB) | CPU during the roll (s) |",
    "|---|---:|---:|---:|",
    ...usage.map((u) => `| ${u.name}${u.alive ? "" : " (exited)"} | ${u.peakRssMiB} | ${u.hwmMiB} | ${u.cpuSeconds} |`),
    "",
    `| Bulkhead process | RSS idle (MiB) | RSS watching ${total} pods (MiB) | per watched pod (KiB) | extrapolated to 100 × 1,000 pods (MiB) |`,
    "|---|---:|---:|---:|---:|",
    ...(["reconciler", "webhook"] as const).map(
      (p) =>
        `| ${p} | ${idle[p].toFixed(0)} | ${watching[p].toFixed(0)} | ${perPodKiB[p].toFixed(2)} | ${extrapolate(idle[p], perPodKiB[p])} |`,
    ),
    "",
    "| client (audit log) | requests during the roll | by verb | 409 | 429 |",
    "|---|---:|---|---:|---:|",
    ...requests.map(
      (r) =>
        `| ${r.client} | ${r.requests} | ${Object.entries(r.byVerb)
          .sort((a, b) => b[1] - a[1])
          .map(([v, c]) => `${v} ${c}`)
          .join(", ")} | ${r.conflicts} | ${r.tooManyRequests} |`,
    ),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  const out = args.get("out");
  if (out)
    writeFileSync(
      out,
      JSON.stringify(
        { rollouts, podsEach, loadAtStart, loadAtEnd, walls, usage, idle, watching, perPodKiB, requests, verdict },
        null,
        2,
      ),
    );
  await bulkhead.stop();
  if (!verdict.ok || finished.length < rollouts) process.exitCode = 1;
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`scale bench failed: ${(err as Error).message}\n`);
    process.exitCode = 1;
  })
  .finally(() => void stopAll());
