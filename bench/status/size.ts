// Status size before/after status.podSummary (issue #15 item 2): builds a realistic status with
// decide() at 100 and 1,000 pods, mid-rollout (45 % moved, a 10 % wave in flight and not Ready,
// Consul checked) and done, then measures its JSON as written (after) and the same status with
// the per-pod list the previous version wrote instead of the summary (before).
// Run: npx tsx bench/status/size.ts   (pure computation: no cluster, no lock)
import type { ObservedPod } from "../../api/observe.js";
import { podsOfStatus } from "../../api/pod-summary.js";
import { decide } from "../../api/reconcile.js";
import type { PodStatus, RolloutStatus } from "../../api/rollout.js";
import {
  at,
  makePdb,
  makePod,
  makeRollout,
  makeSts,
  NEW,
  NOW,
  OLD,
  rollingStatus,
  world,
} from "../../test/unit/reconcile.fixtures.js";

/** The per-pod list the previous version wrote (api/reconcile.ts observe() before podSummary). */
function legacyPods(pods: readonly ObservedPod[], passing: ReadonlySet<string> | undefined): PodStatus[] {
  return [...pods]
    .sort((a, b) => a.ordinal - b.ordinal)
    .map((p) => {
      const entry: PodStatus = { name: p.name, ordinal: p.ordinal, ready: p.ready };
      if (p.revision !== undefined) entry.revision = p.revision;
      if (p.problem !== undefined) entry.stuck = p.problem;
      if (passing) entry.consulPassing = passing.has(p.name);
      return entry;
    });
}

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

function measure(replicas: number, stage: "mid-rollout" | "done") {
  const ordinals = Array.from({ length: replicas }, (_, i) => i);
  const moved = stage === "done" ? ordinals : ordinals.slice(Math.round(replicas * 0.45));
  const inFlight = stage === "done" ? [] : moved.slice(0, Math.round(replicas * 0.1));
  const waveNames = inFlight.map((i) => `web-${i}`);
  const status: RolloutStatus =
    stage === "done"
      ? rollingStatus({ updatedOrdinals: [...moved].reverse(), wavesCompleted: 10 })
      : rollingStatus({
          updatedOrdinals: [...moved].reverse(),
          wavesCompleted: 4,
          currentWave: { number: 5, pods: waveNames, startedAt: at(-3) },
          wavesInFlight: [{ number: 5, pods: waveNames, startedAt: at(-3) }],
        });
  const spec = { serviceDiscovery: { dc: "dc1", serviceNames: ["web"] } };
  const rollout = makeRollout(spec, status, 1, replicas);
  const pods = ordinals.map((i) =>
    makePod(i, moved.includes(i) ? NEW : OLD, inFlight.includes(i) ? { ready: false, phase: "Pending" } : {}),
  );
  const passing = new Set(pods.filter((p) => p.ready).map((p) => p.name));
  const w = {
    ...world(rollout, pods),
    statefulSet: makeSts(rollout, { replicas }),
    pdb: makePdb(rollout, 0),
    health: { ok: true as const, services: ["web"], missingServices: [], passingPods: [...passing] },
  };
  const after = decide(rollout, w, NOW).status;
  if (podsOfStatus(after, "web").length !== replicas) throw new Error("the summary does not show every pod");
  const before: RolloutStatus = { ...after, pods: legacyPods(pods, passing) };
  delete before.podSummary;
  return {
    replicas,
    stage,
    before: bytes(before),
    after: bytes(after),
    listBefore: bytes(before.pods),
    listAfter: bytes(after.podSummary),
    updatedOrdinals: bytes(after.updatedOrdinals ?? []),
  };
}

const kb = (n: number) => (n / 1024).toFixed(1);
console.log(
  "| pods | stage | status before (KiB) | status after (KiB) | pod list before → after (bytes) | status.updatedOrdinals, both (bytes) |",
);
console.log("|---:|---|---:|---:|---:|---:|");
for (const replicas of [100, 1000]) {
  for (const stage of ["mid-rollout", "done"] as const) {
    const m = measure(replicas, stage);
    console.log(
      `| ${m.replicas} | ${m.stage} | ${kb(m.before)} | ${kb(m.after)} | ${m.listBefore} → ${m.listAfter} | ${m.updatedOrdinals} |`,
    );
  }
}
