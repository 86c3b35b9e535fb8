// The release-API callback (DESIGN.md §2, spec.bapi): when it is due, what it says, and the key a
// receiver de-duplicates it by. Pure; adapters/callbacks/ sends it.
import type { CallbackPayload } from "./integrations.js";
import { isTerminal, type StatefulsetRollout } from "./rollout.js";

/**
 * Due when the rollout has a bapi stage, has reached a terminal phase, and no 2xx has been
 * recorded for this stage id yet (status.lastCallbackStageId is written only after a 2xx).
 */
export function callbackDue(rollout: StatefulsetRollout): boolean {
  const bapi = rollout.spec.bapi;
  const phase = rollout.status?.phase;
  return bapi !== undefined && isTerminal(phase) && rollout.status?.lastCallbackStageId !== bapi.stageId;
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
export function callbackIdempotencyKey(payload: Pick<CallbackPayload, "stageId" | "rolloutIdentity" | "phase">): string {
  return [payload.stageId, payload.rolloutIdentity ?? "-", payload.phase].map(encodeURIComponent).join("/");
}
