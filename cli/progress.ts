// The live view of `status -w`: a cli-progress bar on a terminal, one line per change otherwise
// (CI logs), both on stderr so stdout keeps only the final summary.
import cliProgress from "cli-progress";
import type { Output, ProgressView, WatchSnapshot } from "./deps.js";

function detail(s: WatchSnapshot): string {
  const wave = s.wave !== undefined ? ` · wave ${s.wave}` : "";
  const reason = s.reason ? ` · ${s.reason}` : "";
  return `${s.phase}${s.paused ? " (paused)" : ""}${wave}${reason}`;
}

/** One line each time what is shown changes; for logs and pipes. */
export function lineProgress(stream: Output, now: () => Date): ProgressView {
  let last = "";
  return {
    update(s) {
      const line = `updated ${s.updated}/${s.total} (target ${s.target} at ${s.percent}%) · ready ${s.ready}/${s.total} · ${detail(s)}`;
      if (line === last) return;
      last = line;
      stream.write(`${now().toISOString().slice(11, 19)} ${line}\n`);
    },
    stop() {},
  };
}

/** A bar of updated pods against the target, redrawn in place. */
export function barProgress(stream: NodeJS.WriteStream): ProgressView {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: "{bar} {value}/{total} updated · {ready}/{replicas} ready · {detail}",
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let stopped = false;
  return {
    update(s) {
      if (stopped) return;
      const payload = { ready: s.ready, replicas: s.total, detail: detail(s) };
      const total = Math.max(s.target, 1);
      if (!started) {
        bar.start(total, Math.min(s.updated, total), payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(Math.min(s.updated, total), payload);
      }
    },
    stop() {
      if (started && !stopped) bar.stop();
      stopped = true;
    },
  };
}
