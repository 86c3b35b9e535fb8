// Peak memory and CPU of named processes while a benchmark runs, read from /proc (Linux only).
// Sampled every intervalMs: the peak RSS is the largest sample, VmHWM the kernel's own lifetime
// peak (the same when the process started with the run), CPU the user+system time spent
// between start() and stop().
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export interface ProcessUsage {
  name: string;
  pid: number;
  /** Largest VmRSS sampled between start() and stop(), MiB. */
  peakRssMiB: number;
  /** The kernel's lifetime peak (VmHWM) at stop(), MiB. */
  hwmMiB: number;
  /** RSS at start(), MiB. */
  startRssMiB: number;
  /** User + system CPU seconds between start() and stop(). */
  cpuSeconds: number;
  /** False when the process was gone by stop() (its figures are up to its last sample). */
  alive: boolean;
}

const clockTicks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

function statusKiB(pid: number, field: "VmRSS" | "VmHWM"): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** utime + stime in seconds, or undefined when the process is gone. */
export function cpuSecondsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return undefined;
  }
}

export function rssMiBOf(pid: number): number | undefined {
  const kib = statusKiB(pid, "VmRSS");
  return kib === undefined ? undefined : kib / 1024;
}

interface Tracked {
  name: string;
  pid: number;
  startCpu: number;
  lastCpu: number;
  startRss: number;
  peakRss: number;
  hwm: number;
  alive: boolean;
}

export class ProcessSampler {
  private readonly tracked: Tracked[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    processes: { name: string; pid: number }[],
    private readonly intervalMs = 500,
  ) {
    for (const p of processes) {
      const cpu = cpuSecondsOf(p.pid);
      const rss = rssMiBOf(p.pid);
      if (cpu === undefined || rss === undefined) throw new Error(`process ${p.name} (pid ${p.pid}) is not running`);
      this.tracked.push({ ...p, startCpu: cpu, lastCpu: cpu, startRss: rss, peakRss: rss, hwm: rss, alive: true });
    }
  }

  start(): this {
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  private sample(): void {
    for (const t of this.tracked) {
      if (!t.alive) continue;
      const rss = rssMiBOf(t.pid);
      const cpu = cpuSecondsOf(t.pid);
      const hwm = statusKiB(t.pid, "VmHWM");
      if (rss === undefined || cpu === undefined || hwm === undefined) {
        t.alive = false;
        continue;
      }
      t.peakRss = Math.max(t.peakRss, rss);
      t.lastCpu = cpu;
      t.hwm = hwm / 1024;
    }
  }

  stop(): ProcessUsage[] {
    this.sample();
    if (this.timer) clearInterval(this.timer);
    return this.tracked.map((t) => ({
      name: t.name,
      pid: t.pid,
      peakRssMiB: Math.round(t.peakRss),
      hwmMiB: Math.round(t.hwm),
      startRssMiB: Math.round(t.startRss),
      cpuSeconds: Math.round((t.lastCpu - t.startCpu) * 10) / 10,
      alive: t.alive,
    }));
  }
}
