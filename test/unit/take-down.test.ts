import { expect } from "chai";
import {
  MAX_DISRUPTED_PODS,
  planTakeDown,
  type LivePdb,
  type LivePod,
  type TakeDownRequest,
} from "../../api/take-down.js";

const NOW = "2026-11-30T12:00:00.000Z";
const SECONDS_AGO = (s: number) => new Date(Date.parse(NOW) - s * 1000).toISOString();

function pod(name: string, over: Partial<LivePod> = {}): LivePod {
  return {
    name,
    uid: `uid-${name}`,
    resourceVersion: `rv-${name}`,
    labels: { app: "web" },
    ready: true,
    terminating: false,
    finished: false,
    ...over,
  };
}

function pdb(over: Partial<LivePdb> = {}, status: Partial<LivePdb["status"]> = {}): LivePdb {
  return {
    name: "web",
    generation: 2,
    selector: { matchLabels: { app: "web" } },
    ...over,
    status: { observedGeneration: 2, disruptionsAllowed: 2, disruptedPods: {}, ...status },
  };
}

const ask = (...names: string[]): TakeDownRequest[] => names.map((name) => ({ name, uid: `uid-${name}` }));
const live = (...pods: LivePod[]) => new Map(pods.map((p) => [p.name, p]));
const actions = (plan: ReturnType<typeof planTakeDown>) =>
  plan.verdicts.map((v) => `${v.name}:${v.action}${v.action === "delete" ? (v.reserved ? "+reserved" : "") : ""}`);

describe("planTakeDown: a batch taken down with one PDB reservation (the Eviction API's rules)", () => {
  const cases: Array<{
    name: string;
    requests: TakeDownRequest[];
    pods: LivePod[];
    pdbs: LivePdb[];
    want: string[];
    allowedAfter?: number;
  }> = [
    {
      name: "Ready pods within the budget: each reserves one disruption",
      requests: ask("web-9", "web-8"),
      pods: [pod("web-9"), pod("web-8")],
      pdbs: [pdb()],
      want: ["web-9:delete+reserved", "web-8:delete+reserved"],
      allowedAfter: 0,
    },
    {
      name: "more Ready pods than the budget: the rest wait",
      requests: ask("web-9", "web-8", "web-7"),
      pods: [pod("web-9"), pod("web-8"), pod("web-7")],
      pdbs: [pdb()],
      want: ["web-9:delete+reserved", "web-8:delete+reserved", "web-7:wait"],
      allowedAfter: 0,
    },
    {
      name: "an unready pod costs nothing (AlwaysAllow) and is deleted only if unchanged",
      requests: ask("web-9", "web-8"),
      pods: [pod("web-9", { ready: false }), pod("web-8")],
      pdbs: [pdb({}, { disruptionsAllowed: 1 })],
      want: ["web-9:delete", "web-8:delete+reserved"],
      allowedAfter: 0,
    },
    {
      name: "a finished pod costs nothing",
      requests: ask("web-9"),
      pods: [pod("web-9", { finished: true })],
      pdbs: [pdb({}, { disruptionsAllowed: 0 })],
      want: ["web-9:delete"],
    },
    {
      name: "gone, recreated (another uid) or already terminating: skipped, no budget spent",
      requests: ask("web-9", "web-8", "web-7"),
      pods: [pod("web-8", { uid: "uid-new" }), pod("web-7", { terminating: true })],
      pdbs: [pdb()],
      want: ["web-9:skip", "web-8:skip", "web-7:skip"],
    },
    {
      name: "budget 0: every Ready pod waits",
      requests: ask("web-9"),
      pods: [pod("web-9")],
      pdbs: [pdb({}, { disruptionsAllowed: 0 })],
      want: ["web-9:wait"],
    },
    {
      name: "the disruption controller has not observed the PDB's generation: wait",
      requests: ask("web-9"),
      pods: [pod("web-9")],
      pdbs: [pdb({}, { observedGeneration: 1 })],
      want: ["web-9:wait"],
    },
    {
      name: "no PDB selects the pod: a Ready pod waits (never taken down without a budget)",
      requests: ask("web-9"),
      pods: [pod("web-9")],
      pdbs: [pdb({ selector: { matchLabels: { app: "other" } } })],
      want: ["web-9:wait"],
    },
    {
      name: "two PDBs select the pod: wait, as the Eviction API refuses it",
      requests: ask("web-9"),
      pods: [pod("web-9")],
      pdbs: [pdb(), pdb({ name: "extra" })],
      want: ["web-9:wait"],
    },
    {
      name: "already in disruptedPods (a reservation whose delete did not happen): deleted without paying again",
      requests: ask("web-9"),
      pods: [pod("web-9")],
      pdbs: [pdb({}, { disruptionsAllowed: 0, disruptedPods: { "web-9": SECONDS_AGO(5) } })],
      want: ["web-9:delete"],
    },
    {
      name: "an old disruptedPods entry (the controller is about to drop it) is not relied on",
      requests: ask("web-9"),
      pods: [pod("web-9")],
      pdbs: [pdb({}, { disruptionsAllowed: 0, disruptedPods: { "web-9": SECONDS_AGO(90) } })],
      want: ["web-9:wait"],
    },
    {
      name: "too many unconfirmed disruptions: wait (the Eviction API's MaxDisruptedPodSize)",
      requests: ask("web-9"),
      pods: [pod("web-9")],
      pdbs: [
        pdb(
          {},
          {
            disruptedPods: Object.fromEntries(
              Array.from({ length: MAX_DISRUPTED_PODS }, (_, i) => [`x-${i}`, SECONDS_AGO(1)]),
            ),
          },
        ),
      ],
      want: ["web-9:wait"],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planTakeDown(c.requests, live(...c.pods), c.pdbs, NOW);
      expect(actions(plan)).to.deep.equal(c.want);
      if (c.allowedAfter === undefined) expect(plan.reserve).to.equal(undefined);
      else expect(plan.reserve?.disruptionsAllowed).to.equal(c.allowedAfter);
    });
  }

  it("the reservation records each reserved pod in disruptedPods, keeping earlier entries", () => {
    const plan = planTakeDown(
      ask("web-9", "web-8"),
      live(pod("web-9"), pod("web-8", { ready: false })),
      [pdb({}, { disruptionsAllowed: 3, disruptedPods: { "web-1": SECONDS_AGO(2) } })],
      NOW,
    );
    expect(plan.reserve).to.deep.equal({
      pdb: "web",
      disruptionsAllowed: 2,
      disruptedPods: { "web-1": SECONDS_AGO(2), "web-9": NOW },
    });
    const unready = plan.verdicts.find((v) => v.name === "web-8");
    expect(unready).to.deep.equal({
      name: "web-8",
      action: "delete",
      uid: "uid-web-8",
      resourceVersion: "rv-web-8",
      reserved: false,
    });
  });
});
