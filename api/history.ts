// status.history: the last rollouts of a StatefulsetRollout, newest first, so that a finished
// rollout is still on record once the next one starts (issue 17). Pure: decide() calls
// nextHistory() once per pass with the status it starts from and the status it decided.
//
// One entry is one rollout: one pod template (by hash) and update revision under one
// rolloutIdentity. A promote or a pause of that rollout updates its entry; a new revision, or a
// retry of the same template under a new identity, starts a new entry (the one before it, if it
// had not ended, is recorded as Superseded). While a changed template waits for its revision,
// the entry before it is left as it ended (so a Done or Failed rollout stays so). Every string is
// cut to a fixed length and the list to a fixed count, so the history of a 1,000-pod rollout
// stays a small part of the object (test/unit/history.test.ts measures it).
import { desiredTemplate, templateHash } from "./desired.js";
import type { HistoryEntry, RolloutStatus, StatefulsetRollout } from "./rollout.js";

export const DEFAULT_HISTORY_LIMIT = 10;
export const MAX_HISTORY_LIMIT = 20;
/** Longest identity, revision or image text kept in an entry (longer ones end in "…"). */
export const HISTORY_TEXT_MAX = 200;
/** Longest reason kept in an entry. */
export const HISTORY_REASON_MAX = 300;

export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Keeps the newest `limit` entries (the list is newest first). */
export function trimHistory(history: readonly HistoryEntry[], limit: number): HistoryEntry[] {
  const keep = Math.max(0, Math.min(limit, MAX_HISTORY_LIMIT));
  return history.slice(0, keep);
}

function outcomeOf(status: RolloutStatus): HistoryEntry["outcome"] {
  if (status.phase === "RolloutDone") return "Done";
  if (status.phase === "RolloutFailed") return "Failed";
  return "InProgress";
}

/**
 * The history after a pass that went from `prev` to `next`; `previous` history comes from prev.
 * Returns the same array (by value) when nothing about the rollouts changed, so no pass writes
 * status for the history alone.
 */
export function nextHistory(
  rollout: StatefulsetRollout,
  prev: RolloutStatus,
  next: RolloutStatus,
  nowIso: string,
): HistoryEntry[] {
  const limit = rollout.spec.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  const history = (prev.history ?? []).map((e) => ({ ...e }));
  const toRevision = next.updateRevision;
  if (toRevision === undefined) return trimHistory(history, limit);
  const identity =
    rollout.spec.rolloutIdentity === undefined ? undefined : clip(rollout.spec.rolloutIdentity, HISTORY_TEXT_MAX);
  const template = templateHash(desiredTemplate(rollout));
  const revision = clip(toRevision, HISTORY_TEXT_MAX);
  let head = history[0];
  const sameRevision = head !== undefined && head.toRevision === revision;
  // The template changed and its revision has not started yet: nothing to record.
  if (head && sameRevision && head.template !== template) return trimHistory(history, limit);
  if (!head || !sameRevision || (head.identity ?? "") !== (identity ?? "")) {
    if (head && head.outcome === "InProgress") {
      head.outcome = "Superseded";
      head.finishedAt = nowIso;
    }
    const retry = sameRevision;
    const from = next.currentRevision ?? prev.updateRevision;
    const fromTemplate = next.previousTemplate;
    head = {
      ...(identity !== undefined ? { identity } : {}),
      ...(from !== undefined && from !== toRevision ? { fromRevision: clip(from, HISTORY_TEXT_MAX) } : {}),
      toRevision: revision,
      template,
      ...(fromTemplate && Object.keys(fromTemplate).length > 0 && from !== toRevision
        ? { fromImage: clip(templateImages(fromTemplate), HISTORY_TEXT_MAX) }
        : {}),
      toImage: clip(templateImages(rollout.spec.statefulset.spec.template), HISTORY_TEXT_MAX),
      startedAt: next.attemptStartedAt ?? nowIso,
      outcome: "InProgress",
      waves: 0,
      trigger: retry
        ? "retry"
        : next.rollback
          ? "rollback"
          : from === undefined || from === toRevision
            ? "create"
            : "update",
    };
    history.unshift(head);
  }
  // Waves completed in this pass (a new revision resets the count, which adds none).
  head.waves += Math.max(0, (next.wavesCompleted ?? 0) - (prev.wavesCompleted ?? 0));
  head.percent = rollout.spec.percent;
  const outcome = outcomeOf(next);
  head.outcome = outcome;
  if (outcome === "InProgress") {
    delete head.finishedAt;
    delete head.reason;
  } else {
    // Set when the rollout ends, kept while it stays ended.
    if (head.finishedAt === undefined || outcomeOf(prev) === "InProgress") head.finishedAt = nowIso;
    if (next.reason !== undefined) head.reason = clip(next.reason, HISTORY_REASON_MAX);
  }
  return trimHistory(history, limit);
}

/** The images of a pod template, "name=image" per container, for people to read. */
export function templateImages(template: unknown): string {
  const spec = isRecord(template) && isRecord(template.spec) ? template.spec : undefined;
  const containers = spec && Array.isArray(spec.containers) ? spec.containers : [];
  const images = containers.filter(isRecord).map((c) => `${String(c.name)}=${String(c.image)}`);
  return images.length > 0 ? images.join(", ") : "(no containers)";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
