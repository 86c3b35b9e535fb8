// `kubectl sroll list`: one line per rollout, like `kubectl get`.
import type { Command } from "commander";
import { Option } from "commander";
import { desiredReplicas } from "../../api/desired.js";
import type { StatefulsetRollout } from "../../api/rollout.js";
import { rolloutRef } from "../errors.js";
import { formatList, toLoaded } from "../session.js";
import type { Session } from "../session.js";
import type { Style } from "../style.js";
import { phaseText } from "../style.js";
import { formatAge, formatTable } from "../table.js";

export type ListFormat = "wide" | "yaml" | "json" | "name";

export function rolloutRow(rollout: StatefulsetRollout, now: Date, style: Style, wide: boolean): string[] {
  const status = rollout.status ?? {};
  const replicas = desiredReplicas(rollout);
  const row = [
    rollout.metadata.name,
    phaseText(style, status.phase ?? "Pending"),
    `${rollout.spec.percent}%`,
    String(status.updatedReplicas ?? 0),
    String(status.readyReplicas ?? 0),
    String(replicas),
    formatAge(rollout.metadata.creationTimestamp, now),
  ];
  if (wide) {
    row.push(
      status.percentDeployed === undefined ? "-" : `${status.percentDeployed}%`,
      rollout.spec.pauseRequested || status.paused ? "yes" : "no",
      String(status.wavesCompleted ?? 0),
      rollout.spec.rolloutIdentity ?? "-",
      status.reason ?? "",
    );
  }
  return row;
}

export const LIST_HEADERS = ["NAME", "PHASE", "PERCENT", "UPDATED", "READY", "TOTAL", "AGE"];
/** Shown when a listed rollout names a group (spec.group): "name/order", and what it waits for. */
export const GROUP_HEADERS = ["GROUP", "WAITING FOR"];

export function groupCells(rollout: StatefulsetRollout): string[] {
  const group = rollout.spec.group;
  if (!group) return ["-", "-"];
  return [`${group.name}/${group.order}`, rollout.status?.group?.waitingFor ?? "-"];
}
export const WIDE_HEADERS = ["DEPLOYED", "PAUSED", "WAVES", "IDENTITY", "REASON"];

export async function listRollouts(
  session: Session,
  options: { allNamespaces?: boolean; output?: ListFormat },
): Promise<void> {
  const namespace = options.allNamespaces ? undefined : session.namespace();
  const items = await session.call(rolloutRef(namespace), (c) => c.rollouts.list(namespace));
  if (options.output === "yaml" || options.output === "json") {
    session.out(formatList(items, options.output));
    return;
  }
  const loaded = items.map((raw, i) => toLoaded(raw, `item ${i} of the list`).rollout);
  loaded.sort((a, b) =>
    `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
  );
  if (options.output === "name") {
    for (const r of loaded) session.out(`statefulsetrollout.bulkhead.dev/${r.metadata.name}\n`);
    return;
  }
  if (loaded.length === 0) {
    session.err(
      namespace === undefined
        ? "No StatefulsetRollouts found.\n"
        : `No StatefulsetRollouts found in ${namespace} namespace.\n`,
    );
    return;
  }
  const wide = options.output === "wide";
  const now = session.deps.now();
  const grouped = loaded.some((r) => r.spec.group !== undefined);
  const headers = [
    ...(namespace === undefined ? ["NAMESPACE"] : []),
    ...LIST_HEADERS,
    ...(wide ? WIDE_HEADERS : []),
    ...(grouped ? GROUP_HEADERS : []),
  ];
  const rows = loaded.map((r) => [
    ...(namespace === undefined ? [r.metadata.namespace ?? ""] : []),
    ...rolloutRow(r, now, session.style, wide),
    ...(grouped ? groupCells(r) : []),
  ]);
  session.out(formatTable(headers, rows));
}

export function registerList(program: Command, session: () => Session): void {
  program
    .command("list")
    .alias("ls")
    .description("List StatefulsetRollouts with their phase, percent and updated/ready/total pods")
    .option("-A, --all-namespaces", "list rollouts in every namespace")
    .addOption(new Option("-o, --output <format>", "output format").choices(["wide", "yaml", "json", "name"]))
    .addHelpText(
      "after",
      `
Examples:
  kubectl sroll list                      # rollouts in the current namespace
  kubectl sroll list -A                   # in every namespace
  kubectl sroll list -n payments -o wide  # with paused, waves, identity and reason
  kubectl sroll list -o json              # the objects, as kubectl get -o json`,
    )
    .action(async (options: { allNamespaces?: boolean; output?: ListFormat }) => listRollouts(session(), options));
}
