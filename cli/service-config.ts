// The service config file (a documented format modelled on the seed's bedrock.yaml, see
// docs/config-format.md) and the pure render from one service's stage to a StatefulsetRollout.
// Every error names the file, the line and the field, so a config author can fix it without
// reading this code: the zod issue path is mapped back to a line through the YAML document.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import type { Document, Node as YamlNode } from "yaml";
import { z } from "zod";
import { API_VERSION, KIND } from "../api/labels.js";
import { LEAK_PROTECTION_MODES, NOTIFY_LEVELS, rolloutSchema } from "../api/rollout.js";

/** A rollout as written to the API: the schema's input, before defaults are filled in. */
export type RolloutManifest = z.input<typeof rolloutSchema>;

/** DNS-1123 label: what Kubernetes accepts in object names derived from these keys. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsLabel = z
  .string()
  .regex(
    DNS_LABEL,
    "must be a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit",
  );
/**
 * A StatefulSet's pods carry `controller-revision-hash: <name>-<hash>` (a 63-character label
 * value), so the StatefulSet name must leave room for the hash: Kubernetes' own limit is 52.
 */
export const MAX_ROLLOUT_NAME_LENGTH = 52;

const IMAGE_REF = /^[a-zA-Z0-9][a-zA-Z0-9._\-/:@]*$/;
const wholeSeconds = z.number().int().min(0);
const percent = z.number().int().min(0).max(100);
const intOrPercent = z.union([
  z.number().int().min(0),
  z.string().regex(/^(100|[1-9]?[0-9])%$/, "must be a whole number or a percent such as 50%"),
]);

const imageSchema = z.strictObject({
  /** Kept for bedrock.yaml compatibility; nothing is built here. */
  dockerfile: z.string().min(1).optional(),
  /** The image reference to run, e.g. registry.example/app@sha256:... (or --image NAME=REF). */
  image: z
    .string()
    .regex(IMAGE_REF, "must be an image reference such as registry.example/app:1.2 or app@sha256:...")
    .optional(),
});

const portSchema = z.union([
  z.number().int().min(1).max(65535),
  z.strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a port name such as http")
      .max(15)
      .optional(),
    container_port: z.number().int().min(1).max(65535),
    protocol: z.enum(["TCP", "UDP", "SCTP"]).optional(),
  }),
]);

const quantities = z.record(z.string(), z.union([z.string(), z.number()]));

const containerSchema = z.strictObject({
  /** A key of `images`. */
  image: z.string().min(1),
  /** Defaults to the image key. */
  name: dnsLabel.optional(),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  env: z
    .record(
      z.string().regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, "must be an environment variable name"),
      z.union([z.string(), z.number(), z.boolean()]),
    )
    .optional(),
  ports: z.array(portSchema).optional(),
  resources: z.strictObject({ requests: quantities.optional(), limits: quantities.optional() }).optional(),
});

const notifySchema = z.strictObject({
  launch: z.strictObject({
    level: z.enum(NOTIFY_LEVELS).optional(),
    channel: z.string().min(1).optional(),
  }),
});

const disruptionSchema = z.strictObject({ max_unavailable: intOrPercent });

const orchestrationSchema = z.strictObject({
  min_pod_eviction_interval_seconds: wholeSeconds.optional(),
  phases: z
    .array(percent)
    .min(1)
    .refine(
      (p) => p.every((v, i) => i === 0 || v > (p[i - 1] as number)),
      "must be strictly increasing, e.g. [1, 50, 100]",
    )
    .optional(),
  auto_promote_seconds: wholeSeconds.optional(),
  progress_deadline_seconds: z.number().int().min(1).optional(),
  max_parallel: z.number().int().min(1).optional(),
  leak_protection: z.enum(LEAK_PROTECTION_MODES).optional(),
});

const stageSchema = z.strictObject({
  /** Bulkhead rolls StatefulSets with OnDelete only; the field is accepted for bedrock.yaml. */
  strategy: z
    .literal("OnDelete", {
      error: "Bulkhead rolls StatefulSets with OnDelete only: set strategy: OnDelete or remove it",
    })
    .optional(),
  namespace: dnsLabel.optional(),
  orchestration: orchestrationSchema.optional(),
  clusters: z.array(z.string().min(1)).min(1).optional(),
  replicas: z.number().int().min(0),
  /** Per-stage overrides of the service's settings. */
  disruption_policy: disruptionSchema.optional(),
  notify_settings: notifySchema.optional(),
});

const serviceSchema = z.strictObject({
  kind: z.string().min(1),
  notify_settings: notifySchema.optional(),
  disruption_policy: disruptionSchema.optional(),
  service_discovery: z
    .strictObject({ dc: z.string().min(1), service_names: z.array(z.string().min(1)).min(1).optional() })
    .optional(),
  containers: z.array(containerSchema).min(1),
  stages: z.record(dnsLabel, stageSchema).refine((s) => Object.keys(s).length > 0, "needs at least one stage"),
});

export const serviceConfigSchema = z.strictObject({
  images: z.record(z.string().min(1), imageSchema).optional(),
  services: z.record(dnsLabel, serviceSchema).refine((s) => Object.keys(s).length > 0, "needs at least one service"),
});

export type ServiceConfig = z.infer<typeof serviceConfigSchema>;
export type ServiceDefinition = z.infer<typeof serviceSchema>;
export type StageDefinition = z.infer<typeof stageSchema>;

type Path = ReadonlyArray<PropertyKey>;

/** A parsed config and a way back from a field path to its place in the file. */
export interface LoadedServiceConfig {
  file: string;
  config: ServiceConfig;
  locate(path: Path): string;
}

export type Loaded<T> = { ok: true; value: T } | { ok: false; errors: string[] };

/** Parses and validates a config file's text; errors read "FILE:LINE: FIELD: what is wrong". */
export function loadServiceConfig(text: string, file: string): Loaded<LoadedServiceConfig> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map(
        (e) => `${file}:${lineCounter.linePos(e.pos[0]).line}: YAML syntax: ${firstLine(e.message)}`,
      ),
    };
  }
  const locate = (path: Path): string => `${file}:${lineOf(doc, lineCounter, path)}`;
  const parsed = serviceConfigSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) {
    return { ok: false, errors: parsed.error.issues.map((issue) => describeIssue(issue, locate)) };
  }
  const errors = crossReferenceErrors(parsed.data).map(
    ({ path, message }) => `${locate(path)}: ${fieldName(path)}: ${message}`,
  );
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: { file, config: parsed.data, locate } };
}

function firstLine(message: string): string {
  return (message.split("\n")[0] ?? message).replace(/ at line \d+, column \d+:?$/, "");
}

/** Dotted path as the author writes it: services.api.stages.dev.replicas, containers[0].image. */
export function fieldName(path: Path): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out === "" ? "(top level)" : out;
}

/** The line of the deepest node on `path` that exists; a map entry is found by its key's line. */
function lineOf(doc: Document, lineCounter: LineCounter, path: Path): number {
  let node: unknown = doc.contents;
  let offset = (doc.contents as YamlNode | null)?.range?.[0] ?? 0;
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(part));
      if (!pair) break;
      offset = (pair.key as YamlNode).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof part === "number") {
      const item = node.items[part];
      if (!item) break;
      offset = (item as YamlNode).range?.[0] ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return lineCounter.linePos(offset).line;
}

function describeIssue(issue: z.core.$ZodIssue, locate: (path: Path) => string): string {
  if (issue.code === "unrecognized_keys") {
    return issue.keys
      .map((key) => {
        const path = [...issue.path, key];
        return `${locate(path)}: ${fieldName(path)}: unknown field (see docs/config-format.md for the fields this format has)`;
      })
      .join("\n");
  }
  return `${locate(issue.path)}: ${fieldName(issue.path)}: ${issueMessage(issue)}`;
}

/** zod's own wording starts like this; a message set in the schema above does not. */
const ZOD_DEFAULT_MESSAGE = /^(Invalid|Too (small|big)|Unrecognized)\b/;

function issueMessage(issue: z.core.$ZodIssue): string {
  if (!ZOD_DEFAULT_MESSAGE.test(issue.message)) return issue.message;
  switch (issue.code) {
    case "invalid_type":
      if (/received undefined$/.test(issue.message)) return "is required";
      return `must be ${article(issue.expected)}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "too_small":
      if (issue.origin === "array") return `needs at least ${String(issue.minimum)} item(s)`;
      if (issue.origin === "string") return "must not be empty";
      return `must be ${issue.inclusive ? "at least" : "more than"} ${String(issue.minimum)}`;
    case "too_big":
      if (issue.origin === "string") return `must be at most ${String(issue.maximum)} characters`;
      return `must be ${issue.inclusive ? "at most" : "less than"} ${String(issue.maximum)}`;
    case "invalid_key":
      return issue.issues[0]?.message ?? "is not a valid key";
    case "invalid_union":
      return unionMessage(issue);
    default:
      return issue.message;
  }
}

function article(expected: string): string {
  if (expected === "int") return "a whole number";
  if (expected === "object") return "a mapping (key: value)";
  if (expected === "array") return "a list";
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

/** A union (int or percent, port number or port object): report the branch the value was closest to. */
function unionMessage(issue: z.core.$ZodIssueInvalidUnion): string {
  const branches = issue.errors.map((issues) => issues.filter((i) => i.code !== "invalid_type"));
  const specific = branches.find((b) => b.length > 0)?.[0];
  if (specific) return issueMessage(specific);
  return issue.message;
}

interface PathError {
  path: Path;
  message: string;
}

/** What a schema cannot say: containers name images that exist, names fit Kubernetes. */
function crossReferenceErrors(config: ServiceConfig): PathError[] {
  const errors: PathError[] = [];
  const images = config.images ?? {};
  for (const [serviceName, service] of Object.entries(config.services)) {
    const names = new Set<string>();
    service.containers.forEach((container, i) => {
      if (!(container.image in images)) {
        const known = Object.keys(images);
        errors.push({
          path: ["services", serviceName, "containers", i, "image"],
          message: `names image "${container.image}", which is not under images (${known.length ? `known: ${known.join(", ")}` : "images is empty"})`,
        });
      }
      const name = container.name ?? container.image;
      if (!DNS_LABEL.test(name)) {
        errors.push({
          path: ["services", serviceName, "containers", i, container.name ? "name" : "image"],
          message: `container name "${name}" must be a DNS label; set containers[${i}].name`,
        });
      }
      if (names.has(name)) {
        errors.push({
          path: ["services", serviceName, "containers", i],
          message: `a second container named "${name}"; give each a distinct name`,
        });
      }
      names.add(name);
    });
    for (const stageName of Object.keys(service.stages)) {
      const rolloutName = `${serviceName}-${stageName}`;
      if (rolloutName.length > MAX_ROLLOUT_NAME_LENGTH) {
        errors.push({
          path: ["services", serviceName, "stages", stageName],
          message: `the rollout and StatefulSet name "${rolloutName}" is ${rolloutName.length} characters; Kubernetes allows ${MAX_ROLLOUT_NAME_LENGTH}`,
        });
      }
    }
  }
  return errors;
}

/** What the release system (or the person at the keyboard) adds to a render. */
export interface RenderOptions {
  stage: string;
  /** Only this service; otherwise every StatefulSet service that has the stage. */
  service?: string;
  /** Wins over the stage's namespace. */
  namespace?: string;
  /** The namespace when neither the flag nor the stage names one. */
  defaultNamespace?: string;
  /** Image key → reference, winning over images.<key>.image. */
  images?: Record<string, string>;
  /** Initial spec.percent; default the first of the stage's phases (the last with auto_promote_seconds), else 100. */
  percent?: number;
  rolloutIdentity?: string;
  bapi?: { bapiUrl: string; stageId: string };
}

export interface RenderedRollout {
  service: string;
  rollout: RolloutManifest;
  /** The stage's `clusters`, where `apply` may put it (undefined: anywhere). */
  clusters?: string[];
  /** Where the stage is defined, for messages about it. */
  stageLocation: string;
}

export interface RenderResult {
  rollouts: RenderedRollout[];
  /** Services left out (not a StatefulSet), for the user to see on stderr. */
  notes: string[];
}

/** The stage names a config defines, in file order, across services. */
export function stageNames(config: ServiceConfig): string[] {
  const out = new Set<string>();
  for (const service of Object.values(config.services)) for (const stage of Object.keys(service.stages)) out.add(stage);
  return [...out];
}

/** Renders the StatefulsetRollout(s) of one stage. Pure: same input, same output. */
export function renderServiceConfig(loaded: LoadedServiceConfig, options: RenderOptions): Loaded<RenderResult> {
  const { config, locate } = loaded;
  const errors: string[] = [];
  const notes: string[] = [];
  const rollouts: RenderedRollout[] = [];
  if (options.service !== undefined && !(options.service in config.services)) {
    return {
      ok: false,
      errors: [
        `${loaded.file}: no service "${options.service}" (services: ${Object.keys(config.services).join(", ")})`,
      ],
    };
  }
  const selected = Object.entries(config.services).filter(
    ([name]) => options.service === undefined || name === options.service,
  );
  for (const [serviceName, service] of selected) {
    const servicePath = ["services", serviceName];
    if (service.kind !== "StatefulSet") {
      const message = `kind is "${service.kind}"; kubectl sroll renders StatefulSet services only`;
      if (options.service !== undefined)
        errors.push(`${locate([...servicePath, "kind"])}: ${fieldName([...servicePath, "kind"])}: ${message}`);
      else notes.push(`skipped service ${serviceName}: ${message}`);
      continue;
    }
    const stage = service.stages[options.stage];
    if (!stage) {
      const message = `service ${serviceName} has no stage "${options.stage}" (stages: ${Object.keys(service.stages).join(", ")})`;
      if (options.service !== undefined) errors.push(`${locate([...servicePath, "stages"])}: ${message}`);
      else notes.push(`skipped ${message}`);
      continue;
    }
    const rendered = renderOne(loaded, serviceName, service, options.stage, stage, options);
    if (rendered.ok) {
      rollouts.push({
        service: serviceName,
        rollout: rendered.value,
        ...(stage.clusters ? { clusters: [...stage.clusters] } : {}),
        stageLocation: locate([...servicePath, "stages", options.stage, "clusters"]),
      });
    } else errors.push(...rendered.errors);
  }
  if (errors.length > 0) return { ok: false, errors };
  if (rollouts.length === 0) {
    return {
      ok: false,
      errors: [
        `${loaded.file}: no StatefulSet service has a stage "${options.stage}" (stages in this file: ${stageNames(config).join(", ")})`,
      ],
    };
  }
  return { ok: true, value: { rollouts, notes } };
}

function renderOne(
  loaded: LoadedServiceConfig,
  serviceName: string,
  service: ServiceDefinition,
  stageName: string,
  stage: StageDefinition,
  options: RenderOptions,
): Loaded<RolloutManifest> {
  const { config, locate } = loaded;
  const errors: string[] = [];
  const name = `${serviceName}-${stageName}`;
  const namespace = options.namespace ?? stage.namespace ?? options.defaultNamespace ?? "default";
  const labels = { app: name };

  const containers = service.containers.map((container, i) => {
    const reference = options.images?.[container.image] ?? config.images?.[container.image]?.image;
    if (reference === undefined) {
      const path = ["images", container.image];
      errors.push(
        `${locate(path)}: ${fieldName(path)}: has no image reference (a Dockerfile is not built here); ` +
          `add "image: REGISTRY/REPO:TAG" under it or pass --image ${container.image}=REF ` +
          `(used by ${fieldName(["services", serviceName, "containers", i])})`,
      );
    }
    return containerSpec(container, reference ?? "");
  });

  const orchestration = stage.orchestration ?? {};
  const phases = orchestration.phases;
  // Without auto-promotion a rollout stops at the first phase and `promote` moves it on; with
  // it, spec.percent is the last phase and the reconciler walks the phases by itself.
  const startPercent =
    options.percent ?? (orchestration.auto_promote_seconds !== undefined ? phases?.at(-1) : phases?.[0]) ?? 100;
  const notify = stage.notify_settings?.launch ?? service.notify_settings?.launch;
  const disruption = stage.disruption_policy ?? service.disruption_policy;
  const discovery = service.service_discovery;

  const spec: Record<string, unknown> = {};
  if (options.bapi) spec.bapi = { ...options.bapi };
  if (notify?.channel !== undefined) spec.channel = notify.channel;
  if (notify?.level !== undefined) spec.notifyLevel = notify.level;
  if (orchestration.min_pod_eviction_interval_seconds !== undefined) {
    spec.minPodEvictionIntervalSeconds = orchestration.min_pod_eviction_interval_seconds;
  }
  spec.pauseRequested = false;
  spec.percent = startPercent;
  if (options.rolloutIdentity !== undefined) spec.rolloutIdentity = options.rolloutIdentity;
  if (discovery) spec.serviceDiscovery = { dc: discovery.dc, serviceNames: discovery.service_names ?? [serviceName] };
  if (disruption) spec.disruptionPolicy = { maxUnavailable: disruption.max_unavailable };
  if (phases) spec.phases = [...phases];
  if (orchestration.auto_promote_seconds !== undefined) spec.autoPromoteSeconds = orchestration.auto_promote_seconds;
  if (orchestration.progress_deadline_seconds !== undefined)
    spec.progressDeadlineSeconds = orchestration.progress_deadline_seconds;
  if (orchestration.max_parallel !== undefined) spec.maxParallel = orchestration.max_parallel;
  if (orchestration.leak_protection !== undefined) spec.leakProtection = orchestration.leak_protection;
  spec.statefulset = {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name, namespace, labels: { ...labels } },
    spec: {
      replicas: stage.replicas,
      serviceName: name,
      selector: { matchLabels: { ...labels } },
      template: { metadata: { labels: { ...labels } }, spec: { containers } },
      updateStrategy: { type: "OnDelete" },
    },
  };

  if (errors.length > 0) return { ok: false, errors };
  const rollout = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name, namespace, labels: { ...labels } },
    spec,
  };
  // The render is the resource's own schema's input; anything it rejects is a bug in this file
  // or a value (a flag) that slipped past the config schema, so say which field.
  const check = rolloutSchema.safeParse(rollout);
  if (!check.success) {
    return { ok: false, errors: check.error.issues.map((i) => `${name}: ${fieldName(i.path)}: ${i.message}`) };
  }
  // Checked just above, field by field.
  return { ok: true, value: rollout as unknown as RolloutManifest };
}

function containerSpec(container: ServiceDefinition["containers"][number], image: string): Record<string, unknown> {
  const out: Record<string, unknown> = { name: container.name ?? container.image, image };
  if (container.command) out.command = [...container.command];
  if (container.args) out.args = [...container.args];
  if (container.env) out.env = Object.entries(container.env).map(([name, value]) => ({ name, value: String(value) }));
  if (container.ports) {
    out.ports = container.ports.map((p) =>
      typeof p === "number"
        ? { containerPort: p }
        : {
            ...(p.name ? { name: p.name } : {}),
            containerPort: p.container_port,
            ...(p.protocol ? { protocol: p.protocol } : {}),
          },
    );
  }
  if (container.resources) out.resources = structuredClone(container.resources);
  return out;
}

/** `--image NAME=REF` flags → a map; an error names the bad flag. */
export function parseImageFlags(
  flags: readonly string[],
): { ok: true; value: Record<string, string> } | { ok: false; error: string } {
  const out: Record<string, string> = {};
  for (const flag of flags) {
    const eq = flag.indexOf("=");
    const key = eq > 0 ? flag.slice(0, eq) : "";
    const ref = eq > 0 ? flag.slice(eq + 1) : "";
    if (!key || !IMAGE_REF.test(ref)) {
      return {
        ok: false,
        error: `--image ${flag}: expected NAME=REFERENCE, e.g. --image api=registry.example/api:1.4`,
      };
    }
    out[key] = ref;
  }
  return { ok: true, value: out };
}

/** Whether a rendered stage may be applied to a cluster of this name (no `clusters` list: anywhere). */
export function clusterAllowed(rendered: RenderedRollout, clusterName: string | undefined): boolean {
  if (!rendered.clusters) return true;
  return clusterName !== undefined && rendered.clusters.includes(clusterName);
}
