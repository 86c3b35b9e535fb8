// Open-loop load at a fixed rate: request i is due at start + i/rate, whatever happened to the
// ones before it, and its latency is measured from that due time (so a stalled server is not
// hidden by a client that politely waits: no coordinated omission). autocannon's own rate
// limiting sends each second's quota in a burst, which measures the burst, not the rate.
import { Agent, request } from "node:https";
import { performance } from "node:perf_hooks";

export interface PacedOptions {
  url: string;
  ca: string;
  body: string;
  rate: number;
  seconds: number;
  connections: number;
}

export interface PacedResult {
  sent: number;
  completed: number;
  errors: number;
  non200: number;
  achievedPerSec: number;
  p50ms: number;
  p90ms: number;
  p99ms: number;
  p999ms: number;
  maxMs: number;
  /** The same from the moment the request was actually sent: the difference is client-side lag. */
  fromSendP50ms: number;
  fromSendP99ms: number;
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

export async function pacedLoad(o: PacedOptions): Promise<PacedResult> {
  const target = new URL(o.url);
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections, ca: o.ca });
  const body = Buffer.from(o.body);
  const total = Math.round(o.rate * o.seconds);
  const latencies = new Float64Array(total);
  const fromSend = new Float64Array(total);
  let sent = 0;
  let completed = 0;
  let errors = 0;
  let non200 = 0;
  const start = performance.now() + 20;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));

  const finish = (i: number, due: number, sentAt: number, ok: boolean, status?: number) => {
    const now = performance.now();
    latencies[i] = now - due;
    fromSend[i] = now - sentAt;
    if (!ok) errors++;
    else if (status !== 200) non200++;
    if (++completed === total) resolveDone();
  };
  const send = (i: number) => {
    const due = start + (i * 1000) / o.rate;
    const sentAt = performance.now();
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": body.length },
      },
      (res) => {
        res.resume();
        res.on("end", () => finish(i, due, sentAt, true, res.statusCode));
      },
    );
    req.on("error", () => finish(i, due, sentAt, false));
    req.end(body);
  };
  // A 1 ms tick sends every request that has come due (timers cannot fire each 1/rate s exactly).
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + (sent * 1000) / o.rate <= now) send(sent++);
      if (sent < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await done;
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  const sorted = latencies.slice().sort();
  const sortedFromSend = fromSend.slice().sort();
  return {
    sent,
    completed,
    errors,
    non200,
    achievedPerSec: Math.round(completed / elapsed),
    p50ms: round(percentile(sorted, 0.5)),
    p90ms: round(percentile(sorted, 0.9)),
    p99ms: round(percentile(sorted, 0.99)),
    p999ms: round(percentile(sorted, 0.999)),
    maxMs: round(sorted[sorted.length - 1] ?? NaN),
    fromSendP50ms: round(percentile(sortedFromSend, 0.5)),
    fromSendP99ms: round(percentile(sortedFromSend, 0.99)),
  };
}

const round = (ms: number) => Math.round(ms * 100) / 100;
