// The reconciler's side of an unchecked health gate: a HealthGateUnchecked condition (and one
// Warning Event when it appears), driven by the same rule admission uses (healthGateOf).
import { expect } from "chai";
import { decide } from "../../api/reconcile.js";
import { healthGateOf } from "../../api/rollout-admission.js";
import { makePods, makeRollout, NOW, rollingStatus, world } from "./reconcile.fixtures.js";

describe("decide: HealthGateUnchecked", () => {
  const sd = { serviceDiscovery: { dc: "dc1", serviceNames: ["web"] } };

  for (const mode of ["refuse", "report"] as const) {
    it(`${mode} install, serviceDiscovery and no Consul: the condition is True and one Warning Event says why; waves are not held`, () => {
      const r = makeRollout(sd, rollingStatus());
      const gate = healthGateOf(r.spec, { consulConfigured: false, unchecked: mode });
      expect(gate.verdict).to.equal("unchecked");
      const w = { ...world(r, makePods(10)), healthGateUnchecked: gate.verdict === "unchecked" ? gate.message : "" };
      const first = decide(r, w, NOW);
      const condition = first.status.conditions?.find((c) => c.type === "HealthGateUnchecked");
      expect(condition).to.deep.include({ status: "True", reason: "NoConsulConfigured" });
      expect(condition?.message).to.match(/no Consul configured/);
      expect(first.events.filter((e) => e.reason === "HealthGateUnchecked")).to.have.length(1);
      // Same step, phase and requeue as without the condition: nothing is held back.
      const without = decide(r, world(r, makePods(10)), NOW);
      expect([first.step, first.status.phase, first.status.reason, first.requeueAfterMs]).to.deep.equal([
        without.step,
        without.status.phase,
        without.status.reason,
        without.requeueAfterMs,
      ]);
      // The next pass keeps the condition and does not repeat the Event.
      const second = decide({ ...r, status: first.status }, w, NOW);
      expect(second.status.conditions?.find((c) => c.type === "HealthGateUnchecked")?.lastTransitionTime).to.equal(
        condition?.lastTransitionTime,
      );
      expect(second.events.filter((e) => e.reason === "HealthGateUnchecked")).to.deep.equal([]);
    });
  }

  it("no condition when the gate is checked (or absent)", () => {
    const r = makeRollout(sd, rollingStatus());
    expect(healthGateOf(r.spec, { consulConfigured: true, unchecked: "refuse" }).verdict).to.equal("checked");
    const d = decide(r, world(r, makePods(10)), NOW);
    expect(d.status.conditions?.map((c) => c.type)).to.not.include("HealthGateUnchecked");
  });

  it("the condition goes away once Consul is configured", () => {
    const r = makeRollout(sd, rollingStatus());
    const first = decide(r, { ...world(r, makePods(10)), healthGateUnchecked: "unchecked" }, NOW);
    const later = decide({ ...r, status: first.status }, world(r, makePods(10)), NOW);
    expect(later.status.conditions?.map((c) => c.type)).to.not.include("HealthGateUnchecked");
  });
});
