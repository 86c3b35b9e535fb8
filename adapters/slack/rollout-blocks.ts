// What the Slack rollout notification says (DESIGN.md §2), as pure functions: the one summary
// message per rollout, the pod list split into pages of at most 50 pods (thread replies), and
// which notifications a channel's notifyLevel wants. adapters/slack/rollout-notifier.ts sends.
//
// Pages are fixed ordinal ranges (page i = ordinals 50·i … 50·i+49), so a wave — which takes
// neighbouring ordinals — changes one to three pages, and a pod is always on the same page. A
// page is shown once it has something to say: a pod moved to (or on) the update revision, or a
// pod not Ready or stuck. Pods on pages not shown are on the old revision and Ready; the summary
// says so. At the end of a 100% rollout every page is shown, so every pod is listed exactly once.
import type { NotifyLevel, RolloutPhase, RolloutStatus, StatefulsetRollout } from "../../api/rollout.js";
import { readPodsOfStatus, type PodView } from "../../api/pod-summary.js";
import { wavesInFlight } from "../../api/waves.js";

/** A Block Kit block, structurally (the Slack client's SlackBlock). */
export interface Block {
  type: string;
  [field: string]: unknown;
}

export interface SlackText {
  text: string;
  blocks: Block[];
}

export const PODS_PER_PAGE = 50;

export type NotifyAction = "post" | "update" | "skip";

/**
 * What a publish should do for the channel's level: debug — post, then update on every change;
 * info — post at the start, update at the end (done or failed); error — post (or update) only
 * when the rollout has failed.
 */
export function notifyAction(level: NotifyLevel, phase: RolloutPhase | undefined, hasMessage: boolean): NotifyAction {
  const terminal = phase === "RolloutDone" || phase === "RolloutFailed";
  switch (level) {
    case "error":
      if (phase !== "RolloutFailed") return "skip";
      return hasMessage ? "update" : "post";
    case "info":
      if (!hasMessage) return "post";
      return terminal ? "update" : "skip";
    case "debug":
      return hasMessage ? "update" : "post";
  }
}

/** status.slackMessage: the summary message and its thread pages, and the rollout they belong to. */
export type SlackMessageRef = NonNullable<RolloutStatus["slackMessage"]>;

/**
 * Which rollout a message belongs to: the spec generation and the rollout identity. A new
 * spec (a new version, percent or pause) or a new rolloutIdentity is a new rollout with its
 * own top-level message; the previous rollout's message is left as its record.
 */
export function rolloutRunOf(rollout: StatefulsetRollout): string {
  return `${rollout.metadata.generation ?? 0}/${rollout.spec.rolloutIdentity ?? ""}`;
}

export interface MessagePlan {
  action: NotifyAction;
  /** The message to update; undefined when the action posts a new one (or skips). */
  existing: SlackMessageRef | undefined;
  /** The rollout the message is (or will be) for: rolloutRunOf(). */
  run: string;
}

/**
 * What to do with Slack for this state of the rollout: a ref kept for an earlier rollout (or
 * without a run, written before refs were keyed) is not this rollout's message, so the
 * channel's notifyLevel decides as if there were none.
 */
export function planMessage(rollout: StatefulsetRollout, known: SlackMessageRef | undefined): MessagePlan {
  const run = rolloutRunOf(rollout);
  const existing = known && known.rollout === run ? known : undefined;
  const action = rollout.spec.channel
    ? notifyAction(rollout.spec.notifyLevel, rollout.status?.phase, existing !== undefined)
    : "skip";
  return { action, existing: action === "post" ? undefined : existing, run };
}

/** Slack mrkdwn needs &, < and > escaped. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export const PHASE_ICON: Record<RolloutPhase, string> = {
  Pending: ":hourglass_flowing_sand:",
  Progressing: ":arrows_counterclockwise:",
  Paused: ":double_vertical_bar:",
  RolloutDone: ":white_check_mark:",
  RolloutFailed: ":x:",
};

export function replicasOf(rollout: StatefulsetRollout): number {
  return rollout.spec.statefulset.spec.replicas ?? 1;
}

/** The first container's image in the rollout's template, if the template has one. */
export function imageOf(rollout: StatefulsetRollout): string | undefined {
  const spec = (rollout.spec.statefulset.spec.template as { spec?: { containers?: Array<{ image?: unknown }> } }).spec;
  const image = spec?.containers?.[0]?.image;
  return typeof image === "string" ? image : undefined;
}

const TRIGGER_KEYS = ["triggeredBy", "triggered_by", "trigger", "author", "user"];
const VERSION_KEYS = ["version", "tag", "release"];
/** Shown in their own fields, not again in the context line. */
const GIT_KEYS = ["branch", "commit", "origin"];

function firstOf(meta: Record<string, string>, keys: string[]): string | undefined {
  for (const k of keys) if (meta[k]) return meta[k];
  return undefined;
}

function isUrl(value: string): boolean {
  return /^https?:\/\/\S+$/.test(value);
}

/** The version a rollout rolls out: its build metadata's, else its image tag, else its update revision. */
export function versionOf(rollout: StatefulsetRollout): string {
  const image = imageOf(rollout);
  return (
    firstOf(rollout.status?.buildMetadata ?? {}, VERSION_KEYS) ??
    (image ? image.split("/").pop() : undefined) ??
    rollout.status?.updateRevision ??
    "unknown"
  );
}

/** Who or what started the rollout: its build metadata's author, else its rolloutIdentity. */
export function triggerOf(rollout: StatefulsetRollout): string {
  const { spec } = rollout;
  return (
    firstOf(rollout.status?.buildMetadata ?? {}, TRIGGER_KEYS) ??
    (spec.rolloutIdentity ? `rolloutIdentity ${spec.rolloutIdentity}` : "spec change")
  );
}

/** "1h 2m 3s", "4m 5s", "6s". */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h ${m}m ${s}s`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

/**
 * How long the rollout took (terminal: from attemptStartedAt to the Complete/Failed condition's
 * transition) or since when it runs (a Slack date, so the message needs no refresh to stay true).
 */
export function durationText(status: RolloutStatus): string | undefined {
  const started = status.attemptStartedAt ? Date.parse(status.attemptStartedAt) : Number.NaN;
  if (Number.isNaN(started)) return undefined;
  const endType = status.phase === "RolloutDone" ? "Complete" : status.phase === "RolloutFailed" ? "Failed" : undefined;
  if (endType) {
    const end = status.conditions?.find((c) => c.type === endType && c.status === "True")?.lastTransitionTime;
    const ended = end ? Date.parse(end) : Number.NaN;
    if (!Number.isNaN(ended))
      return `${formatDuration(ended - started)} (${status.phase === "RolloutDone" ? "done" : "failed"} at ${new Date(ended).toISOString()})`;
  }
  const epoch = Math.floor(started / 1000);
  return `running since <!date^${epoch}^{date_short_pretty} {time}|${new Date(started).toISOString()}>`;
}

/** The git line of the summary: branch, short commit and origin from status.buildMetadata. */
function gitText(meta: Record<string, string>): string | undefined {
  const parts: string[] = [];
  if (meta.branch) parts.push(`\`${escapeMrkdwn(clip(meta.branch, 80))}\``);
  if (meta.commit) parts.push(`\`${escapeMrkdwn(meta.commit.slice(0, 12))}\``);
  if (meta.origin) parts.push(escapeMrkdwn(clip(meta.origin, 120)));
  return parts.length > 0 ? parts.join(" · ") : undefined;
}

/** Number of pages for `replicas` pods. */
export function pageCount(replicas: number): number {
  return Math.ceil(Math.max(0, replicas) / PODS_PER_PAGE);
}

export interface PodPage {
  index: number;
  /** Ordinals first…last (inclusive). */
  first: number;
  last: number;
  /** Whether the page has anything to show yet (see the file header). */
  shown: boolean;
  message: SlackText;
}

/** Every page of the pod list, shown or not, in ordinal order. */
export function podPages(rollout: StatefulsetRollout): PodPage[] {
  const replicas = replicasOf(rollout);
  const status = rollout.status ?? {};
  const moved = new Set(status.updatedOrdinals ?? []);
  const base = rollout.metadata.name;
  const stsName = status.statefulsetName ?? rollout.spec.statefulset.metadata?.name ?? base;
  const byOrdinal = new Map<number, PodView>(readPodsOfStatus(status, stsName).pods.map((p) => [p.ordinal, p]));
  const total = pageCount(replicas);
  const pages: PodPage[] = [];
  for (let index = 0; index < total; index++) {
    const first = index * PODS_PER_PAGE;
    const last = Math.min(replicas, first + PODS_PER_PAGE) - 1;
    const lines: string[] = [];
    let shown = false;
    for (let ordinal = first; ordinal <= last; ordinal++) {
      const pod = byOrdinal.get(ordinal);
      const line = podLine(stsName, ordinal, pod, moved.has(ordinal), status.updateRevision);
      if (line.interesting) shown = true;
      lines.push(line.text);
    }
    const title = `${stsName} pods ${first}–${last} (page ${index + 1} of ${total})`;
    const blocks: Block[] = [{ type: "section", text: { type: "mrkdwn", text: `*${escapeMrkdwn(title)}*` } }];
    // Section text is limited to 3,000 characters: 25 lines per section keeps well inside it.
    for (let i = 0; i < lines.length; i += 25) {
      blocks.push({ type: "section", text: { type: "mrkdwn", text: lines.slice(i, i + 25).join("\n") } });
    }
    pages.push({ index, first, last, shown, message: { text: title, blocks } });
  }
  return pages;
}

function podLine(
  stsName: string,
  ordinal: number,
  pod: PodView | undefined,
  moved: boolean,
  updateRevision: string | undefined,
): { text: string; interesting: boolean } {
  const name = `\`${escapeMrkdwn(pod?.name ?? `${stsName}-${ordinal}`)}\``;
  if (!pod) return { text: `:white_circle: ${name} not created`, interesting: moved };
  const isNew = updateRevision !== undefined && pod.revision === updateRevision;
  const parts: string[] = [];
  let icon: string;
  if (pod.stuck) {
    icon = ":red_circle:";
    parts.push(isNew ? "new" : "old", `stuck: ${escapeMrkdwn(clip(pod.stuck, 80))}`);
  } else if (isNew) {
    const healthy = pod.ready && pod.consulPassing !== false;
    icon = healthy ? ":large_green_circle:" : ":large_yellow_circle:";
    parts.push("new", pod.ready ? "Ready" : "not Ready");
  } else if (moved) {
    icon = ":large_yellow_circle:";
    parts.push("moving", pod.ready ? "Ready" : "not Ready");
  } else {
    icon = pod.ready ? ":white_circle:" : ":large_yellow_circle:";
    parts.push("old", pod.ready ? "Ready" : "not Ready");
  }
  if (pod.consulPassing !== undefined) parts.push(pod.consulPassing ? "Consul passing" : "Consul not passing");
  const interesting = isNew || moved || !pod.ready || pod.stuck !== undefined;
  return { text: `${icon} ${name} ${parts.join(" · ")}`, interesting };
}

/** How a rollout left before it ended is described: the newer rollout (rolloutRunOf) that replaced it. */
export function supersededNote(nextRun: string): string {
  const [generation, identity] = [nextRun.slice(0, nextRun.indexOf("/")), nextRun.slice(nextRun.indexOf("/") + 1)];
  return `Superseded before it ended by a newer rollout (spec generation ${generation}${identity ? `, rolloutIdentity ${identity}` : ""}); its message follows. This is the last state of this rollout.`;
}

/**
 * The summary message: posted once per rollout, then updated in place. `supersededBy` (the
 * newer rollout's rolloutRunOf) marks the last update of a rollout replaced before it ended, so
 * its message does not read as still in progress.
 */
export function rolloutSummary(rollout: StatefulsetRollout, supersededBy?: string): SlackText {
  const { spec } = rollout;
  const status = rollout.status ?? {};
  const key = `${rollout.metadata.namespace ?? "default"}/${rollout.metadata.name}`;
  const phase: RolloutPhase = status.phase ?? "Pending";
  const meta = status.buildMetadata ?? {};
  const replicas = replicasOf(rollout);
  const image = imageOf(rollout);
  const version = versionOf(rollout);
  const trigger = triggerOf(rollout);
  const percent = status.percentDeployed ?? 0;
  const inFlight = wavesInFlight(status);
  const podsInFlight = inFlight.reduce((n, w) => n + w.pods.length, 0);
  const waveNumbers =
    inFlight.length === 1 ? `wave ${inFlight[0]!.number}` : `waves ${inFlight[0]?.number}–${inFlight.at(-1)?.number}`;
  const pausedNote = status.paused ? " (paused)" : "";
  const title = supersededBy ? "Rollout superseded" : phase === "RolloutFailed" ? "Rollout failed" : "Rollout";
  const text = `${title} ${key}: ${phase}${pausedNote}, ${percent}% of ${spec.percent}% deployed, ${status.updatedReplicas ?? 0}/${replicas} pods updated`;

  const git = gitText(meta);
  const duration = durationText(status);
  const fields = [
    `*Version*\n\`${escapeMrkdwn(clip(version, 80))}\`${git ? `\n${git}` : ""}`,
    `*Phase*\n${supersededBy ? ":fast_forward: superseded at " : `${PHASE_ICON[phase]} `}${phase}${pausedNote}`,
    `*Percent*\n${percent}% deployed of ${spec.percent}%${spec.phases ? ` (phases ${spec.phases.join(", ")})` : ""}`,
    `*Waves done*\n${status.wavesCompleted ?? 0}${inFlight.length > 0 ? ` (${waveNumbers}: ${podsInFlight} pods in flight)` : ""}`,
    `*Pods ready / total*\n${status.readyReplicas ?? 0} / ${replicas}`,
    `*Pods updated / target*\n${status.updatedReplicas ?? 0} / ${status.targetReplicas ?? replicas}`,
    `*Triggered by*\n${escapeMrkdwn(clip(trigger, 120))}`,
  ];
  if (duration) fields.push(`*Duration*\n${duration}`);
  if (spec.serviceDiscovery) {
    fields.push(
      `*Passing in Consul*\n${status.readyReplicasServiceDiscovery ?? 0} / ${replicas} (${escapeMrkdwn(spec.serviceDiscovery.serviceNames.join(", "))})`,
    );
  }
  if (image) fields.push(`*Image*\n\`${escapeMrkdwn(clip(image, 120))}\``);
  const blocks: Block[] = [
    { type: "header", text: { type: "plain_text", text: clip(`${title}: ${key}`, 150) } },
    // A section holds at most 10 fields.
    { type: "section", fields: fields.slice(0, 10).map((t) => ({ type: "mrkdwn", text: t })) },
  ];
  if (supersededBy)
    blocks.push({
      type: "section",
      text: { type: "mrkdwn", text: `*Superseded*: ${escapeMrkdwn(supersededNote(supersededBy))}` },
    });
  if (status.reason) {
    blocks.push({
      type: "section",
      text: { type: "mrkdwn", text: `*Reason*: ${escapeMrkdwn(clip(status.reason, 2_800))}` },
    });
  }
  const links = Object.entries(meta)
    .filter(([k]) => !TRIGGER_KEYS.includes(k) && !GIT_KEYS.includes(k) && k !== "version")
    .slice(0, 10)
    .map(([k, v]) =>
      isUrl(v)
        ? `<${v.replace(/[<>|]/g, "")}|${escapeMrkdwn(k)}>`
        : `*${escapeMrkdwn(k)}*: ${escapeMrkdwn(clip(v, 100))}`,
    );
  if (links.length > 0)
    blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: clip(links.join("  ·  "), 2_900) }] });
  const pages = pageCount(replicas);
  if (pages > 0) {
    blocks.push({
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: `Pod list in the thread, ${PODS_PER_PAGE} pods per page (${pages} page${pages === 1 ? "" : "s"}); a page appears once one of its pods moves or needs attention, so pods on pages not shown are on the old revision and Ready.`,
        },
      ],
    });
  }
  return { text, blocks };
}
