// Pod churn: how many pods a run really created, from one watch on pods.
//
// A rollout of N pods replaces N pods. A simulator that deletes pods it should not (KWOK
// v0.8.0 deleting by name, see hack/kwok/README.md) makes the StatefulSet controller create
// many more, and the run measures the simulator instead of the rollout. PodChurnWatch records
// every pod incarnation (uid) and tells, per run:
//   created      incarnations first seen after the watch started
//   replaced     StatefulSet pods recreated on a different revision than their predecessor
//   recreated    StatefulSet pods recreated on the SAME revision as their predecessor: what
//                a rollout never does and the simulator's loop does (evictions and node loss
//                do it by design: tests that cause them state an allowance)
// Used by the e2e harness (test/e2e/support/cluster.ts, after every test) and by the
// benchmarks (bench/support/pod-churn.ts). No mocha here: it takes a KubeConfig.
import { CoreV1Api, type KubeConfig, type V1Pod, Watch } from "@kubernetes/client-node";

/** The label the StatefulSet controller puts on every pod: the revision it was created from. */
const REVISION_LABEL = "controller-revision-hash";
/** Server-side watch timeout; the client aborts a watch silent for 30 s, so stay below. */
const WATCH_TIMEOUT_SECONDS = 20;
/** Bounds: a run that sees more incarnations than this is broken anyway. */
const MAX_INCARNATIONS = 200_000;

export interface PodIncarnation {
  namespace: string;
  name: string;
  uid: string;
  /** controller-revision-hash; undefined for pods no StatefulSet owns. */
  revision: string | undefined;
  /** Seen in the initial list (existed before the watch started). */
  preexisting: boolean;
  /** Index in creation order among all incarnations this watch saw (for "since" queries). */
  seq: number;
  /** uid of the previous incarnation with the same namespace/name, if this watch saw one. */
  predecessorUid: string | undefined;
  /** Node the pod was bound to (once bound). */
  node: string | undefined;
  /** Grace period of the first deletion seen (0: removed without a grace period). */
  deletionGraceSeconds: number | undefined;
  deleted: boolean;
}

/** A StatefulSet pod created on the same revision as the incarnation it replaced. */
export interface Recreation {
  namespace: string;
  name: string;
  uid: string;
  predecessorUid: string;
  revision: string;
  /** Node the predecessor ran on. */
  predecessorNode: string | undefined;
  /** The predecessor was removed with grace period 0 without a graceful deletion first. */
  predecessorForced: boolean;
}

export interface PodChurnReport {
  /** Incarnations created after the watch started (optionally: in one namespace, after a mark). */
  created: number;
  /** Pods removed (DELETED events). */
  deleted: number;
  /** StatefulSet pods recreated on a different revision than their predecessor. */
  replaced: number;
  /** StatefulSet pods recreated on the same revision as their predecessor. */
  recreated: Recreation[];
  /** False when the watch had to relist (410 Gone) and may have missed incarnations. */
  complete: boolean;
}

export interface ChurnScope {
  /** Only this namespace (default: all). */
  namespace?: string;
  /** Only incarnations created after this mark (see PodChurnWatch.mark()). */
  since?: number;
}

function ownedByStatefulSet(pod: V1Pod): boolean {
  return (pod.metadata?.ownerReferences ?? []).some((o) => o.kind === "StatefulSet" && o.controller === true);
}

/**
 * One watch on pods (all namespaces, or one), kept open until stop(). Reconnects from the
 * last resourceVersion it saw; if the apiserver answers 410 Gone it relists and marks the
 * report incomplete rather than guessing.
 */
export class PodChurnWatch {
  private readonly byUid = new Map<string, PodIncarnation>();
  private readonly latestByName = new Map<string, string>();
  private resourceVersion = "";
  private seq = 0;
  private deletions = 0;
  private gaps = 0;
  private stopped = false;
  private abort: AbortController | undefined;
  private failure: Error | undefined;
  private readonly core: CoreV1Api;
  private readonly watcher: Watch;

  private constructor(
    kc: KubeConfig,
    private readonly namespace: string | undefined,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.watcher = new Watch(kc);
  }

  /** Lists the pods that exist now (not counted as created) and starts watching. */
  static async start(kc: KubeConfig, opts: { namespace?: string } = {}): Promise<PodChurnWatch> {
    const w = new PodChurnWatch(kc, opts.namespace);
    await w.relist(true);
    void w.watchLoop();
    return w;
  }

  /** A mark to pass as `since`: only incarnations created after it count. */
  mark(): number {
    return this.seq;
  }

  /**
   * Waits until the watch has seen every pod that exists now (in `namespace`, or
   * everywhere), so a report taken next includes everything created before this call.
   */
  async settle(opts: { namespace?: string; timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    const ns = opts.namespace ?? this.namespace;
    for (;;) {
      if (this.failure) throw this.failure;
      const list = ns
        ? await this.core.listNamespacedPod({ namespace: ns })
        : await this.core.listPodForAllNamespaces();
      const missing = list.items.filter((p) => p.metadata?.uid && !this.byUid.has(p.metadata.uid));
      if (missing.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `pod watch did not catch up within ${opts.timeoutMs ?? 30_000} ms: ${missing.length} pods unseen, e.g. ` +
            missing
              .slice(0, 3)
              .map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`)
              .join(", "),
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  report(scope: ChurnScope = {}): PodChurnReport {
    const since = scope.since ?? 0;
    const inScope = [...this.byUid.values()].filter(
      (i) => !i.preexisting && i.seq > since && (!scope.namespace || i.namespace === scope.namespace),
    );
    const recreated: Recreation[] = [];
    let replaced = 0;
    for (const i of inScope) {
      const before = i.predecessorUid ? this.byUid.get(i.predecessorUid) : undefined;
      if (!before || i.revision === undefined || before.revision === undefined) continue;
      if (before.revision !== i.revision) {
        replaced++;
        continue;
      }
      recreated.push({
        namespace: i.namespace,
        name: i.name,
        uid: i.uid,
        predecessorUid: before.uid,
        revision: i.revision,
        predecessorNode: before.node,
        predecessorForced: before.deletionGraceSeconds === 0,
      });
    }
    return {
      created: inScope.length,
      deleted: scope.namespace || scope.since ? this.countDeleted(scope) : this.deletions,
      replaced,
      recreated,
      complete: this.gaps === 0,
    };
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private countDeleted(scope: ChurnScope): number {
    let n = 0;
    for (const i of this.byUid.values()) {
      if (i.deleted && (!scope.namespace || i.namespace === scope.namespace) && i.seq > (scope.since ?? 0)) n++;
    }
    return n;
  }

  private key(ns: string, name: string): string {
    return `${ns}/${name}`;
  }

  private observe(pod: V1Pod, preexisting: boolean): PodIncarnation | undefined {
    const uid = pod.metadata?.uid;
    const name = pod.metadata?.name;
    const ns = pod.metadata?.namespace;
    if (!uid || !name || !ns) return undefined;
    let inc = this.byUid.get(uid);
    if (!inc) {
      if (this.byUid.size >= MAX_INCARNATIONS) {
        this.failure ??= new Error(`more than ${MAX_INCARNATIONS} pod incarnations: pod churn is out of control`);
        this.stop();
        return undefined;
      }
      const k = this.key(ns, name);
      inc = {
        namespace: ns,
        name,
        uid,
        revision: ownedByStatefulSet(pod) ? pod.metadata?.labels?.[REVISION_LABEL] : undefined,
        preexisting,
        seq: ++this.seq,
        predecessorUid: this.latestByName.get(k),
        node: undefined,
        deletionGraceSeconds: undefined,
        deleted: false,
      };
      this.byUid.set(uid, inc);
      this.latestByName.set(k, uid);
    }
    if (pod.spec?.nodeName) inc.node = pod.spec.nodeName;
    if (pod.metadata?.deletionTimestamp && inc.deletionGraceSeconds === undefined) {
      inc.deletionGraceSeconds = pod.metadata.deletionGracePeriodSeconds ?? 0;
    }
    return inc;
  }

  private async relist(initial: boolean): Promise<void> {
    const list = this.namespace
      ? await this.core.listNamespacedPod({ namespace: this.namespace })
      : await this.core.listPodForAllNamespaces();
    for (const pod of list.items) this.observe(pod, initial);
    this.resourceVersion = list.metadata?.resourceVersion ?? "";
  }

  private async watchLoop(): Promise<void> {
    const path = this.namespace ? `/api/v1/namespaces/${this.namespace}/pods` : "/api/v1/pods";
    let failuresInARow = 0;
    while (!this.stopped) {
      const ended = await new Promise<unknown>((resolveEnd) => {
        this.watcher
          .watch(
            path,
            {
              resourceVersion: this.resourceVersion,
              allowWatchBookmarks: true,
              timeoutSeconds: WATCH_TIMEOUT_SECONDS,
            },
            (type: string, obj: V1Pod & { code?: number }) => this.onEvent(type, obj),
            (err: unknown) => resolveEnd(err ?? null),
          )
          .then(
            (abort) => (this.abort = abort),
            (err: unknown) => resolveEnd(err),
          );
      });
      if (this.stopped) return;
      if ((ended as { statusCode?: number } | null)?.statusCode === 410) this.resourceVersion = "";
      if (this.resourceVersion === "") {
        // 410 Gone: history is lost. Relist, and say so in the report.
        this.gaps++;
        try {
          await this.relist(false);
          failuresInARow = 0;
        } catch (err) {
          if (++failuresInARow > 5) this.failure = err as Error;
          await new Promise((r) => setTimeout(r, 500));
        }
      } else if (ended) {
        if (++failuresInARow > 20) {
          this.failure = new Error(`pod watch keeps failing: ${(ended as Error).message ?? String(ended)}`);
          return;
        }
        await new Promise((r) => setTimeout(r, 200));
      } else {
        failuresInARow = 0;
      }
    }
  }

  private onEvent(type: string, obj: V1Pod & { code?: number }): void {
    if (type === "ERROR") {
      if (obj.code === 410) this.resourceVersion = "";
      return;
    }
    const rv = obj.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (type === "BOOKMARK") return;
    const inc = this.observe(obj, false);
    if (type === "DELETED" && inc && !inc.deleted) {
      inc.deleted = true;
      this.deletions++;
    }
  }
}

/** "ns/web-3 (revision abc, predecessor removed with grace 0)" for the first few recreations. */
export function describeRecreations(recreated: Recreation[], max = 5): string {
  const shown = recreated
    .slice(0, max)
    .map(
      (r) =>
        `${r.namespace}/${r.name} on revision ${r.revision}${r.predecessorForced ? " (predecessor removed with grace 0)" : ""}`,
    );
  return shown.join(", ") + (recreated.length > max ? `, and ${recreated.length - max} more` : "");
}

/**
 * The e2e harness's check, test by test: a StatefulSet pod recreated on the same revision
 * is the simulator's loop unless the test caused it (an eviction, a deleted node) and said so
 * with allow(). Violations are collected; the harness fails the run with them at the end.
 */
export class PodChurnGuard {
  private mark = 0;
  private allowance = 0;
  private readonly allowedNodes = new Set<string>();
  private reasons: string[] = [];
  private readonly found: string[] = [];

  private constructor(
    private readonly watch: PodChurnWatch,
    private readonly inScope: (namespace: string) => boolean,
  ) {}

  static async start(kc: KubeConfig, inScope: (namespace: string) => boolean): Promise<PodChurnGuard> {
    return new PodChurnGuard(await PodChurnWatch.start(kc), inScope);
  }

  beginTest(): void {
    this.mark = this.watch.mark();
    this.allowance = 0;
    this.allowedNodes.clear();
    this.reasons = [];
  }

  /** The running test recreates up to `count` more pods on purpose (`reason` says why). */
  allow(count: number, reason: string): void {
    if (!Number.isInteger(count) || count < 0) throw new Error(`pod recreation allowance must be >= 0 (got ${count})`);
    this.allowance += count;
    this.reasons.push(`${count}: ${reason}`);
  }

  /** The running test drains or deletes `node`: every pod that ran there may come back (`reason` says why). */
  allowFromNode(node: string, reason: string): void {
    this.allowedNodes.add(node);
    this.reasons.push(`pods of node ${node}: ${reason}`);
  }

  /** Checks the test that just ended; returns the problem (also kept for violations()). */
  async endTest(title: string): Promise<string | undefined> {
    let problem: string | undefined;
    try {
      await this.watch.settle();
      const report = this.watch.report({ since: this.mark });
      const recreated = report.recreated.filter(
        (r) => this.inScope(r.namespace) && !(r.predecessorNode && this.allowedNodes.has(r.predecessorNode)),
      );
      if (!report.complete) problem = "the pod watch lost history (410 Gone); pod recreations cannot be counted";
      else if (recreated.length > this.allowance) {
        const allowed = this.reasons.length ? ` (allowed: ${this.reasons.join("; ")})` : "";
        problem =
          `${recreated.length} StatefulSet pods recreated on the same revision${allowed}: ` +
          `${describeRecreations(recreated)}. Pods created ≠ pods replaced: if the test deletes pods on ` +
          "purpose, call allowPodRecreations(); otherwise see hack/kwok/README.md";
      }
    } catch (err) {
      problem = `pod churn could not be checked: ${(err as Error).message}`;
    }
    if (problem) this.found.push(`${title}: ${problem}`);
    return problem;
  }

  violations(): string[] {
    return [...this.found];
  }

  stop(): void {
    this.watch.stop();
  }
}
