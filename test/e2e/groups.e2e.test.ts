// Rollout groups (issue 16) on the real control plane with the real reconciler: three members
// (one StatefulSet per zone, pinned by node affinity to the KWOK nodes of that zone) of one group. A template change to all three rolls zone-a first,
// zone-b only once zone-a is fully Ready, then zone-c; pods are sampled every 200 ms and no
// sample may show pods unavailable in two members at once. `kubectl sroll pause --group` mid-
// member stops every member; `resume --group` finishes. No webhook runs here: the ordering is the
// reconciler's own (the zone-aware eviction guard is tested in the webhook's e2e tests).
//
// BULKHEAD_E2E_GROUP_REPLICAS sets the pods per member (default 10).
import { spawn } from "node:child_process";
import { join } from "node:path";
import type { V1Pod } from "@kubernetes/client-node";
import { expect } from "chai";
import { stringify } from "yaml";
import { parseRollout, type StatefulsetRollout } from "../../api/rollout.js";
import {
  applyManifest,
  coreApi,
  customObjectsApi,
  installRolloutCrd,
  kubeconfigPath,
  newNamespace,
  REPO_ROOT,
  sleep,
  waitFor,
} from "./support/cluster.js";
import {
  ensureControlNamespace,
  reconcilerLogTails,
  running,
  startReconciler,
  stopReconciler,
} from "./support/reconciler.js";

const REPLICAS = Number(process.env.BULKHEAD_E2E_GROUP_REPLICAS ?? "10");
const MEMBERS = ["zone-a", "zone-b", "zone-c"] as const;
type Member = (typeof MEMBERS)[number];
const GROUP = "ingester";

function memberManifest(namespace: string, member: Member, image: string, readyDelay: string): string {
  return stringify({
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: { name: member, namespace },
    spec: {
      percent: 100,
      group: { name: GROUP, order: MEMBERS.indexOf(member) + 1 },
      // Half a zone per wave: two waves per member, so a pause can land mid-member.
      disruptionPolicy: { maxUnavailable: "50%" },
      statefulset: {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: member },
        spec: {
          replicas: REPLICAS,
          serviceName: member,
          selector: { matchLabels: { app: member } },
          template: {
            // Pods take a moment to get Ready, so the 200 ms samples see every member degraded.
            metadata: { labels: { app: member }, annotations: { "kwok.bulkhead.dev/ready-delay": readyDelay } },
            spec: {
              containers: [{ name: "app", image }],
              // One StatefulSet per zone (hack/cluster-up.sh labels the KWOK nodes zone-a/b/c).
              affinity: {
                nodeAffinity: {
                  requiredDuringSchedulingIgnoredDuringExecution: {
                    nodeSelectorTerms: [
                      { matchExpressions: [{ key: "topology.kubernetes.io/zone", operator: "In", values: [member] }] },
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
}

async function applyAll(namespace: string, image: string, readyDelay = "1s"): Promise<void> {
  await applyManifest(MEMBERS.map((m) => memberManifest(namespace, m, image, readyDelay)).join("---\n"));
}

async function rollouts(namespace: string): Promise<Map<string, StatefulsetRollout>> {
  const list = (await customObjectsApi().listNamespacedCustomObject({
    group: "bulkhead.dev",
    version: "v1alpha1",
    namespace,
    plural: "statefulsetrollouts",
  })) as { items: unknown[] };
  const out = new Map<string, StatefulsetRollout>();
  for (const raw of list.items) {
    const parsed = parseRollout(raw);
    if (!parsed.ok) throw new Error(parsed.error);
    out.set(parsed.value.metadata.name, parsed.value);
  }
  return out;
}

/** Every member in `phase` for its current spec generation. */
async function waitAll(namespace: string, phases: Record<Member, string>, what: string, timeoutMs = 150_000) {
  return waitFor(
    async () => {
      const all = await rollouts(namespace);
      const ok = MEMBERS.every((m) => {
        const r = all.get(m);
        return r?.status?.phase === phases[m] && r.status.observedGeneration === r.metadata.generation;
      });
      return ok ? all : undefined;
    },
    { timeoutMs, intervalMs: 250, what },
  );
}

const everyone = (phase: string): Record<Member, string> => ({ "zone-a": phase, "zone-b": phase, "zone-c": phase });

const isReady = (p: V1Pod): boolean =>
  (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

interface MemberSample {
  /** replicas − pods Ready and not terminating (missing pods count). */
  unavailable: number;
  /** Pods (not terminating) per controller-revision-hash. */
  revisions: Record<string, number>;
  /** Pod name → uid, for "nothing moved". */
  uids: Record<string, string>;
}
type Sample = { at: number; members: Record<Member, MemberSample>; waitingFor: Partial<Record<Member, string>> };

/** Samples the namespace's pods and rollouts every 200 ms until stopped. */
class Sampler {
  samples: Sample[] = [];
  private stopped = false;
  private loop?: Promise<void>;

  constructor(private readonly namespace: string) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const started = Date.now();
        this.samples.push(await this.sample());
        await sleep(Math.max(0, 200 - (Date.now() - started)));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async sample(): Promise<Sample> {
    const [pods, all] = await Promise.all([
      coreApi().listNamespacedPod({ namespace: this.namespace }),
      rollouts(this.namespace),
    ]);
    const members = {} as Record<Member, MemberSample>;
    const waitingFor: Partial<Record<Member, string>> = {};
    for (const m of MEMBERS) {
      const mine = pods.items.filter((p) => p.metadata?.labels?.app === m);
      const live = mine.filter((p) => !p.metadata?.deletionTimestamp);
      const revisions: Record<string, number> = {};
      for (const p of live) {
        const rev = p.metadata?.labels?.["controller-revision-hash"] ?? "";
        revisions[rev] = (revisions[rev] ?? 0) + 1;
      }
      members[m] = {
        unavailable: REPLICAS - live.filter(isReady).length,
        revisions,
        uids: Object.fromEntries(mine.map((p) => [p.metadata?.name ?? "", p.metadata?.uid ?? ""])),
      };
      const waiting = all.get(m)?.status?.group?.waitingFor;
      if (waiting) waitingFor[m] = waiting;
    }
    return { at: Date.now(), members, waitingFor };
  }
}

/** A member has "moved" in a sample once any of its pods is unavailable or on the target revision. */
function moved(s: MemberSample, target: string): boolean {
  return s.unavailable > 0 || (s.revisions[target] ?? 0) > 0;
}
function settledOn(s: MemberSample, target: string): boolean {
  return s.unavailable === 0 && (s.revisions[target] ?? 0) === REPLICAS;
}

/** Checks the group's invariants over the samples; returns how many samples saw each member degraded. */
function checkSamples(samples: Sample[], targets: Record<Member, string>): Record<Member, number> {
  const degraded = { "zone-a": 0, "zone-b": 0, "zone-c": 0 };
  for (const [i, s] of samples.entries()) {
    const down = MEMBERS.filter((m) => s.members[m].unavailable > 0);
    expect(
      down.length,
      `sample ${i}: pods unavailable in ${down.join(" and ")} at once: ${JSON.stringify(s.members)}`,
    ).to.be.at.most(1);
    for (const m of down) degraded[m]++;
    // A member moves only once every earlier member is fully on its new revision and Ready.
    MEMBERS.forEach((m, index) => {
      if (!moved(s.members[m], targets[m])) return;
      for (const earlier of MEMBERS.slice(0, index))
        expect(
          settledOn(s.members[earlier], targets[earlier]),
          `sample ${i}: ${m} moved before ${earlier} was fully Ready on ${targets[earlier]}: ${JSON.stringify(s.members)}`,
        ).to.equal(true);
    });
  }
  return degraded;
}

async function sroll(
  namespace: string,
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    join(REPO_ROOT, "node_modules/.bin/tsx"),
    ["cli/main.ts", ...args, "-n", namespace, "--kubeconfig", kubeconfigPath()],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { code, stdout, stderr };
}

describe("rollout groups on a real control plane", function () {
  this.timeout(400_000);
  this.bail(true); // the pause test builds on the rolled-out group
  let namespace = "";

  before(async function () {
    await installRolloutCrd();
    await ensureControlNamespace();
    startReconciler("groups-reconciler");
    namespace = await newNamespace("sroll-groups");
    await applyAll(namespace, "registry.example/ingester:v1");
    await waitAll(namespace, everyone("RolloutDone"), "the group created");
  });

  after(async function () {
    // The members' pods are pinned to the zone nodes: leave no pods behind for later tests' drains.
    if (namespace) await coreApi().deleteNamespace({ name: namespace });
    for (const r of [...running]) await stopReconciler(r);
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") process.stderr.write(reconcilerLogTails(60));
  });

  it(`rolls zone-a, then zone-b, then zone-c (${REPLICAS} pods each): never pods unavailable in two members at once`, async () => {
    const sampler = new Sampler(namespace);
    sampler.start();
    let done: Map<string, StatefulsetRollout>;
    try {
      await applyAll(namespace, "registry.example/ingester:v2");
      done = await waitAll(namespace, everyone("RolloutDone"), "the group rolled to v2");
    } finally {
      await sampler.stop();
    }
    const targets = Object.fromEntries(MEMBERS.map((m) => [m, done.get(m)!.status!.updateRevision!])) as Record<
      Member,
      string
    >;
    const degraded = checkSamples(sampler.samples, targets);
    // The samples must have seen every member move, or they prove nothing.
    for (const m of MEMBERS) expect(degraded[m], `samples that saw ${m} degraded`).to.be.greaterThan(0);
    const firstMoved = (m: Member) => sampler.samples.findIndex((s) => moved(s.members[m], targets[m]));
    expect(firstMoved("zone-a")).to.be.lessThan(firstMoved("zone-b"));
    expect(firstMoved("zone-b")).to.be.lessThan(firstMoved("zone-c"));
    // status.group said why the later members waited.
    expect(sampler.samples.some((s) => /^zone-a \(order 1\)/.test(s.waitingFor["zone-b"] ?? ""))).to.equal(true);
    for (const m of MEMBERS) {
      const status = done.get(m)!.status!;
      expect(status.updatedReplicas).to.equal(REPLICAS);
      expect(status.group?.members.map((x) => x.name)).to.deep.equal([...MEMBERS]);
    }
    // The last member's RolloutDone wakes the others, whose status.group then says the group has
    // settled: no active member, nothing to wait for.
    await waitFor(
      async () => {
        const all = await rollouts(namespace);
        return MEMBERS.every((m) => {
          const group = all.get(m)?.status?.group;
          return group && group.active === undefined && group.waitingFor === undefined;
        });
      },
      { timeoutMs: 30_000, intervalMs: 200, what: "every member's status.group settled" },
    );
  });

  it("pause --group mid-member: nothing moves in any member; resume --group: the group finishes", async function () {
    // Three members of 5 s pods, a pause window and a resume: longer than the default 180 s bound allows for.
    this.timeout(300_000);
    const sampler = new Sampler(namespace);
    sampler.start();
    let done: Map<string, StatefulsetRollout>;
    try {
      // Pods take 5 s to get Ready here, so the pause (a CLI start, ~1 s) lands while zone-b's
      // first wave is still in flight; waves in flight finish, no new one starts.
      await applyAll(namespace, "registry.example/ingester:v3", "5s");
      // Mid-member: zone-b has a wave in flight (zone-a is done, zone-c waits). Its last wave of
      // the previous rollout is completed, so the first wave in flight seen is one of this rollout.
      await waitFor(
        async () => {
          const wave = (await rollouts(namespace)).get("zone-b")?.status?.currentWave;
          return wave !== undefined && wave.completedAt === undefined;
        },
        { timeoutMs: 120_000, intervalMs: 100, what: "a wave of zone-b in flight" },
      );
      const paused = await sroll(namespace, "pause", "--group", GROUP);
      expect(paused.code, paused.stdout + paused.stderr).to.equal(0);
      expect(paused.stdout).to.match(/zone-a unchanged: .*nothing to pause/);
      expect(paused.stdout).to.match(/zone-b paused/);
      expect(paused.stdout).to.match(/zone-c paused/);
      const held = await waitAll(
        namespace,
        { "zone-a": "RolloutDone", "zone-b": "Paused", "zone-c": "Paused" },
        "zone-b and zone-c paused",
      );
      expect(held.get("zone-b")!.status!.updatedReplicas).to.be.within(1, REPLICAS - 1);
      // Wait for the paused member's pods to settle (its last wave's pods come back Ready).
      const before = await waitFor(
        async () => {
          const s = sampler.samples.at(-1);
          return s && MEMBERS.every((m) => s.members[m].unavailable === 0) ? s : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200, what: "every pod Ready while paused" },
      );
      // An observation window, not a synchronisation: several reconcile passes of every member.
      await sleep(5000);
      const after = sampler.samples.at(-1)!;
      for (const m of MEMBERS) {
        expect(after.members[m].uids, `${m} pods while paused`).to.deep.equal(before.members[m].uids);
        expect(after.members[m].revisions, `${m} revisions while paused`).to.deep.equal(before.members[m].revisions);
      }
      const stillPaused = await rollouts(namespace);
      expect(stillPaused.get("zone-b")!.status!.phase).to.equal("Paused");
      expect(stillPaused.get("zone-c")!.status!.updatedReplicas ?? 0).to.equal(0);

      const resumed = await sroll(namespace, "resume", "--group", GROUP);
      expect(resumed.code, resumed.stdout + resumed.stderr).to.equal(0);
      expect(resumed.stdout).to.match(/zone-b resumed/);
      done = await waitAll(namespace, everyone("RolloutDone"), "the group finished after resume");
    } finally {
      await sampler.stop();
    }
    const targets = Object.fromEntries(MEMBERS.map((m) => [m, done.get(m)!.status!.updateRevision!])) as Record<
      Member,
      string
    >;
    checkSamples(sampler.samples, targets);
    for (const m of MEMBERS) expect(done.get(m)!.status!.updatedReplicas).to.equal(REPLICAS);
  });
});
