import { expect } from "chai";
import {
  formatOrdinalRanges,
  parseOrdinalRanges,
  podsOfStatus,
  readPodsOfStatus,
  summarizePods,
  type PodView,
} from "../../api/pod-summary.js";
import { POD_SUMMARY_LIMITS, type RolloutStatus } from "../../api/rollout.js";
import { makePod, makeRollout, NEW, OLD } from "./reconcile.fixtures.js";
import type { ObservedPod } from "../../api/observe.js";

/** The per-pod view the summary must give back: what the reconciler saw, pod by pod. */
function viewOf(pods: ObservedPod[], passing: ReadonlySet<string> | undefined): PodView[] {
  return [...pods]
    .sort((a, b) => a.ordinal - b.ordinal)
    .map((p) => ({
      name: p.name,
      ordinal: p.ordinal,
      ...(p.revision !== undefined ? { revision: p.revision } : {}),
      ready: p.ready,
      ...(p.problem !== undefined ? { stuck: p.problem } : {}),
      ...(passing ? { consulPassing: passing.has(p.name) } : {}),
      ...(p.terminating ? { terminating: true } : {}),
    }));
}

/** The summary as the CRD's schema reads it back (so the shape passes validation too). */
function throughSchema(status: RolloutStatus): RolloutStatus {
  return makeRollout({}, status).status!;
}

describe("ordinal ranges", () => {
  const cases: Array<{ ordinals: number[]; text: string }> = [
    { ordinals: [], text: "" },
    { ordinals: [0], text: "0" },
    { ordinals: [0, 1], text: "0-1" },
    { ordinals: [0, 1, 2, 3, 5, 7, 8], text: "0-3,5,7-8" },
    { ordinals: [2, 4, 6], text: "2,4,6" },
    { ordinals: Array.from({ length: 450 }, (_, i) => i).concat(451), text: "0-449,451" },
    { ordinals: [999], text: "999" },
  ];
  for (const c of cases) {
    it(`[${c.ordinals.length} ordinals] <-> "${c.text}"`, () => {
      expect(formatOrdinalRanges(c.ordinals)).to.equal(c.text);
      expect(parseOrdinalRanges(c.text)).to.deep.equal(c.ordinals);
    });
  }

  it("formats any order and ignores duplicates", () => {
    expect(formatOrdinalRanges([5, 3, 4, 4, 0])).to.equal("0,3-5");
  });

  const bad: Array<{ text: string; error: RegExp }> = [
    { text: "3,1", error: /"1" is not an ascending range after 3/ },
    { text: "0-3,2", error: /"2" is not an ascending range after 3/ },
    { text: "5-2", error: /"5-2" is not an ascending range/ },
    { text: "1,,2", error: /"" is not an ascending range/ },
    { text: "a", error: /"a" is not an ascending range/ },
    { text: "0-2000000000", error: /hold more than 100000 ordinals/ },
    // Past 2^53 a number stops counting up by one: refused before it is expanded, not looped on.
    { text: "9007199254740993", error: /beyond the largest ordinal/ },
    { text: "9007199254740990-9007199254740993", error: /beyond the largest ordinal/ },
    { text: "1e21", error: /"1e21" is not an ascending range/ },
  ];
  for (const c of bad) {
    it(`refuses "${c.text}", saying which part is wrong`, () => {
      expect(() => parseOrdinalRanges(c.text)).to.throw(c.error);
    });
  }

  it("stops at the bound it is given", () => {
    expect(parseOrdinalRanges("0-9", 10)).to.have.length(10);
    expect(() => parseOrdinalRanges("0-10", 10)).to.throw(/more than 10 ordinals/);
  });
});

describe("status.podSummary: compaction and expansion", () => {
  const stuck = (i: number) => `container app: CrashLoopBackOff (${i})`;
  const cases: Array<{
    name: string;
    pods: ObservedPod[];
    passing?: ReadonlySet<string>;
    summary: Record<string, unknown>;
  }> = [
    { name: "no pods", pods: [], summary: { revisions: [] } },
    {
      name: "all settled on one revision: one range, nothing else",
      pods: Array.from({ length: 10 }, (_, i) => makePod(i, OLD)),
      summary: { revisions: [{ revision: OLD, ordinals: "0-9" }] },
    },
    {
      name: "split mid-rollout, in any order: a range per revision, in order of their lowest ordinal",
      pods: [7, 8, 9, 0, 1, 2, 3, 4, 5, 6].map((i) => makePod(i, i >= 7 ? NEW : OLD)),
      summary: {
        revisions: [
          { revision: OLD, ordinals: "0-6" },
          { revision: NEW, ordinals: "7-9" },
        ],
      },
    },
    {
      name: "a wave in flight: not Ready, terminating and stuck pods, exactly",
      pods: [
        makePod(0, OLD),
        makePod(1, OLD, { ready: false, terminating: true }),
        makePod(2, NEW, { ready: false }),
        makePod(3, NEW, { ready: false, problem: stuck(3), crashLooping: true }),
        makePod(4, NEW),
      ],
      summary: {
        revisions: [
          { revision: OLD, ordinals: "0-1" },
          { revision: NEW, ordinals: "2-4" },
        ],
        notReady: "1-3",
        terminating: "1",
        stuck: [{ ordinal: 3, reason: stuck(3) }],
      },
    },
    {
      name: "Consul checked: every pod not listed passes",
      pods: [0, 1, 2, 3].map((i) => makePod(i, NEW)),
      passing: new Set(["web-0", "web-3"]),
      summary: { revisions: [{ revision: NEW, ordinals: "0-3" }], consulChecked: true, consulNotPassing: "1-2" },
    },
    {
      name: "Consul checked, all passing",
      pods: [0, 1].map((i) => makePod(i, NEW)),
      passing: new Set(["web-0", "web-1"]),
      summary: { revisions: [{ revision: NEW, ordinals: "0-1" }], consulChecked: true },
    },
    {
      name: "a pod with no revision label",
      pods: [makePod(0, OLD), makePod(1, OLD, { revision: undefined })],
      summary: { revisions: [{ revision: OLD, ordinals: "0" }, { ordinals: "1" }] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const summary = summarizePods(c.pods, c.passing);
      expect(summary).to.deep.equal(c.summary);
      // Round trip, through the CRD's schema: every pod comes back as the reconciler saw it.
      const status = throughSchema({ podSummary: summary });
      expect(podsOfStatus(status, "web")).to.deep.equal(viewOf(c.pods, c.passing));
    });
  }

  it(`keeps the reasons of the first ${POD_SUMMARY_LIMITS.stuckDetails} stuck pods and counts the rest; readiness stays exact`, () => {
    const pods = Array.from({ length: 80 }, (_, i) =>
      makePod(i, NEW, { ready: false, problem: stuck(i), crashLooping: true }),
    );
    const summary = summarizePods(pods, undefined);
    expect(summary.stuck).to.have.length(POD_SUMMARY_LIMITS.stuckDetails);
    expect(summary.stuck!.at(-1)!.ordinal).to.equal(POD_SUMMARY_LIMITS.stuckDetails - 1);
    expect(summary.stuckOmitted).to.equal(80 - POD_SUMMARY_LIMITS.stuckDetails);
    expect(summary.notReady).to.equal("0-79");
    const view = podsOfStatus(throughSchema({ podSummary: summary }), "web");
    expect(view).to.have.length(80);
    expect(view.every((p) => !p.ready)).to.equal(true);
    expect(view.filter((p) => p.stuck !== undefined)).to.have.length(POD_SUMMARY_LIMITS.stuckDetails);
    expect(view[79]).to.deep.equal({ name: "web-79", ordinal: 79, revision: NEW, ready: false });
  });

  it("cuts a stuck reason to its bound", () => {
    const long = "x".repeat(POD_SUMMARY_LIMITS.reasonLength + 50);
    const summary = summarizePods([makePod(0, NEW, { ready: false, problem: long })], undefined);
    expect(summary.stuck![0]!.reason).to.have.length(POD_SUMMARY_LIMITS.reasonLength);
    throughSchema({ podSummary: summary });
  });

  it("round-trips 1,000 pods of a wave in flight, and is a few hundred bytes", () => {
    const pods = Array.from({ length: 1000 }, (_, i) =>
      makePod(i, i >= 450 ? NEW : OLD, i >= 450 && i < 550 ? { ready: false } : {}),
    );
    pods[451] = makePod(451, OLD); // one pod left behind on the old revision
    const passing = new Set(pods.filter((p) => p.ready).map((p) => p.name));
    const summary = summarizePods(pods, passing);
    expect(summary.revisions).to.deep.equal([
      { revision: OLD, ordinals: "0-449,451" },
      { revision: NEW, ordinals: "450,452-999" },
    ]);
    expect(summary.notReady).to.equal("450,452-549");
    expect(podsOfStatus(throughSchema({ podSummary: summary }), "web")).to.deep.equal(viewOf(pods, passing));
    expect(Buffer.byteLength(JSON.stringify(summary))).to.be.below(300);
  });
});

describe("podsOfStatus: a status written before podSummary (status.pods)", () => {
  const old = throughSchema({
    statefulsetName: "web",
    pods: [
      { name: "web-1", ordinal: 1, revision: OLD, ready: false, stuck: "container app: CrashLoopBackOff" },
      { name: "web-0", ordinal: 0, revision: NEW, ready: true, consulPassing: true },
    ],
  });

  it("is read as written, lowest ordinal first", () => {
    expect(podsOfStatus(old, "web")).to.deep.equal([
      { name: "web-0", ordinal: 0, revision: NEW, ready: true, consulPassing: true },
      { name: "web-1", ordinal: 1, revision: OLD, ready: false, stuck: "container app: CrashLoopBackOff" },
    ]);
  });

  it("gives way to podSummary once the reconciler has written one", () => {
    const both = { ...old, podSummary: summarizePods([makePod(0, NEW)], undefined) };
    expect(podsOfStatus(both, "web")).to.deep.equal([{ name: "web-0", ordinal: 0, revision: NEW, ready: true }]);
  });

  it("no status: no pods", () => {
    expect(podsOfStatus(undefined, "web")).to.deep.equal([]);
    expect(podsOfStatus({}, "web")).to.deep.equal([]);
  });

  it("a summary the reconciler cannot have written is refused, naming the range", () => {
    const status = throughSchema({ podSummary: { revisions: [{ revision: NEW, ordinals: "3,1" }] } });
    expect(() => podsOfStatus(status, "web")).to.throw(/"3,1"/);
  });

  it("an ordinal under two revisions is refused (one entry per pod)", () => {
    const status = throughSchema({
      podSummary: {
        revisions: [
          { revision: NEW, ordinals: "0-2" },
          { revision: OLD, ordinals: "1" },
        ],
      },
    });
    expect(() => podsOfStatus(status, "web")).to.throw(/ordinal 1 is listed under two revisions/);
  });

  const unreadable: Array<{ name: string; podSummary: NonNullable<RolloutStatus["podSummary"]> }> = [
    { name: "descending ranges", podSummary: { revisions: [{ revision: NEW, ordinals: "0-3" }], notReady: "3-1" } },
    { name: "an ordinal past 2^53", podSummary: { revisions: [{ revision: NEW, ordinals: "9007199254740993" }] } },
    {
      name: "an ordinal under two revisions",
      podSummary: {
        revisions: [
          { revision: NEW, ordinals: "0-1" },
          { revision: OLD, ordinals: "1" },
        ],
      },
    },
  ];
  for (const c of unreadable) {
    it(`readPodsOfStatus (displays): ${c.name} shows no recorded pods and says why, never throws`, () => {
      const read = readPodsOfStatus(throughSchema({ podSummary: c.podSummary }), "web");
      expect(read.pods).to.deep.equal([]);
      expect(read.unreadable).to.match(/^status\.podSummary cannot be read: /);
    });
  }

  it("readPodsOfStatus of a readable status is podsOfStatus", () => {
    const status = throughSchema({ podSummary: { revisions: [{ revision: NEW, ordinals: "0-2" }], notReady: "1" } });
    expect(readPodsOfStatus(status, "web")).to.deep.equal({ pods: podsOfStatus(status, "web") });
  });

  it("the CRD's schema refuses ranges that are not digits, dashes and commas", () => {
    expect(() => makeRollout({}, { podSummary: { revisions: [{ ordinals: "0..3" }] } })).to.throw(
      /podSummary\.revisions\[0\]\.ordinals/,
    );
  });
});
