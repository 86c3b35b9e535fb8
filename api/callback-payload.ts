// The release-API callback (DESIGN.md §2, spec.bapi): when it is due, what it says, and the key a
// receiver de-duplicates it by. Pure; adapters/callbacks/ sends it.
import type { CallbackPayload } from "./integrations.js";
import { isTerminal, type Condition, type RolloutStatus, type StatefulsetRollout } from "./rollout.js";

/**
 * Due when the rollout has a bapi stage, has reached a terminal phase, no 2xx has been recorded
 * for this stage id yet (status.lastCallbackStageId is written only after a 2xx) and it has not
 * failed for good (status.lastCallbackError "<stageId>: ...").
 */
export function callbackDue(rollout: StatefulsetRollout): boolean {
  const bapi = rollout.spec.bapi;
  const status = rollout.status;
  if (bapi === undefined || !isTerminal(status?.phase) || status?.lastCallbackStageId === bapi.stageId) return false;
  // A stage whose callback failed for good (given up, refused, rejected) is not sent again.
  return !status?.lastCallbackError?.startsWith(`${bapi.stageId}: `);
}

/**
 * Whether a queued callback is still wanted by the live rollout: still due, and for the same
 * stage, identity and phase as when it was queued (a spec change supersedes it).
 */
export function callbackStillWanted(
  live: StatefulsetRollout,
  payload: Pick<CallbackPayload, "stageId" | "rolloutIdentity" | "phase">,
): boolean {
  return (
    callbackDue(live) &&
    live.spec.bapi?.stageId === payload.stageId &&
    live.spec.rolloutIdentity === payload.rolloutIdentity &&
    live.status?.phase === payload.phase
  );
}

/** Since when a callback is due: when the rollout became terminal. Its retry age counts from here. */
export function callbackDueSince(status: RolloutStatus | undefined): string | undefined {
  const terminal = status?.conditions?.find(
    (c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True",
  );
  return terminal?.lastTransitionTime;
}

export type CallbackOutcome =
  | { kind: "delivered"; httpStatus: number; attempts: number }
  | { kind: "failed"; error: string; attempts: number }
  | { kind: "refused"; reason: string };

/** The condition a callback outcome sets; a pass that restarts the rollout drops it again. */
export const CALLBACK_CONDITION = "CallbackDelivered";

/**
 * The status after a callback's outcome (for stage `stageId`): a 2xx records
 * lastCallbackStageId (the "at most once per stage id" memory); a failure for good records
 * "<stageId>: <class of failure>" in lastCallbackError. Either sets the CallbackDelivered
 * condition. The messages hold no response body or header: only the status code or error class.
 */
export function statusWithCallbackOutcome(
  status: RolloutStatus,
  stageId: string,
  outcome: CallbackOutcome,
  nowIso: string,
): { status: RolloutStatus; event: { type: "Normal" | "Warning"; reason: string; note: string } } {
  const next = structuredClone(status);
  let condition: Omit<Condition, "lastTransitionTime">;
  let event: { type: "Normal" | "Warning"; reason: string; note: string };
  if (outcome.kind === "delivered") {
    next.lastCallbackStageId = stageId;
    if (next.lastCallbackError?.startsWith(`${stageId}: `)) delete next.lastCallbackError;
    const message = `stage ${stageId}: HTTP ${outcome.httpStatus} after ${outcome.attempts} attempt(s)`;
    condition = { type: CALLBACK_CONDITION, status: "True", reason: "Delivered", message };
    event = { type: "Normal", reason: "CallbackSent", note: message };
  } else if (outcome.kind === "failed") {
    next.lastCallbackError = `${stageId}: ${outcome.error}`;
    const message = `stage ${stageId}: ${outcome.error}`;
    condition = { type: CALLBACK_CONDITION, status: "False", reason: "DeliveryFailed", message };
    event = { type: "Warning", reason: "CallbackFailed", note: message };
  } else {
    next.lastCallbackError = `${stageId}: not sent: ${outcome.reason}`;
    const message = `stage ${stageId}: not sent: ${outcome.reason}`;
    condition = { type: CALLBACK_CONDITION, status: "False", reason: "DestinationNotAllowed", message };
    event = { type: "Warning", reason: "CallbackRefused", note: message };
  }
  const before = next.conditions?.find((c) => c.type === CALLBACK_CONDITION);
  const merged: Condition = {
    ...condition,
    lastTransitionTime: before && before.status === condition.status ? (before.lastTransitionTime ?? nowIso) : nowIso,
  };
  if (next.observedGeneration !== undefined) merged.observedGeneration = next.observedGeneration;
  next.conditions = [...(next.conditions ?? []).filter((c) => c.type !== CALLBACK_CONDITION), merged];
  return { status: next, event };
}

/**
 * The JSON body for a terminal rollout, or undefined when there is no spec.bapi or the phase is
 * not terminal. `percent` is the percent the stage asked for (spec.percent); the counts say how
 * far it got. `finishedAt`/`startedAt` are ISO-8601 strings supplied by the caller (the clock is
 * I/O).
 */
export function buildCallbackPayload(
  rollout: StatefulsetRollout,
  finishedAt: string,
  startedAt?: string,
): CallbackPayload | undefined {
  const bapi = rollout.spec.bapi;
  const status = rollout.status ?? {};
  const phase = status.phase;
  if (!bapi || (phase !== "RolloutDone" && phase !== "RolloutFailed")) return undefined;
  const payload: CallbackPayload = {
    stageId: bapi.stageId,
    namespace: rollout.metadata.namespace ?? "default",
    name: rollout.metadata.name,
    phase,
    percent: rollout.spec.percent,
    // A StatefulSet without spec.replicas runs one pod (the API server's default).
    replicas: rollout.spec.statefulset.spec.replicas ?? 1,
    updatedReplicas: status.updatedReplicas ?? 0,
    readyReplicas: status.readyReplicas ?? 0,
    finishedAt,
  };
  if (rollout.spec.rolloutIdentity !== undefined) payload.rolloutIdentity = rollout.spec.rolloutIdentity;
  if (status.reason !== undefined) payload.reason = status.reason;
  if (status.currentRevision !== undefined) payload.currentRevision = status.currentRevision;
  if (status.updateRevision !== undefined) payload.updateRevision = status.updateRevision;
  if (startedAt !== undefined) payload.startedAt = startedAt;
  return payload;
}

/**
 * The Idempotency-Key header: `<stageId>/<rolloutIdentity or "-">/<phase>`, each part
 * percent-encoded so the value is a valid header whatever the strings hold. Every retry of one
 * callback, including one re-sent after a reconciler restart, carries the same key.
 */
export function callbackIdempotencyKey(
  payload: Pick<CallbackPayload, "stageId" | "rolloutIdentity" | "phase">,
): string {
  return [payload.stageId, payload.rolloutIdentity ?? "-", payload.phase].map(encodeURIComponent).join("/");
}

/**
 * One entry of the install's callback allow-list (chart value callback.allowedUrlPrefixes):
 * a scheme, host and port that must match exactly, and a path prefix that matches whole
 * segments ("https://rel.example.com/hooks" admits /hooks and /hooks/x, not /hooksx).
 */
export interface AllowedCallbackPrefix {
  /** URL.origin: scheme://host[:port], lower-case, default port dropped. */
  origin: string;
  /** The path prefix, always starting with "/". */
  path: string;
}

export type ParsedAllowedPrefix = { ok: true; value: AllowedCallbackPrefix } | { ok: false; error: string };

/** Parses one allow-list entry; the error says what is wrong and what to write instead. */
export function parseAllowedCallbackPrefix(text: string): ParsedAllowedPrefix {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return {
      ok: false,
      error: `"${text}" is not a URL; write scheme://host[:port][/path], e.g. https://release.example.com/callbacks/`,
    };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return { ok: false, error: `"${text}": only http and https callbacks are sent` };
  if (url.username || url.password) return { ok: false, error: `"${text}": remove the user:password part` };
  if (url.search || url.hash || text.includes("?") || text.includes("#"))
    return { ok: false, error: `"${text}": a prefix has no query or fragment` };
  return { ok: true, value: { origin: url.origin, path: url.pathname } };
}

export type CallbackDestination = { allowed: true } | { allowed: false; reason: string };

/**
 * Whether a rollout's spec.bapi.bapiUrl may be called. The URL is parsed the way fetch parses
 * it (so "..", percent-encoded dots and default ports cannot dodge a prefix); an empty list
 * means callbacks are off in this installation — the safe default, since the reconciler's
 * network position reaches in-cluster services a rollout author could not.
 */
export function callbackDestination(bapiUrl: string, allowList: readonly AllowedCallbackPrefix[]): CallbackDestination {
  if (allowList.length === 0) {
    return {
      allowed: false,
      reason:
        "callbacks are disabled in this installation (chart value callback.allowedUrlPrefixes is empty); ask the cluster operator to allow the release API's URL",
    };
  }
  let url: URL;
  try {
    url = new URL(bapiUrl);
  } catch {
    return { allowed: false, reason: "spec.bapi.bapiUrl is not a valid URL" };
  }
  if (url.username || url.password)
    return { allowed: false, reason: "spec.bapi.bapiUrl carries user:password; credentials are not sent this way" };
  const matches = allowList.some((p) => {
    if (url.origin !== p.origin) return false;
    if (p.path.endsWith("/")) return url.pathname.startsWith(p.path);
    return url.pathname === p.path || url.pathname.startsWith(`${p.path}/`);
  });
  if (matches) return { allowed: true };
  return {
    allowed: false,
    reason: `spec.bapi.bapiUrl (${url.origin}${url.pathname}) is not under any prefix in callback.allowedUrlPrefixes (${allowList.map((p) => p.origin + p.path).join(", ")})`,
  };
}
