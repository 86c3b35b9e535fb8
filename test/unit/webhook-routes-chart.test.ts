// The chart's webhook configurations against the route table in webhook/routes.ts: every route is
// registered once, at its path, for exactly its rule, with its objectSelector and its
// failurePolicy value (whose default in values.yaml is the table's), and nothing else is
// registered. The template is read as text, as test/unit/chart-values.test.ts does (rendering is
// covered by the e2e chart test).
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { parse } from "yaml";
import { ADMISSION_ROUTES } from "../../webhook/routes.js";

const template = readFileSync("charts/bulkhead/templates/webhook-configurations.yaml", "utf8");
const values = parse(readFileSync("charts/bulkhead/values.yaml", "utf8")) as {
  webhook: { failurePolicy: Record<string, string> };
};

interface RegisteredWebhook {
  name: string;
  configuration: string;
  path: string | undefined;
  rules: unknown;
  managedOnly: boolean;
  failurePolicyValue: string | undefined;
  matchConditions: unknown;
}

/** Each `- name: x.bulkhead.dev` entry of each document, with the parts the table declares. */
function registeredWebhooks(): RegisteredWebhook[] {
  const found: RegisteredWebhook[] = [];
  for (const document of template.split(/^---$/m)) {
    const configuration = /^kind: (\w+)$/m.exec(document)?.[1] ?? "";
    const entries = document.split(/^ {2}- name: /m).slice(1);
    for (const entry of entries) {
      const lines = entry.split("\n");
      /** The YAML list under `    key:`, or undefined when the entry has no such key. */
      const block = (key: string): unknown => {
        const at = lines.findIndex((l) => l === `    ${key}:`);
        if (at < 0) return undefined;
        const body: string[] = [];
        for (const line of lines.slice(at + 1)) {
          if (/^ {4}#/.test(line)) continue;
          if (!/^ {6}/.test(line)) break;
          body.push(line.slice(6));
        }
        return parse(body.join("\n"));
      };
      found.push({
        name: lines[0]!.trim(),
        configuration,
        path: /"path" "([^"]+)"/.exec(entry)?.[1],
        rules: block("rules"),
        matchConditions: block("matchConditions"),
        managedOnly: /^ {4}objectSelector: \{\{ toJson \$managed \}\}$/m.test(entry),
        failurePolicyValue: /^ {4}failurePolicy: \{\{ \$v\.failurePolicy\.(\w+) \}\}$/m.exec(entry)?.[1],
      });
    }
  }
  return found;
}

describe("webhook route table vs the chart's webhook configurations", () => {
  const registered = registeredWebhooks();

  it("finds the chart's webhooks (the parser is not silently empty)", () => {
    expect(registered.length).to.be.greaterThan(0);
    for (const hook of registered) expect(hook.path, hook.name).to.be.a("string");
  });

  it("registers exactly the table's paths, each once", () => {
    expect(registered.map((h) => h.path).sort()).to.deep.equal(ADMISSION_ROUTES.map((r) => r.path).sort());
  });

  for (const route of ADMISSION_ROUTES) {
    describe(route.path, () => {
      const hook = () => registered.find((h) => h.path === route.path)!;
      const reg = route.registration;

      it(`is ${reg.name} in the ${reg.configuration}`, () => {
        expect(hook().name).to.equal(reg.name);
        expect(hook().configuration).to.equal(reg.configuration);
      });

      it(`matches ${reg.rule.operations.join(",")} ${reg.rule.resources.join(",")} and nothing else`, () => {
        expect(hook().rules).to.deep.equal([{ ...reg.rule, scope: "Namespaced" }]);
      });

      it(reg.managedOnly ? "sees managed objects only (objectSelector)" : "has no objectSelector", () => {
        expect(hook().managedOnly).to.equal(reg.managedOnly);
      });

      it(reg.matchConditions ? "has the table's matchConditions" : "has no matchConditions", () => {
        expect(hook().matchConditions).to.deep.equal(reg.matchConditions);
      });

      it(`takes failurePolicy from webhook.failurePolicy.${reg.failurePolicy.value}, default ${reg.failurePolicy.default}`, () => {
        expect(hook().failurePolicyValue).to.equal(reg.failurePolicy.value);
        expect(values.webhook.failurePolicy[reg.failurePolicy.value]).to.equal(reg.failurePolicy.default);
      });
    });
  }
});
