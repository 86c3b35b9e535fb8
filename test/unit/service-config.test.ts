import { expect } from "chai";
import { parseRollout } from "../../api/rollout.js";
import {
  clusterAllowed,
  fieldName,
  loadServiceConfig,
  parseImageFlags,
  renderServiceConfig,
} from "../../cli/service-config.js";
import type { LoadedServiceConfig, RenderOptions, RenderResult } from "../../cli/service-config.js";
import { SEED_BEDROCK_YAML } from "./seed-bedrock.js";

const IMAGE = "account-id.dkr.ecr.us-east-1.amazonaws.com/bedrock-tester@sha256:0123abcd";

function load(text: string, file = "bedrock.yaml"): LoadedServiceConfig {
  const loaded = loadServiceConfig(text, file);
  if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
  return loaded.value;
}

function render(text: string, options: RenderOptions): RenderResult {
  const result = renderServiceConfig(load(text), options);
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.value;
}

function errorsOf(text: string, options?: RenderOptions): string {
  const loaded = loadServiceConfig(text, "svc.yaml");
  if (!loaded.ok) return loaded.errors.join("\n");
  const rendered = renderServiceConfig(
    loaded.value,
    options ?? { stage: "dev", images: { app: "registry.example/app:1" } },
  );
  if (!rendered.ok) return rendered.errors.join("\n");
  throw new Error("expected an error, got a rendered rollout");
}

describe("service config: the seed's bedrock.yaml", () => {
  const { rollouts } = render(SEED_BEDROCK_YAML, { stage: "dev", images: { "bedrock-tester": IMAGE } });
  const rollout = rollouts[0]!.rollout;
  const spec = rollout.spec;
  const sts = spec.statefulset;

  it("renders one StatefulsetRollout named <service>-<stage>", () => {
    expect(rollouts).to.have.length(1);
    expect(rollout.apiVersion).to.equal("bulkhead.dev/v1alpha1");
    expect(rollout.kind).to.equal("StatefulsetRollout");
    expect(rollout.metadata).to.deep.include({ name: "bedrock-tester-sts-dev", namespace: "default" });
    expect(rollout.metadata.labels).to.deep.equal({ app: "bedrock-tester-sts-dev" });
  });

  it("carries the seed's spec fields", () => {
    expect(spec.channel).to.equal("#devel-rollout-operator-notifications");
    expect(spec.notifyLevel).to.equal("debug");
    expect(spec.minPodEvictionIntervalSeconds).to.equal(10);
    expect(spec.pauseRequested).to.equal(false);
    expect(spec.phases).to.deep.equal([1, 50, 100]);
    expect(spec.percent, "first phase").to.equal(1);
    expect(spec.disruptionPolicy).to.deep.equal({ maxUnavailable: "50%" });
  });

  it("embeds the StatefulSet the seed shows, with the stage's replicas and OnDelete", () => {
    expect(sts).to.deep.include({ apiVersion: "apps/v1", kind: "StatefulSet" });
    expect(sts.metadata).to.deep.equal({
      name: "bedrock-tester-sts-dev",
      namespace: "default",
      labels: { app: "bedrock-tester-sts-dev" },
    });
    expect(sts.spec.replicas).to.equal(2);
    expect(sts.spec.selector).to.deep.equal({ matchLabels: { app: "bedrock-tester-sts-dev" } });
    expect(sts.spec.template).to.deep.equal({
      metadata: { labels: { app: "bedrock-tester-sts-dev" } },
      spec: { containers: [{ name: "bedrock-tester", image: IMAGE }] },
    });
    expect(sts.spec.updateStrategy).to.deep.equal({ type: "OnDelete" });
  });

  it("is a valid StatefulsetRollout by the resource's own schema", () => {
    expect(parseRollout(rollout).ok).to.equal(true);
  });

  it("remembers the stage's clusters for apply", () => {
    expect(rollouts[0]!.clusters).to.deep.equal(["playground"]);
    expect(clusterAllowed(rollouts[0]!, "playground")).to.equal(true);
    expect(clusterAllowed(rollouts[0]!, "prod-east")).to.equal(false);
    expect(clusterAllowed(rollouts[0]!, undefined)).to.equal(false);
  });

  it("uses a given percent, namespace, identity and callback", () => {
    const r = render(SEED_BEDROCK_YAML, {
      stage: "dev",
      images: { "bedrock-tester": IMAGE },
      percent: 25,
      namespace: "payments",
      rolloutIdentity: "GbTdWjQYgiiToKdoWDLN",
      bapi: { bapiUrl: "http://bedrock-api.internal.url", stageId: "2dD2a0GTleDCxkfFXD3n0q9msql" },
    }).rollouts[0]!.rollout;
    expect(r.spec.percent).to.equal(25);
    expect(r.metadata.namespace).to.equal("payments");
    expect(r.spec.statefulset.metadata?.namespace).to.equal("payments");
    expect(r.spec.rolloutIdentity).to.equal("GbTdWjQYgiiToKdoWDLN");
    expect(r.spec.bapi).to.deep.equal({
      bapiUrl: "http://bedrock-api.internal.url",
      stageId: "2dD2a0GTleDCxkfFXD3n0q9msql",
    });
  });

  it("refuses to render without an image reference, pointing at the image", () => {
    const loaded = load(SEED_BEDROCK_YAML);
    const result = renderServiceConfig(loaded, { stage: "dev" });
    expect(result.ok).to.equal(false);
    if (!result.ok) {
      expect(result.errors[0]).to.match(/^bedrock\.yaml:2: images\.bedrock-tester: has no image reference/);
      expect(result.errors[0]).to.include("--image bedrock-tester=REF");
    }
  });
});

const FULL = `images:
  app:
    image: registry.example/app:1.4
  sidecar:
    image: registry.example/proxy@sha256:beef
services:
  api:
    kind: StatefulSet
    notify_settings:
      launch: { level: info, channel: "#api" }
    disruption_policy: { max_unavailable: 2 }
    service_discovery: { dc: cloud1 }
    containers:
      - image: app
        args: ["--port", "8080"]
        env: { MODE: fast, WORKERS: 4 }
        ports: [8080, { name: admin, container_port: 9090 }]
        resources: { requests: { cpu: 100m, memory: 64Mi } }
      - image: sidecar
        name: proxy
    stages:
      dev:
        namespace: api-dev
        replicas: 3
      prod:
        replicas: 30
        disruption_policy: { max_unavailable: 10% }
        notify_settings:
          launch: { channel: "#api-prod" }
        orchestration:
          phases: [10, 100]
          auto_promote_seconds: 600
          progress_deadline_seconds: 300
          max_parallel: 5
          leak_protection: pin
  worker:
    kind: Deployment
    containers: [{ image: app }]
    stages: { dev: { replicas: 1 } }
`;

describe("service config: the rest of the format", () => {
  it("maps containers, env, ports, resources and images.<name>.image", () => {
    const r = render(FULL, { stage: "dev" }).rollouts[0]!.rollout;
    const template = r.spec.statefulset.spec.template as { spec: { containers: unknown[] } };
    expect(template.spec.containers).to.deep.equal([
      {
        name: "app",
        image: "registry.example/app:1.4",
        args: ["--port", "8080"],
        env: [
          { name: "MODE", value: "fast" },
          { name: "WORKERS", value: "4" },
        ],
        ports: [{ containerPort: 8080 }, { name: "admin", containerPort: 9090 }],
        resources: { requests: { cpu: "100m", memory: "64Mi" } },
      },
      { name: "proxy", image: "registry.example/proxy@sha256:beef" },
    ]);
  });

  it("takes the stage's namespace, percent 100 without phases, and Consul service names from the service", () => {
    const r = render(FULL, { stage: "dev" }).rollouts[0]!.rollout;
    expect(r.metadata.namespace).to.equal("api-dev");
    expect(r.spec.percent).to.equal(100);
    expect(r.spec.phases).to.equal(undefined);
    expect(r.spec.serviceDiscovery).to.deep.equal({ dc: "cloud1", serviceNames: ["api"] });
    expect(r.spec.disruptionPolicy).to.deep.equal({ maxUnavailable: 2 });
  });

  it("lets a stage override the disruption policy and channel, and maps orchestration", () => {
    const r = render(FULL, { stage: "prod", defaultNamespace: "ctx-ns" }).rollouts[0]!.rollout;
    expect(r.metadata.namespace).to.equal("ctx-ns");
    expect(r.spec).to.deep.include({
      channel: "#api-prod",
      percent: 100, // auto_promote_seconds: the reconciler walks the phases up to the last
      autoPromoteSeconds: 600,
      progressDeadlineSeconds: 300,
      maxParallel: 5,
      leakProtection: "pin",
    });
    expect(r.spec.notifyLevel).to.equal(undefined);
    expect(r.spec.disruptionPolicy).to.deep.equal({ maxUnavailable: "10%" });
  });

  it("starts at the first phase without auto-promotion, or at a given percent", () => {
    const manual = FULL.replace("          auto_promote_seconds: 600\n", "");
    expect(render(manual, { stage: "prod" }).rollouts[0]!.rollout.spec.percent).to.equal(10);
    expect(render(FULL, { stage: "prod", percent: 10 }).rollouts[0]!.rollout.spec.percent).to.equal(10);
  });

  it("--image wins over images.<name>.image", () => {
    const r = render(FULL, { stage: "dev", images: { app: "registry.example/app:2.0" } }).rollouts[0]!.rollout;
    const template = r.spec.statefulset.spec.template as { spec: { containers: Array<{ image: string }> } };
    expect(template.spec.containers[0]!.image).to.equal("registry.example/app:2.0");
  });

  it("skips services that are not StatefulSets, with a note", () => {
    const result = render(FULL, { stage: "dev" });
    expect(result.rollouts.map((r) => r.service)).to.deep.equal(["api"]);
    expect(result.notes).to.deep.equal([
      'skipped service worker: kind is "Deployment"; kubectl sroll renders StatefulSet services only',
    ]);
  });

  it("renders the same output for the same input", () => {
    expect(render(FULL, { stage: "prod" })).to.deep.equal(render(FULL, { stage: "prod" }));
  });
});

describe("service config: errors name the file, the line and the field", () => {
  const base = (stage: string, extra = "") => `images:
  app: { image: registry.example/app:1 }
services:
  api:
    kind: StatefulSet
    containers:
      - image: app${extra}
    stages:
      dev:
${stage}`;
  const cases: Array<[name: string, text: string, expected: string]> = [
    ["YAML syntax", "services:\n  api: [\n", "svc.yaml:3: YAML syntax:"],
    ["duplicate key", "services: {}\nservices: {}\n", "svc.yaml:2: YAML syntax: Map keys must be unique"],
    ["empty file", "", "svc.yaml:1: services: is required"],
    ["not a mapping", "- a\n- b\n", "svc.yaml:1: (top level): must be a mapping (key: value)"],
    ["no services", "images: {}\nservices: {}\n", "svc.yaml:2: services: needs at least one service"],
    [
      "negative replicas",
      base("        replicas: -1\n"),
      "svc.yaml:10: services.api.stages.dev.replicas: must be at least 0",
    ],
    [
      "replicas as text",
      base("        replicas: two\n"),
      "svc.yaml:10: services.api.stages.dev.replicas: must be a number",
    ],
    [
      "fractional replicas",
      base("        replicas: 1.5\n"),
      "svc.yaml:10: services.api.stages.dev.replicas: must be a whole number",
    ],
    ["missing replicas", base("        clusters: [a]\n"), "svc.yaml:9: services.api.stages.dev.replicas: is required"],
    ["misspelt field", base("        replica: 2\n"), "svc.yaml:10: services.api.stages.dev.replica: unknown field"],
    [
      "RollingUpdate",
      base("        replicas: 2\n        strategy: RollingUpdate\n"),
      "svc.yaml:11: services.api.stages.dev.strategy: Bulkhead rolls StatefulSets with OnDelete only",
    ],
    [
      "phases out of order",
      base("        replicas: 2\n        orchestration:\n          phases: [50, 10]\n"),
      "svc.yaml:12: services.api.stages.dev.orchestration.phases: must be strictly increasing",
    ],
    [
      "phase over 100",
      base("        replicas: 2\n        orchestration:\n          phases:\n            - 10\n            - 150\n"),
      "svc.yaml:14: services.api.stages.dev.orchestration.phases[1]: must be at most 100",
    ],
    [
      "negative interval",
      base("        replicas: 2\n        orchestration:\n          min_pod_eviction_interval_seconds: -5\n"),
      "svc.yaml:12: services.api.stages.dev.orchestration.min_pod_eviction_interval_seconds: must be at least 0",
    ],
    [
      "bad leak protection",
      base("        replicas: 2\n        orchestration:\n          leak_protection: loose\n"),
      'svc.yaml:12: services.api.stages.dev.orchestration.leak_protection: must be one of "enforce", "flag", "pin", "off"',
    ],
    [
      "bad max_unavailable",
      base("        replicas: 2\n        disruption_policy:\n          max_unavailable: 150%\n"),
      "svc.yaml:12: services.api.stages.dev.disruption_policy.max_unavailable: must be a whole number or a percent such as 50%",
    ],
    [
      "bad notify level",
      base("        replicas: 2\n        notify_settings:\n          launch:\n            level: loud\n"),
      'svc.yaml:13: services.api.stages.dev.notify_settings.launch.level: must be one of "debug", "info", "error"',
    ],
    [
      "unknown image",
      base("        replicas: 2\n").replace("- image: app", "- image: ap"),
      'svc.yaml:7: services.api.containers[0].image: names image "ap", which is not under images (known: app)',
    ],
    [
      "bad port",
      base("        replicas: 2\n", "\n        ports: [70000]"),
      "svc.yaml:8: services.api.containers[0].ports[0]: must be at most 65535",
    ],
    [
      "duplicate container names",
      base("        replicas: 2\n", "\n      - image: app"),
      'svc.yaml:8: services.api.containers[1]: a second container named "app"',
    ],
    [
      "no containers",
      "services:\n  api:\n    kind: StatefulSet\n    containers: []\n    stages: { dev: { replicas: 1 } }\n",
      "svc.yaml:4: services.api.containers: needs at least 1 item(s)",
    ],
    [
      "no stages",
      "services:\n  api:\n    kind: StatefulSet\n    containers: [{ image: app }]\n    stages: {}\n",
      "svc.yaml:5: services.api.stages: needs at least one stage",
    ],
    [
      "upper-case service",
      "services:\n  API:\n    kind: StatefulSet\n    containers: [{ image: app }]\n    stages: { dev: { replicas: 1 } }\n",
      "svc.yaml:2: services.API: must be a DNS label",
    ],
    [
      "name too long",
      `images: { app: { image: a } }\nservices:\n  ${"a".repeat(48)}:\n    kind: StatefulSet\n    containers: [{ image: app }]\n    stages:\n      staging: { replicas: 1 }\n`,
      `svc.yaml:7: services.${"a".repeat(48)}.stages.staging: the rollout and StatefulSet name "${"a".repeat(48)}-staging" is 56 characters; Kubernetes allows 52`,
    ],
    [
      "bad image reference",
      "images:\n  app:\n    image: 'has spaces'\nservices: {}\n",
      "svc.yaml:3: images.app.image: must be an image reference",
    ],
  ];
  for (const [name, text, expected] of cases) {
    it(name, () => expect(errorsOf(text)).to.include(expected));
  }

  it("reports every problem at once, one per line", () => {
    const errors = errorsOf(base("        replica: 2\n        strategy: Recreate\n"));
    expect(errors.split("\n")).to.have.length(3);
    expect(errors)
      .to.include("dev.replicas: is required")
      .and.include("dev.replica: unknown field")
      .and.include("dev.strategy:");
  });

  it("names the stages when the one asked for does not exist", () => {
    expect(errorsOf(FULL, { stage: "qa" })).to.equal(
      'svc.yaml: no StatefulSet service has a stage "qa" (stages in this file: dev, prod)',
    );
    expect(errorsOf(FULL, { stage: "qa", service: "api" })).to.equal(
      'svc.yaml:21: service api has no stage "qa" (stages: dev, prod)',
    );
  });

  it("names the services when the one asked for does not exist, and refuses a non-StatefulSet one", () => {
    expect(errorsOf(FULL, { stage: "dev", service: "web" })).to.equal(
      'svc.yaml: no service "web" (services: api, worker)',
    );
    expect(errorsOf(FULL, { stage: "dev", service: "worker" })).to.equal(
      'svc.yaml:37: services.worker.kind: kind is "Deployment"; kubectl sroll renders StatefulSet services only',
    );
  });
});

describe("parseImageFlags", () => {
  it("maps NAME=REF", () => {
    expect(parseImageFlags(["a=r.example/a:1", "b=b@sha256:00"])).to.deep.equal({
      ok: true,
      value: { a: "r.example/a:1", b: "b@sha256:00" },
    });
  });
  for (const bad of ["a", "=ref", "a=", "a=has space"]) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      expect(parseImageFlags([bad])).to.deep.equal({
        ok: false,
        error: `--image ${bad}: expected NAME=REFERENCE, e.g. --image api=registry.example/api:1.4`,
      });
    });
  }
});

describe("fieldName", () => {
  it("writes paths as a config author would", () => {
    expect(fieldName(["services", "api", "containers", 0, "image"])).to.equal("services.api.containers[0].image");
    expect(fieldName([])).to.equal("(top level)");
  });
});
