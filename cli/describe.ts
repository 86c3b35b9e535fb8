// The text of `kubectl sroll status NAME`: the rollout, its waves and a per-pod view.
import { desiredReplicas, statefulSetName } from "../api/desired.js";
import { readPodsOfStatus, type PodView } from "../api/pod-summary.js";
import { podOrdinal, targetUpdatedCount } from "../api/revisions.js";
import { isTerminal } from "../api/rollout.js";
import type { StatefulsetRollout } from "../api/rollout.js";
import { wavesInFlight } from "../api/waves.js";
import { templateImages } from "../api/history.js";
import type { PodSummary, WatchSnapshot } from "./deps.js";
import type { Style } from "./style.js";
import { phaseText } from "./style.js";
import { formatAge, formatTable } from "./table.js";

export interface PodRow {
  name: string;
  ordinal: number;
  revision?: string;
  ready: boolean;
  consul?: boolean;
  state: string;
}

/**
 * Pods as the API shows them now, with Consul health from the rollout's status; when the pods
 * cannot be listed (RBAC), every pod the status shows (api/pod-summary.ts podsOfStatus).
 */
function podRows(rollout: StatefulsetRollout, pods: PodSummary[] | undefined, fromStatus: PodView[]): PodRow[] {
  const stsName = statefulSetName(rollout);
  const recorded = new Map(fromStatus.map((p) => [p.name, p]));
  const rows: PodRow[] = [];
  if (pods) {
    for (const pod of pods) {
      const ordinal = podOrdinal(pod.name, stsName);
      if (ordinal === undefined) continue;
      const seen = recorded.get(pod.name);
      rows.push({
        name: pod.name,
        ordinal,
        ...(pod.revision !== undefined ? { revision: pod.revision } : {}),
        ready: pod.ready,
        ...(seen?.consulPassing !== undefined ? { consul: seen.consulPassing } : {}),
        state: pod.reason ?? seen?.stuck ?? pod.phase,
      });
    }
  } else {
    for (const p of recorded.values()) {
      rows.push({
        name: p.name,
        ordinal: p.ordinal,
        ...(p.revision !== undefined ? { revision: p.revision } : {}),
        ready: p.ready,
        ...(p.consulPassing !== undefined ? { consul: p.consulPassing } : {}),
        state: p.stuck ?? (p.terminating ? "Terminating" : p.ready ? "Ready" : "NotReady"),
      });
    }
  }
  return rows.sort((a, b) => a.ordinal - b.ordinal);
}

function phasesLine(rollout: StatefulsetRollout): string {
  const phases = rollout.spec.phases;
  if (!phases || phases.length === 0) return "";
  const marked = phases.map((p) => (p === rollout.spec.percent ? `[${p}]` : String(p)));
  return ` · phases ${marked.join(" → ")}`;
}

function pausedLine(rollout: StatefulsetRollout): string {
  const requested = rollout.spec.pauseRequested;
  const paused = rollout.status?.paused ?? false;
  if (requested && paused) return "yes";
  if (requested) return "requested (stops after the current wave)";
  if (paused) return "resuming";
  return "no";
}

/** status.buildMetadata (api/build-metadata.ts): version, then branch@commit, then origin. */
export function buildLine(meta: Record<string, string> | undefined): string | undefined {
  if (!meta) return undefined;
  const git = [meta.branch, meta.commit ? meta.commit.slice(0, 12) : undefined].filter(Boolean).join("@");
  const parts = [meta.version, git, meta.origin].filter((p): p is string => Boolean(p));
  return parts.length > 0 ? parts.join(" · ") : undefined;
}

export function snapshotOf(rollout: StatefulsetRollout): WatchSnapshot {
  const status = rollout.status ?? {};
  const total = desiredReplicas(rollout);
  return {
    phase: status.phase ?? "Pending",
    ...(status.reason ? { reason: status.reason } : {}),
    total,
    target: status.targetReplicas ?? targetUpdatedCount(total, rollout.spec.percent),
    updated: status.updatedReplicas ?? 0,
    ready: status.readyReplicas ?? 0,
    percent: rollout.spec.percent,
    paused: rollout.status?.paused ?? false,
    ...(status.currentWave ? { wave: status.currentWave.number } : {}),
  };
}

/** True once the reconciler has seen the current spec and the rollout has ended. */
export function hasEnded(rollout: StatefulsetRollout): boolean {
  const status = rollout.status;
  if (!status || !isTerminal(status.phase)) return false;
  const generation = rollout.metadata.generation;
  return status.observedGeneration === undefined || generation === undefined || status.observedGeneration >= generation;
}

/**
 * The rollout's group (spec.group; status.group as the reconciler last wrote it): its place, the
 * members in order with the active one marked, and what this member waits for.
 */
export function groupLines(rollout: StatefulsetRollout): Array<[string, string]> {
  const spec = rollout.spec.group;
  if (!spec) return [];
  const status = rollout.status?.group;
  const lines: Array<[string, string]> = [["Group", `${spec.name} · order ${spec.order}`]];
  if (status && status.members.length > 0) {
    const members = status.members.map(
      (m) =>
        `${m.name} (${m.order}) ${m.phase ?? "Pending"}${m.unavailable ? `, ${m.unavailable} unavailable` : ""}` +
        (m.name === status.active ? " ← active" : ""),
    );
    lines.push(["Members", members.join(" · ")]);
  }
  lines.push(["Waiting for", status?.waitingFor ?? "-"]);
  return lines;
}

export function describeRollout(
  rollout: StatefulsetRollout,
  pods: PodSummary[] | undefined,
  now: Date,
  style: Style,
): string {
  const status = rollout.status ?? {};
  const snap = snapshotOf(rollout);
  const lines: Array<[string, string]> = [
    ["Name", rollout.metadata.name],
    ["Namespace", rollout.metadata.namespace ?? ""],
    ["Phase", phaseText(style, snap.phase) + (status.reason ? ` — ${status.reason}` : "")],
  ];
  if (
    status.observedGeneration !== undefined &&
    rollout.metadata.generation !== undefined &&
    status.observedGeneration < rollout.metadata.generation
  ) {
    lines.push([
      "",
      style.yellow(
        `(the reconciler has not seen the latest change yet: generation ${rollout.metadata.generation}, observed ${status.observedGeneration})`,
      ),
    ]);
  }
  lines.push(
    ["Identity", rollout.spec.rolloutIdentity ?? "-"],
    [
      "Percent",
      `${rollout.spec.percent}% requested · ${status.percentDeployed === undefined ? "-" : `${status.percentDeployed}%`} deployed${phasesLine(rollout)}`,
    ],
    ["Paused", pausedLine(rollout)],
    [
      "Replicas",
      `${snap.total} total · ${snap.target} to update · ${snap.updated} updated · ${snap.ready} ready` +
        (status.readyReplicasServiceDiscovery !== undefined
          ? ` · ${status.readyReplicasServiceDiscovery} passing in Consul`
          : ""),
    ],
  );
  if (status.currentRevision && status.currentRevision === status.updateRevision) {
    lines.push(["Revision", `${status.updateRevision} (every pod)`]);
  } else if (status.currentRevision || status.updateRevision) {
    lines.push(["Revisions", `${status.currentRevision ?? "?"} (current) → ${status.updateRevision ?? "?"} (update)`]);
  }
  lines.push(["Images", templateImages(rollout.spec.statefulset.spec.template)]);
  const build = buildLine(status.buildMetadata);
  if (build) lines.push(["Build", build]);
  if (status.previousTemplate && Object.keys(status.previousTemplate).length > 0) {
    lines.push(["Rollback to", templateImages(status.previousTemplate)]);
  }
  let waves = `${status.wavesCompleted ?? 0} completed`;
  // Waves are a pipeline: each one in flight, oldest first.
  for (const wave of wavesInFlight(status))
    waves += ` · wave ${wave.number} started ${formatAge(wave.startedAt, now)} ago: ${wave.pods.join(", ") || "(no pods)"}`;
  lines.push(["Waves", waves]);
  lines.push(...groupLines(rollout));
  if (rollout.spec.serviceDiscovery) {
    const found = status.consulServices ?? [];
    lines.push([
      "Consul",
      `${rollout.spec.serviceDiscovery.serviceNames.join(", ")} in ${rollout.spec.serviceDiscovery.dc}${found.length ? ` (found: ${found.join(", ")})` : ""}`,
    ]);
  }
  if (status.revisionMissing) lines.push(["Warning", style.yellow(status.revisionMissing)]);
  // A status edited by hand: the pods are listed from the API, and this says why status shows none.
  const fromStatus = readPodsOfStatus(status, statefulSetName(rollout));
  const { unreadable } = fromStatus;
  if (unreadable) lines.push(["Warning", style.yellow(`${unreadable} (the reconciler rewrites it on its next pass)`)]);
  // The reason already says what the conditions say; list them compactly for scripts' authors.
  if (status.conditions && status.conditions.length > 0) {
    lines.push(["Conditions", status.conditions.map((c) => `${c.type}=${c.status}`).join(", ")]);
  }
  // A fixed label column, so the layout does not shift as optional lines come and go.
  const width = 14;
  let text = lines.map(([k, v]) => (k ? `${k}:` : "").padEnd(width) + v).join("\n") + "\n";

  const rows = podRows(rollout, pods, fromStatus.pods);
  if (rows.length > 0) {
    const revisionText = (r: PodRow): string => {
      if (r.revision === undefined) return "-";
      if (status.updateRevision && r.revision === status.updateRevision) return `${r.revision} ${style.green("(new)")}`;
      if (status.currentRevision && r.revision === status.currentRevision) return `${r.revision} (old)`;
      return r.revision;
    };
    const table = formatTable(
      ["NAME", "REVISION", "READY", "CONSUL", "STATUS"],
      rows.map((r) => [
        r.name,
        revisionText(r),
        r.ready ? style.green("yes") : style.red("no"),
        r.consul === undefined ? "-" : r.consul ? "passing" : style.red("failing"),
        r.state,
      ]),
    );
    text +=
      `\nPods${pods ? "" : " (as last recorded in status; the pods could not be listed)"}:\n` +
      table.replace(/^/gm, "  ").replace(/ +$/gm, "");
  }
  return text;
}
