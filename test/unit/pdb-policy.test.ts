import { expect } from "chai";
import jsonpatch from "fast-json-patch";
import type { AdmissionRequest, AdmissionDecision, Operation } from "../../api/admission.js";
import {
  coveredStatefulSets,
  mutatePdb,
  selectorMatches,
  validatePdb,
  type LabelSelector,
  type PdbLike,
} from "../../api/pdb-policy.js";
import type { StatefulSetLike } from "../../api/statefulset-policy.js";

function managedSts(
  name: string,
  labels: Record<string, string>,
  replicas = 4,
  annotations?: Record<string, string>,
): StatefulSetLike {
  return {
    metadata: {
      name,
      namespace: "shop",
      labels: { "bulkhead.dev/managed": "true" },
      ...(annotations ? { annotations } : {}),
    },
    spec: { replicas, template: { metadata: { labels: { ...labels, "bulkhead.dev/managed": "true" } } } },
  };
}

const WEB = managedSts("web", { app: "web" });
const DB = managedSts("db", { app: "db" }, 3, { "bulkhead.dev/max-unavailable": "1" });

function pdb(spec: PdbLike["spec"], annotations?: Record<string, string>): PdbLike {
  return { metadata: { name: "budget", namespace: "shop", ...(annotations ? { annotations } : {}) }, spec };
}

function request(operation: Operation, object: unknown): AdmissionRequest {
  return {
    uid: "uid-2",
    kind: { group: "policy", version: "v1", kind: "PodDisruptionBudget" },
    resource: { group: "policy", version: "v1", resource: "poddisruptionbudgets" },
    namespace: "shop",
    name: "budget",
    operation,
    userInfo: { username: "alice" },
    object,
  };
}

function mutated(object: PdbLike, response: AdmissionDecision): PdbLike {
  if (!response.patch) return object;
  const ops = JSON.parse(Buffer.from(response.patch, "base64").toString()) as jsonpatch.Operation[];
  return jsonpatch.applyPatch(structuredClone(object), ops).newDocument;
}

describe("selectorMatches", () => {
  const labels = { app: "web", tier: "front" };
  const cases: Array<[name: string, selector: LabelSelector | null | undefined, expected: boolean]> = [
    ["null selects nothing", null, false],
    ["undefined selects nothing", undefined, false],
    ["empty selects everything", {}, true],
    ["matchLabels hit", { matchLabels: { app: "web" } }, true],
    ["matchLabels miss", { matchLabels: { app: "db" } }, false],
    ["matchLabels partly missing", { matchLabels: { app: "web", zone: "a" } }, false],
    ["In hit", { matchExpressions: [{ key: "app", operator: "In", values: ["db", "web"] }] }, true],
    ["In miss", { matchExpressions: [{ key: "app", operator: "In", values: ["db"] }] }, false],
    ["In on absent key", { matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] }, false],
    ["NotIn hit", { matchExpressions: [{ key: "app", operator: "NotIn", values: ["db"] }] }, true],
    ["NotIn miss", { matchExpressions: [{ key: "app", operator: "NotIn", values: ["web"] }] }, false],
    ["NotIn on absent key", { matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] }, true],
    ["Exists", { matchExpressions: [{ key: "tier", operator: "Exists" }] }, true],
    ["Exists miss", { matchExpressions: [{ key: "zone", operator: "Exists" }] }, false],
    ["DoesNotExist", { matchExpressions: [{ key: "zone", operator: "DoesNotExist" }] }, true],
    ["DoesNotExist miss", { matchExpressions: [{ key: "app", operator: "DoesNotExist" }] }, false],
    ["unknown operator", { matchExpressions: [{ key: "app", operator: "Like", values: ["web"] }] }, false],
    [
      "labels and expressions",
      { matchLabels: { app: "web" }, matchExpressions: [{ key: "tier", operator: "In", values: ["front"] }] },
      true,
    ],
  ];
  for (const [name, selector, expected] of cases) {
    it(`${name} → ${expected}`, () => expect(selectorMatches(selector, labels)).to.equal(expected));
  }
  it("undefined labels are no labels", () => {
    expect(selectorMatches({}, undefined)).to.equal(true);
    expect(selectorMatches({ matchLabels: { a: "b" } }, undefined)).to.equal(false);
  });
});

describe("coveredStatefulSets", () => {
  it("returns the managed StatefulSets whose pod template the selector matches", () => {
    const names = (p: PdbLike) => coveredStatefulSets(p, [WEB, DB]).map((s) => s.metadata?.name);
    expect(names(pdb({ selector: { matchLabels: { app: "web" } } }))).to.deep.equal(["web"]);
    expect(names(pdb({ selector: { matchLabels: { "bulkhead.dev/managed": "true" } } }))).to.deep.equal(["web", "db"]);
    expect(names(pdb({ selector: { matchLabels: { app: "other" } } }))).to.deep.equal([]);
    expect(names(pdb({}))).to.deep.equal([]);
  });
});

describe("mutatePdb", () => {
  const cases: Array<{
    name: string;
    object: PdbLike;
    expected: PdbLike["spec"] | "unchanged";
    operation?: Operation;
  }> = [
    {
      name: "no budget at all, over web → maxUnavailable 25% and AlwaysAllow",
      object: pdb({ selector: { matchLabels: { app: "web" } } }),
      expected: {
        selector: { matchLabels: { app: "web" } },
        maxUnavailable: "25%",
        unhealthyPodEvictionPolicy: "AlwaysAllow",
      },
    },
    {
      name: "no budget, over db → the StatefulSet's annotation as a count",
      object: pdb({ selector: { matchLabels: { app: "db" } } }),
      expected: {
        selector: { matchLabels: { app: "db" } },
        maxUnavailable: 1,
        unhealthyPodEvictionPolicy: "AlwaysAllow",
      },
    },
    {
      name: "no budget, over web and db (different annotations) → the default",
      object: pdb({ selector: {} }),
      expected: { selector: {}, maxUnavailable: "25%", unhealthyPodEvictionPolicy: "AlwaysAllow" },
    },
    {
      name: "minAvailable kept as the user wrote it",
      object: pdb({ selector: { matchLabels: { app: "web" } }, minAvailable: 2 }),
      expected: {
        selector: { matchLabels: { app: "web" } },
        minAvailable: 2,
        unhealthyPodEvictionPolicy: "AlwaysAllow",
      },
    },
    {
      name: "explicit IfHealthyBudget kept",
      object: pdb({
        selector: { matchLabels: { app: "web" } },
        maxUnavailable: 1,
        unhealthyPodEvictionPolicy: "IfHealthyBudget",
      }),
      expected: "unchanged",
    },
    {
      name: "already defaulted → no patch",
      object: pdb({
        selector: { matchLabels: { app: "web" } },
        maxUnavailable: "10%",
        unhealthyPodEvictionPolicy: "AlwaysAllow",
      }),
      expected: "unchanged",
    },
    {
      name: "over unmanaged pods → untouched",
      object: pdb({ selector: { matchLabels: { app: "other" } } }),
      expected: "unchanged",
    },
    { name: "no spec → untouched", object: { metadata: { name: "budget" } }, expected: "unchanged" },
    {
      name: "UPDATE is defaulted too",
      object: pdb({ selector: { matchLabels: { app: "web" } }, maxUnavailable: 2 }),
      operation: "UPDATE",
      expected: {
        selector: { matchLabels: { app: "web" } },
        maxUnavailable: 2,
        unhealthyPodEvictionPolicy: "AlwaysAllow",
      },
    },
    {
      name: "DELETE → untouched",
      object: pdb({ selector: { matchLabels: { app: "web" } } }),
      operation: "DELETE",
      expected: "unchanged",
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const response = mutatePdb(request(c.operation ?? "CREATE", c.object), [WEB, DB]);
      expect(response, "a decision carries no uid (the kernel sets it)").not.to.have.property("uid");
      expect(response.allowed).to.equal(true);
      if (c.expected === "unchanged") expect(response.patch).to.equal(undefined);
      else expect(mutated(c.object, response).spec).to.deep.equal(c.expected);
    });
  }

  it("rejects a missing object with 400", () => {
    const response = mutatePdb(request("CREATE", null), [WEB]);
    expect(response.status?.code).to.equal(400);
  });
});

describe("validatePdb", () => {
  const allowZero = { "bulkhead.dev/allow-zero-budget": "true" };
  const web = { matchLabels: { app: "web" } };
  const cases: Array<{ name: string; object: unknown; allowed: boolean; message?: RegExp; warning?: RegExp }> = [
    { name: "maxUnavailable 25%", object: pdb({ selector: web, maxUnavailable: "25%" }), allowed: true },
    { name: "maxUnavailable 1", object: pdb({ selector: web, maxUnavailable: 1 }), allowed: true },
    {
      name: "maxUnavailable 0",
      object: pdb({ selector: web, maxUnavailable: 0 }),
      allowed: false,
      message: /maxUnavailable 0 allows no disruption.*allow-zero-budget/,
    },
    {
      name: 'maxUnavailable "0%"',
      object: pdb({ selector: web, maxUnavailable: "0%" }),
      allowed: false,
      message: /maxUnavailable "0%"/,
    },
    {
      name: 'maxUnavailable "0"',
      object: pdb({ selector: web, maxUnavailable: "0" }),
      allowed: false,
      message: /maxUnavailable "0"/,
    },
    {
      name: "maxUnavailable 0 with the annotation",
      object: pdb({ selector: web, maxUnavailable: 0 }, allowZero),
      allowed: true,
    },
    {
      name: "maxUnavailable 0 with the annotation set to false",
      object: pdb({ selector: web, maxUnavailable: 0 }, { "bulkhead.dev/allow-zero-budget": "false" }),
      allowed: false,
    },
    {
      name: "maxUnavailable 0 over unmanaged pods",
      object: pdb({ selector: { matchLabels: { app: "other" } }, maxUnavailable: 0 }),
      allowed: true,
    },
    {
      name: "minAvailable 2 of 4",
      object: pdb({ selector: web, minAvailable: 2 }),
      allowed: true,
      warning: /maxUnavailable is preferred/,
    },
    {
      name: "minAvailable 50%",
      object: pdb({ selector: web, minAvailable: "50%" }),
      allowed: true,
      warning: /maxUnavailable is preferred/,
    },
    {
      name: "minAvailable 4 of 4",
      object: pdb({ selector: web, minAvailable: 4 }),
      allowed: false,
      message: /minAvailable 4 allows no disruption/,
    },
    {
      name: "minAvailable 100%",
      object: pdb({ selector: web, minAvailable: "100%" }),
      allowed: false,
      message: /minAvailable "100%"/,
    },
    {
      name: "minAvailable 100% with the annotation",
      object: pdb({ selector: web, minAvailable: "100%" }, allowZero),
      allowed: true,
      warning: /preferred/,
    },
    {
      name: "minAvailable 6 of web+db (7 pods)",
      object: pdb({ selector: {}, minAvailable: 6 }),
      allowed: true,
      warning: /web, db/,
    },
    { name: "no budget at all", object: pdb({ selector: web }), allowed: true },
    { name: "no spec", object: { metadata: { name: "budget" } }, allowed: true },
    { name: "missing object", object: undefined, allowed: false, message: /request\.object is missing/ },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.allowed ? "allowed" : "denied"}`, () => {
      const response = validatePdb(request("CREATE", c.object), [WEB, DB]);
      expect(response, "a decision carries no uid (the kernel sets it)").not.to.have.property("uid");
      expect(response.allowed, response.status?.message).to.equal(c.allowed);
      if (c.message) expect(response.status?.message).to.match(c.message);
      if (c.warning) expect(response.warnings?.join("\n")).to.match(c.warning);
      else expect(response.warnings).to.equal(undefined);
    });
  }

  it("DELETE is always allowed", () => {
    expect(validatePdb(request("DELETE", undefined), [WEB]).allowed).to.equal(true);
  });
});
