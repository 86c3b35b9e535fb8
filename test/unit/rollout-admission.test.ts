import { expect } from "chai";
import { classifyDryRun } from "../../adapters/kube/dry-run.js";
import { effectivePercent } from "../../api/reconcile.js";
import {
  checkRolloutSpec,
  dryRunName,
  healthGateOf,
  phasesProblem,
  type HealthGateInstall,
} from "../../api/rollout-admission.js";
import { rolloutSpecSchema, type RolloutSpec } from "../../api/rollout.js";
import { makeRollout } from "./reconcile.fixtures.js";
import { seededRandom } from "../support/seeded-random.js";

const spec = (over: Record<string, unknown> = {}): RolloutSpec =>
  rolloutSpecSchema.parse({
    statefulset: { metadata: { name: "db" }, spec: { selector: { matchLabels: { app: "db" } }, template: {} } },
    ...over,
  });

describe("phasesProblem", () => {
  const cases: Array<{ percent: number; phases?: number[]; problem?: RegExp }> = [
    { percent: 100 },
    { percent: 100, phases: [] },
    { percent: 100, phases: [1, 50, 100] },
    { percent: 25, phases: [1, 50, 100] },
    { percent: 0, phases: [1, 50, 100] },
    { percent: 50, phases: [50] },
    {
      percent: 100,
      phases: [1, 50],
      problem: /ends at 50% but spec\.percent is 100%.*Add 100 as the last phase, or set spec\.percent to 50/,
    },
    { percent: 100, phases: [50, 1], problem: /strictly increasing.*has 1 after 50/ },
    { percent: 100, phases: [1, 50, 50, 100], problem: /has 50 after 50/ },
  ];
  for (const c of cases) {
    it(`percent ${c.percent}, phases ${JSON.stringify(c.phases)} → ${c.problem ? "refused" : "ok"}`, () => {
      const problem = phasesProblem(c.percent, c.phases);
      if (c.problem) expect(problem).to.match(c.problem);
      else expect(problem).to.equal(undefined);
    });
  }

  /** Where the reconciler's phase walk (api/reconcile.ts) ends for this spec. */
  function finalPercent(percent: number, phases: number[]): number {
    const rollout = makeRollout({ percent, phases });
    let index = 0;
    while (index < phases.length - 1 && phases[index]! < percent) index++;
    return effectivePercent(rollout, { phaseIndex: index });
  }

  it("property: an accepted plan always ends exactly at percent (2,000 generated specs)", () => {
    const random = seededRandom(12);
    let accepted = 0;
    for (let i = 0; i < 2000; i++) {
      const percent = Math.floor(random() * 101);
      const phases = Array.from({ length: Math.floor(random() * 5) }, () => Math.floor(random() * 101));
      if (random() < 0.5) phases.sort((a, b) => a - b);
      if (phasesProblem(percent, phases) !== undefined) continue;
      accepted++;
      const end = phases.length === 0 ? percent : finalPercent(percent, phases);
      expect(end, `percent ${percent}, phases [${phases.join(", ")}]`).to.equal(percent);
    }
    expect(accepted).to.be.greaterThan(200);
  });
});

describe("healthGateOf", () => {
  const sd = { serviceDiscovery: { dc: "dc1", serviceNames: ["db"] } };
  const cases: Array<{
    name: string;
    spec: Record<string, unknown>;
    install: HealthGateInstall;
    verdict: string;
    mode?: string;
  }> = [
    {
      name: "no serviceDiscovery, no Consul",
      spec: {},
      install: { consulConfigured: false, unchecked: "refuse" },
      verdict: "checked",
    },
    {
      name: "serviceDiscovery with Consul",
      spec: sd,
      install: { consulConfigured: true, unchecked: "refuse" },
      verdict: "checked",
    },
    {
      name: "serviceDiscovery without Consul, refuse",
      spec: sd,
      install: { consulConfigured: false, unchecked: "refuse" },
      verdict: "unchecked",
      mode: "refuse",
    },
    {
      name: "serviceDiscovery without Consul, report",
      spec: sd,
      install: { consulConfigured: false, unchecked: "report" },
      verdict: "unchecked",
      mode: "report",
    },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.verdict}${c.mode ? ` (${c.mode})` : ""}`, () => {
      const gate = healthGateOf(spec(c.spec), c.install);
      expect(gate.verdict).to.equal(c.verdict);
      if (gate.verdict === "unchecked") {
        expect(gate.mode).to.equal(c.mode);
        expect(gate.message).to.match(/dc dc1, services db.*no Consul configured.*consul\.address/);
      }
    });
  }
});

describe("checkRolloutSpec", () => {
  const refuse: HealthGateInstall = { consulConfigured: false, unchecked: "refuse" };
  const report: HealthGateInstall = { consulConfigured: false, unchecked: "report" };
  const zeroAnnotation = {
    statefulset: {
      metadata: { name: "db", annotations: { "bulkhead.dev/max-unavailable": "0" } },
      spec: { selector: {}, template: {} },
    },
  };

  const cases: Array<{
    name: string;
    spec: RolloutSpec;
    old?: RolloutSpec;
    install?: HealthGateInstall;
    problems: RegExp[];
    warnings?: RegExp[];
  }> = [
    { name: "a plain rollout", spec: spec(), problems: [] },
    { name: "phases [50, 1]", spec: spec({ phases: [50, 1] }), problems: [/strictly increasing/] },
    {
      name: "zero annotation on the embedded StatefulSet",
      spec: spec(zeroAnnotation),
      problems: [/max-unavailable"\]: "0" allows no pod/],
    },
    {
      name: "serviceDiscovery, no Consul, refuse",
      spec: spec({ serviceDiscovery: { dc: "d", serviceNames: ["s"] } }),
      problems: [/no Consul configured/],
    },
    {
      name: "serviceDiscovery, no Consul, report",
      spec: spec({ serviceDiscovery: { dc: "d", serviceNames: ["s"] } }),
      install: report,
      problems: [],
      warnings: [/no Consul configured.*only reports it/],
    },
    {
      name: "all at once: every problem is listed",
      spec: spec({ ...zeroAnnotation, phases: [1, 50], serviceDiscovery: { dc: "d", serviceNames: ["s"] } }),
      problems: [/ends at 50%/, /allows no pod/, /no Consul configured/],
    },
    {
      name: "UPDATE that only pauses a rollout stored with bad phases: not judged again",
      spec: spec({ phases: [50, 1], pauseRequested: true }),
      old: spec({ phases: [50, 1] }),
      problems: [],
    },
    {
      name: "UPDATE raising percent above the last phase",
      spec: spec({ phases: [1, 50], percent: 100 }),
      old: spec({ phases: [1, 50], percent: 50 }),
      problems: [/ends at 50%/],
    },
    {
      name: "UPDATE keeping an unchecked serviceDiscovery",
      spec: spec({ serviceDiscovery: { dc: "d", serviceNames: ["s"] }, percent: 50 }),
      old: spec({ serviceDiscovery: { dc: "d", serviceNames: ["s"] } }),
      problems: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const verdict = checkRolloutSpec(c.spec, c.old, c.install ?? refuse);
      expect(verdict.problems).to.have.length(c.problems.length, verdict.problems.join("\n"));
      c.problems.forEach((re, i) => expect(verdict.problems[i]).to.match(re));
      expect(verdict.warnings).to.have.length((c.warnings ?? []).length);
      (c.warnings ?? []).forEach((re, i) => expect(verdict.warnings[i]).to.match(re));
    });
  }
});

describe("dryRunName", () => {
  const random = seededRandom(7);
  for (const name of ["db", "a", "bedrock-tester-sts-dev", "web.v2-a", "x".repeat(63), "y".repeat(64), "a.b-c.d"]) {
    it(`${name.length > 20 ? `${name.slice(0, 12)}… (${name.length})` : name}: same length, same '-' and '.' positions, another name`, () => {
      const generated = dryRunName(name, random);
      expect(generated).to.have.length(name.length);
      expect(generated.replace(/[a-z0-9]/g, "x")).to.equal(name.replace(/[a-z0-9]/g, "x"));
      expect(generated).to.match(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/);
      if (name.length > 3) expect(generated).not.to.equal(name);
    });
  }
  for (const name of ["DB", "-db", "db_1", "db-", "", "a".repeat(254)]) {
    it(`${JSON.stringify(name.length > 20 ? `${name.slice(0, 5)}…` : name)} is not a valid name: kept, so the apiserver reports it`, () => {
      expect(dryRunName(name, random)).to.equal(name);
    });
  }
});

describe("classifyDryRun", () => {
  const cases: Array<{ code: number; status?: { reason?: string; message?: string }; outcome: string }> = [
    { code: 201, outcome: "valid" },
    { code: 200, outcome: "valid" },
    {
      code: 409,
      status: { reason: "AlreadyExists", message: 'statefulsets.apps "x" already exists' },
      outcome: "exists",
    },
    { code: 409, status: { reason: "Conflict", message: "conflict" }, outcome: "unchecked" },
    {
      code: 400,
      status: {
        reason: "BadRequest",
        message: "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers",
      },
      outcome: "invalid",
    },
    {
      code: 422,
      status: {
        reason: "Invalid",
        message: 'StatefulSet.apps "x" is invalid: spec.template.spec.containers: Required value',
      },
      outcome: "invalid",
    },
    {
      code: 403,
      status: {
        reason: "Forbidden",
        message: 'admission webhook "statefulset.validate.bulkhead.dev" denied the request: ...',
      },
      outcome: "invalid",
    },
    {
      code: 403,
      status: {
        reason: "Forbidden",
        message:
          'statefulsets.apps is forbidden: User "system:serviceaccount:b:w" cannot create resource "statefulsets"',
      },
      outcome: "unchecked",
    },
    {
      code: 400,
      status: { reason: "BadRequest", message: 'admission webhook "x.example.com" does not support dry run' },
      outcome: "unchecked",
    },
    { code: 500, status: { message: "etcd unavailable" }, outcome: "unchecked" },
    { code: 504, outcome: "unchecked" },
    { code: 429, status: { reason: "TooManyRequests", message: "slow down" }, outcome: "unchecked" },
    { code: 401, status: { reason: "Unauthorized", message: "Unauthorized" }, outcome: "unchecked" },
  ];
  for (const c of cases) {
    it(`HTTP ${c.code} ${c.status?.reason ?? ""} → ${c.outcome}`, () => {
      expect(classifyDryRun(c.code, c.status).outcome).to.equal(c.outcome);
    });
  }
});
