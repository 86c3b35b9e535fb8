import { expect } from "chai";
import { desiredTemplate, templateHash } from "../../api/desired.js";
import {
  clip,
  DEFAULT_HISTORY_LIMIT,
  HISTORY_TEXT_MAX,
  MAX_HISTORY_LIMIT,
  nextHistory,
  trimHistory,
} from "../../api/history.js";
import { decide } from "../../api/reconcile.js";
import { podsOfStatus } from "../../api/pod-summary.js";
import type { HistoryEntry, RolloutStatus, StatefulsetRollout } from "../../api/rollout.js";
import { at, makePods, makeRollout, makeSts, NEW, NOW, OLD, rollingStatus, world } from "./reconcile.fixtures.js";

const T = (s: number) => at(s);

function entry(over: Partial<HistoryEntry> = {}): HistoryEntry {
  return { toRevision: NEW, template: "t", startedAt: T(-100), outcome: "Done", waves: 1, trigger: "update", ...over };
}

/** Passes through (prev → next) statuses in order, as decide() would, and returns the last history. */
function replay(rollout: StatefulsetRollout, statuses: RolloutStatus[], start: HistoryEntry[] = []): HistoryEntry[] {
  let prev: RolloutStatus = { history: start };
  statuses.forEach((next, i) => {
    const history = nextHistory(rollout, prev, next, T(i));
    prev = { ...next, history };
  });
  return prev.history ?? [];
}

describe("history: one entry per rollout", () => {
  const r = makeRollout({ rolloutIdentity: "id-1" });
  const hash = templateHash(desiredTemplate(r));

  it("records a rollout from its start to its end, counting waves", () => {
    const history = replay(r, [
      rollingStatus({
        wavesCompleted: 0,
        previousTemplate: { spec: { containers: [{ name: "app", image: "app:v1" }] } },
      }),
      rollingStatus({ wavesCompleted: 1 }),
      rollingStatus({ wavesCompleted: 2 }),
      rollingStatus({ wavesCompleted: 2, phase: "RolloutDone", reason: "10 of 10 pods on revision web-bbb (100%)" }),
      rollingStatus({ wavesCompleted: 2, phase: "RolloutDone", reason: "10 of 10 pods on revision web-bbb (100%)" }),
    ]);
    expect(history).to.deep.equal([
      {
        identity: "id-1",
        fromRevision: OLD,
        toRevision: NEW,
        template: hash,
        fromImage: "app=app:v1",
        toImage: "app=app:v2",
        startedAt: at(-60),
        finishedAt: T(3),
        outcome: "Done",
        reason: "10 of 10 pods on revision web-bbb (100%)",
        waves: 2,
        percent: 100,
        trigger: "update",
      },
    ]);
  });

  it("a repeated pass over an ended rollout changes nothing", () => {
    const done = rollingStatus({ phase: "RolloutDone" });
    const first = nextHistory(r, rollingStatus(), done, T(1));
    const again = nextHistory(r, { ...done, history: first }, done, T(50));
    expect(again).to.deep.equal(first);
  });

  it("a changed template leaves the ended rollout as it ended until the new revision starts", () => {
    const v3 = makeRollout({
      rolloutIdentity: "id-2",
      statefulset: {
        metadata: { name: "web" },
        spec: {
          replicas: 10,
          selector: { matchLabels: { app: "web" } },
          template: { spec: { containers: [{ name: "app", image: "app:v3" }] } },
        },
      },
    });
    const done = [entry({ identity: "id-1", template: hash, outcome: "Done", finishedAt: T(-5) })];
    // The restart pass: phase Progressing, the StatefulSet not updated yet (same revision).
    const pending = nextHistory(
      v3,
      { ...rollingStatus({ phase: "RolloutDone" }), history: done },
      rollingStatus({ phase: "Progressing" }),
      T(0),
    );
    expect(pending).to.deep.equal(done);
    // The new revision starts: a new entry; the Done one stays Done.
    const started = nextHistory(
      v3,
      { ...rollingStatus(), history: pending },
      rollingStatus({ updateRevision: "web-ccc", currentRevision: NEW, attemptStartedAt: T(2) }),
      T(2),
    );
    expect(started.map((e) => [e.toRevision, e.outcome, e.trigger])).to.deep.equal([
      ["web-ccc", "InProgress", "update"],
      [NEW, "Done", "update"],
    ]);
    expect(started[0]).to.include({ fromRevision: NEW, toImage: "app=app:v3", identity: "id-2", startedAt: T(2) });
  });

  it("a new revision while the previous rollout is still going supersedes it", () => {
    const going = [entry({ identity: "id-1", template: hash, outcome: "InProgress" })];
    const next = nextHistory(
      r,
      { ...rollingStatus(), history: going },
      rollingStatus({ updateRevision: "web-ccc", currentRevision: NEW }),
      T(7),
    );
    expect(next[1]).to.include({ outcome: "Superseded", finishedAt: T(7) });
    expect(next[0]).to.include({ toRevision: "web-ccc", outcome: "InProgress" });
  });

  it("a retry (same template, new identity) is a new entry; the failed one stays failed", () => {
    const failed = [
      entry({
        identity: "id-1",
        template: hash,
        outcome: "Failed",
        reason: "pod web-3 crash-looping",
        finishedAt: T(-1),
      }),
    ];
    const retried = makeRollout({ rolloutIdentity: "id-9" });
    const next = nextHistory(
      retried,
      { ...rollingStatus({ phase: "RolloutFailed" }), history: failed },
      rollingStatus({ attemptStartedAt: T(0) }),
      T(0),
    );
    expect(next.map((e) => [e.identity, e.outcome, e.trigger])).to.deep.equal([
      ["id-9", "InProgress", "retry"],
      ["id-1", "Failed", "update"],
    ]);
  });

  it("a rollback is marked as one; a first revision as create", () => {
    const back = nextHistory(r, rollingStatus(), rollingStatus({ rollback: true }), T(0));
    expect(back[0]).to.include({ trigger: "rollback" });
    const created = nextHistory(r, {}, { updateRevision: NEW, currentRevision: NEW, phase: "Progressing" }, T(0));
    expect(created[0]).to.include({ trigger: "create", toRevision: NEW });
    expect(created[0]).to.not.have.property("fromRevision");
  });

  it("promote and resume update the same entry: it is running again, then done again", () => {
    const history = replay(r, [
      rollingStatus({ phase: "RolloutDone" }),
      rollingStatus({ phase: "Progressing" }),
      rollingStatus({ phase: "RolloutDone", wavesCompleted: 1 }),
    ]);
    expect(history).to.have.length(1);
    expect(history[0]).to.include({ outcome: "Done", waves: 1, finishedAt: T(2) });
  });
});

describe("history: bounded", () => {
  const many = Array.from({ length: 30 }, (_, i) => entry({ toRevision: `rev-${i}` }));

  const cases: Array<{ name: string; limit: number | undefined; want: number }> = [
    { name: "default", limit: undefined, want: DEFAULT_HISTORY_LIMIT },
    { name: "historyLimit 3", limit: 3, want: 3 },
    { name: "historyLimit 0 keeps none", limit: 0, want: 0 },
    { name: "historyLimit 20", limit: 20, want: MAX_HISTORY_LIMIT },
  ];
  for (const c of cases) {
    it(`keeps the newest entries: ${c.name}`, () => {
      const r = makeRollout(c.limit === undefined ? {} : { historyLimit: c.limit });
      const history = nextHistory(r, { history: many }, rollingStatus({ updateRevision: "rev-new" }), T(0));
      expect(history).to.have.length(c.want);
      if (c.want > 0) expect(history[0]!.toRevision).to.equal("rev-new");
      if (c.want > 1) expect(history[1]!.toRevision).to.equal("rev-0");
    });
  }

  it("trimHistory never keeps more than the maximum", () => {
    expect(trimHistory(many, 1000)).to.have.length(MAX_HISTORY_LIMIT);
  });

  it("cuts long identities and images", () => {
    const long = "x".repeat(5000);
    const r = makeRollout({ rolloutIdentity: long });
    const [e] = nextHistory(r, {}, rollingStatus(), T(0));
    expect(e!.identity).to.have.length(HISTORY_TEXT_MAX).and.match(/…$/);
    expect(clip("short", 10)).to.equal("short");
  });

  it("the status of a 1,000-pod rollout with 10 history entries stays under 10% of the 1.5 MiB object limit", () => {
    const replicas = 1000;
    const longImage = `registry.example.com/a-rather-long/path/to/the/image/${"name".repeat(10)}:v1.2.3-${"f".repeat(40)}`;
    const template = {
      metadata: { labels: { app: "web" } },
      spec: {
        containers: [{ name: "app", image: longImage, resources: { requests: { cpu: "100m", memory: "128Mi" } } }],
      },
    };
    const r = makeRollout(
      {
        rolloutIdentity: "GbTdWjQYgiiToKdoWDLN",
        serviceDiscovery: { dc: "dc1", serviceNames: ["web"] },
        statefulset: {
          metadata: { name: "web" },
          spec: { replicas, selector: { matchLabels: { app: "web" } }, template },
        },
      },
      undefined,
      1,
      replicas,
    );
    // Ten entries at their longest.
    const worst = (i: number): HistoryEntry => ({
      identity: "i".repeat(HISTORY_TEXT_MAX),
      fromRevision: "f".repeat(HISTORY_TEXT_MAX),
      toRevision: `${i}`.padEnd(HISTORY_TEXT_MAX, "t"),
      template: "0123456789abcdef",
      fromImage: "a".repeat(HISTORY_TEXT_MAX),
      toImage: "b".repeat(HISTORY_TEXT_MAX),
      startedAt: T(-i * 100),
      finishedAt: T(-i * 100 + 50),
      outcome: "Failed",
      reason: "r".repeat(300),
      waves: 100,
      percent: 100,
      trigger: "update",
    });
    const onNew = Array.from({ length: 500 }, (_, i) => i);
    const status = rollingStatus({
      updatedOrdinals: onNew,
      wavesCompleted: 5,
      previousTemplate: template,
      history: Array.from({ length: DEFAULT_HISTORY_LIMIT }, (_, i) => worst(i + 1)),
    });
    const w = world(r, makePods(replicas, onNew), 100, {
      statefulSet: makeSts(r, { replicas }),
      health: { ok: true, services: ["web"], missingServices: [], passingPods: makePods(replicas).map((p) => p.name) },
    });
    const d = decide({ ...r, status }, w, NOW);
    expect(podsOfStatus(d.status, "web")).to.have.length(replicas);
    expect(d.status.history).to.have.length(DEFAULT_HISTORY_LIMIT);
    const bytes = Buffer.byteLength(JSON.stringify({ ...r, status: d.status }));
    if (process.env.SHOW_SIZE) console.log(`status of 1,000 pods with 10 entries: ${bytes} bytes`);
    expect(bytes).to.be.below(0.1 * 1.5 * 1024 * 1024);
  });
});
