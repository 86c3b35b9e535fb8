// Pure checks of the chart's values contract (no helm binary; rendering is tested in
// test/e2e/chart.e2e.test.ts): the schema is strict everywhere, values.yaml and the schema agree,
// and every .Values path a template reads exists.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { parse } from "yaml";
import { LEAK_PROTECTION_MODES } from "../../api/rollout.js";
import { NAMESPACE_ENABLED_LABEL, TRUE } from "../../api/labels.js";

const CHART = "charts/bulkhead";
type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  oneOf?: Schema[];
};
const schema = JSON.parse(readFileSync(join(CHART, "values.schema.json"), "utf8")) as Schema & { $schema?: string };
const values = parse(readFileSync(join(CHART, "values.yaml"), "utf8")) as Record<string, unknown>;

/** Kubernetes objects the chart passes through untouched (the apiserver validates their inside). */
const OPAQUE = /\.affinity\.(nodeAffinity|podAffinity|podAntiAffinity)$/;

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

/**
 * The subset of JSON Schema the chart's schema uses, enough to catch a default that helm would
 * refuse. Returns one message per violation, each naming the path.
 */
function validate(s: Schema, v: unknown, path = ""): string[] {
  const at = path || "/";
  if (s.oneOf) {
    const matching = s.oneOf.filter((alt) => validate(alt, v, path).length === 0);
    return matching.length === 1 ? [] : [`${at}: matches ${matching.length} of oneOf`];
  }
  const t = typeOf(v);
  if (s.type && !(s.type === t || (s.type === "number" && t === "integer"))) return [`${at}: ${t}, want ${s.type}`];
  const errors: string[] = [];
  if (s.enum && !s.enum.includes(v)) errors.push(`${at}: ${String(v)} not in ${s.enum.join(",")}`);
  if (typeof v === "string") {
    if (s.pattern && !new RegExp(s.pattern, "u").test(v)) errors.push(`${at}: "${v}" does not match ${s.pattern}`);
    if (s.minLength !== undefined && v.length < s.minLength) errors.push(`${at}: shorter than ${s.minLength}`);
    if (s.maxLength !== undefined && v.length > s.maxLength) errors.push(`${at}: longer than ${s.maxLength}`);
  }
  if (typeof v === "number") {
    if (s.minimum !== undefined && v < s.minimum) errors.push(`${at}: below ${s.minimum}`);
    if (s.maximum !== undefined && v > s.maximum) errors.push(`${at}: above ${s.maximum}`);
  }
  if (t === "array" && s.items)
    (v as unknown[]).forEach((item, i) => errors.push(...validate(s.items!, item, `${path}/${i}`)));
  if (t === "object") {
    const obj = v as Record<string, unknown>;
    for (const key of s.required ?? []) if (!(key in obj)) errors.push(`${at}: missing ${key}`);
    for (const [key, child] of Object.entries(obj)) {
      const sub = s.properties?.[key];
      if (sub) errors.push(...validate(sub, child, `${path}/${key}`));
      else if (s.additionalProperties === false) errors.push(`${path}/${key}: not allowed`);
      else if (typeof s.additionalProperties === "object")
        errors.push(...validate(s.additionalProperties, child, `${path}/${key}`));
    }
  }
  return errors;
}

function walkSchema(s: Schema, visit: (node: Schema, path: string) => void, path = ""): void {
  visit(s, path);
  for (const [k, child] of Object.entries(s.properties ?? {})) walkSchema(child, visit, path ? `${path}.${k}` : k);
  if (s.items) walkSchema(s.items, visit, `${path}[]`);
  if (typeof s.additionalProperties === "object") walkSchema(s.additionalProperties, visit, `${path}.*`);
  s.oneOf?.forEach((alt) => walkSchema(alt, visit, path));
}

/** Dotted paths of every key in values.yaml (maps the schema declares as free-form stop there). */
function valuePaths(v: unknown, s: Schema | undefined, path = ""): string[] {
  if (typeOf(v) !== "object" || !s?.properties) return [path];
  return Object.entries(v as Record<string, unknown>).flatMap(([k, child]) => {
    const sub = s.properties?.[k];
    const p = path ? `${path}.${k}` : k;
    return sub ? valuePaths(child, sub, p) : [p];
  });
}

function hasPath(s: Schema, path: string[]): boolean {
  let node: Schema | undefined = s;
  for (const key of path) {
    if (!node) return false;
    if (node.properties?.[key]) node = node.properties[key];
    else if (typeof node.additionalProperties === "object") node = node.additionalProperties;
    else return false;
  }
  return true;
}

describe("chart values.schema.json", () => {
  it("is a draft-07 object schema", () => {
    expect(schema.$schema).to.equal("http://json-schema.org/draft-07/schema#");
    expect(schema.type).to.equal("object");
  });

  it("refuses unknown keys at every level, so a typo fails helm install", () => {
    const loose: string[] = [];
    walkSchema(schema, (node, path) => {
      if (node.type !== "object") return;
      if (node.properties && node.additionalProperties !== false)
        loose.push(`${path}: has properties but allows others`);
      if (!node.properties && node.additionalProperties === undefined && !OPAQUE.test(path))
        loose.push(`${path}: open object`);
    });
    expect(loose).to.deep.equal([]);
  });

  it("accepts the chart's own values.yaml", () => {
    expect(validate(schema, values)).to.deep.equal([]);
  });

  it("declares every key values.yaml has", () => {
    const undeclared = valuePaths(values, schema).filter((p) => !hasPath(schema, p.split(".")));
    expect(undeclared).to.deep.equal([]);
  });

  type Values = Record<string, Record<string, unknown>>;
  const bad: Array<[string, (v: Values) => void, RegExp]> = [
    ["a misspelt top-level key", (v) => (v.logLevl = {}), /\/logLevl: not allowed/],
    ["a misspelt nested key", (v) => (v.webhook!.timeoutSecond = 3), /\/webhook\/timeoutSecond: not allowed/],
    [
      "an unknown leak-protection mode",
      (v) => ((v as Record<string, unknown>).leakProtection = "block"),
      /\/leakProtection: block not in/,
    ],
    [
      "a failurePolicy other than Fail/Ignore",
      (v) => (v.webhook!.failurePolicy = { ...(v.webhook!.failurePolicy as object), eviction: "Allow" }),
      /\/webhook\/failurePolicy\/eviction/,
    ],
    ["a webhook timeout over 30 s", (v) => (v.webhook!.timeoutSeconds = 31), /\/webhook\/timeoutSeconds: above 30/],
    ["a plain-HTTP webhook URL", (v) => (v.webhook!.url = "http://127.0.0.1:8443"), /\/webhook\/url/],
    [
      "a Secret reference without a key",
      (v) => (v.slack!.tokenSecret = { name: "slack" }),
      /\/slack\/tokenSecret: missing key/,
    ],
    [
      "a replica count that is not a number",
      (v) => (v.reconciler!.replicas = "2"),
      /\/reconciler\/replicas: string, want integer/,
    ],
  ];
  for (const [name, change, error] of bad) {
    it(`refuses ${name}`, () => {
      const changed = structuredClone(values) as Values;
      change(changed);
      expect(validate(schema, changed).join("\n")).to.match(error);
    });
  }

  it("offers exactly the leak-protection modes api/rollout.ts knows", () => {
    expect(schema.properties!.leakProtection!.enum).to.deep.equal([...LEAK_PROTECTION_MODES]);
  });

  it("defaults the namespace opt-in label to the one in api/labels.ts", () => {
    expect(values.namespaceOptIn).to.deep.equal({ labelKey: NAMESPACE_ENABLED_LABEL, labelValue: TRUE });
  });
});

describe("chart templates", () => {
  const dir = join(CHART, "templates");
  const templates = readdirSync(dir).map((f) => ({ file: f, text: readFileSync(join(dir, f), "utf8") }));

  it("read only values that values.yaml defines", () => {
    const missing: string[] = [];
    for (const { file, text } of templates) {
      // `$v := .Values.webhook` aliases, then every `.Values.a.b` and `$v.a.b`.
      const aliases = new Map<string, string>();
      for (const m of text.matchAll(/(\$\w+)\s*:=\s*\.Values\.([\w.]+)/g)) aliases.set(m[1]!, m[2]!);
      const refs = [...text.matchAll(/\.Values\.([A-Za-z][\w.]*)/g)].map((m) => m[1]!);
      for (const [alias, target] of aliases) {
        for (const m of text.matchAll(new RegExp(`\\${alias}\\.([A-Za-z][\\w.]*)`, "g")))
          refs.push(`${target}.${m[1]}`);
      }
      for (const ref of refs) {
        let node: unknown = values;
        for (const key of ref.split("."))
          node = typeOf(node) === "object" ? (node as Record<string, unknown>)[key] : undefined;
        if (node === undefined) missing.push(`${file}: .Values.${ref}`);
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it("do not copy the CRD: it is only in crds/, generated from api/rollout.ts", () => {
    for (const { file, text } of templates) expect(text, file).not.to.match(/kind:\s*CustomResourceDefinition/);
  });

  it("give every webhook a failurePolicy from values and a stated reason for each choice", () => {
    const text = templates.find((t) => t.file === "webhook-configurations.yaml")!.text;
    const used = [...text.matchAll(/failurePolicy: \{\{ \$v\.failurePolicy\.(\w+) \}\}/g)].map((m) => m[1]!);
    const webhooks = [...text.matchAll(/- name: [\w-]+\.(mutate|validate)\.bulkhead\.dev/g)];
    expect(used).to.have.length(webhooks.length);
    for (const key of Object.keys(schema.properties!.webhook!.properties!.failurePolicy!.properties!)) {
      expect(text, `reason for ${key}`).to.match(new RegExp(`- ${key} \\((Fail|Ignore)\\): `));
    }
  });
});
