// `status -w`: follow a rollout until it ends, the timeout passes or the user presses Ctrl-C.
// Polls the CR (one GET a second): simple, survives apiserver restarts and watch expiry, and a
// rollout's waves are seconds apart anyway. Exit 0 on RolloutDone, 1 on RolloutFailed.
import { apiStatusCode } from "../adapters/kube/client.js";
import type { StatefulsetRollout } from "../api/rollout.js";
import { describeRollout, hasEnded, snapshotOf } from "./describe.js";
import { apiError, CliError, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, rolloutRef } from "./errors.js";
import { toLoaded } from "./session.js";
import type { Session } from "./session.js";

/** Consecutive failed reads before giving up (about half a minute at the default interval). */
const MAX_READ_FAILURES = 30;

export interface WatchOptions {
  timeoutMs?: number;
}

export async function watchRollout(session: Session, name: string, options: WatchOptions): Promise<number> {
  const { deps } = session;
  const namespace = session.namespace();
  const what = rolloutRef(namespace, name);
  const cluster = session.cluster();
  const deadline = options.timeoutMs === undefined ? undefined : deps.now().getTime() + options.timeoutMs;
  const view = deps.progress(deps.stderr);
  let failures = 0;
  let last: StatefulsetRollout | undefined;
  try {
    for (;;) {
      if (deps.interrupt.aborted) {
        view.stop();
        session.err(
          `interrupted; ${name} is ${last?.status?.phase ?? "unknown"} — the rollout goes on without this watch\n`,
        );
        return EXIT_INTERRUPTED;
      }
      try {
        const raw = await cluster.rollouts.get(namespace, name);
        last = toLoaded(raw, what).rollout;
        failures = 0;
      } catch (err) {
        if (err instanceof CliError) throw err;
        if (apiStatusCode(err) === 404)
          throw new CliError(`${what} not found${last ? " (it was deleted while being watched)" : ""}`);
        failures++;
        const message = apiError(err, { what, ...(cluster.server ? { server: cluster.server } : {}) }).message;
        if (failures >= MAX_READ_FAILURES) throw new CliError(`giving up after ${failures} failed reads: ${message}`);
        if (failures === 1) session.err(`warning: ${message}; retrying\n`);
      }
      if (last) {
        view.update(snapshotOf(last));
        if (hasEnded(last)) {
          view.stop();
          session.out(describeRollout(last, await session.podsOf(last), deps.now(), session.style));
          if (last.status?.phase === "RolloutFailed") {
            session.err(`rollout ${name} failed: ${last.status.reason ?? "no reason recorded"}\n`);
            return EXIT_FAILED;
          }
          return EXIT_OK;
        }
      }
      if (deadline !== undefined && deps.now().getTime() >= deadline) {
        view.stop();
        throw new CliError(
          `timed out: ${name} is still ${last?.status?.phase ?? "not reporting status"}${last?.status?.reason ? ` (${last.status.reason})` : ""}`,
        );
      }
      await deps.sleep(deps.pollIntervalMs, deps.interrupt);
    }
  } finally {
    view.stop();
  }
}
