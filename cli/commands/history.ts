// `kubectl sroll history NAME`: the rollout's past rollouts (status.history, api/history.ts).
import type { Command } from "commander";
import { Option } from "commander";
import type { HistoryEntry, StatefulsetRollout } from "../../api/rollout.js";
import { formatObject } from "../session.js";
import type { ObjectFormat, Session } from "../session.js";
import type { Style } from "../style.js";
import { formatAge, formatTable } from "../table.js";

export const HISTORY_HEADERS = [
  "#",
  "STARTED",
  "DURATION",
  "OUTCOME",
  "TRIGGER",
  "REVISION",
  "IMAGE",
  "PERCENT",
  "WAVES",
  "IDENTITY",
];

/** "1m20s", "45s", "2h3m": how long an entry ran (until now while it runs). */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60 ? `${seconds % 60}s` : ""}`;
  const minutes = Math.floor((seconds % 3600) / 60);
  return `${Math.floor(seconds / 3600)}h${minutes ? `${minutes}m` : ""}`;
}

export function outcomeText(style: Style, outcome: HistoryEntry["outcome"]): string {
  if (outcome === "Done") return style.green(outcome);
  if (outcome === "Failed") return style.red(outcome);
  if (outcome === "InProgress") return style.cyan(outcome);
  return outcome;
}

export function historyRows(rollout: StatefulsetRollout, now: Date, style: Style): string[][] {
  const history = rollout.status?.history ?? [];
  return history.map((e, i) => {
    const end = e.finishedAt ? Date.parse(e.finishedAt) : now.getTime();
    return [
      String(history.length - i),
      `${formatAge(e.startedAt, now)} ago`,
      formatDuration(end - Date.parse(e.startedAt)) + (e.finishedAt ? "" : "+"),
      outcomeText(style, e.outcome),
      e.trigger,
      e.fromRevision ? `${e.fromRevision} → ${e.toRevision}` : e.toRevision,
      e.toImage ?? "-",
      e.percent === undefined ? "-" : `${e.percent}%`,
      String(e.waves),
      e.identity ?? "-",
    ];
  });
}

export function formatHistory(rollout: StatefulsetRollout, now: Date, style: Style): string {
  const rows = historyRows(rollout, now, style);
  if (rows.length === 0) return "";
  let text = formatTable(HISTORY_HEADERS, rows);
  // The reason of each ended rollout, below the table: too long for a column.
  const reasons = (rollout.status?.history ?? []).flatMap((e, i, all) =>
    e.reason && e.outcome !== "InProgress" ? [`  #${all.length - i} ${e.outcome}: ${e.reason}`] : [],
  );
  if (reasons.length > 0) text += `\n${reasons.join("\n")}\n`;
  return text;
}

export async function showHistory(session: Session, name: string, options: { output?: ObjectFormat }): Promise<void> {
  const { rollout } = await session.getRollout(name);
  const history = rollout.status?.history ?? [];
  if (options.output) {
    session.out(formatObject(history, options.output));
    return;
  }
  if (history.length === 0) {
    session.err(
      `${name} has no rollout history yet (status.history is empty: the reconciler records a rollout once it starts)\n`,
    );
    return;
  }
  session.out(formatHistory(rollout, session.deps.now(), session.style));
}

export function registerHistory(program: Command, session: () => Session): void {
  program
    .command("history")
    .description("Show the last rollouts of a StatefulsetRollout (status.history): revisions, images, outcome, waves")
    .argument("<name>", "the StatefulsetRollout")
    .addOption(new Option("-o, --output <format>", "print status.history instead").choices(["yaml", "json"]))
    .addHelpText(
      "after",
      `
Newest first; spec.historyLimit (default 10) says how many are kept.

Examples:
  kubectl sroll history web-dev
  kubectl sroll history web-dev -o yaml`,
    )
    .action((name: string, options: { output?: ObjectFormat }) => showHistory(session(), name, options));
}
