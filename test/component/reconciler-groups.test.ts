// Rollout groups in the reconcile loop (api/groups.ts through reconciler/controller.ts), on
// in-memory clusters: one FakeCluster per member, joined so the group's members see each other.
import { expect } from "chai";
import type {
  ClusterWriter,
  RawRollout,
  ReleaseResult,
  RolloutApi,
  TakeDownOutcome,
} from "../../adapters/kube/rollouts.js";
import type { DesiredPdb, StatefulSetChanges } from "../../api/desired.js";
import type { GroupGuardWorld } from "../../api/group-disruption.js";
import type { ReleaseMode, RolloutMetaLike } from "../../api/lifecycle.js";
import type { PdbObject, PodObject, StatefulSetObject } from "../../api/observe.js";
import type { RolloutStatus } from "../../api/rollout.js";
import type { TakeDownRequest } from "../../api/take-down.js";
import { wavesInFlight } from "../../api/waves.js";
import type { CallbackQueue } from "../../api/integrations.js";
import { KeyedQueue } from "../../reconciler/queue.js";
import type { WorldSource } from "../../reconciler/world.js";
import { until } from "../support/until.js";
import { FakeCluster, rolloutObject } from "./reconciler.fake-cluster.js";
import { fakeReconciler } from "./support/reconciler-harness.js";

const NS = "ns";
const GROUP = "ingester";

/** The members' FakeClusters as one cluster: each call goes to the member it names. */
class GroupCluster implements RolloutApi, WorldSource, ClusterWriter {
  /** Called on every rollout get (the hook sees the answer before the caller does). */
  onGet?: (name: string, answer: RawRollout | undefined) => Promise<RawRollout | undefined>;
  /** Awaited before a member's pods are taken down. */
  beforeTakeDown?: (member: string) => Promise<void>;

  constructor(readonly members: FakeCluster[]) {}

  member(name: string): FakeCluster {
    const found = this.members.find((m) => m.app === name);
    if (!found) throw new Error(`no member ${name}`);
    return found;
  }

  private ownerOfPod(pod: string): FakeCluster | undefined {
    return this.members.find((m) => pod.startsWith(`${m.app}-`));
  }

  async get(namespace: string, name: string): Promise<RawRollout | undefined> {
    const answer = await this.member(name).get(namespace, name);
    return this.onGet ? this.onGet(name, answer) : answer;
  }
  replaceStatus(namespace: string, name: string, body: RawRollout): Promise<RawRollout> {
    return this.member(name).replaceStatus(namespace, name, body);
  }
  replace(namespace: string, name: string, body: RawRollout): Promise<RawRollout> {
    return this.member(name).replace(namespace, name, body);
  }

  statefulSet(namespace: string, name: string): Promise<StatefulSetObject | undefined> {
    return this.member(name).statefulSet(namespace, name);
  }
  pods(namespace: string, stsName: string): readonly PodObject[] {
    return this.member(stsName).pods(namespace, stsName);
  }
  pdb(namespace: string, name: string): PdbObject | undefined {
    return this.member(name).pdb(namespace, name);
  }
  async revisionExists(namespace: string, name: string): Promise<boolean> {
    for (const m of this.members) if (await m.revisionExists(namespace, name)) return true;
    return false;
  }

  get groupGuard(): GroupGuardWorld {
    return {
      synced: true,
      pod: (namespace, name) =>
        this.ownerOfPod(name)
          ?.pods(namespace, "")
          .find((p) => p.metadata?.name === name),
      statefulSet: (_namespace, name) => this.members.find((m) => m.app === name)?.sts?.obj,
      podsOf: (namespace, sts) => this.member(sts.name).pods(namespace, sts.name),
      rollout: (_namespace, name) => this.members.find((m) => m.app === name)?.rollouts.get(`${NS}/${name}`),
      rollouts: () => this.members.flatMap((m) => [...m.rollouts.values()]),
    };
  }

  createStatefulSet(namespace: string, body: Record<string, unknown>): Promise<void> {
    const name = (body as { metadata: { name: string } }).metadata.name;
    return this.member(name).createStatefulSet(namespace, body);
  }
  updateStatefulSet(namespace: string, name: string, changes: StatefulSetChanges): Promise<void> {
    return this.member(name).updateStatefulSet(namespace, name, changes);
  }
  applyPdb(namespace: string, pdb: DesiredPdb): Promise<void> {
    return this.member(pdb.name).applyPdb(namespace, pdb);
  }
  async takeDown(
    namespace: string,
    pods: readonly TakeDownRequest[],
    recorded?: Promise<boolean>,
  ): Promise<TakeDownOutcome[]> {
    if (recorded && !(await recorded)) return [];
    const outcomes: TakeDownOutcome[] = [];
    for (const m of this.members) {
      const mine = pods.filter((p) => this.ownerOfPod(p.name) === m);
      if (mine.length === 0) continue;
      await this.beforeTakeDown?.(m.app);
      outcomes.push(...(await m.takeDown(namespace, mine)));
    }
    return outcomes;
  }
  releaseStatefulSet(ns: string, name: string, rollout: RolloutMetaLike, mode: ReleaseMode): Promise<ReleaseResult> {
    return this.member(name).releaseStatefulSet(ns, name, rollout, mode);
  }
  releasePdb(ns: string, name: string, rollout: RolloutMetaLike, mode: ReleaseMode): Promise<ReleaseResult> {
    return this.member(name).releasePdb(ns, name, rollout, mode);
  }
}

const noCallbacks: CallbackQueue = {
  submit: () => {
    throw new Error("this test sends no callback");
  },
} as unknown as CallbackQueue;

function member(name: string, order: number, image: string): RawRollout {
  return rolloutObject({ disruptionPolicy: { maxUnavailable: 2 }, group: { name: GROUP, order } }, 4, image, name);
}

const inFlight = (status: RolloutStatus): number => wavesInFlight(status).length;
/** Lets every pending continuation run: the passes here touch only in-memory fakes. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe("rollout groups in the reconcile loop (fake clusters)", function () {
  this.timeout(20_000);

  it("two members never both record a wave from reads taken before the other's change (the group lock)", async () => {
    const zoneA = new FakeCluster({ app: "zone-a", readyDelayMs: 5 });
    const zoneB = new FakeCluster({ app: "zone-b", readyDelayMs: 5 });
    const cluster = new GroupCluster([zoneA, zoneB]);
    const reconciler = fakeReconciler(cluster, { events: { record: async () => undefined }, callbacks: noCallbacks });
    // Both members at v1, rolled by a queue; any change queues both (as reconciler/group-wakeups.ts does).
    const queue = new KeyedQueue((key) => reconciler.reconcile(key), { baseBackoffMs: 5 });
    const wakeBoth = () => ["ns/zone-a", "ns/zone-b"].forEach((key) => queue.add(key));
    zoneA.onChange = wakeBoth;
    zoneB.onChange = wakeBoth;
    try {
      zoneA.putRollout(member("zone-a", 1, "app:v1"));
      zoneB.putRollout(member("zone-b", 2, "app:v1"));
      await until(
        "both members done on v1",
        () => zoneA.status().phase === "RolloutDone" && zoneB.status().phase === "RolloutDone",
      );
      await queue.stop();
      zoneA.onChange = () => {};
      zoneB.onChange = () => {};

      // zone-b (later in order) gets v2: zone-a has settled, so zone-b may start. Between zone-b's
      // live read of zone-a and zone-b's status write, zone-a gets v2 too and its passes run.
      zoneB.putRollout(member("zone-b", 2, "app:v2"));
      let passOf = "";
      // zone-a's pods stay up until zone-b's pass is over: zone-b decides from Ready pods.
      let zoneBDecided!: () => void;
      const zoneBPassOver = new Promise<void>((resolve) => (zoneBDecided = resolve));
      cluster.beforeTakeDown = (name) => (name === "zone-a" ? zoneBPassOver : Promise.resolve());
      let zoneAPending: Promise<unknown> | undefined;
      let interleaved = false;
      cluster.onGet = async (name, answer) => {
        if (passOf !== "zone-b" || name !== "zone-a" || interleaved) return answer;
        interleaved = true;
        // zone-b's live read of zone-a (its own pass reads zone-b first): zone-a changes now.
        zoneA.putRollout(member("zone-a", 1, "app:v2"));
        for (let pass = 0; pass < 10 && !zoneAPending; pass++) {
          const running = reconciler.reconcile("ns/zone-a");
          let done = false;
          void running.then(() => (done = true));
          await turns(200);
          // Not done: waiting for the group's lock (or, without it, taking its first wave down).
          if (!done) zoneAPending = running;
        }
        return answer;
      };
      for (let pass = 0; pass < 10 && inFlight(zoneB.status()) === 0; pass++) {
        passOf = "zone-b";
        await reconciler.reconcile("ns/zone-b");
        passOf = "";
      }
      zoneBDecided();
      await zoneAPending;

      expect(interleaved, "zone-b read zone-a live").to.equal(true);
      expect(zoneAPending, "zone-a reached its wave decision while zone-b decided").to.not.equal(undefined);
      // Never two members with a wave in flight: zone-b recorded one from its reads, and zone-a,
      // deciding after it under the group's lock, saw it and held.
      expect({ zoneA: inFlight(zoneA.status()), zoneB: inFlight(zoneB.status()) }).to.deep.equal({
        zoneA: 0,
        zoneB: 1,
      });
    } finally {
      await queue.stop();
      zoneA.stop();
      zoneB.stop();
    }
  });
});
