// One Slack message per group rollout (issue 16; api/group-notify.ts, adapters/slack/group-blocks.ts)
// through the outbox, the publisher and the real Slack client against the local fake Slack: three
// zones of one group roll one after another, each member's pass writing its status (as the
// reconciler does) and handing its state to the outbox. Exactly one message is posted for the
// group's run, by the member that owns it, and updated as the members progress; a rollout in no
// group keeps its own message; a restarted reconciler updates the same message.
import { expect } from "chai";
import { pino } from "pino";
import { createSlackClient } from "../../adapters/slack/client.js";
import { createRolloutOutbox, type RolloutOutbox } from "../../adapters/slack/rollout-outbox.js";
import { slackRolloutNotifier } from "../../adapters/slack/rollout-notifier.js";
import { groupRunKey } from "../../api/group-notify.js";
import { parseRollout, type NotifyLevel, type RolloutStatus, type StatefulsetRollout } from "../../api/rollout.js";
import { FakeClock } from "../support/fake-clock.js";
import { FakeSlack, type FakeSlackMessage } from "../support/fake-slack.js";
import { FakeCluster, rolloutObject } from "./reconciler.fake-cluster.js";

const logger = pino({ level: "silent" });
const NS = "ns";
const ZONES = ["zone-a", "zone-b", "zone-c"] as const;
type Zone = (typeof ZONES)[number];
const REPLICAS = 4;

function parsed(raw: unknown): StatefulsetRollout {
  const r = parseRollout(raw);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

/** A rollout named `name` (its StatefulSet too), in group ingester at `order` unless order is undefined. */
function rolloutOf(name: string, order: number | undefined, image: string, level: NotifyLevel = "debug") {
  const base = rolloutObject(
    { channel: "#deploys", notifyLevel: level, ...(order !== undefined ? { group: { name: "ingester", order } } : {}) },
    REPLICAS,
    image,
  );
  const spec = base.spec as { statefulset: { metadata: { name: string } } };
  spec.statefulset.metadata = { name };
  return { ...base, metadata: { name, namespace: NS } };
}

/** One reconciler process's Slack side: its own client, publisher (throttle off) and outbox. */
function slackProcess(slack: FakeSlack, cluster: FakeCluster, clock: FakeClock): RolloutOutbox {
  const client = createSlackClient({ token: slack.token, apiUrl: slack.apiUrl, logger, retryDelayMs: 10, clock });
  return createRolloutOutbox({
    publisher: slackRolloutNotifier({ client, logger, clock, minRefreshIntervalMs: 0, trailingRefresh: false }),
    rollouts: cluster,
    namespaceRollouts: (namespace) => [...cluster.rollouts.values()].filter((r) => r.metadata?.namespace === namespace),
    logger,
    clock,
    minChannelIntervalMs: 0,
  });
}

describe("Slack: one message per group rollout (fake Slack)", function () {
  this.timeout(20_000);
  let slack: FakeSlack;
  let cluster: FakeCluster;
  let clock: FakeClock;
  let outbox: RolloutOutbox;

  beforeEach(async () => {
    slack = await new FakeSlack().start();
    cluster = new FakeCluster();
    clock = new FakeClock(Date.parse("2026-11-30T10:00:00Z"));
    outbox = slackProcess(slack, cluster, clock);
  });
  afterEach(async () => {
    outbox.close();
    cluster.stop();
    await slack.stop();
  });

  const generation = (name: string) => cluster.rollouts.get(`${NS}/${name}`)?.metadata?.generation ?? 0;
  const top = (): FakeSlackMessage[] => slack.messages.filter((m) => !m.threadTs);
  const posts = () => slack.calls.filter((c) => c.method === "chat.postMessage").length;
  const blocksOf = (m: FakeSlackMessage) => JSON.stringify(m.blocks ?? []);

  /**
   * One pass of member `name`, as the reconciler makes it: its status written (over the live one,
   * so the Slack ref the outbox recorded stays), then its state handed to the outbox.
   */
  async function pass(name: string, status: RolloutStatus): Promise<void> {
    const live = cluster.rollouts.get(`${NS}/${name}`)!;
    const before = parsed(live).status ?? {};
    const next: RolloutStatus = {
      ...(before.slackMessage ? { slackMessage: before.slackMessage } : {}),
      statefulsetName: name,
      observedGeneration: generation(name),
      targetReplicas: REPLICAS,
      ...status,
    };
    await cluster.replaceStatus(NS, name, { ...live, status: next });
    outbox.notify(parsed(cluster.rollouts.get(`${NS}/${name}`)));
    await outbox.idle();
  }

  const groupStatus = (active: Zone | undefined, waitingFor?: string): RolloutStatus["group"] => ({
    name: "ingester",
    members: ZONES.map((z, i) => ({ name: z, order: i + 1 })),
    ...(active ? { active } : {}),
    ...(waitingFor ? { waitingFor } : {}),
  });
  const settled = (active?: Zone): RolloutStatus => ({
    phase: "RolloutDone",
    updatedReplicas: REPLICAS,
    readyReplicas: REPLICAS,
    percentDeployed: 100,
    group: groupStatus(active),
  });
  const moving = (moved: number, ready: number, active: Zone): RolloutStatus => ({
    phase: "Progressing",
    updatedReplicas: moved,
    readyReplicas: ready,
    currentWave: { number: Math.max(1, moved / 2), pods: [], startedAt: new Date(clock.now()).toISOString() },
    group: groupStatus(active),
  });
  const waiting = (active: Zone, behind: Zone): RolloutStatus => ({
    phase: "Pending",
    updatedReplicas: 0,
    readyReplicas: REPLICAS,
    group: groupStatus(active, `${behind} (order ${ZONES.indexOf(behind) + 1}) to finish: Progressing`),
  });

  /** Creates the group at v1 with every member settled (the creation run ends at once). */
  async function settledGroup(level: NotifyLevel = "debug"): Promise<void> {
    ZONES.forEach((z, i) => cluster.putRollout(rolloutOf(z, i + 1, "ingester:v1", level)));
    for (const z of ZONES) await pass(z, settled());
  }

  /** Rolls every member to `image`: zone-a's template first, the others' seconds later; one member at a time. */
  async function rollGroup(image: string, snapshots: string[] = [], level: NotifyLevel = "debug"): Promise<void> {
    cluster.putRollout(rolloutOf("zone-a", 1, image, level));
    await pass("zone-a", moving(0, REPLICAS, "zone-a"));
    clock.advance(5_000);
    cluster.putRollout(rolloutOf("zone-b", 2, image, level));
    cluster.putRollout(rolloutOf("zone-c", 3, image, level));
    await pass("zone-b", waiting("zone-a", "zone-a"));
    await pass("zone-c", waiting("zone-a", "zone-a"));
    for (const [i, zone] of ZONES.entries()) {
      for (const moved of [2, 4]) {
        await pass(zone, moving(moved, REPLICAS - 2, zone));
        await pass(zone, moving(moved, REPLICAS, zone));
        snapshots.push(blocksOf(top().at(-1)!));
      }
      const next = ZONES[i + 1];
      await pass(zone, settled(next));
      if (next) for (const later of ZONES.slice(i + 2)) await pass(later, waiting(next, next));
      clock.advance(10_000);
    }
  }

  it("three members rolling one after another: exactly one message, posted by the owner and updated as they progress; a new edit is a new message", async () => {
    await settledGroup();
    // The creation of the group was a run: one message, ended once all three were done.
    expect(top()).to.have.length(1);
    slack.messages.length = 0;
    const postsBefore = posts();

    const snapshots: string[] = [];
    await rollGroup("ingester:v2", snapshots);

    expect(posts() - postsBefore, "messages posted for the run").to.equal(1);
    expect(top()).to.have.length(1);
    const message = top()[0]!;
    // No pod pages: the group message has no thread.
    expect(slack.messages.filter((m) => m.threadTs)).to.have.length(0);
    expect(message.updates).to.be.at.least(12);
    expect(message.text).to.equal("Group rollout done ns/ingester: RolloutDone, 3/3 members done, 12/12 pods moved");
    // Mid-way, each member shows its pods moved, the active one and what the others wait for.
    const midB = snapshots[2]!;
    expect(midB).to.include(
      "*zone-b* (order 2) · StatefulSet `zone-b` · Progressing · 2/4 pods moved · 4/4 Ready · `ingester:v2`",
    );
    expect(midB).to.match(/\*zone-b\*[^"]*:point_right: \*active\*/);
    expect(midB).to.include("*zone-a* (order 1) · StatefulSet `zone-a` · RolloutDone · 4/4 pods moved");
    expect(midB).to.include("waits for zone-b (order 2) to finish: Progressing");
    // The ref lives in the owner's status, stamped with the ended run; the others keep none.
    expect(cluster.status(`${NS}/zone-a`).slackMessage).to.deep.equal({
      channel: message.channel,
      ts: message.ts,
      rollout: groupRunKey("ingester", true),
    });
    expect(cluster.status(`${NS}/zone-b`).slackMessage).to.equal(undefined);
    expect(cluster.status(`${NS}/zone-c`).slackMessage).to.equal(undefined);

    // Settled again, a later pass of any member says nothing new.
    const calls = slack.calls.length;
    await pass("zone-b", settled());
    expect(slack.calls.length).to.equal(calls);

    // The next edit (one zone only) is a new run: a new message; the old one stays as its record.
    cluster.putRollout(rolloutOf("zone-c", 3, "ingester:v3"));
    await pass("zone-c", moving(0, REPLICAS, "zone-c"));
    expect(top()).to.have.length(2);
    expect(top()[0]!.text).to.match(/^Group rollout done/);
    expect(top()[1]!.text).to.match(/^Group rollout ns\/ingester: Progressing, 2\/3 members done/);
  });

  it("a failed member is shown in red with its reason, and the message says the group rollout failed", async () => {
    await settledGroup();
    slack.messages.length = 0;
    cluster.putRollout(rolloutOf("zone-a", 1, "ingester:v2"));
    cluster.putRollout(rolloutOf("zone-b", 2, "ingester:v2"));
    await pass("zone-a", settled("zone-b"));
    await pass("zone-b", {
      phase: "RolloutFailed",
      reason: "pod zone-b-3 is crash-looping (CrashLoopBackOff) on the new revision",
      updatedReplicas: 1,
      readyReplicas: 3,
      group: groupStatus(undefined),
    });
    expect(top()).to.have.length(1);
    const message = top()[0]!;
    expect(message.text).to.match(/^Group rollout failed ns\/ingester: RolloutFailed, 2\/3 members done/);
    expect(blocksOf(message)).to.include(
      ":red_circle: *zone-b* (order 2) · StatefulSet `zone-b` · RolloutFailed · 1/4 pods moved · 3/4 Ready",
    );
    expect(blocksOf(message)).to.include(
      ">*Failed*: pod zone-b-3 is crash-looping (CrashLoopBackOff) on the new revision",
    );
  });

  it("at notifyLevel info: posted when the run starts, updated once when it ends", async () => {
    await settledGroup("info");
    slack.messages.length = 0;
    const before = slack.calls.length;
    await rollGroup("ingester:v2", [], "info");
    expect(top()).to.have.length(1);
    expect(top()[0]!.updates).to.equal(1);
    expect(slack.calls.length - before).to.equal(2);
    expect(top()[0]!.text).to.match(/^Group rollout done/);
  });

  it("a rollout in no group keeps its own message, pod pages and stamp, beside a group's", async () => {
    cluster.putRollout(rolloutOf("solo", undefined, "solo:v1"));
    await settledGroup();
    await pass("solo", { phase: "Progressing", updatedReplicas: 0, readyReplicas: REPLICAS });
    await pass("solo", { phase: "RolloutDone", updatedReplicas: REPLICAS, readyReplicas: REPLICAS });
    const solo = top().filter((m) => m.text.startsWith("Rollout ns/solo"));
    expect(solo).to.have.length(1);
    expect(solo[0]!.text).to.match(/^Rollout ns\/solo: RolloutDone/);
    expect(cluster.status(`${NS}/solo`).slackMessage).to.deep.include({ ts: solo[0]!.ts, rollout: "1/" });
    expect(top().filter((m) => m.text.startsWith("Group rollout"))).to.have.length(1);
  });

  it("members created last-first: the first member in order takes over the message the earlier owner posted", async () => {
    cluster.putRollout(rolloutOf("zone-c", 3, "ingester:v1"));
    await pass("zone-c", moving(2, REPLICAS, "zone-c"));
    expect(top()).to.have.length(1);
    const ts = top()[0]!.ts;
    expect(cluster.status(`${NS}/zone-c`).slackMessage).to.deep.include({ ts, rollout: groupRunKey("ingester") });
    cluster.putRollout(rolloutOf("zone-b", 2, "ingester:v1"));
    cluster.putRollout(rolloutOf("zone-a", 1, "ingester:v1"));
    await pass("zone-a", moving(0, REPLICAS, "zone-a"));
    await pass("zone-b", waiting("zone-a", "zone-a"));
    for (const z of ZONES) await pass(z, settled());
    expect(top()).to.have.length(1);
    expect(top()[0]!.text).to.match(/^Group rollout done ns\/ingester: RolloutDone, 3\/3 members done/);
    expect(cluster.status(`${NS}/zone-a`).slackMessage).to.deep.include({
      ts,
      rollout: groupRunKey("ingester", true),
    });
  });

  it("the run's last update fails: the run stays open, and the next pass sends the end and closes it", async () => {
    await settledGroup();
    slack.messages.length = 0;
    cluster.putRollout(rolloutOf("zone-a", 1, "ingester:v2"));
    await pass("zone-a", moving(2, REPLICAS, "zone-a"));
    const ts = top()[0]!.ts;
    slack.platformErrorNext("internal_error");
    await pass("zone-a", settled());
    expect(top()[0]!.text).to.match(/^Group rollout ns\/ingester: Progressing/);
    expect(cluster.status(`${NS}/zone-a`).slackMessage).to.deep.include({ ts, rollout: groupRunKey("ingester") });
    // Past the channel's back-off after a failed call, a later pass (any member's) ends the run.
    clock.advance(60_000);
    await pass("zone-c", settled());
    expect(top()).to.have.length(1);
    expect(top()[0]!.text).to.match(/^Group rollout done/);
    expect(cluster.status(`${NS}/zone-a`).slackMessage).to.deep.include({
      ts,
      rollout: groupRunKey("ingester", true),
    });
  });

  it("the owner's reconciler restarts mid-run: the new process updates the same message, posts none", async () => {
    await settledGroup();
    slack.messages.length = 0;
    cluster.putRollout(rolloutOf("zone-a", 1, "ingester:v2"));
    cluster.putRollout(rolloutOf("zone-b", 2, "ingester:v2"));
    await pass("zone-a", moving(2, REPLICAS, "zone-a"));
    await pass("zone-b", waiting("zone-a", "zone-a"));
    expect(top()).to.have.length(1);
    const ts = top()[0]!.ts;
    expect(cluster.status(`${NS}/zone-a`).slackMessage).to.deep.include({ ts, rollout: groupRunKey("ingester") });

    // A new process: nothing in memory, the ref only in zone-a's status. A non-owner passes first.
    outbox.close();
    outbox = slackProcess(slack, cluster, clock);
    const postsBefore = posts();
    await pass("zone-b", waiting("zone-a", "zone-a"));
    await pass("zone-a", settled("zone-b"));
    await pass("zone-b", moving(4, REPLICAS, "zone-b"));
    await pass("zone-b", settled());
    expect(posts()).to.equal(postsBefore);
    expect(top()).to.have.length(1);
    expect(top()[0]!.text).to.equal("Group rollout done ns/ingester: RolloutDone, 3/3 members done, 12/12 pods moved");
    expect(cluster.status(`${NS}/zone-a`).slackMessage).to.deep.include({
      ts,
      rollout: groupRunKey("ingester", true),
    });
  });
});
