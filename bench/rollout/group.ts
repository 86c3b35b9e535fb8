// Zone-aware rollout group benchmark (issue #16): three StatefulsetRollouts of N pods (default
// 100), one per zone (node affinity on topology.kubernetes.io/zone), one group (spec.group), PDB
// budget 10 % each, pods Ready `delay` seconds after start. A template change to all three; the
// clock runs from the first change to every member's StatefulSet reporting all N pods updated
// and Ready (run.ts's criterion, per member). Pods, rollouts and StatefulSets are sampled every
// 200 ms for:
//   - per zone: when it started moving (a pod unavailable or on the new revision), when its
//     pods were all Ready on the new revision, when its rollout said RolloutDone and when its
//     StatefulSet said done; the hand-off from one zone to the next;
//   - the group's rule: no sample may show pods unavailable (api/group-disruption.ts
//     isPodUnavailable, missing pods counted) in two zones at once;
// and reports pods created ≈ replaced (bench/support/pod-churn.ts), the load average at start
// and end, the reconciler's and webhook's CPU and peak RSS, and the ideal: the sum over zones of
// the fewest waves the budget allows × the pod start time. A run with two zones degraded at once,
// or with more pods created than replaced, is INVALID and exits non-zero.
//
// Usage: bench/rollout/group.sh (cluster, build, processes), which runs the compiled form of
//   group.js --pods 100 --delay-seconds 2 --build LABEL=DIR [--timeout-seconds 600] [--out FILE.json]
// Environment: the cluster's env (source DIR/env), RECONCILER_KUBECONFIG, WEBHOOK_KUBECONFIG,
// BENCH_WEBHOOK_PORT (bench/rollout/lib.sh), BENCH_LOGS (process logs).
import { writeFileSync } from "node:fs";
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { isPodUnavailable } from "../../api/group-disruption.js";
import { loadAverage, newImagePatch, ROLLOUT_CRD, until } from "../faults/support.js";
import { formatPodChurn, podChurnProblem, watchPodChurn } from "../support/pod-churn.js";
import { sleep, startBulkhead, stopAll } from "./contenders.js";
import { ProcessSampler } from "./processes.js";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "");
const pods = Number(args.get("pods") ?? "100");
const delaySeconds = Number(args.get("delay-seconds") ?? "2");
const timeoutMs = Number(args.get("timeout-seconds") ?? "600") * 1000;
const [buildLabel, buildDir] = (args.get("build") ?? "").split("=");
if (!buildLabel || !buildDir) throw new Error(`--build: "${args.get("build") ?? ""}" is not LABEL=DIR`);
if (!(pods > 0)) throw new Error(`--pods: "${args.get("pods")}" is not a positive number`);
const logsDir = process.env.BENCH_LOGS ?? "/tmp";

const ZONES = ["zone-a", "zone-b", "zone-c"] as const;
type Zone = (typeof ZONES)[number];
const GROUP = "bench";
const BUDGET = 0.1;
const SAMPLE_MS = 200;
/** The fewest waves the budget allows in one zone: ceil(N / ceil(N × 10 %)). */
const minWaves = Math.ceil(pods / Math.ceil(pods * BUDGET));
const idealSeconds = ZONES.length * minWaves * delaySeconds;

const kc = new KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);

function member(namespace: string, zone: Zone, image: string) {
  return {
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: { name: zone, namespace },
    spec: {
      percent: 100,
      // Later zones wait for the earlier ones: their own deadline must not run out meanwhile.
      progressDeadlineSeconds: 3600,
      group: { name: GROUP, order: ZONES.indexOf(zone) + 1 },
      disruptionPolicy: { maxUnavailable: `${BUDGET * 100}%` },
      statefulset: {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: zone },
        spec: {
          replicas: pods,
          serviceName: zone,
          podManagementPolicy: "Parallel",
          selector: { matchLabels: { app: zone } },
          template: {
            metadata: { labels: { app: zone } },
            spec: {
              containers: [{ name: "app", image }],
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
  };
}

interface RolloutView {
  metadata: { name: string; generation: number };
  status?: { phase?: string; observedGeneration?: number; wavesCompleted?: number; group?: { waitingFor?: string } };
}

async function rolloutsOf(namespace: string): Promise<Map<string, RolloutView>> {
  const list = (await custom.listNamespacedCustomObject({ ...ROLLOUT_CRD, namespace })) as { items: RolloutView[] };
  return new Map(list.items.map((r) => [r.metadata.name, r]));
}

const rolloutDone = (r: RolloutView | undefined): boolean =>
  r?.status?.phase === "RolloutDone" && r.status.observedGeneration === r.metadata.generation;

interface ZoneSample {
  /** replicas − pods available (isPodUnavailable; missing pods count). */
  unavailable: number;
  /** Live pods on a revision other than the one before the change. */
  onNew: number;
  rolloutDone: boolean;
  /** The StatefulSet reports all N pods updated (to a new revision) and Ready: run.ts's criterion. */
  statefulSetDone: boolean;
  waitingFor?: string;
}
interface Sample {
  /** Milliseconds since the first template change. */
  at: number;
  zones: Record<Zone, ZoneSample>;
}

async function sample(namespace: string, t0: number, before: Record<Zone, string>): Promise<Sample> {
  const [podList, rollouts, sets] = await Promise.all([
    core.listNamespacedPod({ namespace }),
    rolloutsOf(namespace),
    apps.listNamespacedStatefulSet({ namespace }),
  ]);
  const zones = {} as Record<Zone, ZoneSample>;
  for (const zone of ZONES) {
    const mine = podList.items.filter((p: V1Pod) => p.metadata?.labels?.app === zone);
    const live = mine.filter((p) => !p.metadata?.deletionTimestamp);
    const available = mine.filter((p) => !isPodUnavailable(p)).length;
    const set = sets.items.find((s) => s.metadata?.name === zone);
    const st = set?.status;
    const r = rollouts.get(zone);
    zones[zone] = {
      unavailable: pods - available,
      onNew: live.filter((p) => p.metadata?.labels?.["controller-revision-hash"] !== before[zone]).length,
      rolloutDone: rolloutDone(r),
      statefulSetDone:
        st !== undefined &&
        (st.observedGeneration ?? 0) >= (set?.metadata?.generation ?? 1) &&
        st.updateRevision !== before[zone] &&
        st.updatedReplicas === pods &&
        st.readyReplicas === pods &&
        st.replicas === pods,
      ...(r?.status?.group?.waitingFor ? { waitingFor: r.status.group.waitingFor } : {}),
    };
  }
  return { at: Date.now() - t0, zones };
}

interface ZoneFigures {
  zone: Zone;
  waves?: number;
  /** Seconds from the change: first sample with the zone moving. */
  startedAt?: number;
  /** Every pod Ready on the new revision (pods sampled). */
  podsReadyAt?: number;
  /** Its rollout's RolloutDone for the new spec. */
  rolloutDoneAt?: number;
  /** Its StatefulSet's status says done (the wall-time criterion). */
  doneAt?: number;
  /** Seconds from the previous zone's pods all Ready to this zone moving. */
  handOff?: number;
  /** Seconds from the previous zone's RolloutDone to this zone moving. */
  handOffAfterDone?: number;
  /**
   * Pods unavailable in the zone on average (time-weighted over the samples) while it moved:
   * how full the pipeline kept its budget (10 % of N).
   */
  meanUnavailable?: number;
  /**
   * Seconds one pod was unavailable on average (moving time × mean unavailable / N): the pod
   * start time plus what deleting, recreating, scheduling and starting a pod add to it.
   */
  replacementSeconds?: number;
}

/** The zone's unavailable pods, time-weighted over [fromMs, toMs). */
function meanUnavailable(samples: Sample[], zone: Zone, fromMs: number, toMs: number): number | undefined {
  let podMs = 0;
  let ms = 0;
  samples.forEach((s, i) => {
    const next = samples[i + 1];
    if (!next || s.at < fromMs || s.at >= toMs) return;
    const span = Math.min(next.at, toMs) - s.at;
    podMs += s.zones[zone].unavailable * span;
    ms += span;
  });
  return ms > 0 ? podMs / ms : undefined;
}

const seconds = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms / 100) / 10);
const first = (samples: Sample[], from: number, cond: (s: Sample) => boolean): Sample | undefined =>
  samples.find((s) => s.at >= from && cond(s));

function zoneFigures(samples: Sample[]): ZoneFigures[] {
  const out: ZoneFigures[] = [];
  for (const zone of ZONES) {
    const started = first(samples, 0, (s) => s.zones[zone].unavailable > 0 || s.zones[zone].onNew > 0);
    const from = started?.at ?? 0;
    const podsReady = first(samples, from, (s) => s.zones[zone].unavailable === 0 && s.zones[zone].onNew === pods);
    const figures: ZoneFigures = {
      zone,
      startedAt: seconds(started?.at),
      podsReadyAt: seconds(podsReady?.at),
      rolloutDoneAt: seconds(first(samples, from, (s) => s.zones[zone].rolloutDone)?.at),
      doneAt: seconds(first(samples, from, (s) => s.zones[zone].statefulSetDone)?.at),
    };
    if (started && podsReady) {
      const mean = meanUnavailable(samples, zone, started.at, podsReady.at);
      if (mean !== undefined) {
        figures.meanUnavailable = Math.round(mean * 10) / 10;
        figures.replacementSeconds = Math.round(((podsReady.at - started.at) / 1000) * (mean / pods) * 100) / 100;
      }
    }
    const previous = out.at(-1);
    if (previous && figures.startedAt !== undefined) {
      if (previous.podsReadyAt !== undefined)
        figures.handOff = Math.round((figures.startedAt - previous.podsReadyAt) * 10) / 10;
      if (previous.rolloutDoneAt !== undefined)
        figures.handOffAfterDone = Math.round((figures.startedAt - previous.rolloutDoneAt) * 10) / 10;
    }
    out.push(figures);
  }
  return out;
}

async function main(): Promise<void> {
  const processes = await startBulkhead({ label: buildLabel!, dir: buildDir! }, logsDir, process.execPath);
  const namespace = `group-${pods}-${Date.now().toString(36)}`;
  try {
    await core.createNamespace({ body: { metadata: { name: namespace, labels: { "bulkhead.dev/enabled": "true" } } } });
    await until(
      "the default ServiceAccount",
      () => core.readNamespacedServiceAccount({ name: "default", namespace }).then(() => true),
      60_000,
    );
    for (const zone of ZONES)
      await custom.createNamespacedCustomObject({
        ...ROLLOUT_CRD,
        namespace,
        body: member(namespace, zone, "registry.example/bench:v1"),
      });
    await until(
      `${ZONES.length} × ${pods} pods Ready on v1`,
      async () => {
        const [rollouts, sets] = await Promise.all([
          rolloutsOf(namespace),
          apps.listNamespacedStatefulSet({ namespace }),
        ]);
        return ZONES.every(
          (z) =>
            rolloutDone(rollouts.get(z)) &&
            sets.items.find((s) => s.metadata?.name === z)?.status?.readyReplicas === pods,
        );
      },
      timeoutMs,
    );
    const sets = await apps.listNamespacedStatefulSet({ namespace });
    const before = Object.fromEntries(
      ZONES.map((z) => [z, sets.items.find((s) => s.metadata?.name === z)?.status?.updateRevision ?? ""]),
    ) as Record<Zone, string>;

    const churn = await watchPodChurn(kc, namespace);
    const usage = new ProcessSampler([
      { name: "reconciler", pid: processes.reconciler.pid },
      { name: "webhook", pid: processes.webhook.pid },
    ]).start();
    const loadAtStart = loadAverage();
    process.stderr.write(`[bench-group] ${ZONES.length} × ${pods} pods: starting (load ${loadAtStart})\n`);
    const t0 = Date.now();
    for (const zone of ZONES)
      await custom.patchNamespacedCustomObject({
        ...ROLLOUT_CRD,
        namespace,
        name: zone,
        body: newImagePatch("registry.example/bench:v2"),
      });
    const samples: Sample[] = [];
    let finished = false;
    while (Date.now() - t0 < timeoutMs) {
      const started = Date.now();
      const s = await sample(namespace, t0, before);
      samples.push(s);
      if (ZONES.every((z) => s.zones[z].statefulSetDone)) {
        finished = true;
        break;
      }
      await sleep(Math.max(0, SAMPLE_MS - (Date.now() - started)));
    }
    const wallMs = samples.at(-1)?.at ?? Date.now() - t0;
    const processUsage = usage.stop();
    const loadAtEnd = loadAverage();
    const report = await churn.finish();
    const churnProblem = podChurnProblem(report, { replaced: finished ? ZONES.length * pods : report.replaced });
    const rollouts = await rolloutsOf(namespace);
    const zones = zoneFigures(samples).map((z) => ({ ...z, waves: rollouts.get(z.zone)?.status?.wavesCompleted }));
    const twoDegraded = samples.filter((s) => ZONES.filter((z) => s.zones[z].unavailable > 0).length > 1);
    const gaps = samples.slice(1).map((s, i) => s.at - samples[i]!.at);
    const sampleGap = { median: gaps.sort((a, b) => a - b)[Math.floor(gaps.length / 2)] ?? 0, max: gaps.at(-1) ?? 0 };
    const wall = seconds(wallMs)!;
    const invalid = [
      ...(twoDegraded.length > 0
        ? [
            `${twoDegraded.length} samples saw two zones degraded at once (first at ${seconds(twoDegraded[0]!.at)} s: ${JSON.stringify(twoDegraded[0]!.zones)})`,
          ]
        : []),
      ...(churnProblem ? [churnProblem] : []),
    ];

    const lines = [
      `| zone | waves (fewest) | started (s) | pods all Ready (s) | RolloutDone (s) | StatefulSet done (s) | duration (s) | ideal (s) | mean pods unavailable (budget ${Math.ceil(pods * BUDGET)}) | s per pod replaced | hand-off from the previous zone's pods Ready / RolloutDone (s) |`,
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
      ...zones.map(
        (z) =>
          `| ${z.zone} | ${z.waves ?? "–"} (${minWaves}) | ${z.startedAt ?? "–"} | ${z.podsReadyAt ?? "–"} | ${z.rolloutDoneAt ?? "–"} | ${z.doneAt ?? "–"} | ${z.doneAt !== undefined && z.startedAt !== undefined ? (Math.round((z.doneAt - z.startedAt) * 10) / 10).toFixed(1) : "–"} | ${minWaves * delaySeconds} | ${z.meanUnavailable ?? "–"} | ${z.replacementSeconds ?? "–"} | ${z.handOff !== undefined ? `${z.handOff} / ${z.handOffAfterDone ?? "–"}` : "–"} |`,
      ),
      "",
      `- ${finished ? `wall time ${wall} s` : `NOT finished in ${wall} s`} from the template change to all ${ZONES.length * pods} pods Ready on the new revision; ideal ${idealSeconds} s (${ZONES.length} zones × ${minWaves} waves × ${delaySeconds} s): ${finished ? `${(wall / idealSeconds).toFixed(2)}×` : "–"}`,
      `- samples: ${samples.length}, every ${SAMPLE_MS} ms asked (median gap ${sampleGap.median} ms, largest ${sampleGap.max} ms); samples with two zones degraded at once: ${twoDegraded.length}`,
      `- pods: ${churnProblem ? `INVALID: ${churnProblem}` : formatPodChurn(report)}`,
      `- load average (1/5/15 min): ${loadAtStart} at start, ${loadAtEnd} at end`,
      `- ${processUsage.map((u) => `${u.name} ${u.cpuSeconds} s CPU, peak RSS ${u.peakRssMiB} MiB`).join("; ")}`,
      ...invalid.map((p) => `- INVALID: ${p}`),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    const out = args.get("out");
    if (out)
      writeFileSync(
        out,
        JSON.stringify(
          {
            pods,
            delaySeconds,
            finished,
            wallSeconds: wall,
            idealSeconds,
            zones,
            loadAtStart,
            loadAtEnd,
            churn: formatPodChurn(report),
            invalid,
            processUsage,
            samples,
          },
          null,
          2,
        ),
      );
    if (!finished || invalid.length > 0) process.exitCode = 1;
  } finally {
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
    await processes.stop();
  }
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench-group failed: ${(err as Error).message}\n`);
    process.exitCode = 1;
  })
  .finally(() => void stopAll());
