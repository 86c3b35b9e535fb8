// `kubectl sroll status NAME [-w]`: the rollout, its waves and its pods; exits 1 if it failed.
import type { Command } from "commander";
import { Option } from "commander";
import { describeRollout } from "../describe.js";
import { EXIT_FAILED, EXIT_OK, usageError } from "../errors.js";
import { formatObject } from "../session.js";
import type { ObjectFormat, Session } from "../session.js";
import { watchRollout } from "../watch.js";

export interface StatusOptions {
  watch?: boolean;
  output?: ObjectFormat;
  timeout?: string;
}

/** "90", "90s", "5m", "1h" → milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(s|m|h)?$/.exec(text.trim());
  if (!match) throw usageError(`--timeout ${text}: expected a duration such as 90s, 10m or 1h`);
  const unit = match[2] === "h" ? 3600 : match[2] === "m" ? 60 : 1;
  return Number(match[1]) * unit * 1000;
}

export async function showStatus(session: Session, name: string, options: StatusOptions): Promise<number> {
  if (options.watch && options.output)
    throw usageError("--watch shows a live view; it cannot be combined with --output");
  if (options.timeout !== undefined && !options.watch) throw usageError("--timeout applies only with --watch");
  if (options.watch)
    return watchRollout(
      session,
      name,
      options.timeout === undefined ? {} : { timeoutMs: parseDuration(options.timeout) },
    );
  const { raw, rollout } = await session.getRollout(name);
  if (options.output) {
    session.out(formatObject(raw, options.output));
  } else {
    session.out(describeRollout(rollout, await session.podsOf(rollout), session.deps.now(), session.style));
  }
  return rollout.status?.phase === "RolloutFailed" ? EXIT_FAILED : EXIT_OK;
}

export function registerStatus(program: Command, session: () => Session, setExit: (code: number) => void): void {
  program
    .command("status")
    .description("Show a rollout, its waves and its pods (revision, ready, Consul); exits 1 if the rollout failed")
    .argument("<name>", "the StatefulsetRollout")
    .option("-w, --watch", "follow the rollout live with a progress bar until it ends (or Ctrl-C)")
    .option("--timeout <duration>", "with --watch: give up (exit 1) after this long, e.g. 10m")
    .addOption(new Option("-o, --output <format>", "print the object instead").choices(["yaml", "json"]))
    .addHelpText(
      "after",
      `
Exit status: 0 when the rollout is not failed (with -w: when it is RolloutDone), 1 when it
failed (or on error, or -w timed out), 130 when -w is interrupted.

Examples:
  kubectl sroll status web-dev                 # rollout, waves and pods
  kubectl sroll status web-dev -w              # follow it until it ends
  kubectl sroll status web-dev -w --timeout 15m && echo deployed   # in CI
  kubectl sroll status web-dev -o yaml         # the whole object`,
    )
    .action(async (name: string, options: StatusOptions) => setExit(await showStatus(session(), name, options)));
}
