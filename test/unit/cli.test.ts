// The kubectl-sroll commands end to end against an in-memory API (merge patch, resourceVersion
// preconditions, 404/409), a fake terminal and a fake clock: no cluster, no TTY, no waiting.
import { expect } from "chai";
import { parse as parseYaml } from "yaml";
import type { Cluster, CliDeps, Output, PodSummary, ProgressView, RolloutApi, WatchSnapshot } from "../../cli/deps.js";
import { runCli } from "../../cli/program.js";
import { lineProgress } from "../../cli/progress.js";
import { formatAge } from "../../cli/table.js";
import { SEED_BEDROCK_YAML } from "./seed-bedrock.js";

type Obj = Record<string, unknown>;

function apiError(code: number, message: string): Error {
  return Object.assign(new Error(`HTTP ${code}`), { code, body: JSON.stringify({ kind: "Status", message }) });
}

function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return structuredClone(patch);
  const out: Obj =
    typeof target === "object" && target !== null && !Array.isArray(target) ? { ...(target as Obj) } : {};
  for (const [k, v] of Object.entries(patch as Obj)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

/** An apiserver for StatefulsetRollouts, enough to hold the CLI to the API's rules. */
class FakeApi implements RolloutApi {
  objects = new Map<string, Obj>();
  pods: PodSummary[] = [];
  patches: Array<{ name: string; patch: object }> = [];
  conflictsToInject = 0;
  failWith: Error | undefined;
  private rv = 100;

  put(object: Obj): void {
    const meta = object.metadata as Obj;
    meta.resourceVersion = String(++this.rv);
    meta.generation ??= 1;
    meta.creationTimestamp ??= "2026-11-23T10:00:00Z";
    this.objects.set(`${String(meta.namespace)}/${String(meta.name)}`, structuredClone(object));
  }

  object(namespace: string, name: string): Obj {
    const o = this.objects.get(`${namespace}/${name}`);
    if (!o) throw new Error(`test: no ${namespace}/${name}`);
    return o;
  }

  setStatus(namespace: string, name: string, status: Obj): void {
    const o = this.object(namespace, name);
    o.status = status;
    (o.metadata as Obj).resourceVersion = String(++this.rv);
  }

  async get(namespace: string, name: string): Promise<unknown> {
    if (this.failWith) throw this.failWith;
    const o = this.objects.get(`${namespace}/${name}`);
    if (!o) throw apiError(404, `statefulsetrollouts.bulkhead.dev "${name}" not found`);
    return structuredClone(o);
  }
  async list(namespace: string | undefined): Promise<unknown[]> {
    if (this.failWith) throw this.failWith;
    return [...this.objects.values()]
      .filter((o) => namespace === undefined || (o.metadata as Obj).namespace === namespace)
      .map((o) => structuredClone(o));
  }
  async patch(namespace: string, name: string, patch: object): Promise<unknown> {
    const current = this.object(namespace, name);
    const want = ((patch as Obj).metadata as Obj | undefined)?.resourceVersion;
    if (this.conflictsToInject > 0) {
      this.conflictsToInject--;
      // Someone else wrote in between: the object moved on, the precondition fails.
      (current.metadata as Obj).resourceVersion = String(++this.rv);
    }
    if (want !== undefined && want !== (current.metadata as Obj).resourceVersion)
      throw apiError(409, "the object has been modified");
    this.patches.push({ name, patch });
    const next = applyMergePatch(current, patch) as Obj;
    const specChanged = JSON.stringify(next.spec) !== JSON.stringify(current.spec);
    (next.metadata as Obj).generation = Number((current.metadata as Obj).generation) + (specChanged ? 1 : 0);
    this.put(next);
    return structuredClone(this.object(namespace, name));
  }
  async create(namespace: string, body: object): Promise<unknown> {
    const name = String(((body as Obj).metadata as Obj).name);
    if (this.objects.has(`${namespace}/${name}`)) throw apiError(409, "already exists");
    this.put(structuredClone(body) as Obj);
    return structuredClone(this.object(namespace, name));
  }
  async replace(namespace: string, name: string, body: object): Promise<unknown> {
    const current = this.object(namespace, name);
    if (((body as Obj).metadata as Obj).resourceVersion !== (current.metadata as Obj).resourceVersion)
      throw apiError(409, "modified");
    const next = structuredClone(body) as Obj;
    (next.metadata as Obj).generation = Number((current.metadata as Obj).generation) + 1;
    (next.metadata as Obj).creationTimestamp = (current.metadata as Obj).creationTimestamp;
    if (current.status) next.status = current.status;
    this.put(next);
    return structuredClone(this.object(namespace, name));
  }
  async listPods(): Promise<PodSummary[]> {
    return this.pods;
  }
}

class Capture implements Output {
  text = "";
  constructor(readonly isTTY = false) {}
  write(text: string): void {
    this.text += text;
  }
}

interface Harness {
  api: FakeApi;
  stdout: Capture;
  stderr: Capture;
  snapshots: WatchSnapshot[];
  run(...argv: string[]): Promise<number>;
  deps: CliDeps;
  interrupt: AbortController;
  /** Called on every sleep of `status -w`: the world moves on between two looks. */
  onSleep: () => void;
  clock: { now: number };
}

function harness(
  options: { files?: Record<string, string>; colour?: boolean; connectError?: string; clusterName?: string } = {},
): Harness {
  const api = new FakeApi();
  const interrupt = new AbortController();
  const snapshots: WatchSnapshot[] = [];
  const clock = { now: Date.parse("2026-11-23T10:05:00Z") };
  let identities = 0;
  const h: Harness = {
    api,
    stdout: new Capture(),
    stderr: new Capture(),
    snapshots,
    interrupt,
    clock,
    onSleep: () => undefined,
    deps: undefined as unknown as CliDeps,
    async run(...argv) {
      h.stdout.text = "";
      h.stderr.text = "";
      return runCli(argv, h.deps);
    },
  };
  const cluster: Cluster = {
    defaultNamespace: "default",
    clusterName: options.clusterName ?? "playground",
    server: "https://127.0.0.1:6443",
    rollouts: api,
  };
  h.deps = {
    get stdout() {
      return h.stdout;
    },
    get stderr() {
      return h.stderr;
    },
    colour: options.colour ?? false,
    async readFile(path) {
      const text = options.files?.[path];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
      return text;
    },
    connect() {
      if (options.connectError) throw new Error(options.connectError);
      return cluster;
    },
    randomIdentity: () => `id-${++identities}`,
    now: () => new Date(clock.now),
    async sleep(ms) {
      clock.now += ms;
      h.onSleep();
    },
    interrupt: interrupt.signal,
    progress(): ProgressView {
      return { update: (s) => snapshots.push(s), stop: () => undefined };
    },
    pollIntervalMs: 1000,
  };
  return h;
}

const T1 = { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "web", image: "web:1" }] } };
const T2 = { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "web", image: "web:2" }] } };

function seedRollout(api: FakeApi, spec: Obj = {}, status?: Obj, namespace = "default", name = "web"): void {
  api.put({
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: { name, namespace },
    spec: {
      statefulset: {
        metadata: { name },
        spec: { replicas: 4, selector: { matchLabels: { app: name } }, template: T2 },
      },
      percent: 50,
      phases: [1, 50, 100],
      rolloutIdentity: "id-0",
      ...spec,
    },
    ...(status ? { status } : {}),
  });
}

const PROGRESSING = {
  phase: "Progressing",
  updatedReplicas: 2,
  readyReplicas: 3,
  targetReplicas: 2,
  percentDeployed: 25,
  previousTemplate: T1,
  observedGeneration: 1,
};

describe("kubectl-sroll: arguments and help", () => {
  it("prints help and exits 2 with no command", async () => {
    const h = harness();
    expect(await h.run()).to.equal(2);
    expect(h.stderr.text).to.include("Usage: kubectl-sroll");
  });
  for (const command of ["list", "status", "pause", "resume", "promote", "rollback", "retry", "render", "apply"]) {
    it(`${command} --help has examples and exits 0`, async () => {
      const h = harness();
      expect(await h.run(command, "--help")).to.equal(0);
      expect(h.stdout.text)
        .to.include(`Usage: kubectl-sroll ${command}`)
        .and.include("Examples:")
        .and.include(`kubectl sroll ${command}`);
    });
  }
  const usage: Array<[string[], RegExp]> = [
    [["lst"], /unknown command 'lst'[\s\S]*Did you mean one of list, ls\?/],
    [["status"], /missing required argument 'name'/],
    [["promote", "web", "150"], /"150" is not a percent: give a whole number from 0 to 100/],
    [["promote", "web", "half"], /"half" is not a percent/],
    [["list", "-o", "table"], /argument 'table' is invalid. Allowed choices are wide, yaml, json, name/],
    [["status", "web", "-w", "-o", "yaml"], /--watch shows a live view; it cannot be combined with --output/],
    [["status", "web", "--timeout", "5m"], /--timeout applies only with --watch/],
    [["status", "web", "-w", "--timeout", "soon"], /--timeout soon: expected a duration such as 90s, 10m or 1h/],
    [["pause", "web", "--force"], /unknown option '--force'/],
    [["pause", "a", "b"], /too many arguments for 'pause'/],
    [["render", "f.yaml", "--image", "nope"], /--image nope: expected NAME=REFERENCE/],
    [["render", "f.yaml", "--percent", "101"], /--percent: "101" is not a percent/],
    [["render", "f.yaml", "--callback-url", "http://x"], /--callback-url and --stage-id go together/],
    [
      ["render", "f.yaml", "--callback-url", "ftp://x", "--stage-id", "s"],
      /--callback-url ftp:\/\/x: expected an http\(s\) URL/,
    ],
    [["apply", "f.yaml"], /apply needs --stage/],
  ];
  for (const [argv, pattern] of usage) {
    it(`exits 2 for: ${argv.join(" ")}`, async () => {
      const h = harness();
      expect(await h.run(...argv)).to.equal(2);
      expect(h.stderr.text).to.match(pattern);
      expect(h.stderr.text).not.to.match(/\n\s+at /);
      expect(h.stdout.text).to.equal("");
    });
  }
  it("prints the version", async () => {
    const h = harness();
    expect(await h.run("--version")).to.equal(0);
    expect(h.stdout.text).to.match(/^\d+\.\d+\.\d+\n$/);
  });
});

describe("kubectl-sroll list", () => {
  it("shows phase, percent and updated/ready/total in the namespace", async () => {
    const h = harness();
    seedRollout(h.api, {}, PROGRESSING);
    seedRollout(
      h.api,
      { percent: 100 },
      { phase: "RolloutDone", updatedReplicas: 4, readyReplicas: 4 },
      "default",
      "api",
    );
    seedRollout(h.api, {}, undefined, "other", "db");
    expect(await h.run("list")).to.equal(0);
    expect(h.stdout.text).to.equal(
      [
        "NAME   PHASE         PERCENT   UPDATED   READY   TOTAL   AGE",
        "api    RolloutDone   100%      4         4       4       5m",
        "web    Progressing   50%       2         3       4       5m",
        "",
      ].join("\n"),
    );
  });
  it("-A adds the namespace column and lists every namespace", async () => {
    const h = harness();
    seedRollout(h.api, {}, PROGRESSING);
    seedRollout(h.api, {}, undefined, "other", "db");
    expect(await h.run("list", "-A")).to.equal(0);
    const lines = h.stdout.text.trim().split("\n");
    expect(lines[0]).to.match(/^NAMESPACE {3}NAME {3}PHASE/);
    expect(lines[1]).to.match(/^default {5}web {4}Progressing/);
    expect(lines[2]).to.match(/^other {7}db {5}Pending/);
  });
  it("-o wide adds deployed, paused, waves, identity and reason", async () => {
    const h = harness();
    seedRollout(
      h.api,
      { pauseRequested: true },
      { ...PROGRESSING, phase: "Paused", wavesCompleted: 2, reason: "paused at 50%" },
    );
    expect(await h.run("list", "-o", "wide")).to.equal(0);
    expect(h.stdout.text).to.match(/DEPLOYED {3}PAUSED {3}WAVES {3}IDENTITY {3}REASON\n/);
    expect(h.stdout.text).to.match(/25% {8}yes {6}2 {7}id-0 {7}paused at 50%\n$/);
  });
  it("-o json prints a List of the objects, -n picks the namespace", async () => {
    const h = harness();
    seedRollout(h.api, {}, undefined, "other", "db");
    expect(await h.run("list", "-n", "other", "-o", "json")).to.equal(0);
    const list = JSON.parse(h.stdout.text) as { kind: string; items: Array<{ metadata: { name: string } }> };
    expect(list.kind).to.equal("List");
    expect(list.items.map((i) => i.metadata.name)).to.deep.equal(["db"]);
  });
  it("-o name prints resource names", async () => {
    const h = harness();
    seedRollout(h.api);
    expect(await h.run("list", "-o", "name")).to.equal(0);
    expect(h.stdout.text).to.equal("statefulsetrollout.bulkhead.dev/web\n");
  });
  it("says so when there are none", async () => {
    const h = harness();
    expect(await h.run("list")).to.equal(0);
    expect(h.stderr.text).to.equal("No StatefulsetRollouts found in default namespace.\n");
  });
  it("colours phases only when told the terminal takes colour", async () => {
    const plain = harness();
    seedRollout(plain.api, {}, { phase: "RolloutFailed" });
    await plain.run("list");
    expect(plain.stdout.text).not.to.include("\u001b[");
    const tty = harness({ colour: true });
    seedRollout(tty.api, {}, { phase: "RolloutFailed" });
    await tty.run("list");
    expect(tty.stdout.text).to.include("\u001b[31mRolloutFailed\u001b[39m");
    // Columns still line up: escape codes take no width.
    const [header, row] = tty.stdout.text.split("\n");
    expect(row!.indexOf("50%")).to.equal(header!.indexOf("PERCENT") + "\u001b[31m\u001b[39m".length);
  });
  it("turns a kubeconfig problem into one line", async () => {
    const h = harness({ connectError: 'context "prod" is not in the kubeconfig (contexts: dev)' });
    expect(await h.run("list", "--context", "prod")).to.equal(1);
    expect(h.stderr.text).to.equal(
      'error: cannot load the kubeconfig: context "prod" is not in the kubeconfig (contexts: dev)\n',
    );
  });
  it("turns an unreachable API server into one line", async () => {
    const h = harness();
    h.api.failWith = Object.assign(new TypeError("fetch failed"), {
      cause: Object.assign(new Error("connect"), { code: "ECONNREFUSED" }),
    });
    expect(await h.run("list")).to.equal(1);
    expect(h.stderr.text).to.equal(
      "error: cannot reach the Kubernetes API server at https://127.0.0.1:6443 (ECONNREFUSED): is the cluster up, and is the right --context selected?\n",
    );
  });
  it("says when the CRD is not installed", async () => {
    const h = harness();
    h.api.failWith = apiError(404, "the server could not find the requested resource");
    expect(await h.run("list")).to.equal(1);
    expect(h.stderr.text).to.equal(
      "error: the API server does not serve statefulsetrollouts.bulkhead.dev/v1alpha1: is Bulkhead's CRD installed in this cluster? (kubectl get crd statefulsetrollouts.bulkhead.dev)\n",
    );
  });
  it("passes on a 403 with the apiserver's message", async () => {
    const h = harness();
    h.api.failWith = apiError(403, 'statefulsetrollouts.bulkhead.dev is forbidden: User "dev" cannot list resource');
    expect(await h.run("list")).to.equal(1);
    expect(h.stderr.text).to.equal(
      'error: forbidden: statefulsetrollouts.bulkhead.dev is forbidden: User "dev" cannot list resource\n',
    );
  });
});

describe("kubectl-sroll status", () => {
  const pods: PodSummary[] = [
    { name: "web-1", revision: "web-old", ready: true, phase: "Running" },
    { name: "web-0", revision: "web-new", ready: true, phase: "Running" },
    { name: "web-2", revision: "web-new", ready: false, phase: "Running", reason: "CrashLoopBackOff" },
    { name: "web-canary", revision: "x", ready: true, phase: "Running" },
  ];
  const status = {
    ...PROGRESSING,
    reason: "waiting for web-2 to become Ready",
    currentRevision: "web-old",
    updateRevision: "web-new",
    wavesCompleted: 1,
    currentWave: { number: 2, pods: ["web-2"], startedAt: "2026-11-23T10:04:30Z" },
    readyReplicasServiceDiscovery: 2,
    buildMetadata: {
      version: "v1.custom-1709074522",
      branch: "master",
      commit: "3f2a9c1d0e4b5a69",
      origin: "git@internal-github.com:slack/web.git",
    },
    podSummary: { revisions: [{ ordinals: "0-2" }], notReady: "2", consulChecked: true, consulNotPassing: "2" },
  };

  it("shows the rollout, its waves and each pod's revision, readiness and Consul health", async () => {
    const h = harness();
    seedRollout(h.api, { serviceDiscovery: { dc: "cloud1", serviceNames: ["web"] } }, status);
    h.api.pods = pods;
    expect(await h.run("status", "web")).to.equal(0);
    const out = h.stdout.text;
    expect(out).to.include("Phase:        Progressing — waiting for web-2 to become Ready");
    expect(out).to.include("Percent:      50% requested · 25% deployed · phases 1 → [50] → 100");
    expect(out).to.include("Replicas:     4 total · 2 to update · 2 updated · 3 ready · 2 passing in Consul");
    expect(out).to.include("Revisions:    web-old (current) → web-new (update)");
    expect(out).to.include("Images:       web=web:2");
    expect(out).to.include(
      "Build:        v1.custom-1709074522 · master@3f2a9c1d0e4b · git@internal-github.com:slack/web.git",
    );
    expect(out).to.include("Rollback to:  web=web:1");
    expect(out).to.include("Waves:        1 completed · wave 2 started 30s ago: web-2");
    expect(out).to.include("Consul:       web in cloud1");
    const table = out.slice(out.indexOf("Pods:"));
    expect(table).to.equal(
      [
        "Pods:",
        "  NAME    REVISION        READY   CONSUL    STATUS",
        "  web-0   web-new (new)   yes     passing   Running",
        "  web-1   web-old (old)   yes     passing   Running",
        "  web-2   web-new (new)   no      failing   CrashLoopBackOff",
        "",
      ].join("\n"),
    );
  });
  it("falls back to the status' pod list when pods cannot be listed", async () => {
    const h = harness();
    seedRollout(h.api, {}, status);
    h.api.listPods = async () => {
      throw apiError(403, "forbidden");
    };
    expect(await h.run("status", "web")).to.equal(0);
    expect(h.stdout.text).to.include("Pods (as last recorded in status; the pods could not be listed):");
    expect(h.stdout.text).to.match(/web-0 +- +yes +passing +Ready/);
    expect(h.stdout.text).to.match(/web-2 +- +no +failing +NotReady/);
  });
  it("falls back to every pod of a status written before status.podSummary (status.pods)", async () => {
    const h = harness();
    const { podSummary: _, ...rest } = status;
    seedRollout(
      h.api,
      {},
      {
        ...rest,
        pods: [
          { name: "web-0", ordinal: 0, revision: "web-new", ready: true, consulPassing: true },
          { name: "web-1", ordinal: 1, revision: "web-old", ready: false, stuck: "container app: CrashLoopBackOff" },
        ],
      },
    );
    h.api.listPods = async () => {
      throw apiError(403, "forbidden");
    };
    expect(await h.run("status", "web")).to.equal(0);
    expect(h.stdout.text).to.match(/web-0 +web-new \(new\) +yes +passing +Ready/);
    expect(h.stdout.text).to.match(/web-1 +web-old \(old\) +no +- +container app: CrashLoopBackOff/);
  });
  it("a status edited by hand (descending ranges): lists the pods from the API and warns why status shows none", async () => {
    const h = harness();
    seedRollout(h.api, {}, { ...status, podSummary: { revisions: [{ ordinals: "0-3" }], notReady: "3-1" } });
    h.api.pods = pods;
    expect(await h.run("status", "web")).to.equal(0);
    expect(h.stdout.text).to.match(
      /Warning: +status\.podSummary cannot be read: ordinal ranges "3-1": "3-1" is not an ascending range .*\(the reconciler rewrites it on its next pass\)/,
    );
    expect(h.stdout.text).to.match(/web-0 +web-new \(new\) +yes/);
  });
  it("exits 1 for a failed rollout, and says why", async () => {
    const h = harness();
    seedRollout(h.api, {}, { phase: "RolloutFailed", reason: "web-2 crash-looping" });
    expect(await h.run("status", "web")).to.equal(1);
    expect(h.stdout.text).to.include("Phase:        RolloutFailed — web-2 crash-looping");
  });
  it("-o yaml prints the object without managedFields", async () => {
    const h = harness();
    seedRollout(h.api, {}, PROGRESSING);
    (h.api.object("default", "web").metadata as Obj).managedFields = [{ manager: "kubectl" }];
    expect(await h.run("status", "web", "-o", "yaml")).to.equal(0);
    const object = parseYaml(h.stdout.text) as { metadata: Obj; status: Obj };
    expect(object.metadata.name).to.equal("web");
    expect(object.metadata).not.to.have.property("managedFields");
    expect(object.status.phase).to.equal("Progressing");
  });
  it("names the rollout and namespace it could not find", async () => {
    const h = harness();
    expect(await h.run("status", "nope", "-n", "payments")).to.equal(1);
    expect(h.stderr.text).to.equal('error: statefulsetrollout "nope" in namespace "payments" not found\n');
  });
  it("says so, rather than crash, when the object does not fit the schema", async () => {
    const h = harness();
    seedRollout(h.api, { percent: "lots" });
    expect(await h.run("status", "web")).to.equal(1);
    expect(h.stderr.text).to.match(
      /^error: statefulsetrollout "web" in namespace "default" does not match the StatefulsetRollout schema:\n[\s\S]*spec.percent/,
    );
  });
});

describe("kubectl-sroll status -w", () => {
  /** Each sleep moves the rollout one step along `steps`. */
  function scripted(h: Harness, steps: Obj[]): void {
    let i = 0;
    h.onSleep = () => {
      const next = steps[i++];
      if (next) h.api.setStatus("default", "web", next);
    };
  }

  it("follows the rollout until RolloutDone and exits 0", async () => {
    const h = harness();
    seedRollout(
      h.api,
      { percent: 100 },
      { phase: "Progressing", updatedReplicas: 0, readyReplicas: 4, targetReplicas: 4, observedGeneration: 1 },
    );
    scripted(h, [
      {
        phase: "Progressing",
        updatedReplicas: 2,
        readyReplicas: 2,
        targetReplicas: 4,
        observedGeneration: 1,
        currentWave: { number: 1, pods: ["web-3", "web-2"], startedAt: "2026-11-23T10:05:00Z" },
      },
      { phase: "RolloutDone", updatedReplicas: 4, readyReplicas: 4, targetReplicas: 4, observedGeneration: 1 },
    ]);
    expect(await h.run("status", "web", "-w")).to.equal(0);
    expect(h.snapshots.map((s) => `${s.phase} ${s.updated}/${s.target}`)).to.deep.equal([
      "Progressing 0/4",
      "Progressing 2/4",
      "RolloutDone 4/4",
    ]);
    expect(h.snapshots[1]!.wave).to.equal(1);
    expect(h.stdout.text).to.include("Phase:        RolloutDone");
  });
  it("exits 1 when the rollout fails, with the reason", async () => {
    const h = harness();
    seedRollout(h.api, {}, { phase: "Progressing", observedGeneration: 1 });
    scripted(h, [{ phase: "RolloutFailed", reason: "web-3 not Ready within 600s", observedGeneration: 1 }]);
    expect(await h.run("status", "web", "-w")).to.equal(1);
    expect(h.stderr.text).to.equal("rollout web failed: web-3 not Ready within 600s\n");
  });
  it("does not stop at an old RolloutDone the reconciler has not re-examined", async () => {
    const h = harness();
    seedRollout(h.api, {}, { phase: "RolloutDone", observedGeneration: 0 });
    scripted(h, [
      { phase: "Progressing", observedGeneration: 1 },
      { phase: "RolloutDone", observedGeneration: 1 },
    ]);
    expect(await h.run("status", "web", "-w")).to.equal(0);
    expect(h.snapshots.map((s) => s.phase)).to.deep.equal(["RolloutDone", "Progressing", "RolloutDone"]);
  });
  it("keeps watching through a paused rollout", async () => {
    const h = harness();
    seedRollout(h.api, { pauseRequested: true }, { phase: "Paused", paused: true, observedGeneration: 1 });
    scripted(h, [
      { phase: "Paused", paused: true, observedGeneration: 1 },
      { phase: "RolloutDone", observedGeneration: 1 },
    ]);
    expect(await h.run("status", "web", "-w")).to.equal(0);
    expect(h.snapshots[0]!.paused).to.equal(true);
  });
  it("stops on Ctrl-C with 130 and leaves the rollout alone", async () => {
    const h = harness();
    seedRollout(h.api, {}, { phase: "Progressing", observedGeneration: 1 });
    h.onSleep = () => h.interrupt.abort();
    expect(await h.run("status", "web", "-w")).to.equal(130);
    expect(h.stderr.text).to.equal("interrupted; web is Progressing — the rollout goes on without this watch\n");
    expect(h.api.patches).to.have.length(0);
  });
  it("gives up at --timeout with exit 1", async () => {
    const h = harness();
    seedRollout(h.api, {}, { phase: "Progressing", reason: "wave 3", observedGeneration: 1 });
    expect(await h.run("status", "web", "-w", "--timeout", "5s")).to.equal(1);
    expect(h.stderr.text).to.equal("error: timed out: web is still Progressing (wave 3)\n");
    expect(h.snapshots.length).to.be.within(5, 7);
  });
  it("rides out a passing API error, and reports one that lasts", async () => {
    const h = harness();
    seedRollout(h.api, {}, { phase: "Progressing", observedGeneration: 1 });
    let sleeps = 0;
    h.onSleep = () => {
      sleeps++;
      if (sleeps === 1) h.api.failWith = apiError(503, "etcd leader changed");
      if (sleeps === 3) {
        h.api.failWith = undefined;
        h.api.setStatus("default", "web", { phase: "RolloutDone", observedGeneration: 1 });
      }
    };
    expect(await h.run("status", "web", "-w")).to.equal(0);
    expect(h.stderr.text).to.equal(
      'warning: statefulsetrollout "web" in namespace "default": API error 503: etcd leader changed; retrying\n',
    );
  });
  it("fails when the rollout is deleted while watched", async () => {
    const h = harness();
    seedRollout(h.api, {}, { phase: "Progressing", observedGeneration: 1 });
    h.onSleep = () => h.api.objects.clear();
    expect(await h.run("status", "web", "-w")).to.equal(1);
    expect(h.stderr.text).to.equal(
      'error: statefulsetrollout "web" in namespace "default" not found (it was deleted while being watched)\n',
    );
  });
});

describe("kubectl-sroll pause, resume, promote, rollback, retry", () => {
  function specOf(h: Harness): Obj {
    return h.api.object("default", "web").spec as Obj;
  }

  it("pause sends a merge patch with the resourceVersion precondition and says what changed", async () => {
    const h = harness();
    seedRollout(h.api, {}, PROGRESSING);
    const rv = (h.api.object("default", "web").metadata as Obj).resourceVersion;
    expect(await h.run("pause", "web")).to.equal(0);
    expect(h.api.patches).to.deep.equal([
      { name: "web", patch: { spec: { pauseRequested: true }, metadata: { resourceVersion: rv } } },
    ]);
    expect(h.stdout.text).to.equal("statefulsetrollout.bulkhead.dev/web paused\n  spec.pauseRequested: false → true\n");
    expect(h.stderr.text).to.match(/^note: the rollout stops after the current wave/);
  });
  it("resume refuses a rollout that is not paused, exit 1, no change", async () => {
    const h = harness();
    seedRollout(h.api, {}, PROGRESSING);
    expect(await h.run("resume", "web")).to.equal(1);
    expect(h.stderr.text).to.equal("error: statefulsetrollout web is not paused: spec.pauseRequested is false\n");
    expect(h.api.patches).to.have.length(0);
  });
  it("pause then resume round-trips", async () => {
    const h = harness();
    seedRollout(h.api, {}, PROGRESSING);
    expect(await h.run("pause", "web")).to.equal(0);
    expect(specOf(h).pauseRequested).to.equal(true);
    expect(await h.run("resume", "web")).to.equal(0);
    expect(specOf(h).pauseRequested).to.equal(false);
    expect(h.stdout.text).to.equal(
      "statefulsetrollout.bulkhead.dev/web resumed\n  spec.pauseRequested: true → false\n",
    );
  });
  it("re-reads and decides again after a 409", async () => {
    const h = harness();
    seedRollout(h.api, { percent: 1 }, { ...PROGRESSING, phase: "RolloutDone" });
    h.api.conflictsToInject = 1;
    expect(await h.run("promote", "web")).to.equal(0);
    expect(specOf(h).percent).to.equal(50);
    expect(h.api.patches).to.have.length(1);
  });
  it("gives up after repeated conflicts with a clear message", async () => {
    const h = harness();
    seedRollout(h.api, {}, PROGRESSING);
    h.api.conflictsToInject = 5;
    expect(await h.run("pause", "web")).to.equal(1);
    expect(h.stderr.text).to.equal(
      'error: statefulsetrollout "web" in namespace "default" changed while this command ran (409 Conflict): run it again\n',
    );
  });
  it("promote goes to the next phase, or to a given percent", async () => {
    const h = harness();
    seedRollout(h.api, { percent: 1 }, { phase: "RolloutDone" });
    expect(await h.run("promote", "web")).to.equal(0);
    expect(h.stdout.text).to.equal("statefulsetrollout.bulkhead.dev/web promoted\n  spec.percent: 1 → 50\n");
    expect(await h.run("promote", "web", "100%")).to.equal(0);
    expect(specOf(h).percent).to.equal(100);
  });
  it("promote refuses a failed rollout", async () => {
    const h = harness();
    seedRollout(h.api, {}, { phase: "RolloutFailed", reason: "web-3 crash-looping" });
    expect(await h.run("promote", "web")).to.equal(1);
    expect(h.stderr.text).to.match(
      /^error: statefulsetrollout web has failed \(web-3 crash-looping\): promoting it would roll the failing version further/,
    );
  });
  it("rollback applies status.previousTemplate, at 100%, with a new identity", async () => {
    const h = harness();
    seedRollout(h.api, {}, { phase: "RolloutFailed", previousTemplate: T1 });
    expect(await h.run("rollback", "web")).to.equal(0);
    const spec = specOf(h);
    expect((spec.statefulset as { spec: Obj }).spec.template).to.deep.equal(T1);
    expect(spec.percent).to.equal(100);
    expect(spec.rolloutIdentity).to.equal("id-1");
    expect(h.stdout.text).to.equal(
      'statefulsetrollout.bulkhead.dev/web rolled back\n  spec.statefulset.spec.template: web=web:2 → web=web:1\n  spec.percent: 50 → 100\n  spec.rolloutIdentity: "id-0" → "id-1"\n',
    );
  });
  it("rollback refuses when there is no previous template", async () => {
    const h = harness();
    seedRollout(h.api, {}, { phase: "Progressing" });
    expect(await h.run("rollback", "web")).to.equal(1);
    expect(h.stderr.text).to.match(/^error: statefulsetrollout web has no previous template to roll back to/);
  });
  it("retry gives a failed rollout a new identity; refuses a healthy one", async () => {
    const h = harness();
    seedRollout(h.api, {}, { phase: "RolloutFailed" });
    expect(await h.run("retry", "web")).to.equal(0);
    expect(specOf(h).rolloutIdentity).to.equal("id-1");
    h.api.setStatus("default", "web", { phase: "Progressing" });
    expect(await h.run("retry", "web")).to.equal(1);
    expect(h.stderr.text).to.equal(
      "error: statefulsetrollout web is Progressing, not RolloutFailed: retry restarts a failed rollout\n",
    );
  });
  it("-o json prints the updated object", async () => {
    const h = harness();
    seedRollout(h.api, {}, PROGRESSING);
    expect(await h.run("pause", "web", "-o", "json")).to.equal(0);
    expect((JSON.parse(h.stdout.text) as { spec: Obj }).spec.pauseRequested).to.equal(true);
  });
});

// The seed's bedrock.yaml with a second stage.
const SEED = `${SEED_BEDROCK_YAML}     prod:
       replicas: 20
       clusters: [prod-east]
`;

describe("kubectl-sroll render and apply", () => {
  const files = { "bedrock.yaml": SEED, "bad.yaml": SEED.replace("replicas: 2", "replicas: -2") };

  it("render prints the StatefulsetRollout YAML for the stage", async () => {
    const h = harness({ files });
    expect(
      await h.run("render", "bedrock.yaml", "--stage", "dev", "--image", "bedrock-tester=registry.example/bt:1"),
    ).to.equal(0);
    const r = parseYaml(h.stdout.text) as { metadata: Obj; spec: Obj & { statefulset: { spec: Obj } } };
    expect(r.metadata.name).to.equal("bedrock-tester-sts-dev");
    expect(r.spec).to.deep.include({
      percent: 1,
      minPodEvictionIntervalSeconds: 10,
      channel: "#devel-rollout-operator-notifications",
    });
    expect(r.spec.statefulset.spec.replicas).to.equal(2);
    expect(r.spec).not.to.have.property("rolloutIdentity");
  });
  it("render prints one YAML document per StatefulSet service", async () => {
    const two = `images: { app: { image: r/app:1 } }
services:
  api: { kind: StatefulSet, containers: [{ image: app }], stages: { dev: { replicas: 1 } } }
  db: { kind: StatefulSet, containers: [{ image: app }], stages: { dev: { replicas: 3 } } }
`;
    const h = harness({ files: { "two.yaml": two } });
    expect(await h.run("render", "two.yaml")).to.equal(0);
    const docs = h.stdout.text.split(/^---$/m).map((d) => parseYaml(d) as { metadata: { name: string } });
    expect(docs.map((d) => d.metadata.name)).to.deep.equal(["api-dev", "db-dev"]);
    expect(await h.run("render", "two.yaml", "-o", "json")).to.equal(0);
    expect((JSON.parse(h.stdout.text) as { kind: string; items: unknown[] }).items).to.have.length(2);
    expect(await h.run("render", "two.yaml", "--service", "db")).to.equal(0);
    expect((parseYaml(h.stdout.text) as { metadata: { name: string } }).metadata.name).to.equal("db-dev");
  });
  it("render needs --stage when the file has several", async () => {
    const h = harness({ files });
    expect(await h.run("render", "bedrock.yaml")).to.equal(2);
    expect(h.stderr.text).to.equal("error: bedrock.yaml defines stages dev, prod: choose one with --stage\n");
  });
  it("render -o json, with -n", async () => {
    const h = harness({ files });
    expect(
      await h.run(
        "render",
        "bedrock.yaml",
        "--stage",
        "prod",
        "--image",
        "bedrock-tester=r/bt:1",
        "-n",
        "team",
        "-o",
        "json",
      ),
    ).to.equal(0);
    const r = JSON.parse(h.stdout.text) as { metadata: Obj; spec: Obj };
    expect(r.metadata.namespace).to.equal("team");
    expect(r.spec.percent).to.equal(100);
  });
  it("render reports config errors with file, line and field, exit 1", async () => {
    const h = harness({ files });
    expect(await h.run("render", "bad.yaml", "--stage", "dev")).to.equal(1);
    expect(h.stderr.text).to.equal(
      "error: bad.yaml:28: services.bedrock-tester-sts.stages.dev.replicas: must be at least 0\n",
    );
  });
  it("render reports a missing file", async () => {
    const h = harness({ files });
    expect(await h.run("render", "nope.yaml")).to.equal(1);
    expect(h.stderr.text).to.equal("error: nope.yaml: no such file\n");
  });
  it("apply creates, then leaves an unchanged rollout alone, then starts a new rollout for a new image", async () => {
    const h = harness({ files });
    const args = ["apply", "bedrock.yaml", "--stage", "dev"];
    expect(await h.run(...args, "--image", "bedrock-tester=r/bt:1")).to.equal(0);
    expect(h.stdout.text).to.equal(
      "statefulsetrollout.bulkhead.dev/bedrock-tester-sts-dev created (rollout identity id-1)\n",
    );
    const created = h.api.object("default", "bedrock-tester-sts-dev");
    expect((created.spec as Obj).rolloutIdentity).to.equal("id-1");

    expect(await h.run(...args, "--image", "bedrock-tester=r/bt:1")).to.equal(0);
    expect(h.stdout.text).to.equal("statefulsetrollout.bulkhead.dev/bedrock-tester-sts-dev unchanged\n");

    h.api.setStatus("default", "bedrock-tester-sts-dev", { phase: "RolloutDone" });
    expect(await h.run(...args, "--image", "bedrock-tester=r/bt:2")).to.equal(0);
    expect(h.stdout.text).to.match(
      /^statefulsetrollout.bulkhead.dev\/bedrock-tester-sts-dev configured: new rollout\n {2}spec.statefulset.spec.template.spec.containers\n {2}spec.rolloutIdentity\n$/,
    );
    const updated = h.api.object("default", "bedrock-tester-sts-dev");
    expect((updated.spec as Obj).rolloutIdentity).to.equal("id-3");
    expect((updated.status as Obj).phase, "status is the reconciler's, untouched").to.equal("RolloutDone");
  });
  it("apply keeps a paused rollout's progress when only settings change", async () => {
    const h = harness({
      files: { ...files, "v2.yaml": SEED.replace("#devel-rollout-operator-notifications", "#deploys") },
    });
    await h.run("apply", "bedrock.yaml", "--stage", "dev", "--image", "bedrock-tester=r/bt:1");
    await h.run("pause", "bedrock-tester-sts-dev");
    expect(await h.run("apply", "v2.yaml", "--stage", "dev", "--image", "bedrock-tester=r/bt:1")).to.equal(0);
    expect(h.stdout.text).to.equal(
      "statefulsetrollout.bulkhead.dev/bedrock-tester-sts-dev configured: settings only, the rollout continues\n  spec.channel\n",
    );
    expect(h.api.object("default", "bedrock-tester-sts-dev").spec).to.deep.include({
      pauseRequested: true,
      channel: "#deploys",
    });
  });
  it("apply --dry-run writes nothing", async () => {
    const h = harness({ files });
    expect(
      await h.run("apply", "bedrock.yaml", "--stage", "dev", "--image", "bedrock-tester=r/bt:1", "--dry-run"),
    ).to.equal(0);
    expect(h.stdout.text).to.match(/created \(dry run\)/);
    expect(h.api.objects.size).to.equal(0);
  });
  it("apply refuses a cluster the stage does not list", async () => {
    const h = harness({ files, clusterName: "kind-local" });
    expect(await h.run("apply", "bedrock.yaml", "--stage", "dev", "--image", "bedrock-tester=r/bt:1")).to.equal(1);
    expect(h.stderr.text).to.equal(
      'error: bedrock.yaml:26: stage clusters are playground, but the current context\'s cluster is "kind-local": pick a context with --context, or pass --ignore-clusters\n',
    );
    expect(
      await h.run("apply", "bedrock.yaml", "--stage", "dev", "--image", "bedrock-tester=r/bt:1", "--ignore-clusters"),
    ).to.equal(0);
  });
  it("apply retries after a concurrent create", async () => {
    const h = harness({ files });
    const realCreate = h.api.create.bind(h.api);
    let first = true;
    h.api.create = async (namespace, body) => {
      if (first) {
        first = false;
        await realCreate(namespace, structuredClone(body));
        throw apiError(409, "already exists");
      }
      return realCreate(namespace, body);
    };
    expect(await h.run("apply", "bedrock.yaml", "--stage", "dev", "--image", "bedrock-tester=r/bt:1")).to.equal(0);
    expect(h.stdout.text).to.equal("statefulsetrollout.bulkhead.dev/bedrock-tester-sts-dev unchanged\n");
  });
});

describe("kubectl-sroll formatting helpers", () => {
  it("lineProgress prints a line only when what it shows changes", () => {
    const out = new Capture();
    const view = lineProgress(out, () => new Date("2026-11-23T10:00:07Z"));
    const snap: WatchSnapshot = {
      phase: "Progressing",
      total: 4,
      target: 2,
      updated: 1,
      ready: 3,
      percent: 50,
      paused: false,
      wave: 1,
    };
    view.update(snap);
    view.update({ ...snap });
    view.update({ ...snap, updated: 2, reason: "waiting for web-2" });
    view.stop();
    expect(out.text).to.equal(
      [
        "10:00:07 updated 1/4 (target 2 at 50%) · ready 3/4 · Progressing · wave 1",
        "10:00:07 updated 2/4 (target 2 at 50%) · ready 3/4 · Progressing · wave 1 · waiting for web-2",
        "",
      ].join("\n"),
    );
  });
  it("formatAge reads like kubectl's AGE column", () => {
    const now = new Date("2026-11-23T12:00:00Z");
    const cases: Array<[string | undefined, string]> = [
      ["2026-11-23T11:59:15Z", "45s"],
      ["2026-11-23T11:48:00Z", "12m"],
      ["2026-11-23T07:00:00Z", "5h"],
      ["2026-11-20T12:00:00Z", "3d"],
      ["2026-11-23T12:00:05Z", "0s"],
      [undefined, "<unknown>"],
      ["not a date", "<unknown>"],
    ];
    for (const [since, expected] of cases) expect(formatAge(since, now), String(since)).to.equal(expected);
  });
});

describe("kubectl-sroll: rollout groups (--group, list, status)", () => {
  const group = (order: number) => ({ group: { name: "ingester", order } });
  function seedGroup(h: Harness): void {
    seedRollout(h.api, { ...group(1), percent: 100 }, { ...PROGRESSING }, "default", "zone-a");
    seedRollout(h.api, { ...group(2), percent: 100, pauseRequested: true }, { ...PROGRESSING }, "default", "zone-b");
    seedRollout(h.api, { ...group(3), percent: 100 }, { ...PROGRESSING }, "default", "zone-c");
    seedRollout(h.api, { percent: 100 }, { ...PROGRESSING }, "default", "alone");
  }

  it("pause --group pauses every member in order, one patch each; an already paused one is unchanged", async () => {
    const h = harness();
    seedGroup(h);
    expect(await h.run("pause", "--group", "ingester")).to.equal(0);
    expect(h.api.patches.map((p) => p.name)).to.deep.equal(["zone-a", "zone-c"]);
    expect(h.stdout.text).to.equal(
      [
        "statefulsetrollout.bulkhead.dev/zone-a paused",
        "  spec.pauseRequested: false → true",
        "statefulsetrollout.bulkhead.dev/zone-b unchanged: statefulsetrollout zone-b is already paused (spec.pauseRequested is true); resume it with: kubectl sroll resume zone-b",
        "statefulsetrollout.bulkhead.dev/zone-c paused",
        "  spec.pauseRequested: false → true",
        "group ingester: 2 of 3 member(s) paused; the others needed nothing",
        "",
      ].join("\n"),
    );
    expect((h.api.object("default", "alone").spec as Obj).pauseRequested).to.not.equal(true);
  });

  it("rollback --group: a member that cannot be rolled back is named, the others stay rolled back, exit 1", async () => {
    const h = harness();
    seedGroup(h);
    h.api.setStatus("default", "zone-b", { ...PROGRESSING, previousTemplate: undefined });
    expect(await h.run("rollback", "--group", "ingester")).to.equal(1);
    expect(h.api.patches.map((p) => p.name)).to.deep.equal(["zone-a", "zone-c"]);
    expect(h.stdout.text).to.include(
      "statefulsetrollout.bulkhead.dev/zone-b NOT rolled back: statefulsetrollout zone-b has no previous template",
    );
    expect(h.stdout.text).to.include(
      "group ingester: 2 of 3 member(s) rolled back (zone-a, zone-c; they stay rolled back); not rolled back: zone-b",
    );
    expect(h.stderr.text).to.equal("error: group ingester: not every member was rolled back (see above)\n");
    // One identity for the whole group action.
    const ids = ["zone-a", "zone-c"].map((n) => (h.api.object("default", n).spec as Obj).rolloutIdentity);
    expect(ids[0]).to.equal(ids[1]);
  });

  it("a member the API refuses is reported and the others are still acted on", async () => {
    const h = harness();
    seedGroup(h);
    const patch = h.api.patch.bind(h.api);
    h.api.patch = async (namespace, name, body) => {
      if (name === "zone-a") throw apiError(403, "forbidden: cannot patch zone-a");
      return patch(namespace, name, body);
    };
    expect(await h.run("pause", "--group", "ingester")).to.equal(1);
    expect(h.stdout.text).to.match(/zone-a NOT paused: .*forbidden/);
    expect(h.api.patches.map((p) => p.name)).to.deep.equal(["zone-c"]);
    expect(h.stdout.text).to.include(
      "group ingester: 1 of 3 member(s) paused (zone-c; they stay paused); not paused: zone-a",
    );
  });

  it("promote --group PERCENT sets every member's percent", async () => {
    const h = harness();
    seedRollout(h.api, { ...group(1), percent: 50 }, { ...PROGRESSING }, "default", "zone-a");
    seedRollout(h.api, { ...group(2), percent: 50 }, { ...PROGRESSING }, "default", "zone-b");
    expect(await h.run("promote", "--group", "ingester", "100")).to.equal(0);
    expect((h.api.object("default", "zone-a").spec as Obj).percent).to.equal(100);
    expect((h.api.object("default", "zone-b").spec as Obj).percent).to.equal(100);
  });

  const usage: Array<[string[], RegExp, number]> = [
    [["pause", "web", "--group", "ingester"], /give a rollout name or --group ingester, not both/, 2],
    [["pause"], /give the StatefulsetRollout's name, or --group GROUP/, 2],
    [["pause", "--group", "ingester", "-o", "yaml"], /cannot be combined with --group/, 2],
    [["resume", "--group", "nope"], /no StatefulsetRollout in namespace default names group nope/, 1],
  ];
  for (const [argv, message, code] of usage)
    it(`${argv.join(" ")} → exit ${code}`, async () => {
      const h = harness();
      seedGroup(h);
      expect(await h.run(...argv)).to.equal(code);
      expect(h.stderr.text).to.match(message);
      expect(h.api.patches).to.have.length(0);
    });

  it("list shows each rollout's group and what it waits for", async () => {
    const h = harness();
    seedGroup(h);
    h.api.setStatus("default", "zone-b", {
      ...PROGRESSING,
      group: { name: "ingester", members: [], active: "zone-a", waitingFor: "zone-a (order 1) to finish: Progressing" },
    });
    expect(await h.run("list")).to.equal(0);
    const lines = h.stdout.text.split("\n");
    expect(lines[0]).to.match(/GROUP\s+WAITING FOR$/);
    expect(lines.find((l) => l.startsWith("zone-b"))).to.match(
      /ingester\/2\s+zone-a \(order 1\) to finish: Progressing$/,
    );
    expect(lines.find((l) => l.startsWith("alone"))).to.match(/-\s+-$/);
  });

  it("status shows the group, its members with the active one, and what this member waits for", async () => {
    const h = harness();
    seedGroup(h);
    h.api.setStatus("default", "zone-b", {
      ...PROGRESSING,
      group: {
        name: "ingester",
        members: [
          { name: "zone-a", order: 1, phase: "Progressing", unavailable: 2 },
          { name: "zone-b", order: 2, phase: "Progressing", unavailable: 0 },
        ],
        active: "zone-a",
        waitingFor: "zone-a (order 1) to finish: Progressing",
      },
    });
    expect(await h.run("status", "zone-b")).to.equal(0);
    expect(h.stdout.text).to.include("Group:        ingester · order 2\n");
    expect(h.stdout.text).to.include(
      "Members:      zone-a (1) Progressing, 2 unavailable ← active · zone-b (2) Progressing\n",
    );
    expect(h.stdout.text).to.include("Waiting for:  zone-a (order 1) to finish: Progressing\n");
  });
});
