// Rollout wall time, side by side on one control plane, in one run (issue #15):
//   Bulkhead REF   a StatefulsetRollout, PDB maxUnavailable 10% (one row per compiled build)
//   native-10      RollingUpdate with rollingUpdate.maxUnavailable 10% (MaxUnavailableStatefulSet)
//   native-1       RollingUpdate one pod at a time
//   peer-default   grafana/rollout-operator, default flags (rollout-max-unavailable = 10% of N)
//   peer-fastest   the same with -reconcile.interval=1s and no client-side rate limit
// Every contender: a fresh namespace, a StatefulSet of N pods (Parallel) Ready on v1, then the
// clock runs from the template change to the StatefulSet reporting all N pods updated and Ready
// (the same criterion for every contender). Each run is bounded in time and reports how far it
// got. Each run records the load average at its start, the pods created against the pods
// replaced (a run that fails that check is INVALID and the command exits non-zero), and the peak
// RSS and CPU of the contender's own processes.
// --rounds N (1 to 10, default 1) runs every contender N times at each size, interleaved: round 1
// runs them all in order, then round 2, and so on, so a drift in the machine's load touches all
// alike. Each run keeps its own row and checks; with N > 1 a summary follows each size: per
// contender the median wall time of its valid runs, their range, and the medians' ratios.
//
// Usage: bench/rollout/run.sh (cluster, builds and processes), which runs the compiled form of
//   run.js --pods 100,1000 --delay-seconds 2 --methods bulkhead,native-10,native-1,peer-default,peer-fastest
//     --bulkhead-builds LABEL=DIR[,LABEL=DIR] [--timeout-seconds 900] [--native-timeout-seconds 300]
//     [--rounds N] [--out FILE.json]
// Environment: the cluster's env (source DIR/env), RECONCILER_KUBECONFIG, BENCH_ROLLOUT_OPERATOR
// (the peer's binary) or BENCH_PEER_UNAVAILABLE (why there is none), BENCH_LOGS (process logs).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadavg } from "node:os";
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1StatefulSet } from "@kubernetes/client-node";
import {
  metricsText,
  operatorFlags,
  sleep,
  startBulkhead,
  startOperator,
  stopAll,
  type BulkheadBuild,
  type Started,
} from "./contenders.js";
import { formatPodChurn, podChurnProblem, watchPodChurn } from "../support/pod-churn.js";
import { ApiserverPodCounters } from "./apiserver-counters.js";
import { ProcessSampler, rssMiBOf, type ProcessUsage } from "./processes.js";
import { median, PodTimeline, type TimelineSummary } from "./timeline.js";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "");
const sizes = (args.get("pods") ?? "100").split(",").map(Number);
const delaySeconds = Number(args.get("delay-seconds") ?? "2");
const timeoutMs = Number(args.get("timeout-seconds") ?? "900") * 1000;
const nativeTimeoutMs = Number(args.get("native-timeout-seconds") ?? "300") * 1000;
const rounds = Number(args.get("rounds") ?? "1");
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 10)
  throw new Error(`--rounds: "${args.get("rounds")}" is not a whole number from 1 to 10`);
const methods = (args.get("methods") ?? "bulkhead,native-10,native-1,peer-default,peer-fastest").split(",");
const builds: BulkheadBuild[] = (args.get("bulkhead-builds") ?? "")
  .split(",")
  .filter(Boolean)
  .map((b) => {
    const [label, dir] = b.split("=");
    if (!label || !dir) throw new Error(`--bulkhead-builds: "${b}" is not LABEL=DIR`);
    return { label, dir };
  });
const known = new Set(["bulkhead", "native-10", "native-1", "peer-default", "peer-fastest"]);
for (const m of methods)
  if (!known.has(m)) throw new Error(`--methods: unknown "${m}" (known: ${[...known].join(", ")})`);
if (methods.includes("bulkhead") && builds.length === 0)
  throw new Error("--methods has bulkhead but --bulkhead-builds names no build");
const logsDir = process.env.BENCH_LOGS ?? "/tmp";
const nodeBinary = process.execPath;
const operatorBinary = process.env.BENCH_ROLLOUT_OPERATOR ?? "";

const kc = new KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const counters = new ApiserverPodCounters();

interface Progress {
  updated: number;
  ready: number;
  done: boolean;
}

interface RunResult {
  pods: number;
  contender: string;
  /** 1 to --rounds: at each size every contender runs once per round, round after round. */
  round: number;
  finished: boolean;
  seconds: number;
  progress: Progress;
  waves?: number;
  loadAtStart: number[];
  loadAtEnd: number[];
  /** Pods created / replaced from the pod watch; `problem` set when the run is not valid. */
  churn: { text: string; problem?: string; createdByApiserver: number };
  evictions: number;
  usage: ProcessUsage[];
  /** Where the time went, from a pod watch (bench/rollout/timeline.ts). */
  timeline: TimelineSummary;
  /** RSS growth per pod between the processes' start and N pods watched, KiB (Bulkhead only). */
  kibPerWatchedPod?: Record<string, number>;
  settings?: string;
  note?: string;
  /** Seconds from creating the StatefulSet (or rollout) on v1 to all N pods Ready: the control plane's pod start-up rate. */
  v1Seconds?: number;
}

const RESOURCE = { group: "bulkhead.dev", version: "v1alpha1", plural: "statefulsetrollouts" };
const labels = { app: "bench", name: "bench" };
const waveSize = (n: number) => Math.ceil(n * 0.1);
const idealSeconds = (n: number) => Math.ceil(n / waveSize(n)) * delaySeconds;
const load = () => loadavg().map((l) => Math.round(l * 100) / 100);
const NATIVE_10 = "native maxUnavailable 10%";
const NATIVE_1 = "native one at a time";
/** How rows, notes, progress lines and files name a run: the contender, and its round when there are several. */
const runName = (contender: string, round: number) => (rounds > 1 ? `${contender}, round ${round}` : contender);

function template(image: string) {
  return { metadata: { labels }, spec: { containers: [{ name: "app", image }] } };
}

async function until(what: string, cond: () => Promise<boolean>, limitMs = timeoutMs): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${limitMs / 1000} s: ${what}`);
    await sleep(250);
  }
}

async function namespace(prefix: string, extraLabels: Record<string, string> = {}): Promise<string> {
  const name = `${prefix}-${Date.now().toString(36)}`;
  await core.createNamespace({ body: { metadata: { name, labels: extraLabels } } });
  await until("default ServiceAccount", async () =>
    core.readNamespacedServiceAccount({ name: "default", namespace: name }).then(
      () => true,
      () => false,
    ),
  );
  return name;
}

/** Deletes the namespace and waits until it is gone, so the next run starts on an empty cluster. */
async function dropNamespace(name: string): Promise<void> {
  await core.deleteNamespace({ name }).catch(() => undefined);
  await until(
    `namespace ${name} deleted`,
    () =>
      core.readNamespace({ name }).then(
        () => false,
        () => true,
      ),
    600_000,
  );
}

async function statefulSetProgress(ns: string, n: number, fromRevision: string): Promise<Progress> {
  const s = await apps.readNamespacedStatefulSet({ name: "bench", namespace: ns });
  const st = s.status ?? { replicas: 0 };
  const current = (st.observedGeneration ?? 0) >= (s.metadata?.generation ?? 1) && st.updateRevision !== fromRevision;
  const updated = current ? (st.updatedReplicas ?? 0) : 0;
  const ready = st.readyReplicas ?? 0;
  return { updated, ready, done: current && updated === n && ready === n && (st.replicas ?? 0) === n };
}

async function revisionOf(ns: string): Promise<string> {
  const s = await apps.readNamespacedStatefulSet({ name: "bench", namespace: ns });
  return s.status?.updateRevision ?? "";
}

/** Polls the StatefulSet until done or the bound; the last progress seen either way. */
async function watchRollout(ns: string, n: number, from: string, limitMs: number, startedAt: number) {
  let progress: Progress = { updated: 0, ready: 0, done: false };
  while (Date.now() - startedAt < limitMs) {
    progress = await statefulSetProgress(ns, n, from);
    if (progress.done) break;
    await sleep(250);
  }
  return { progress, ms: Date.now() - startedAt };
}

async function statefulSetOnV1(
  ns: string,
  n: number,
  updateStrategy: NonNullable<V1StatefulSet["spec"]>["updateStrategy"],
  extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): Promise<V1StatefulSet> {
  const created = await apps.createNamespacedStatefulSet({
    namespace: ns,
    body: {
      metadata: { name: "bench", namespace: ns, labels: extra.labels, annotations: extra.annotations },
      spec: {
        replicas: n,
        serviceName: "bench",
        podManagementPolicy: "Parallel",
        selector: { matchLabels: labels },
        updateStrategy,
        template: template("registry.example/bench:v1"),
      },
    },
  });
  await until(`${ns}: ${n} pods Ready on v1`, async () => {
    const s = await apps.readNamespacedStatefulSet({ name: "bench", namespace: ns });
    return (s.status?.readyReplicas ?? 0) === n && (s.status?.updatedReplicas ?? 0) === n;
  });
  return created;
}

async function changeTemplate(ns: string): Promise<void> {
  const live = await apps.readNamespacedStatefulSet({ name: "bench", namespace: ns });
  live.spec!.template = template("registry.example/bench:v2") as never;
  await apps.replaceNamespacedStatefulSet({ name: "bench", namespace: ns, body: live });
}

interface Measured {
  progress: Progress;
  ms: number;
  waves?: number;
}

/** What every contender shares: counters and load before, sampling during, the check after. */
async function measure(
  n: number,
  round: number,
  namespace: string,
  fromRevision: string,
  contender: string,
  processes: { name: string; pid: number }[],
  body: () => Promise<Measured>,
): Promise<Omit<RunResult, "settings" | "note" | "kibPerWatchedPod">> {
  // The apiserver's whole /metrics before and after, beside the logs: its request and webhook
  // latency histograms tell the control plane's share of a run from the contender's.
  const name = runName(contender, round);
  const metricsFile = (when: string) =>
    join(logsDir, `apiserver-metrics-${name.replace(/[^\w.-]+/g, "-")}-${n}-${when}.txt`);
  const before = await counters.counts(metricsFile("before"));
  const churn = await watchPodChurn(kc, namespace);
  const timeline = await PodTimeline.start(kc, namespace, fromRevision);
  const loadAtStart = load();
  const sampler = new ProcessSampler(processes).start();
  process.stderr.write(`[bench] ${n} pods, ${name}: starting (load ${loadAtStart.join(" ")})\n`);
  timeline.mark();
  const m = await body();
  const usage = sampler.stop();
  const times = timeline.stop();
  process.stderr.write(`[bench] ${n} pods, ${name}: ${formatTimeline(times)}\n`);
  const report = await churn.finish();
  const after = await counters.counts(metricsFile("after"));
  // A run that did not finish is held to the pods it did replace.
  const problem = podChurnProblem(report, { replaced: m.progress.done ? n : report.replaced });
  return {
    pods: n,
    contender,
    round,
    finished: m.progress.done,
    seconds: Math.round(m.ms / 100) / 10,
    progress: m.progress,
    waves: m.waves,
    loadAtStart,
    loadAtEnd: load(),
    churn: { text: formatPodChurn(report), problem, createdByApiserver: after.created - before.created },
    evictions: after.evicted - before.evicted,
    usage,
    timeline: times,
  };
}

async function nativeRun(
  n: number,
  maxUnavailable: number | string,
  contender: string,
  round: number,
): Promise<RunResult> {
  const ns = await namespace(`native-${n}`);
  try {
    const v1Start = Date.now();
    const created = await statefulSetOnV1(ns, n, {
      type: "RollingUpdate",
      rollingUpdate: { maxUnavailable: maxUnavailable as never },
    });
    if (maxUnavailable !== 1 && created.spec?.updateStrategy?.rollingUpdate?.maxUnavailable === undefined)
      throw new Error("the apiserver dropped rollingUpdate.maxUnavailable (MaxUnavailableStatefulSet is off)");
    const v1Seconds = (Date.now() - v1Start) / 1000;
    const from = await revisionOf(ns);
    const r = await measure(n, round, ns, from, contender, [], async () => {
      const t0 = Date.now();
      await changeTemplate(ns);
      return watchRollout(ns, n, from, nativeTimeoutMs, t0);
    });
    return {
      ...r,
      v1Seconds,
      settings: `maxUnavailable ${maxUnavailable}, bound ${nativeTimeoutMs / 1000} s`,
    };
  } finally {
    await dropNamespace(ns);
  }
}

async function peerRun(n: number, fastest: boolean, flags: Set<string>, round: number): Promise<RunResult> {
  const ns = await namespace(`peer-${n}`);
  let operator: Started | undefined;
  try {
    await statefulSetOnV1(
      ns,
      n,
      { type: "OnDelete" },
      {
        labels: { "rollout-group": "bench" },
        annotations: { "rollout-max-unavailable": String(waveSize(n)) },
      },
    );
    const from = await revisionOf(ns);
    const started = await startOperator(operatorBinary, flags, ns, fastest, logsDir);
    operator = started.process;
    const op = started.process;
    const r = await measure(
      n,
      round,
      ns,
      from,
      fastest ? "peer-fastest" : "peer-default",
      [{ name: "rollout-operator", pid: op.pid }],
      async () => {
        const t0 = Date.now();
        await changeTemplate(ns);
        return watchRollout(ns, n, from, timeoutMs, t0);
      },
    );
    return {
      ...r,
      settings: started.args.filter((a) => !/api-url|config-file|namespace|server.port/.test(a)).join(" "),
    };
  } finally {
    await operator?.stop();
    await dropNamespace(ns);
  }
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
          selector: { matchLabels: labels },
          template: template(image),
        },
      },
    },
  };
}

interface RolloutView {
  metadata: { generation: number };
  status?: { phase?: string; observedGeneration?: number; updatedReplicas?: number; wavesCompleted?: number };
}

async function rolloutOf(ns: string): Promise<RolloutView> {
  return (await custom.getNamespacedCustomObject({ ...RESOURCE, namespace: ns, name: "bench" })) as RolloutView;
}

async function bulkheadRun(n: number, build: BulkheadBuild, round: number): Promise<RunResult> {
  const processes = await startBulkhead(build, logsDir, nodeBinary);
  const baseline = {
    webhook: rssMiBOf(processes.webhook.pid) ?? 0,
    reconciler: rssMiBOf(processes.reconciler.pid) ?? 0,
  };
  const ns = await namespace(`bulkhead-${n}`, { "bulkhead.dev/enabled": "true" });
  try {
    const v1Start = Date.now();
    await custom.createNamespacedCustomObject({
      ...RESOURCE,
      namespace: ns,
      body: rollout(ns, n, "registry.example/bench:v1"),
    });
    await until(`${ns}: rollout v1 done`, async () => {
      const r = await rolloutOf(ns);
      return r.status?.phase === "RolloutDone" && r.status.observedGeneration === r.metadata.generation;
    });
    await until(
      `${ns}: ${n} pods Ready on v1`,
      async () => (await apps.readNamespacedStatefulSet({ name: "bench", namespace: ns })).status?.readyReplicas === n,
    );
    const v1Seconds = (Date.now() - v1Start) / 1000;
    const kibPerWatchedPod = {
      webhook: Math.round((((rssMiBOf(processes.webhook.pid) ?? 0) - baseline.webhook) * 1024) / n),
      reconciler: Math.round((((rssMiBOf(processes.reconciler.pid) ?? 0) - baseline.reconciler) * 1024) / n),
    };
    const from = await revisionOf(ns);
    const r = await measure(
      n,
      round,
      ns,
      from,
      `Bulkhead ${build.label}`,
      [
        { name: "reconciler", pid: processes.reconciler.pid },
        { name: "webhook", pid: processes.webhook.pid },
      ],
      async () => {
        const t0 = Date.now();
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
        const m = await watchRollout(ns, n, from, timeoutMs, t0);
        // Kept beside the logs: how many passes, how long each took, the status writes; the
        // webhook's latency per path and pinning's live-read waits.
        const label = `${runName(build.label, round).replace(/\W+/g, "-")}-${n}`;
        writeFileSync(
          join(logsDir, `reconciler-metrics-${label}.txt`),
          await metricsText(processes.reconcilerMetricsUrl),
        );
        writeFileSync(join(logsDir, `webhook-metrics-${label}.txt`), await metricsText(processes.webhookMetricsUrl));
        return { ...m, waves: (await rolloutOf(ns)).status?.wavesCompleted };
      },
    );
    return {
      ...r,
      kibPerWatchedPod,
      v1Seconds,
      settings: "PDB maxUnavailable 10%, webhook + reconciler (compiled)",
    };
  } finally {
    await dropNamespace(ns);
    await processes.stop();
  }
}

const fmt = (x: number) => x.toFixed(1);
const formatTimeline = (t: TimelineSummary) =>
  `first take-down ${fmt(t.firstTakeDownMs / 1000)} s after the change; a pod Ready → next take-down ` +
  `p50 ${t.readyToNextTakeDownMs.p50} ms, p90 ${t.readyToNextTakeDownMs.p90} ms, max ${t.readyToNextTakeDownMs.max} ms ` +
  `(${t.readyToNextTakeDownMs.samples}); unavailable mean ${t.meanUnavailable}, max ${t.maxUnavailable}; ` +
  `take-down → same pod Ready p50 ${t.downToReadyMs.p50} ms, p90 ${t.downToReadyMs.p90} ms ` +
  `(removal p50 ${t.steps.removal.p50}, creation ${t.steps.creation.p50}, binding ${t.steps.binding.p50}, ` +
  `Ready ${t.steps.ready.p50} ms)`;
/** A run's wall time if it counts: finished, and pods created ≈ replaced. */
const validSeconds = (r: RunResult) => (r.finished && !r.churn.problem ? r.seconds : undefined);
const ratio = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined ? `${(a / b).toFixed(2)}×` : "–";
const idealOf = (contender: string, n: number) => (contender === NATIVE_1 ? n * delaySeconds : idealSeconds(n));

/** One contender at one size over the rounds; the figures are over its valid runs (none: absent). */
interface Summary {
  pods: number;
  contender: string;
  validRuns: number;
  medianSeconds?: number;
  minSeconds?: number;
  maxSeconds?: number;
}

/** A summary per contender and size, in the order they first ran. */
function summarize(results: RunResult[]): Summary[] {
  const summaries: Summary[] = [];
  for (const { pods, contender } of results) {
    if (summaries.some((s) => s.pods === pods && s.contender === contender)) continue;
    const seconds = results
      .filter((r) => r.pods === pods && r.contender === contender)
      .map(validSeconds)
      .filter((x) => x !== undefined);
    const figures =
      seconds.length === 0
        ? {}
        : {
            medianSeconds: Math.round(median(seconds) * 100) / 100,
            minSeconds: Math.min(...seconds),
            maxSeconds: Math.max(...seconds),
          };
    summaries.push({ pods, contender, validRuns: seconds.length, ...figures });
  }
  return summaries;
}

const medianOf = (summaries: Summary[], n: number, contender: string) =>
  summaries.find((s) => s.pods === n && s.contender === contender)?.medianSeconds;

function summaryTable(summaries: Summary[]): string[] {
  return [
    `| pods | contender | valid runs of ${rounds} | median wall time (s) | min–max (s) | median / native maxUnavailable 10% median | median / ideal |`,
    "|---:|---|---:|---:|---:|---:|---:|",
    ...summaries.map((s) => {
      const range = s.minSeconds === undefined ? "–" : `${fmt(s.minSeconds)}–${fmt(s.maxSeconds!)}`;
      const native = medianOf(summaries, s.pods, NATIVE_10);
      return `| ${s.pods} | ${s.contender} | ${s.validRuns} | ${s.medianSeconds === undefined ? "–" : fmt(s.medianSeconds)} | ${range} | ${ratio(s.medianSeconds, native)} | ${ratio(s.medianSeconds, idealOf(s.contender, s.pods))} |`;
    }),
  ];
}

function row(r: RunResult): string {
  const time = r.finished
    ? fmt(r.seconds)
    : `not finished in ${fmt(r.seconds)} s: ${r.progress.updated}/${r.pods} updated, ${r.progress.ready} Ready`;
  const usage = r.usage.map((u) => `${u.name} ${u.peakRssMiB} MiB, ${u.cpuSeconds} s CPU`).join("; ") || "–";
  return `| ${r.pods} | ${runName(r.contender, r.round)} | ${time} | ${r.waves ?? "–"} | ${idealOf(r.contender, r.pods)} | ${r.loadAtStart.join(" ")} | ${r.churn.problem ? `INVALID: ${r.churn.problem}` : r.churn.text} | ${usage} |`;
}

async function main(): Promise<void> {
  const results: RunResult[] = [];
  const skipped: string[] = [];
  let flags: Set<string> | undefined;
  if (operatorBinary) flags = await operatorFlags(operatorBinary);
  const wantsPeer = methods.some((m) => m.startsWith("peer-"));
  if (wantsPeer && !operatorBinary)
    skipped.push(
      `grafana/rollout-operator: not run (${process.env.BENCH_PEER_UNAVAILABLE ?? "BENCH_ROLLOUT_OPERATOR not set"})`,
    );
  const record = (r: RunResult) => {
    results.push(r);
    process.stderr.write(`${row(r)}\n`);
  };
  const attempt = async (what: string, run: () => Promise<RunResult>) => {
    try {
      record(await run());
    } catch (err) {
      skipped.push(`${what}: failed: ${(err as Error).message}`);
      process.stderr.write(`[bench] ${what} failed: ${(err as Error).message}\n`);
    }
  };
  for (const n of sizes) {
    for (let round = 1; round <= rounds; round++)
      for (const m of methods) {
        const what = (contender: string) => `${n} pods ${runName(contender, round)}`;
        if (m === "bulkhead")
          for (const b of builds) await attempt(what(`bulkhead@${b.label}`), () => bulkheadRun(n, b, round));
        if (m === "native-10") await attempt(what("native-10"), () => nativeRun(n, "10%", NATIVE_10, round));
        if (m === "native-1") await attempt(what("native-1"), () => nativeRun(n, 1, NATIVE_1, round));
        if ((m === "peer-default" || m === "peer-fastest") && flags)
          await attempt(what(m), () => peerRun(n, m === "peer-fastest", flags, round));
      }
    if (rounds > 1)
      process.stderr.write(`${summaryTable(summarize(results.filter((r) => r.pods === n))).join("\n")}\n`);
  }
  const summaries = summarize(results);
  const lines = [
    "| pods | contender | wall time (s) | waves | ideal (s) | load avg at start (1/5/15 min) | pods created / replaced | peak RSS, CPU of its processes |",
    "|---:|---|---:|---:|---:|---|---|---|",
    ...results.map(row),
    ...(rounds > 1 ? ["", ...summaryTable(summaries)] : []),
    "",
    `| pods | Bulkhead build${rounds > 1 ? " (ratios of medians)" : ""} | / native maxUnavailable 10% | / peer fastest | / ideal |`,
    "|---:|---|---:|---:|---:|",
  ];
  for (const n of sizes)
    for (const b of builds) {
      const mine = medianOf(summaries, n, `Bulkhead ${b.label}`);
      const native = medianOf(summaries, n, NATIVE_10);
      const peer = medianOf(summaries, n, "peer-fastest");
      lines.push(
        `| ${n} | ${b.label} | ${ratio(mine, native)} | ${ratio(mine, peer)} | ${ratio(mine, idealSeconds(n))} |`,
      );
    }
  for (const r of results) {
    const name = runName(r.contender, r.round);
    if (r.settings) lines.push(`- ${r.pods} pods, ${name}: ${r.settings}`);
    lines.push(`- ${r.pods} pods, ${name}: ${formatTimeline(r.timeline)}`);
    if (r.v1Seconds !== undefined)
      lines.push(
        `- ${r.pods} pods, ${name}: the ${r.pods} pods on v1 were Ready ${fmt(r.v1Seconds)} s after creation (${fmt(r.pods / r.v1Seconds)} pods/s)`,
      );
    // Below 1,000 pods the growth is within the processes' own noise.
    if (r.kibPerWatchedPod && r.pods >= 1000)
      lines.push(
        `- ${r.pods} pods, ${name}: RSS growth per watched pod ${r.kibPerWatchedPod.reconciler} KiB (reconciler), ${r.kibPerWatchedPod.webhook} KiB (webhook); ${r.evictions} evictions`,
      );
  }
  for (const s of skipped) lines.push(`- ${s}`);
  process.stdout.write(`${lines.join("\n")}\n`);
  const out = args.get("out");
  if (out) writeFileSync(out, JSON.stringify({ delaySeconds, rounds, results, medians: summaries, skipped }, null, 2));
  const invalid = results.filter((r) => r.churn.problem);
  if (invalid.length > 0) {
    process.stderr.write(`bench: ${invalid.length} run(s) INVALID: pods created far exceed pods replaced\n`);
    process.exitCode = 1;
  }
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).message}\n`);
    process.exitCode = 1;
  })
  .finally(() => void stopAll());
