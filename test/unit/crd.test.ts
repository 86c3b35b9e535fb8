import { readFileSync } from "node:fs";
import { expect } from "chai";
import { parse } from "yaml";
import { buildCrd } from "../../api/crd.js";
import { parseRollout } from "../../api/rollout.js";

const CRD_FILE = "charts/bulkhead/crds/statefulsetrollouts.bulkhead.dev.yaml";

function walk(node: unknown, visit: (n: Record<string, unknown>, path: string) => void, path = "$"): void {
  if (Array.isArray(node)) node.forEach((child, i) => walk(child, visit, `${path}[${i}]`));
  else if (node && typeof node === "object") {
    visit(node as Record<string, unknown>, path);
    for (const [k, v] of Object.entries(node)) walk(v, visit, `${path}.${k}`);
  }
}

describe("CRD generated from the zod schema", () => {
  it("matches the committed chart CRD (run `make crd` after changing api/rollout.ts)", () => {
    expect(parse(readFileSync(CRD_FILE, "utf8"))).to.deep.equal(buildCrd());
  });

  it("is structural: no $schema, propertyNames, or additionalProperties beside properties", () => {
    walk(buildCrd(), (node, path) => {
      expect(node, path).not.to.have.property("$schema");
      expect(node, path).not.to.have.property("propertyNames");
      if ("properties" in node) expect(node, path).not.to.have.property("additionalProperties");
    });
  });

  it("has the short name, status subresource and printer columns", () => {
    const crd = buildCrd() as { spec: { names: { shortNames: string[] }; versions: Array<Record<string, unknown>> } };
    expect(crd.spec.names.shortNames).to.deep.equal(["sroll"]);
    const version = crd.spec.versions[0]!;
    expect(version.subresources).to.deep.equal({ status: {} });
    const columns = (version.additionalPrinterColumns as Array<{ name: string }>).map((c) => c.name);
    expect(columns).to.deep.equal(["Phase", "Percent", "Updated", "Ready", "Age"]);
  });

  it("keeps status.pods beside status.podSummary, so an earlier version's pod list is not pruned before it is rewritten", () => {
    const crd = buildCrd() as { spec: { versions: Array<{ schema: { openAPIV3Schema: Record<string, unknown> } }> } };
    const status = (crd.spec.versions[0]!.schema.openAPIV3Schema as { properties: Record<string, unknown> }).properties
      .status as { properties: Record<string, { type: string }> };
    expect(status.properties.pods?.type).to.equal("array");
    expect(status.properties.podSummary?.type).to.equal("object");
  });
});

describe("parseRollout", () => {
  const statefulset = {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name: "web" },
    spec: { replicas: 4, selector: { matchLabels: { app: "web" } }, template: { spec: { containers: [] } } },
  };
  const cases: Array<{ name: string; spec: Record<string, unknown>; error?: RegExp }> = [
    { name: "minimal spec gets defaults", spec: { statefulset } },
    { name: "percent 150", spec: { statefulset, percent: 150 }, error: /percent/ },
    {
      name: "negative interval",
      spec: { statefulset, minPodEvictionIntervalSeconds: -1 },
      error: /minPodEvictionIntervalSeconds/,
    },
    { name: "missing statefulset", spec: { percent: 10 }, error: /statefulset/ },
    { name: "unknown leakProtection", spec: { statefulset, leakProtection: "block" }, error: /leakProtection/ },
    {
      name: "bad maxUnavailable",
      spec: { statefulset, disruptionPolicy: { maxUnavailable: "150%" } },
      error: /maxUnavailable/,
    },
    { name: "maxUnavailable percent", spec: { statefulset, disruptionPolicy: { maxUnavailable: "10%" } } },
    {
      name: "maxUnavailable 0 blocks every wave",
      spec: { statefulset, disruptionPolicy: { maxUnavailable: 0 } },
      error: /maxUnavailable/,
    },
    {
      name: "maxUnavailable 0%",
      spec: { statefulset, disruptionPolicy: { maxUnavailable: "0%" } },
      error: /maxUnavailable/,
    },
    { name: "maxUnavailable 100%", spec: { statefulset, disruptionPolicy: { maxUnavailable: "100%" } } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = parseRollout({ metadata: { name: "r" }, spec: c.spec });
      if (c.error) {
        expect(result.ok).to.equal(false);
        if (!result.ok) expect(result.error).to.match(c.error);
      } else {
        expect(result.ok, result.ok ? "" : result.error).to.equal(true);
      }
    });
  }

  it("fills the defaults", () => {
    const result = parseRollout({ metadata: { name: "r" }, spec: { statefulset } });
    if (!result.ok) throw new Error(result.error);
    expect(result.value.spec).to.include({ percent: 100, pauseRequested: false, progressDeadlineSeconds: 600 });
    expect(result.value.spec.leakProtection).to.equal(undefined);
  });
});
