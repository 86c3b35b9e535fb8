// An in-memory cluster for reconciler component tests (no HTTP): it implements the reconciler's
// ports (RolloutApi, WorldSource, ClusterWriter) and simulates just enough of Kubernetes —
// the StatefulSet controller (OnDelete: recreates a deleted pod from the update revision, or
// the pinned one when `pinning` is on), the disruption controller and the Eviction API's PDB
// check (a Ready pod needs a disruption left), pods turning Ready after `readyDelayMs` — and records every eviction.
import type { DesiredPdb, StatefulSetChanges } from "../../api/desired.js";
import { canonicalJson, templateHash } from "../../api/desired.js";
import type { PdbObject, PodObject, StatefulSetObject } from "../../api/observe.js";
import { desiredRevisionForOrdinal } from "../../api/revisions.js";
import { parseRollout } from "../../api/rollout.js";
import type {
  ClusterWriter,
  EvictionResult,
  RawRollout,
  ReleaseResult,
  RolloutApi,
  TakeDownOutcome,
} from "../../adapters/kube/rollouts.js";
import type { TakeDownRequest } from "../../api/take-down.js";
import { releasedMetadata, type ReleaseMode, type RolloutMetaLike } from "../../api/lifecycle.js";
import type { WorldSource } from "../../reconciler/world.js";

interface FakePod {
  name: string;
  uid: string;
  ordinal: number;
  revision: string;
  ready: boolean;
  createdAt: number;
  readyAt: number;
  image: string;
}

interface Sts {
  obj: StatefulSetObject & {
    metadata: NonNullable<StatefulSetObject["metadata"]>;
    spec: NonNullable<StatefulSetObject["spec"]>;
  };
  revisions: Map<string, string>; // revision -> image
}

export interface FakeClusterOptions {
  readyDelayMs?: number;
  /** Simulate the pinning webhook (/mutate/pod) with desiredRevisionForOrdinal. */
  pinning?: boolean;
  /** Images containing this never become Ready. */
  neverReady?: string;
  /** The rollout's (and its StatefulSet's) name, default "web"; pods are <app>-<ordinal>. */
  app?: string;
}

export interface EvictionRecord {
  pod: string;
  uid: string;
  revision: string;
  at: number;
  unavailableBefore: number;
  allowedBefore: number;
}

export class FakeCluster implements RolloutApi, WorldSource, ClusterWriter {
  rollouts = new Map<string, RawRollout>();
  private rv = 1;
  private uidSeq = 1;
  sts?: Sts;
  podMap = new Map<string, FakePod>();
  pdbObj?: PdbObject & { spec: NonNullable<PdbObject["spec"]> };
  evictions: EvictionRecord[] = [];
  /** Status write conflicts to inject: each decrements and throws a 409. */
  conflictsToInject = 0;
  /** Another writer, run once per status write before it lands (it may call writeStatusAsAnotherWriter). */
  beforeStatusWrite?: (body: RawRollout) => void;
  /** Evictions throw, as if the reconciler died before making them. */
  crashOnEviction = false;
  /** While set, every take-down is refused with this reason, as the PDB would refuse it. */
  refuseTakeDowns?: string;
  /** Take-down batches asked for (refused ones included; not those dropped because their status did not land). */
  takeDownCalls = 0;
  /** Take-down batches started, counted before they wait for their status (the adapter's live reads). */
  takeDownsStarted = 0;
  /** Called as a pod is about to be deleted by a take-down (e.g. to check what status says then). */
  beforeEvict?: (pod: string) => void;
  /** Called on every change, like an informer event. */
  onChange: (key: string) => void = () => {};
  private timers: NodeJS.Timeout[] = [];

  /** The rollout's and its StatefulSet's name. */
  readonly app: string;
  private readonly uidSuffix: string;

  constructor(private readonly options: FakeClusterOptions = {}) {
    this.app = options.app ?? "web";
    this.uidSuffix = this.app === "web" ? "" : `-${this.app}`;
  }

  // --- rollouts (RolloutApi) -----------------------------------------------------------
  putRollout(obj: RawRollout): void {
    const key = `${obj.metadata?.namespace}/${obj.metadata?.name}`;
    const prev = this.rollouts.get(key);
    const specChanged = !prev || canonicalJson(prev.spec) !== canonicalJson(obj.spec);
    const generation = (prev?.metadata?.generation ?? 0) + (specChanged ? 1 : 0);
    this.rollouts.set(key, {
      ...structuredClone(obj),
      status: prev?.status,
      metadata: {
        ...obj.metadata,
        uid: prev?.metadata?.uid ?? `uid-rollout${this.uidSuffix}`,
        generation,
        resourceVersion: String(this.rv++),
        ...(prev?.metadata?.finalizers ? { finalizers: prev.metadata.finalizers } : {}),
      },
    });
    this.onChange(key);
  }

  /** kubectl delete: with finalizers it only gets a deletionTimestamp (and `extraFinalizer`, e.g. "orphan"). */
  deleteRollout(key = `ns/${this.app}`, extraFinalizer?: string): void {
    const live = this.rollouts.get(key);
    if (!live) return;
    const finalizers = [...(live.metadata?.finalizers ?? []), ...(extraFinalizer ? [extraFinalizer] : [])];
    if (finalizers.length === 0) this.rollouts.delete(key);
    else
      this.rollouts.set(key, {
        ...live,
        metadata: {
          ...live.metadata,
          finalizers,
          deletionTimestamp: new Date().toISOString(),
          resourceVersion: String(this.rv++),
        },
      });
    this.onChange(key);
  }

  async replace(namespace: string, name: string, body: RawRollout): Promise<RawRollout> {
    const key = `${namespace}/${name}`;
    const live = this.rollouts.get(key);
    if (!live) throw Object.assign(new Error("not found"), { code: 404 });
    if (body.metadata?.resourceVersion !== live.metadata?.resourceVersion)
      throw Object.assign(new Error("conflict"), { code: 409 });
    const finalizers = [...(body.metadata?.finalizers ?? [])];
    if (live.metadata?.deletionTimestamp && finalizers.length === 0) {
      this.rollouts.delete(key);
      return structuredClone(live);
    }
    // Only metadata.finalizers is taken from the body here: what the reconciler may change.
    const next = { ...live, metadata: { ...live.metadata, finalizers, resourceVersion: String(this.rv++) } };
    this.rollouts.set(key, next);
    return structuredClone(next);
  }

  async get(namespace: string, name: string): Promise<RawRollout | undefined> {
    const r = this.rollouts.get(`${namespace}/${name}`);
    return r ? structuredClone(r) : undefined;
  }

  async replaceStatus(namespace: string, name: string, body: RawRollout): Promise<RawRollout> {
    const key = `${namespace}/${name}`;
    const live = this.rollouts.get(key);
    if (!live) throw Object.assign(new Error("not found"), { code: 404 });
    this.beforeStatusWrite?.(body);
    if (this.conflictsToInject > 0) {
      this.conflictsToInject--;
      this.rollouts.get(key)!.metadata!.resourceVersion = String(this.rv++); // someone else wrote meanwhile
      throw Object.assign(new Error("conflict"), { code: 409 });
    }
    const stored = this.rollouts.get(key)!;
    if (body.metadata?.resourceVersion !== stored.metadata?.resourceVersion)
      throw Object.assign(new Error("conflict"), { code: 409 });
    const next = {
      ...stored,
      status: structuredClone(body.status),
      metadata: { ...stored.metadata, resourceVersion: String(this.rv++) },
    };
    this.rollouts.set(key, next);
    return structuredClone(next);
  }

  /** A status write by someone else (another reconciler instance): a new resourceVersion. */
  writeStatusAsAnotherWriter(status: Record<string, unknown>, key = `ns/${this.app}`): void {
    const live = this.rollouts.get(key)!;
    this.rollouts.set(key, {
      ...live,
      status: structuredClone(status),
      metadata: { ...live.metadata, resourceVersion: String(this.rv++) },
    });
  }

  status(key = `ns/${this.app}`) {
    const r = this.rollouts.get(key);
    const parsed = parseRollout(r);
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.value.status ?? {};
  }

  // --- world (WorldSource) --------------------------------------------------------------
  async statefulSet(_namespace: string, name: string): Promise<StatefulSetObject | undefined> {
    return this.sts && this.sts.obj.metadata.name === name ? structuredClone(this.sts.obj) : undefined;
  }

  pods(_namespace: string, _stsName: string): readonly PodObject[] {
    return [...this.podMap.values()].map((p) => this.podObject(p));
  }

  async revisionExists(_namespace: string, name: string): Promise<boolean> {
    return this.sts?.revisions.has(name) ?? false;
  }

  pdb(_namespace: string, name: string): PdbObject | undefined {
    if (!this.pdbObj || this.pdbObj.metadata?.name !== name) return undefined;
    return {
      ...structuredClone(this.pdbObj),
      status: {
        observedGeneration: this.pdbObj.metadata?.generation ?? 1,
        disruptionsAllowed: this.disruptionsAllowed(),
        currentHealthy: this.healthy(),
      },
    };
  }

  // --- writes (ClusterWriter) -----------------------------------------------------------
  async createStatefulSet(_namespace: string, body: Record<string, unknown>): Promise<void> {
    if (this.sts) throw Object.assign(new Error("exists"), { code: 409 });
    this.sts = { obj: structuredClone(body) as unknown as Sts["obj"], revisions: new Map() };
    this.sts.obj.metadata.generation = 1;
    this.sts.obj.metadata.uid = `uid-sts${this.uidSuffix}`;
    this.syncStatefulSet();
  }

  async updateStatefulSet(_namespace: string, _name: string, changes: StatefulSetChanges): Promise<void> {
    const sts = this.sts!;
    const m = sts.obj.metadata;
    m.labels = { ...(m.labels ?? {}), ...changes.labels };
    m.annotations = { ...(m.annotations ?? {}), ...changes.annotations };
    for (const key of changes.removeAnnotations ?? []) delete m.annotations[key];
    if (!(m.ownerReferences ?? []).some((o) => o.uid === changes.ownerReference.uid))
      m.ownerReferences = [...(m.ownerReferences ?? []), changes.ownerReference];
    if (changes.revisionHistoryLimit !== undefined) sts.obj.spec.revisionHistoryLimit = changes.revisionHistoryLimit;
    sts.obj.spec.replicas = changes.replicas;
    sts.obj.spec.updateStrategy = changes.updateStrategy;
    if (changes.template) sts.obj.spec.template = changes.template;
    m.generation = (m.generation ?? 1) + 1;
    this.syncStatefulSet();
  }

  async applyPdb(_namespace: string, pdb: DesiredPdb): Promise<void> {
    this.pdbObj = {
      metadata: {
        name: pdb.name,
        generation: (this.pdbObj?.metadata?.generation ?? 0) + 1,
        labels: pdb.labels,
        ownerReferences: [pdb.ownerReference],
      },
      spec: {
        maxUnavailable: pdb.maxUnavailable,
        selector: { matchLabels: pdb.selector },
        unhealthyPodEvictionPolicy: pdb.unhealthyPodEvictionPolicy,
      },
    };
    this.changed();
  }

  /** A batch as the real adapter takes it down: each Ready pod needs a disruption left (api/take-down.ts). */
  async takeDown(
    _namespace: string,
    pods: readonly TakeDownRequest[],
    recorded?: Promise<boolean>,
  ): Promise<TakeDownOutcome[]> {
    this.takeDownsStarted++;
    // As the adapter: nothing is written before the status that names these pods has landed.
    if (recorded && !(await recorded)) return [];
    if (this.crashOnEviction) throw new Error("the reconciler died before taking these pods down");
    this.takeDownCalls++;
    const refused = this.refuseTakeDowns;
    if (refused !== undefined) return pods.map((p) => ({ name: p.name, result: "blocked" as const, why: refused }));
    const outcomes: TakeDownOutcome[] = [];
    for (const p of pods) outcomes.push({ name: p.name, result: this.evict(p.name, p.uid) });
    return outcomes;
  }

  private evict(name: string, uid: string): EvictionResult {
    const pod = this.podMap.get(name);
    if (!pod || pod.uid !== uid) return "gone";
    const allowed = this.disruptionsAllowed();
    const unavailable = this.unavailable();
    if (pod.ready && allowed <= 0) return "blocked";
    this.beforeEvict?.(name);
    this.evictions.push({
      pod: name,
      uid,
      revision: pod.revision,
      at: Date.now(),
      unavailableBefore: unavailable,
      allowedBefore: allowed,
    });
    this.podMap.delete(name);
    this.changed();
    // The StatefulSet controller recreates it shortly after.
    this.later(5, () => this.syncStatefulSet());
    return "evicted";
  }

  async releaseStatefulSet(
    _namespace: string,
    name: string,
    rollout: RolloutMetaLike,
    mode: ReleaseMode,
  ): Promise<ReleaseResult> {
    if (!this.sts || this.sts.obj.metadata.name !== name) return "gone";
    const released = releasedMetadata(this.sts.obj.metadata, rollout, mode);
    if (!released) return "untouched";
    Object.assign(this.sts.obj.metadata, released);
    return "released";
  }

  async releasePdb(
    _namespace: string,
    name: string,
    rollout: RolloutMetaLike,
    mode: ReleaseMode,
  ): Promise<ReleaseResult> {
    if (!this.pdbObj || this.pdbObj.metadata?.name !== name) return "gone";
    const released = releasedMetadata(this.pdbObj.metadata, rollout, mode);
    if (!released) return "untouched";
    Object.assign(this.pdbObj.metadata, released);
    return "released";
  }

  /** The StatefulSet controller's history truncation took this revision. */
  dropRevision(name: string): void {
    this.sts?.revisions.delete(name);
  }

  // --- simulation -------------------------------------------------------------------------
  maxUnavailable(): number {
    const replicas = this.sts?.obj.spec.replicas ?? 0;
    const mu = this.pdbObj?.spec.maxUnavailable ?? 0;
    return typeof mu === "number" ? mu : Math.ceil((replicas * Number(mu.replace("%", ""))) / 100);
  }

  healthy(): number {
    const replicas = this.sts?.obj.spec.replicas ?? 0;
    return [...this.podMap.values()].filter((p) => p.ready && p.ordinal < replicas).length;
  }

  unavailable(): number {
    const replicas = this.sts?.obj.spec.replicas ?? 0;
    const ready = [...this.podMap.values()].filter((p) => p.ready && p.ordinal < replicas).length;
    return replicas - ready;
  }

  disruptionsAllowed(): number {
    return Math.max(0, this.maxUnavailable() - this.unavailable());
  }

  stop(): void {
    this.timers.forEach(clearTimeout);
    this.timers = [];
  }

  private later(ms: number, fn: () => void): void {
    this.timers.push(setTimeout(fn, ms));
  }

  private changed(): void {
    for (const key of this.rollouts.keys()) this.onChange(key);
  }

  private imageOf(template: unknown): string {
    const t = template as { spec?: { containers?: Array<{ image?: string }> } };
    return t.spec?.containers?.[0]?.image ?? "";
  }

  /** The StatefulSet controller: revisions, and pods for missing ordinals. */
  private syncStatefulSet(): void {
    const sts = this.sts;
    if (!sts) return;
    const image = this.imageOf(sts.obj.spec.template);
    const updateRevision = `${this.app}-${templateHash(sts.obj.spec.template).slice(0, 8)}`;
    sts.revisions.set(updateRevision, image);
    const status: NonNullable<StatefulSetObject["status"]> = {
      observedGeneration: sts.obj.metadata.generation ?? 1,
      updateRevision,
    };
    status.currentRevision = sts.obj.status?.currentRevision ?? updateRevision;
    sts.obj.status = status;
    const replicas = sts.obj.spec.replicas ?? 1;
    for (let i = 0; i < replicas; i++) {
      const name = `${this.app}-${i}`;
      if (this.podMap.has(name)) continue;
      let revision = updateRevision;
      if (this.options.pinning) {
        const raw = this.rollouts.get(`ns/${this.app}`);
        const parsed = parseRollout(raw);
        if (
          parsed.ok &&
          desiredRevisionForOrdinal(parsed.value, i) === "current" &&
          parsed.value.status?.currentRevision
        ) {
          revision = parsed.value.status.currentRevision;
        }
      }
      const podImage = sts.revisions.get(revision) ?? image;
      const delay = podImage.includes(this.options.neverReady ?? "\u0000")
        ? Number.POSITIVE_INFINITY
        : (this.options.readyDelayMs ?? 10);
      const pod: FakePod = {
        name,
        uid: `uid-${this.uidSeq++}`,
        ordinal: i,
        revision,
        ready: false,
        createdAt: Date.now(),
        readyAt: Date.now() + delay,
        image: podImage,
      };
      this.podMap.set(name, pod);
      if (Number.isFinite(delay)) {
        this.later(delay, () => {
          if (this.podMap.get(name)?.uid === pod.uid) {
            pod.ready = true;
            this.changed();
          }
        });
      }
    }
    this.changed();
  }

  private podObject(p: FakePod): PodObject {
    return {
      metadata: {
        name: p.name,
        uid: p.uid,
        labels: { "controller-revision-hash": p.revision },
        creationTimestamp: new Date(p.createdAt).toISOString(),
        ownerReferences: [
          {
            apiVersion: "apps/v1",
            kind: "StatefulSet",
            name: this.app,
            uid: `uid-sts${this.uidSuffix}`,
            controller: true,
          },
        ],
      },
      status: { phase: "Running", conditions: [{ type: "Ready", status: p.ready ? "True" : "False" }] },
    };
  }
}

export function rolloutObject(spec: Record<string, unknown>, replicas = 4, image = "app:v1", app = "web"): RawRollout {
  return {
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: { name: app, namespace: "ns" },
    spec: {
      statefulset: {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: app },
        spec: {
          replicas,
          selector: { matchLabels: { app } },
          template: { metadata: { labels: { app } }, spec: { containers: [{ name: "app", image }] } },
        },
      },
      ...spec,
    },
  };
}
