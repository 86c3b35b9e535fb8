// The Helm chart on the real control plane: lint, render (default and non-default values), a
// values typo refused by the schema, install (every object accepted by the apiserver), the RBAC
// of each ServiceAccount checked with that account's own token (everything the code needs is
// allowed, the rest refused), upgrade with changed values, and uninstall leaving no webhook
// configuration behind.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  EventsV1Api,
  setHeaderOptions,
  type KubeConfig,
  type V1ResourceAttributes,
} from "@kubernetes/client-node";
import { expect } from "chai";
import { parseAllDocuments } from "yaml";
import {
  REPO_ROOT,
  admissionApi,
  appsApi,
  coordinationApi,
  coreApi,
  customObjectsApi,
  helmBinary,
  kubeConfig,
  kubeConfigForToken,
  kubeconfigPath,
  kubectl,
  newNamespace,
  rbacApi,
  waitFor,
  allowPodRecreationsFromNode,
} from "./support/cluster.js";
import { consulOptionsFromEnv } from "../../adapters/consul/config.js";
import { callbackOptionsFromEnv } from "../../adapters/callbacks/config.js";
import { loadConfig as parseReconcilerConfig } from "../../reconciler/config.js";
import { parseWebhookConfig } from "../../webhook/config.js";
import { ADMISSION_ROUTES } from "../../webhook/routes.js";

/** BULKHEAD_E2E_CHART tests another copy of the chart (an unpacked release, say) instead of the clone's. */
const CHART = process.env.BULKHEAD_E2E_CHART ?? join(REPO_ROOT, "charts/bulkhead");

// ---------------------------------------------------------------------------------------------
// helm

interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm asynchronously (so in-process servers keep answering) against the e2e cluster. */
function helm(args: string[], timeoutMs = 120_000): Promise<HelmResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(helmBinary(), [...args, "--kubeconfig", kubeconfigPath()], {
      env: {
        ...process.env,
        HELM_CACHE_HOME: "/tmp/bulkhead-helm/cache",
        HELM_CONFIG_HOME: "/tmp/bulkhead-helm/config",
        HELM_DATA_HOME: "/tmp/bulkhead-helm/data",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

async function helmOk(args: string[]): Promise<string> {
  const r = await helm(args);
  if (r.code !== 0) throw new Error(`helm ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  // The apiserver drops fields its schema does not know and only warns: a misspelt field in a
  // template would otherwise go unnoticed.
  if (/unknown field/.test(r.stderr))
    throw new Error(`helm ${args[0]}: the apiserver dropped fields: ${r.stderr.trim()}`);
  return r.stdout;
}

const setArgs = (values: Record<string, string | number | boolean>): string[] =>
  Object.entries(values).flatMap(([k, v]) => ["--set", `${k}=${String(v)}`]);

// ---------------------------------------------------------------------------------------------
// rendered manifests

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
};
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}
interface Webhook {
  name: string;
  clientConfig: {
    url?: string;
    caBundle?: string;
    service?: { name: string; namespace: string; path: string; port: number };
  };
  rules: Array<{
    apiGroups: string[];
    apiVersions: string[];
    resources: string[];
    operations: string[];
    scope: string;
  }>;
  namespaceSelector: { matchExpressions: Array<{ key: string; operator: string; values: string[] }> };
  objectSelector?: { matchLabels: Record<string, string> };
  failurePolicy: string;
  sideEffects: string;
  admissionReviewVersions: string[];
  timeoutSeconds: number;
}
interface Container {
  name: string;
  image: string;
  args: string[];
  env: Array<{
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
  }>;
  ports: Array<{ name: string; containerPort: number }>;
  readinessProbe: { httpGet: { path: string; port: string; scheme?: string } };
  livenessProbe: { httpGet: { path: string; port: string; scheme?: string } };
  securityContext: Record<string, unknown>;
  resources: Record<string, unknown>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface PodSpec {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  affinity?: Record<string, unknown>;
  containers: Container[];
  volumes?: Array<{ name: string; secret?: { secretName: string } }>;
}

function parseManifests(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => !!o);
}
async function render(values: Record<string, string | number | boolean> = {}, extra: string[] = []): Promise<Obj[]> {
  return parseManifests(
    await helmOk(["template", "bh", CHART, "--namespace", "bulkhead-system", ...setArgs(values), ...extra]),
  );
}
function one(objs: Obj[], kind: string, nameSuffix = ""): Obj {
  const found = objs.filter((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
  expect(found, `${kind} *${nameSuffix}`).to.have.length(1);
  return found[0]!;
}
const webhooksOf = (o: Obj): Webhook[] => o.webhooks as Webhook[];
const podSpec = (o: Obj): PodSpec => (o.spec as { template: { spec: PodSpec } }).template.spec;
const envOf = (c: Container): Record<string, string> =>
  Object.fromEntries(
    c.env.map((e) => [
      e.name,
      e.value ??
        (e.valueFrom?.secretKeyRef
          ? `secret:${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`
          : `field:${e.valueFrom?.fieldRef?.fieldPath}`),
    ]),
  );

/** DESIGN.md §2's endpoint table: path → what the apiserver must send there. */
const ENDPOINTS: Record<
  string,
  { kind: "Mutating" | "Validating"; resource: string; operations: string[]; objectSelector: boolean }
> = {
  "/mutate/statefulset": {
    kind: "Mutating",
    resource: "apps/v1/statefulsets",
    operations: ["CREATE", "UPDATE"],
    objectSelector: true,
  },
  "/validate/statefulset": {
    kind: "Validating",
    resource: "apps/v1/statefulsets",
    operations: ["CREATE", "UPDATE"],
    objectSelector: true,
  },
  "/mutate/pdb": {
    kind: "Mutating",
    resource: "policy/v1/poddisruptionbudgets",
    operations: ["CREATE", "UPDATE"],
    objectSelector: false,
  },
  "/validate/pdb": {
    kind: "Validating",
    resource: "policy/v1/poddisruptionbudgets",
    operations: ["CREATE", "UPDATE"],
    objectSelector: false,
  },
  // objectSelector on pods/eviction would match the Eviction's labels, not the pod's.
  "/validate/eviction": {
    kind: "Validating",
    resource: "/v1/pods/eviction",
    operations: ["CREATE"],
    objectSelector: false,
  },
  "/validate/pod-delete": { kind: "Validating", resource: "/v1/pods", operations: ["DELETE"], objectSelector: true },
  "/mutate/pod": { kind: "Mutating", resource: "/v1/pods", operations: ["CREATE"], objectSelector: true },
  // For UPDATE the objectSelector matches the old or the new pod: removing the label still reaches it.
  "/validate/pod-update": { kind: "Validating", resource: "/v1/pods", operations: ["UPDATE"], objectSelector: true },
  "/validate/statefulsetrollout": {
    kind: "Validating",
    resource: "bulkhead.dev/v1alpha1/statefulsetrollouts",
    operations: ["CREATE", "UPDATE"],
    objectSelector: false,
  },
};

function endpointPath(w: Webhook): string {
  if (w.clientConfig.service) return w.clientConfig.service.path;
  return new URL(w.clientConfig.url!).pathname;
}

// ---------------------------------------------------------------------------------------------

describe("Helm chart: lint and render", function () {
  this.timeout(120_000);

  it("passes helm lint --strict with default and non-default values", async () => {
    await helmOk(["lint", "--strict", CHART]);
    await helmOk([
      "lint",
      "--strict",
      CHART,
      ...setArgs({
        "certManager.enabled": true,
        "metrics.serviceMonitor.enabled": true,
        "slack.tokenSecret.name": "slack",
      }),
    ]);
  });

  it("renders the webhook configurations of DESIGN.md §2 for an in-cluster webhook", async () => {
    const objs = await render();
    const mutating = one(objs, "MutatingWebhookConfiguration");
    const validating = one(objs, "ValidatingWebhookConfiguration");
    const all = [
      ...webhooksOf(mutating).map((w) => ({ w, kind: "Mutating" })),
      ...webhooksOf(validating).map((w) => ({ w, kind: "Validating" })),
    ];
    expect(all.map(({ w }) => endpointPath(w)).sort()).to.deep.equal(Object.keys(ENDPOINTS).sort());
    for (const { w, kind } of all) {
      const path = endpointPath(w);
      const want = ENDPOINTS[path]!;
      expect(kind, path).to.equal(want.kind);
      expect(w.rules, path).to.have.length(1);
      const rule = w.rules[0]!;
      expect(`${rule.apiGroups[0]}/${rule.apiVersions[0]}/${rule.resources[0]}`, path).to.equal(want.resource);
      expect(rule.operations, path).to.deep.equal(want.operations);
      expect(w.clientConfig.service, path).to.deep.equal({
        name: "bh-bulkhead-webhook",
        namespace: "bulkhead-system",
        path,
        port: 443,
      });
      expect(w.namespaceSelector.matchExpressions, path).to.deep.include({
        key: "bulkhead.dev/enabled",
        operator: "In",
        values: ["true"],
      });
      expect(w.namespaceSelector.matchExpressions, path).to.deep.include({
        key: "kubernetes.io/metadata.name",
        operator: "NotIn",
        values: ["bulkhead-system"],
      });
      if (want.objectSelector)
        expect(w.objectSelector, path).to.deep.equal({ matchLabels: { "bulkhead.dev/managed": "true" } });
      else expect(w.objectSelector, path).to.equal(undefined);
      expect(w.admissionReviewVersions, path).to.deep.equal(["v1"]);
      // The rollout webhook dry-runs a StatefulSet (which calls the StatefulSet webhooks): it gets the most time.
      expect(w.timeoutSeconds, path).to.equal(path === "/validate/statefulsetrollout" ? 30 : 5);
      // The leak guard and pinning record Events and alerts, for real requests only.
      expect(w.sideEffects, path).to.equal(
        ["/validate/eviction", "/validate/pod-delete", "/mutate/pod"].includes(path) ? "NoneOnDryRun" : "None",
      );
    }
    const policy = Object.fromEntries(all.map(({ w }) => [endpointPath(w), w.failurePolicy]));
    expect(policy).to.deep.equal({
      "/mutate/statefulset": "Fail",
      "/validate/statefulset": "Fail",
      "/mutate/pdb": "Ignore",
      "/validate/pdb": "Ignore",
      "/validate/eviction": "Ignore",
      "/validate/pod-delete": "Ignore",
      "/mutate/pod": "Fail",
      "/validate/pod-update": "Ignore",
      "/validate/statefulsetrollout": "Ignore",
    });
    for (const config of [mutating, validating]) {
      expect(config.metadata.labels?.["bulkhead.dev/inject-ca"]).to.equal("true");
      expect(config.metadata.annotations?.["cert-manager.io/inject-ca-from"]).to.equal(undefined);
    }
  });

  it("renders only the webhook configurations, pointed at an out-of-cluster URL, for other tests", async () => {
    const ca = Buffer.from("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").toString("base64");
    const objs = await render({ "webhook.url": "https://127.0.0.1:18443", "webhook.caBundle": ca }, [
      "--show-only",
      "templates/webhook-configurations.yaml",
    ]);
    expect(objs.map((o) => o.kind).sort()).to.deep.equal([
      "MutatingWebhookConfiguration",
      "ValidatingWebhookConfiguration",
    ]);
    for (const config of objs) {
      // The CA was given: no injector may overwrite it.
      expect(config.metadata.labels?.["bulkhead.dev/inject-ca"]).to.equal(undefined);
      for (const w of webhooksOf(config)) {
        expect(w.clientConfig.service).to.equal(undefined);
        expect(w.clientConfig.caBundle).to.equal(ca);
        expect(w.clientConfig.url).to.match(/^https:\/\/127\.0\.0\.1:18443\/(mutate|validate)\//);
      }
    }
  });

  it("renders hardened Deployments that start the right entry point with the right environment", async () => {
    const objs = await render();
    const webhook = one(objs, "Deployment", "-webhook");
    const reconciler = one(objs, "Deployment", "-reconciler");
    for (const d of [webhook, reconciler]) {
      const spec = podSpec(d);
      expect((d.spec as { replicas: number }).replicas).to.equal(2);
      expect(spec.securityContext).to.include({ runAsNonRoot: true });
      expect(spec.securityContext.seccompProfile).to.deep.equal({ type: "RuntimeDefault" });
      const c = spec.containers[0]!;
      expect(c.securityContext).to.deep.include({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
      });
      expect(c.securityContext.capabilities).to.deep.equal({ drop: ["ALL"] });
      expect(c.resources).to.have.property("requests");
      expect(spec.affinity).to.have.property("podAntiAffinity");
    }
    const w = podSpec(webhook).containers[0]!;
    expect(w.args).to.deep.equal(["dist/webhook/main.js"]);
    expect(podSpec(webhook).serviceAccountName).to.equal("bh-bulkhead-webhook");
    expect(w.readinessProbe.httpGet).to.deep.equal({ path: "/readyz", port: "https", scheme: "HTTPS" });
    expect(w.livenessProbe.httpGet).to.deep.equal({ path: "/healthz", port: "https", scheme: "HTTPS" });
    expect(envOf(w)).to.deep.equal({
      BULKHEAD_NAMESPACE: "field:metadata.namespace",
      BULKHEAD_WEBHOOK_PORT: "8443",
      BULKHEAD_SERVICE_NAME: "bh-bulkhead-webhook",
      BULKHEAD_CERT_SECRET: "bh-bulkhead-webhook-cert",
      BULKHEAD_CERT_VALIDITY: "8760h",
      BULKHEAD_CERT_RENEW_BEFORE: "720h",
      BULKHEAD_RECONCILER_USERNAME: "system:serviceaccount:bulkhead-system:bh-bulkhead-reconciler",
      BULKHEAD_DEFAULT_LEAK_PROTECTION: "enforce",
      BULKHEAD_UNCHECKED_SERVICE_DISCOVERY: "refuse",
      LOG_LEVEL: "info",
      // Read by Node itself: the heap follows the container's memory limit.
      NODE_OPTIONS: "--max-old-space-size-percentage=40 --max-semi-space-size=1",
      BULKHEAD_MAX_IN_FLIGHT: "512",
      BULKHEAD_IN_FLIGHT_BODY_BYTES: "",
      BULKHEAD_HEADERS_TIMEOUT: "10s",
      BULKHEAD_BODY_TIMEOUT: "10s",
      BULKHEAD_IDLE_TIMEOUT: "120s",
      BULKHEAD_CACHE_MAX_STALENESS: "5m",
      BULKHEAD_EVENT_WINDOW: "10m",
      BULKHEAD_EVENT_MAX_KEYS: "1000",
    });
    // The webhook's own parser accepts what the chart sets, and reads every variable of it.
    const parsed = parseWebhookConfig({ ...envOf(w), BULKHEAD_NAMESPACE: "bulkhead-system" });
    expect(parsed).to.deep.include({
      namespace: "bulkhead-system",
      port: 8443,
      serviceName: "bh-bulkhead-webhook",
      certSecret: "bh-bulkhead-webhook-cert",
      certDir: undefined,
      certRenewBeforeMs: 720 * 3600_000,
      certValidityMs: 8760 * 3600_000,
      reconcilerUsername: "system:serviceaccount:bulkhead-system:bh-bulkhead-reconciler",
      defaultLeakProtection: "enforce",
      consulConfigured: false,
      uncheckedServiceDiscovery: "refuse",
      logLevel: "info",
    });
    const webhookConfigSource = readFileSync(join(REPO_ROOT, "webhook/config.ts"), "utf8");
    for (const name of Object.keys(envOf(w)).filter((n) => n !== "NODE_OPTIONS")) {
      expect(webhookConfigSource, `webhook/config.ts reads ${name}`).to.include(`${name}:`);
    }
    const r = podSpec(reconciler).containers[0]!;
    expect(r.args).to.deep.equal(["dist/reconciler/main.js"]);
    expect(podSpec(reconciler).serviceAccountName).to.equal("bh-bulkhead-reconciler");
    expect(r.readinessProbe.httpGet).to.deep.equal({ path: "/readyz", port: "metrics" });
    expect(r.livenessProbe.httpGet).to.deep.equal({ path: "/healthz", port: "metrics" });
    expect(envOf(r)).to.deep.equal({
      BULKHEAD_NAMESPACE: "field:metadata.namespace",
      POD_NAME: "field:metadata.name",
      BULKHEAD_LEASE_NAME: "bh-bulkhead-reconciler",
      BULKHEAD_METRICS_PORT: "8080",
      BULKHEAD_BUILD_BRANCH_ANNOTATION: "slack.com/bedrock.git.branch",
      BULKHEAD_BUILD_COMMIT_ANNOTATION: "slack.com/bedrock.git.commit",
      BULKHEAD_BUILD_ORIGIN_ANNOTATION: "slack.com/bedrock.git.origin",
      BULKHEAD_UNCHECKED_SERVICE_DISCOVERY: "refuse",
      // Empty: callbacks are off until the install names the release API it allows.
      BULKHEAD_CALLBACK_ALLOWED_URL_PREFIXES: "",
      BULKHEAD_CALLBACK_MAX_RETRY_AGE_SECONDS: "600",
      BULKHEAD_CALLBACK_CONCURRENCY: "4",
      LOG_LEVEL: "info",
      // Read by Node itself, as the webhook's: the heap follows the container's memory limit.
      NODE_OPTIONS: "--max-old-space-size-percentage=40 --max-semi-space-size=1",
    });
    const reconcilerConfig = parseReconcilerConfig({
      ...envOf(r),
      BULKHEAD_NAMESPACE: "bulkhead-system",
      POD_NAME: "bh-bulkhead-reconciler-0",
    });
    expect(reconcilerConfig).to.deep.include({
      namespace: "bulkhead-system",
      leaseName: "bh-bulkhead-reconciler",
      identity: "bh-bulkhead-reconciler-0",
      metricsPort: 8080,
      leaderElection: true,
      consulEnabled: false,
      callbackSecretSet: false,
    });
    const reconcilerConfigSource = readFileSync(join(REPO_ROOT, "reconciler/config.ts"), "utf8");
    for (const name of Object.keys(envOf(r)).filter((n) => n !== "NODE_OPTIONS"))
      expect(reconcilerConfigSource, `reconciler/config.ts reads ${name}`).to.include(`${name}:`);
    const pdb = one(objs, "PodDisruptionBudget");
    expect(pdb.spec).to.deep.include({ maxUnavailable: 1 });
  });

  it("renders Secrets, Consul, cert-manager and a ServiceMonitor when asked", async () => {
    const objs = await render({
      "certManager.enabled": true,
      "metrics.serviceMonitor.enabled": true,
      "slack.tokenSecret.name": "slack",
      "slack.apiUrl": "http://127.0.0.1:9999/api/",
      "consul.address": "https://consul.example:8501",
      "consul.tokenSecret.name": "consul",
      "consul.caSecret.name": "consul-ca",
      "callback.secret.name": "release-api",
      leakProtection: "pin",
      logLevel: "debug",
      "namespaceOptIn.labelKey": "example.com/bulkhead",
      "webhook.timeoutSeconds": 10,
      "webhook.failurePolicy.eviction": "Fail",
      "consul.uncheckedServiceDiscovery": "report",
    });
    const w = podSpec(one(objs, "Deployment", "-webhook")).containers[0]!;
    expect(envOf(w)).to.include({
      // The one install-level value both processes read; the webhook only asks whether Consul is set.
      CONSUL_HTTP_ADDR: "https://consul.example:8501",
      BULKHEAD_UNCHECKED_SERVICE_DISCOVERY: "report",
      BULKHEAD_CERT_DIR: "/etc/bulkhead/certs",
      BULKHEAD_DEFAULT_LEAK_PROTECTION: "pin",
      LOG_LEVEL: "debug",
    });
    // Slack is the reconciler's alone: the webhook records alert Events (api/alert-events.ts).
    expect(envOf(w)).not.to.have.any.keys("BULKHEAD_CERT_SECRET", "SLACK_TOKEN", "SLACK_API_URL");
    expect(parseWebhookConfig({ ...envOf(w), BULKHEAD_NAMESPACE: "bulkhead-system" })).to.deep.include({
      certDir: "/etc/bulkhead/certs",
      defaultLeakProtection: "pin",
      consulConfigured: true,
      uncheckedServiceDiscovery: "report",
    });
    expect(podSpec(one(objs, "Deployment", "-webhook")).volumes).to.deep.include({
      name: "certs",
      secret: { secretName: "bh-bulkhead-webhook-cert" },
    });
    const r = podSpec(one(objs, "Deployment", "-reconciler")).containers[0]!;
    expect(envOf(r)).to.include({
      CONSUL_HTTP_ADDR: "https://consul.example:8501",
      CONSUL_HTTP_TOKEN: "secret:consul/token",
      CONSUL_CACERT: "/etc/bulkhead/consul/ca.crt",
      BULKHEAD_CALLBACK_SECRET: "secret:release-api/secret",
      SLACK_TOKEN: "secret:slack/token",
      BULKHEAD_UNCHECKED_SERVICE_DISCOVERY: "report",
    });
    expect(r.volumeMounts).to.deep.include({ name: "consul-ca", mountPath: "/etc/bulkhead/consul", readOnly: true });
    // The reconciler and its Consul and callback adapters accept what the chart sets.
    const secrets = {
      CONSUL_HTTP_TOKEN: "consul-token",
      BULKHEAD_CALLBACK_SECRET: "a-callback-secret-of-32-characters",
      SLACK_TOKEN: "xoxb-1",
    };
    const renv = { ...envOf(r), ...secrets, BULKHEAD_NAMESPACE: "bulkhead-system", POD_NAME: "p" };
    expect(parseReconcilerConfig(renv)).to.deep.include({
      consulEnabled: true,
      uncheckedServiceDiscovery: "report",
      callbackSecretSet: true,
      slack: { token: "xoxb-1", apiUrl: "http://127.0.0.1:9999/api/" },
    });
    expect(consulOptionsFromEnv(renv)).to.deep.include({
      token: "consul-token",
      caCertPath: "/etc/bulkhead/consul/ca.crt",
    });
    expect(callbackOptionsFromEnv(renv)).to.deep.include({ secret: secrets.BULKHEAD_CALLBACK_SECRET });
    const cert = one(objs, "Certificate");
    expect(cert.spec).to.deep.include({ secretName: "bh-bulkhead-webhook-cert" });
    expect((cert.spec as { dnsNames: string[] }).dnsNames).to.include("bh-bulkhead-webhook.bulkhead-system.svc");
    one(objs, "Issuer");
    expect(
      objs
        .filter((o) => o.kind === "ServiceMonitor")
        .map((o) => o.metadata.name)
        .sort(),
    ).to.deep.equal(["bh-bulkhead-reconciler", "bh-bulkhead-webhook"]);
    for (const config of [one(objs, "MutatingWebhookConfiguration"), one(objs, "ValidatingWebhookConfiguration")]) {
      expect(config.metadata.annotations?.["cert-manager.io/inject-ca-from"]).to.equal(
        "bulkhead-system/bh-bulkhead-webhook",
      );
      expect(config.metadata.labels?.["bulkhead.dev/inject-ca"]).to.equal(undefined);
      for (const hook of webhooksOf(config)) {
        // The rollout webhook keeps 30 s whatever webhook.timeoutSeconds says: it waits for a dry-run.
        expect(hook.timeoutSeconds, hook.name).to.equal(hook.name.startsWith("statefulsetrollout.") ? 30 : 10);
        expect(hook.namespaceSelector.matchExpressions[0]!.key).to.equal("example.com/bulkhead");
      }
    }
    const eviction = webhooksOf(one(objs, "ValidatingWebhookConfiguration")).find((h) =>
      h.name.startsWith("eviction."),
    )!;
    expect(eviction.failurePolicy).to.equal("Fail");
    // cert-manager mode: the webhook neither writes a Secret nor patches webhook configurations.
    expect(objs.filter((o) => o.kind === "Role" && o.metadata.name.endsWith("-webhook"))).to.deep.equal([]);
    const webhookRules = one(objs, "ClusterRole", "-webhook").rules as Rule[];
    expect(webhookRules.some((rule) => rule.apiGroups.includes("admissionregistration.k8s.io"))).to.equal(false);
  });

  it("grants no wildcard, no delete but the reconciler's of pods, and no Secret read beyond the webhook's own", async () => {
    const objs = await render();
    for (const role of objs.filter((o) => o.kind === "ClusterRole" || o.kind === "Role")) {
      for (const rule of role.rules as Rule[]) {
        const where = `${role.kind}/${role.metadata.name} ${JSON.stringify(rule)}`;
        expect([...rule.apiGroups, ...rule.resources, ...rule.verbs], where).not.to.include("*");
        // The reconciler deletes a wave's pods after reserving their disruptions in the PDB
        // (api/take-down.ts): pods delete and nothing else.
        const podDelete =
          role.metadata.name.endsWith("-reconciler") &&
          rule.apiGroups.join() === "" &&
          rule.resources.join() === "pods";
        expect(
          rule.verbs.filter(
            (v) =>
              ["delete", "deletecollection", "escalate", "bind", "impersonate"].includes(v) &&
              !(podDelete && v === "delete"),
          ),
          where,
        ).to.deep.equal([]);
        if (rule.resources.includes("secrets")) {
          expect(role.kind, where).to.equal("Role");
          if (rule.verbs.some((v) => v !== "create"))
            expect(rule.resourceNames, where).to.deep.equal(["bh-bulkhead-webhook-cert"]);
        }
      }
    }
  });

  it("refuses a values typo with a message naming the key", async () => {
    const r = await helm(["template", "bh", CHART, "--set", "webhook.timeoutSecond=3"]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.match(/at '\/webhook': additional properties 'timeoutSecond' not allowed/);
    const mode = await helm(["template", "bh", CHART, "--set", "leakProtection=block"]);
    expect(mode.code).to.not.equal(0);
    expect(mode.stderr).to.match(/at '\/leakProtection': value must be one of 'enforce', 'flag', 'pin', 'off'/);
  });
});

// ---------------------------------------------------------------------------------------------

/** One RBAC question, asked with the ServiceAccount's own token (SelfSubjectAccessReview). */
type Access = Omit<V1ResourceAttributes, "namespace"> & { namespace?: "release" | "other" };

async function allowed(kc: KubeConfig, a: Access, releaseNs: string, otherNs: string): Promise<boolean> {
  const api = kc.makeApiClient(AuthorizationV1Api);
  const namespace = a.namespace === "release" ? releaseNs : a.namespace === "other" ? otherNs : undefined;
  const review = await api.createSelfSubjectAccessReview({
    body: {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SelfSubjectAccessReview",
      spec: { resourceAttributes: { ...a, namespace } },
    },
  });
  return review.status?.allowed === true;
}
const describeAccess = (a: Access): string =>
  `${a.verb} ${a.group ? `${a.group}/` : ""}${a.resource}${a.subresource ? `/${a.subresource}` : ""}${a.name ? ` ${a.name}` : ""}${a.namespace ? ` in ${a.namespace} namespace` : " cluster-wide"}`;

const RELEASE = "chart-e2e";
const CERT_SECRET = `${RELEASE}-bulkhead-webhook-cert`;
const LEASE = `${RELEASE}-bulkhead-reconciler`;
/** Its own label key, so this release's webhooks never intercept other tests' namespaces. */
const OPT_IN_KEY = "chart-e2e.bulkhead.dev/enabled";

const readVerbs = ["get", "list", "watch"];
const reads = (group: string, resource: string): Access[] =>
  readVerbs.map((verb) => ({ verb, group, resource, namespace: "other" as const }));

/** What webhook/ and certs/ call (DESIGN.md §2, certs/secret-store.ts, certs/ca-injector.ts, adapters/kube/events.ts). */
const WEBHOOK_NEEDS: Access[] = [
  ...reads("", "pods"),
  ...reads("apps", "statefulsets"),
  ...reads("apps", "controllerrevisions"),
  ...reads("bulkhead.dev", "statefulsetrollouts"),
  ...["pods", "statefulsets", "controllerrevisions", "statefulsetrollouts"].map((resource) => ({
    verb: "watch",
    group: {
      pods: "",
      statefulsets: "apps",
      controllerrevisions: "apps",
      statefulsetrollouts: "bulkhead.dev",
    }[resource]!,
    resource,
  })),
  { verb: "create", group: "events.k8s.io", resource: "events", namespace: "other" },
  // The dry-run of a rollout's StatefulSet (dryRun=All; RBAC cannot tell it from a real create).
  { verb: "create", group: "apps", resource: "statefulsets", namespace: "other" },
  // Alert Events: their count is raised by read + replace (adapters/kube/alert-events.ts).
  ...["get", "update"].map((verb) => ({
    verb,
    group: "events.k8s.io",
    resource: "events",
    namespace: "other" as const,
  })),
  { verb: "get", group: "", resource: "secrets", name: CERT_SECRET, namespace: "release" },
  { verb: "create", group: "", resource: "secrets", namespace: "release" },
  { verb: "update", group: "", resource: "secrets", name: CERT_SECRET, namespace: "release" },
  { verb: "list", group: "admissionregistration.k8s.io", resource: "mutatingwebhookconfigurations" },
  { verb: "list", group: "admissionregistration.k8s.io", resource: "validatingwebhookconfigurations" },
  {
    verb: "patch",
    group: "admissionregistration.k8s.io",
    resource: "mutatingwebhookconfigurations",
    name: `${RELEASE}-bulkhead`,
  },
  {
    verb: "patch",
    group: "admissionregistration.k8s.io",
    resource: "validatingwebhookconfigurations",
    name: `${RELEASE}-bulkhead`,
  },
];
const WEBHOOK_MUST_NOT: Access[] = [
  // The PDB checks answer from the managed StatefulSets; the webhook never reads a PDB.
  ...reads("policy", "poddisruptionbudgets"),
  { verb: "delete", group: "", resource: "pods", namespace: "other" },
  { verb: "create", group: "", resource: "pods", subresource: "eviction", namespace: "other" },
  { verb: "update", group: "apps", resource: "statefulsets", namespace: "other" },
  { verb: "update", group: "bulkhead.dev", resource: "statefulsetrollouts", subresource: "status", namespace: "other" },
  { verb: "get", group: "", resource: "secrets", name: "someone-elses", namespace: "release" },
  { verb: "list", group: "", resource: "secrets", namespace: "release" },
  { verb: "create", group: "", resource: "secrets", namespace: "other" },
  {
    verb: "patch",
    group: "admissionregistration.k8s.io",
    resource: "mutatingwebhookconfigurations",
    name: "another-product",
  },
  {
    verb: "delete",
    group: "admissionregistration.k8s.io",
    resource: "validatingwebhookconfigurations",
    name: `${RELEASE}-bulkhead`,
  },
  { verb: "update", group: "coordination.k8s.io", resource: "leases", name: LEASE, namespace: "release" },
];
/**
 * What reconciler/ calls (adapters/kube/rollouts.ts, leader-election.ts, cache.ts, events.ts):
 * create/replace the StatefulSet and PDB, evict waves, replace status, Events, the Lease.
 */
const RECONCILER_NEEDS: Access[] = [
  ...reads("bulkhead.dev", "statefulsetrollouts"),
  { verb: "update", group: "bulkhead.dev", resource: "statefulsetrollouts", subresource: "status", namespace: "other" },
  {
    verb: "update",
    group: "bulkhead.dev",
    resource: "statefulsetrollouts",
    subresource: "finalizers",
    namespace: "other",
  },
  // metadata.finalizers: the workload is released before a rollout goes (api/lifecycle.ts).
  { verb: "update", group: "bulkhead.dev", resource: "statefulsetrollouts", namespace: "other" },
  { verb: "get", group: "apps", resource: "controllerrevisions", namespace: "other" },
  ...reads("apps", "statefulsets"),
  ...["create", "update"].map((verb) => ({
    verb,
    group: "apps",
    resource: "statefulsets",
    namespace: "other" as const,
  })),
  ...reads("", "pods"),
  // A wave's pods, once their disruptions are reserved in the PDB's status (api/take-down.ts).
  { verb: "delete", group: "", resource: "pods", namespace: "other" },
  ...reads("policy", "poddisruptionbudgets"),
  ...["create", "update"].map((verb) => ({
    verb,
    group: "policy",
    resource: "poddisruptionbudgets",
    namespace: "other" as const,
  })),
  { verb: "update", group: "policy", resource: "poddisruptionbudgets", subresource: "status", namespace: "other" },
  { verb: "create", group: "events.k8s.io", resource: "events", namespace: "other" },
  // Alert Events become Slack alerts; the message ts is written back (adapters/slack/alert-notifier.ts).
  ...[...readVerbs, "update"].map((verb) => ({
    verb,
    group: "events.k8s.io",
    resource: "events",
    namespace: "other" as const,
  })),
  { verb: "create", group: "coordination.k8s.io", resource: "leases", namespace: "release" },
  { verb: "get", group: "coordination.k8s.io", resource: "leases", name: LEASE, namespace: "release" },
  { verb: "update", group: "coordination.k8s.io", resource: "leases", name: LEASE, namespace: "release" },
];
const RECONCILER_MUST_NOT: Access[] = [
  { verb: "deletecollection", group: "", resource: "pods", namespace: "other" },
  { verb: "create", group: "", resource: "pods", subresource: "eviction", namespace: "other" },
  { verb: "delete", group: "apps", resource: "statefulsets", namespace: "other" },
  { verb: "patch", group: "bulkhead.dev", resource: "statefulsetrollouts", namespace: "other" },
  { verb: "delete", group: "bulkhead.dev", resource: "statefulsetrollouts", namespace: "other" },
  { verb: "create", group: "bulkhead.dev", resource: "statefulsetrollouts", namespace: "other" },
  { verb: "list", group: "apps", resource: "controllerrevisions", namespace: "other" },
  { verb: "get", group: "", resource: "secrets", namespace: "other" },
  { verb: "update", group: "apps", resource: "controllerrevisions", namespace: "other" },
  { verb: "patch", group: "apps", resource: "statefulsets", namespace: "other" },
  { verb: "delete", group: "policy", resource: "poddisruptionbudgets", namespace: "other" },
  { verb: "create", group: "coordination.k8s.io", resource: "leases", namespace: "other" },
  {
    verb: "update",
    group: "coordination.k8s.io",
    resource: "leases",
    name: "kube-controller-manager",
    namespace: "release",
  },
  {
    verb: "patch",
    group: "admissionregistration.k8s.io",
    resource: "mutatingwebhookconfigurations",
    name: `${RELEASE}-bulkhead`,
  },
];

// ---------------------------------------------------------------------------------------------
// the chart's processes, run locally

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** The environment the chart gives a container, with the downward-API fields filled in as the kubelet would. */
function chartEnv(
  manifest: Obj[],
  deploymentSuffix: string,
  pod: { namespace: string; name: string },
): Record<string, string> {
  const container = podSpec(one(manifest, "Deployment", deploymentSuffix)).containers[0]!;
  const env: Record<string, string> = {};
  for (const e of container.env) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === "metadata.namespace") env[e.name] = pod.namespace;
    else if (e.valueFrom?.fieldRef?.fieldPath === "metadata.name") env[e.name] = pod.name;
    else throw new Error(`${deploymentSuffix}: cannot fill ${e.name} locally`);
  }
  return env;
}

interface LocalProcess {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** Starts `tsx <entry>` from the clone with exactly the given environment on top of PATH/HOME. */
function startLocal(entry: string, env: Record<string, string>): LocalProcess {
  const bin = join(REPO_ROOT, "node_modules/.bin");
  const child = spawn(join(bin, "tsx"), [join(REPO_ROOT, entry)], {
    cwd: REPO_ROOT,
    env: { PATH: `${bin}:${process.env.PATH ?? ""}`, HOME: process.env.HOME ?? tmpdir(), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const keep = (d: string) => (out = (out + d).slice(-20_000));
  child.stdout!.setEncoding("utf8").on("data", keep);
  child.stderr!.setEncoding("utf8").on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}

/** A kubeconfig file that authenticates with the ServiceAccount token (the process reads $KUBECONFIG). */
function writeKubeconfig(dir: string, name: string, kc: KubeConfig): string {
  const file = join(dir, `${name}.kubeconfig`);
  writeFileSync(file, kc.exportConfig(), { mode: 0o600 });
  return file;
}

async function httpsGet(url: string): Promise<number> {
  const { request } = await import("node:https");
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("Helm chart: install, RBAC, upgrade, uninstall", function () {
  this.timeout(180_000);
  let releaseNs = "";
  let otherNs = "";
  const tokens: Record<"webhook" | "reconciler", KubeConfig | undefined> = {
    webhook: undefined,
    reconciler: undefined,
  };
  let installed = false;
  const local: LocalProcess[] = [];
  const workDir = mkdtempSync(join(tmpdir(), "bulkhead-chart-e2e-"));
  let webhookUrl = "";
  const baseValues = (): Record<string, string> => ({
    "namespaceOptIn.labelKey": OPT_IN_KEY,
    ...(webhookUrl ? { "webhook.url": webhookUrl } : {}),
  });

  before(async () => {
    // Pod Security "restricted" on the release namespace: the chart's pods must meet it to exist at all.
    releaseNs = await newNamespace("bulkhead-chart", {
      labels: { "pod-security.kubernetes.io/enforce": "restricted" },
    });
    otherNs = await newNamespace("chart-workload", { labels: { [OPT_IN_KEY]: "true" } });
  });

  beforeEach(function () {
    // Later tests need the release; say so once instead of failing each in its own confusing way.
    if (!installed && this.currentTest?.title.startsWith("installs") === false)
      throw new Error("the chart is not installed: see the install test's failure");
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") {
      for (const p of local)
        process.stderr.write(`--- ${p.child.spawnargs.at(-1)} output (tail) ---\n${p.output().slice(-4000)}\n`);
    }
  });

  after(async () => {
    await Promise.all(local.map((p) => p.stop()));
    // Leave nothing cluster-scoped behind even when a test failed half-way, and no rollout for
    // the reconcilers of later test files to pick up.
    await helm(["uninstall", RELEASE, "--namespace", releaseNs, "--wait"]).catch(() => undefined);
    await kubectl(["delete", "namespace", otherNs, releaseNs, "--wait=false", "--ignore-not-found"]).catch(
      () => undefined,
    );
    rmSync(workDir, { recursive: true, force: true });
  });

  it("installs: every object is accepted by the apiserver", async () => {
    await helmOk(["install", RELEASE, CHART, "--namespace", releaseNs, ...setArgs(baseValues())]);
    const status = JSON.parse(await helmOk(["status", RELEASE, "--namespace", releaseNs, "-o", "json"])) as {
      info: { status: string };
    };
    expect(status.info.status).to.equal("deployed");
    const manifest = parseManifests(await helmOk(["get", "manifest", RELEASE, "--namespace", releaseNs]));
    expect(manifest.length).to.be.greaterThan(10);
    for (const o of manifest) {
      const group = o.apiVersion.includes("/") ? `.${o.apiVersion.split("/")[0]}` : "";
      const r = await kubectl([
        "get",
        `${o.kind}${group}`,
        o.metadata.name,
        ...(o.metadata.namespace ? ["-n", o.metadata.namespace] : []),
        "-o",
        "name",
      ]);
      expect(r.code, `${o.kind}/${o.metadata.name}: ${r.stderr}`).to.equal(0);
    }
    const crd = await kubectl(["get", "crd", "statefulsetrollouts.bulkhead.dev", "-o", "name"]);
    expect(crd.code, crd.stderr).to.equal(0);
    const mutating = await admissionApi().readMutatingWebhookConfiguration({ name: `${RELEASE}-bulkhead` });
    expect(mutating.webhooks?.map((w) => w.name)).to.have.members([
      "statefulset.mutate.bulkhead.dev",
      "pdb.mutate.bulkhead.dev",
      "pod.mutate.bulkhead.dev",
    ]);
    installed = true;
    // The ReplicaSets' pods pass Pod Security "restricted" (KWOK then runs them without an image).
    await waitFor(
      async () => {
        const pods = (await coreApi().listNamespacedPod({ namespace: releaseNs })).items;
        return ["webhook", "reconciler"].every(
          (c) => pods.filter((p) => p.metadata?.labels?.["app.kubernetes.io/component"] === c).length === 2,
        );
      },
      { timeoutMs: 60_000, what: "2 webhook and 2 reconciler pods admitted under Pod Security restricted" },
    );
  });

  it("gives each process a token for its own ServiceAccount", async () => {
    for (const which of ["webhook", "reconciler"] as const) {
      const r = await kubectl(
        ["create", "token", `${RELEASE}-bulkhead-${which}`, "-n", releaseNs, "--duration", "1h"],
        { check: true },
      );
      tokens[which] = kubeConfigForToken(r.stdout.trim(), `${RELEASE}-${which}`);
      const review = await tokens[which]!.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
        body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
      });
      expect(review.status?.userInfo?.username).to.equal(
        `system:serviceaccount:${releaseNs}:${RELEASE}-bulkhead-${which}`,
      );
    }
  });

  for (const [who, needs, mustNot] of [
    ["webhook", WEBHOOK_NEEDS, WEBHOOK_MUST_NOT],
    ["reconciler", RECONCILER_NEEDS, RECONCILER_MUST_NOT],
  ] as const) {
    it(`lets the ${who} do everything its code does`, async () => {
      const refused: string[] = [];
      for (const a of needs) if (!(await allowed(tokens[who]!, a, releaseNs, otherNs))) refused.push(describeAccess(a));
      expect(refused).to.deep.equal([]);
    });

    it(`refuses the ${who} anything beyond that`, async () => {
      const granted: string[] = [];
      for (const a of mustNot) if (await allowed(tokens[who]!, a, releaseNs, otherNs)) granted.push(describeAccess(a));
      expect(granted).to.deep.equal([]);
    });
  }

  it("refuses a real pod delete made with the webhook's token, and allows reading it", async () => {
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "victim", namespace: otherNs },
      spec: { containers: [{ name: "c", image: "registry.example/none:1" }] },
    };
    await coreApi().createNamespacedPod({ namespace: otherNs, body: pod });
    const asWebhook = tokens.webhook!.makeApiClient(CoreV1Api);
    const read = await asWebhook.readNamespacedPod({ name: "victim", namespace: otherNs });
    expect(read.metadata?.name).to.equal("victim");
    const err = await asWebhook.deleteNamespacedPod({ name: "victim", namespace: otherNs }).then(
      () => undefined,
      (e: unknown) => e as { code?: number },
    );
    expect(err?.code, "delete as the webhook").to.equal(403);
    // The reconciler may delete pods: it takes a wave's pods down itself after reserving them in
    // the PDB (docs/design.md, "Taking pods down"); its rights are the RBAC table's business above.
    await coreApi().readNamespacedPod({ name: "victim", namespace: otherNs });
  });

  it("runs the webhook locally on its own token: it creates its certificate Secret, injects the CA, and admits", async () => {
    const port = await freePort();
    webhookUrl = `https://127.0.0.1:${port}`;
    // The apiserver now calls a webhook on loopback; the configurations keep the inject-ca label.
    await helmOk(["upgrade", RELEASE, CHART, "--namespace", releaseNs, ...setArgs(baseValues())]);
    const manifest = parseManifests(await helmOk(["get", "manifest", RELEASE, "--namespace", releaseNs]));
    const env = chartEnv(manifest, "-webhook", { namespace: releaseNs, name: "webhook-local" });
    // Right after the CRD is created its storage answers 429 "(re)initializing" for a moment. Start
    // the processes once the resource is served, as a real Deployment's pods would (image pull),
    // so this test is about RBAC and not about informer retries.
    await waitFor(
      () =>
        customObjectsApi().listClusterCustomObject({
          group: "bulkhead.dev",
          version: "v1alpha1",
          plural: "statefulsetrollouts",
        }),
      {
        what: "statefulsetrollouts to be served",
      },
    );
    const webhook = startLocal("webhook/main.ts", {
      ...env,
      KUBECONFIG: writeKubeconfig(workDir, "webhook", tokens.webhook!),
      BULKHEAD_WEBHOOK_PORT: String(port),
      BULKHEAD_WEBHOOK_HOST: "127.0.0.1",
    });
    local.push(webhook);
    await waitFor(async () => (await httpsGet(`${webhookUrl}/readyz`)) === 200, {
      timeoutMs: 60_000,
      what: "the local webhook to be ready",
    });

    // create + get of its Secret, list + patch of the two configurations: all with the chart's RBAC.
    const secret = await coreApi().readNamespacedSecret({ name: CERT_SECRET, namespace: releaseNs });
    const ca = secret.data?.["ca.crt"];
    expect(ca, "ca.crt in the certificate Secret").to.be.a("string");
    const admission = admissionApi();
    await waitFor(
      async () => {
        const configs = [
          await admission.readMutatingWebhookConfiguration({ name: `${RELEASE}-bulkhead` }),
          await admission.readValidatingWebhookConfiguration({ name: `${RELEASE}-bulkhead` }),
        ];
        return configs.every((c) => (c.webhooks ?? []).every((w) => w.clientConfig.caBundle === ca));
      },
      { what: "the CA bundle in every webhook of both configurations" },
    );

    // The apiserver calls it: a managed StatefulSet asking for RollingUpdate is stored as OnDelete.
    await appsApi().createNamespacedStatefulSet({
      namespace: otherNs,
      body: {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: "probe", labels: { "bulkhead.dev/managed": "true" } },
        spec: {
          replicas: 0,
          serviceName: "probe",
          selector: { matchLabels: { app: "probe" } },
          updateStrategy: { type: "RollingUpdate" },
          template: {
            metadata: { labels: { app: "probe" } },
            spec: { containers: [{ name: "c", image: "registry.example/probe:1" }] },
          },
        },
      },
    });
    const stored = await appsApi().readNamespacedStatefulSet({ name: "probe", namespace: otherNs });
    expect(stored.spec?.updateStrategy?.type).to.equal("OnDelete");
    expect(stored.spec?.template.metadata?.labels?.["bulkhead.dev/managed"]).to.equal("true");
    expect(webhook.output()).not.to.match(/"level":50/);
  });

  it("runs the reconciler locally on its own token: a rollout to 50%, a refused drain, then 100%", async () => {
    const metricsPort = await freePort();
    const manifest = parseManifests(await helmOk(["get", "manifest", RELEASE, "--namespace", releaseNs]));
    const reconciler = startLocal("reconciler/main.ts", {
      ...chartEnv(manifest, "-reconciler", { namespace: releaseNs, name: "reconciler-local" }),
      KUBECONFIG: writeKubeconfig(workDir, "reconciler", tokens.reconciler!),
      BULKHEAD_METRICS_PORT: String(metricsPort),
      BULKHEAD_METRICS_HOST: "127.0.0.1",
    });
    local.push(reconciler);
    // Leader election on the chart's Lease, in the release namespace.
    await waitFor(
      async () =>
        (await coordinationApi().readNamespacedLease({ name: LEASE, namespace: releaseNs })).spec?.holderIdentity ===
        "reconciler-local",
      { timeoutMs: 60_000, what: `the local reconciler to hold Lease ${LEASE}` },
    );

    const rollouts = customObjectsApi();
    const ref = {
      group: "bulkhead.dev",
      version: "v1alpha1",
      namespace: otherNs,
      plural: "statefulsetrollouts",
      name: "web",
    };
    const template = (image: string) => ({
      metadata: { labels: { app: "web" } },
      spec: { containers: [{ name: "web", image }] },
    });
    await rollouts.createNamespacedCustomObject({
      ...ref,
      body: {
        apiVersion: "bulkhead.dev/v1alpha1",
        kind: "StatefulsetRollout",
        metadata: { name: "web" },
        spec: {
          percent: 100,
          disruptionPolicy: { maxUnavailable: 2 },
          statefulset: {
            apiVersion: "apps/v1",
            kind: "StatefulSet",
            metadata: { name: "web" },
            spec: {
              replicas: 4,
              serviceName: "web",
              selector: { matchLabels: { app: "web" } },
              template: template("registry.example/web:1"),
            },
          },
        },
      },
    });

    /** Pods per revision once the rollout is RolloutDone at `percent`, else undefined. */
    const settled = async (percent: number) => {
      const rollout = (await rollouts.getNamespacedCustomObject(ref)) as {
        status?: { phase?: string; percentDeployed?: number };
      };
      if (rollout.status?.phase !== "RolloutDone" || rollout.status.percentDeployed !== percent) return undefined;
      const sts = await appsApi().readNamespacedStatefulSet({ name: "web", namespace: otherNs });
      const pods = (await coreApi().listNamespacedPod({ namespace: otherNs, labelSelector: "app=web" })).items;
      const ready = pods.filter(
        (p) =>
          !p.metadata?.deletionTimestamp &&
          p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
      );
      if (ready.length !== 4) return undefined;
      const onUpdate = ready.filter(
        (p) => p.metadata?.labels?.["controller-revision-hash"] === sts.status?.updateRevision,
      );
      return { updated: onUpdate.length, old: ready.filter((p) => !onUpdate.includes(p)) };
    };
    const first = await waitFor(() => settled(100), {
      timeoutMs: 60_000,
      what: "rollout web done at 100% with 4 Ready pods",
    });
    expect(first.updated).to.equal(4);

    await rollouts.patchNamespacedCustomObject(
      {
        ...ref,
        body: { spec: { percent: 50, statefulset: { spec: { template: template("registry.example/web:2") } } } },
      },
      setHeaderOptions("Content-Type", "application/merge-patch+json"),
    );
    const half = await waitFor(
      async () => {
        const s = await settled(50);
        return s && s.updated === 2 ? s : undefined;
      },
      { timeoutMs: 60_000, what: "rollout web done at 50%: 2 of 4 pods on the new revision" },
    );

    // The drain of an old pod's node is refused by the leak guard (the webhook, on its own token).
    const oldPod = half.old[0]!;
    const node = oldPod.spec!.nodeName!;
    allowPodRecreationsFromNode(node, "the refused drain still evicts the node's new pods; they come back new");
    try {
      const drain = await kubectl(["drain", node, "--pod-selector=app=web", "--ignore-daemonsets", "--timeout=5s"], {
        timeoutMs: 30_000,
      });
      expect(drain.code, `kubectl drain should fail: ${drain.stdout} ${drain.stderr}`).to.not.equal(0);
      const refused = await coreApi()
        .createNamespacedPodEviction({
          name: oldPod.metadata!.name!,
          namespace: otherNs,
          body: {
            apiVersion: "policy/v1",
            kind: "Eviction",
            metadata: { name: oldPod.metadata!.name!, namespace: otherNs },
          },
        })
        .then(
          () => undefined,
          (e: unknown) => e as { code?: number; body?: unknown },
        );
      expect(refused?.code, "eviction of an old pod while split").to.equal(429);
      expect(String(refused?.body))
        .to.match(/leak protection/i)
        .and.to.include("web");
      const still = await coreApi().readNamespacedPod({ name: oldPod.metadata!.name!, namespace: otherNs });
      expect(still.metadata?.uid).to.equal(oldPod.metadata?.uid);
    } finally {
      await kubectl(["uncordon", node]);
    }

    await rollouts.patchNamespacedCustomObject(
      { ...ref, body: { spec: { percent: 100 } } },
      setHeaderOptions("Content-Type", "application/merge-patch+json"),
    );
    const done = await waitFor(() => settled(100), { timeoutMs: 60_000, what: "rollout web done at 100%" });
    expect(done.updated).to.equal(4);

    // Both processes recorded Events (events.k8s.io create) with their own accounts.
    const events = kubeConfig().makeApiClient(EventsV1Api);
    await waitFor(
      async () => {
        const list = (await events.listNamespacedEvent({ namespace: otherNs })).items;
        const denied = list.some((e) => e.reason === "LeakGuardDenied" && e.regarding?.name === oldPod.metadata!.name);
        const byReconciler = list.some(
          (e) => e.regarding?.kind === "StatefulsetRollout" && e.reportingController?.includes("reconciler"),
        );
        return denied && byReconciler;
      },
      { what: "a LeakGuardDenied Event on the old pod and a reconciler Event on the rollout" },
    );

    // Nothing either process did was refused by RBAC.
    for (const p of local)
      expect(p.output(), p.child.spawnargs.at(-1)).not.to.match(/"code":\s*403|HTTP-Code: 403|\bforbidden\b/i);
  });

  it("upgrades with changed values and keeps the injected CA bundle", async () => {
    // Nothing may re-inject during the upgrade, or a bundle wiped by Helm would go unnoticed.
    await Promise.all(local.map((p) => p.stop()));
    const admission = admissionApi();
    const before = await admission.readValidatingWebhookConfiguration({ name: `${RELEASE}-bulkhead` });
    const ca = before.webhooks?.[0]?.clientConfig.caBundle;
    expect(ca, "a CA bundle injected by the local webhook").to.be.a("string").and.not.equal("");

    await helmOk([
      "upgrade",
      RELEASE,
      CHART,
      "--namespace",
      releaseNs,
      ...setArgs({
        ...baseValues(),
        leakProtection: "flag",
        logLevel: "debug",
        "webhook.timeoutSeconds": 9,
        "webhook.replicas": 3,
      }),
    ]);
    const after = [
      ...((await admission.readMutatingWebhookConfiguration({ name: `${RELEASE}-bulkhead` })).webhooks ?? []),
      ...((await admission.readValidatingWebhookConfiguration({ name: `${RELEASE}-bulkhead` })).webhooks ?? []),
    ];
    expect(after).to.have.length(ADMISSION_ROUTES.length);
    for (const w of after) {
      // The rollout hook keeps its own 30 s: it waits for a server-side dry-run (20 s at most).
      expect(w.timeoutSeconds, w.name).to.equal(w.name === "statefulsetrollout.validate.bulkhead.dev" ? 30 : 9);
      expect(w.clientConfig.caBundle, `${w.name} keeps the injected CA`).to.equal(ca);
    }
    const deployment = await appsApi().readNamespacedDeployment({
      name: `${RELEASE}-bulkhead-webhook`,
      namespace: releaseNs,
    });
    expect(deployment.spec?.replicas).to.equal(3);
    const env = Object.fromEntries(
      (deployment.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]),
    );
    expect(env).to.include({ BULKHEAD_DEFAULT_LEAK_PROTECTION: "flag", LOG_LEVEL: "debug" });
  });

  it("uninstalls without leaving a webhook configuration or cluster role behind", async () => {
    await helmOk(["uninstall", RELEASE, "--namespace", releaseNs, "--wait"]);
    const admission = admissionApi();
    const leftovers = [
      ...(await admission.listMutatingWebhookConfiguration()).items,
      ...(await admission.listValidatingWebhookConfiguration()).items,
    ].filter(
      (c) =>
        c.metadata?.name === `${RELEASE}-bulkhead` || c.metadata?.labels?.["app.kubernetes.io/instance"] === RELEASE,
    );
    expect(leftovers.map((c) => c.metadata?.name)).to.deep.equal([]);
    const roles = (await rbacApi().listClusterRole()).items.filter((r) =>
      r.metadata?.name?.startsWith(`${RELEASE}-bulkhead`),
    );
    expect(roles.map((r) => r.metadata?.name)).to.deep.equal([]);
    await waitFor(
      async () =>
        (await coreApi().listNamespacedServiceAccount({ namespace: releaseNs })).items.every(
          (sa) => sa.metadata?.name === "default",
        ),
      {
        what: "the chart's ServiceAccounts to be gone",
      },
    );
    // The CRD stays: Helm never deletes CRDs, so uninstalling never deletes users' rollouts.
    const crd = await kubectl(["get", "crd", "statefulsetrollouts.bulkhead.dev", "-o", "name"]);
    expect(crd.code).to.equal(0);
  });
});

// ---------------------------------------------------------------------------------------------

/** CRDs of the optional integrations, from their Go modules (the module proxy), to validate against. */
const OPTIONAL_CRDS = [
  {
    module: "github.com/cert-manager/cert-manager",
    version: "v1.21.2",
    files: ["deploy/crds/cert-manager.io_certificates.yaml", "deploy/crds/cert-manager.io_issuers.yaml"],
  },
  {
    module: "github.com/prometheus-operator/prometheus-operator",
    version: "v0.85.0",
    files: ["example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"],
  },
];

function goModuleDir(module: string, version: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("go", ["mod", "download", "-json", `${module}@${version}`], {
      stdio: ["ignore", "pipe", "pipe"],
      env: process.env,
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const dir = code === 0 ? (JSON.parse(out) as { Dir?: string }).Dir : undefined;
      if (dir) resolve(dir);
      else reject(new Error(`go mod download ${module}@${version} exited ${code}: ${err || out}`));
    });
  });
}

describe("Helm chart: cert-manager and ServiceMonitor objects against their real CRDs", function () {
  this.timeout(300_000);
  const release = "chart-e2e-cm";
  let ns = "";
  const crdNames: string[] = [];

  before(async () => {
    ns = await newNamespace("bulkhead-chart-cm");
    for (const { module, version, files } of OPTIONAL_CRDS) {
      const dir = await goModuleDir(module, version);
      for (const file of files) {
        const text = readFileSync(join(dir, file), "utf8");
        crdNames.push(...parseManifests(text).map((o) => o.metadata.name));
        await kubectl(["apply", "--server-side", "-f", "-"], { input: text, check: true });
      }
    }
    for (const name of crdNames)
      await kubectl(["wait", "--for=condition=Established", `crd/${name}`, "--timeout=60s"], { check: true });
  });

  after(async () => {
    await helm(["uninstall", release, "--namespace", ns, "--wait"]).catch(() => undefined);
    await kubectl(["delete", "crd", ...crdNames, "--ignore-not-found", "--wait=false"]).catch(() => undefined);
    await kubectl(["delete", "namespace", ns, "--wait=false", "--ignore-not-found"]).catch(() => undefined);
  });

  it("installs with certManager.enabled and ServiceMonitors: the apiserver accepts every object", async () => {
    await helmOk([
      "install",
      release,
      CHART,
      "--namespace",
      ns,
      ...setArgs({
        "namespaceOptIn.labelKey": "chart-e2e-cm.bulkhead.dev/enabled",
        "certManager.enabled": true,
        "metrics.serviceMonitor.enabled": true,
        "metrics.serviceMonitor.labels.release": "prometheus",
        "slack.tokenSecret.name": "slack",
        "consul.address": "consul.example:8501",
        "consul.caSecret.name": "consul-ca",
      }),
    ]);
    const manifest = parseManifests(await helmOk(["get", "manifest", release, "--namespace", ns]));
    expect(manifest.map((o) => o.kind)).to.include.members(["Certificate", "Issuer", "ServiceMonitor"]);
    for (const o of manifest.filter((m) => ["Certificate", "Issuer", "ServiceMonitor"].includes(m.kind))) {
      const group = o.apiVersion.split("/")[0];
      const r = await kubectl(["get", `${o.kind}.${group}`, o.metadata.name, "-n", ns, "-o", "json"]);
      expect(r.code, `${o.kind}/${o.metadata.name}: ${r.stderr}`).to.equal(0);
    }
    const mutating = await admissionApi().readMutatingWebhookConfiguration({ name: `${release}-bulkhead` });
    expect(mutating.metadata?.annotations?.["cert-manager.io/inject-ca-from"]).to.equal(
      `${ns}/${release}-bulkhead-webhook`,
    );
    expect(mutating.metadata?.labels?.["bulkhead.dev/inject-ca"]).to.equal(undefined);
    // The Certificate the CA injector reads is the one the annotation names.
    const cert = JSON.parse(
      (
        await kubectl(["get", "certificate.cert-manager.io", `${release}-bulkhead-webhook`, "-n", ns, "-o", "json"], {
          check: true,
        })
      ).stdout,
    ) as {
      spec: { secretName: string; dnsNames: string[] };
    };
    expect(cert.spec.secretName).to.equal(`${release}-bulkhead-webhook-cert`);
    expect(cert.spec.dnsNames).to.include(`${release}-bulkhead-webhook.${ns}.svc`);
  });

  it("uninstalls cleanly", async () => {
    await helmOk(["uninstall", release, "--namespace", ns, "--wait"]);
    const left = await kubectl(
      [
        "get",
        "certificate.cert-manager.io,issuer.cert-manager.io,servicemonitor.monitoring.coreos.com",
        "-n",
        ns,
        "-o",
        "name",
      ],
      { check: true },
    );
    expect(left.stdout.trim()).to.equal("");
  });
});
