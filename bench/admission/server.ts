// The admission server for the benchmark, in its own process (so the load generator does not
// share its event loop): every real route over HTTPS on 127.0.0.1, answering from synthetic
// caches. Prints {"port":N,"ca":"PEM"} on stdout once listening.
import { constants, monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { getHeapStatistics, GCProfiler } from "node:v8";
import { pino } from "pino";
import { generateCertificatePair } from "../../certs/generate.js";
import { systemClock } from "../../adapters/clock.js";
import type { EventRecorder } from "../../adapters/kube/events.js";
import { parseWebhookConfig } from "../../webhook/config.js";
import { createWebhookMetrics } from "../../webhook/metrics.js";
import { webhookRoutes } from "../../webhook/routes.js";
import { admissionLimits, createApp, serverTimeouts, startHttpsServer } from "../../webhook/server.js";
import { syntheticView } from "./world.js";

const pods = Number(process.env.BENCH_PODS ?? 1000);
const logger = pino({ level: "silent" });
const config = parseWebhookConfig({});
const view = syntheticView(pods);
const metrics = createWebhookMetrics();
// Events are the apiserver's business; the benchmark measures the admission path only.
const events: EventRecorder = { record: async () => {} };
// No apiserver here: the synthetic caches are the truth, so pinning's live reads read them.
const liveRollouts = { get: async (namespace: string, name: string) => view.rollout(namespace, name) };
const app = createApp({
  routes: webhookRoutes({ ctx: { config, view, logger, metrics }, events, liveRollouts }),
  metrics,
  logger,
  limits: admissionLimits(config),
  readiness: { notReadyReasons: () => [] },
});
const pair = generateCertificatePair(
  { serviceName: "bulkhead-webhook", namespace: "bench" },
  { caValidityMs: 86_400_000, servingValidityMs: 86_400_000 },
);
const certificates = { current: () => pair, onChange() {}, start: async () => pair, stop() {} };
const server = await startHttpsServer({
  app,
  certificates,
  host: "127.0.0.1",
  port: 0,
  logger,
  shutdownTimeoutMs: 1000,
  clock: systemClock,
  timeouts: serverTimeouts(config),
});
// Where a latency tail comes from: the server's own stalls (its event loop held up, by its work
// or by GC) against the rest (the load generator, the kernel scheduling two busy processes on a
// shared machine). SIGUSR2 prints the stalls since the last SIGUSR2 as one JSON line and resets.
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
// By V8's kind of collection: young-generation scavenges (minor), full mark-compacts (major),
// incremental marking steps and weak callbacks.
const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
};
let gc: Record<string, { count: number; totalMs: number; maxMs: number }> = {};
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const detail = (entry as { detail?: { kind?: number } }).detail;
    const kind = GC_KINDS[detail?.kind ?? -1] ?? "other";
    const stats = (gc[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
    stats.count++;
    stats.totalMs = Math.round((stats.totalMs + entry.duration) * 100) / 100;
    stats.maxMs = Math.max(stats.maxMs, Math.round(entry.duration * 100) / 100);
  }
}).observe({ entryTypes: ["gc"] });
// Bytes allocated on the heap since the last SIGUSR2 (what makes the collections): the growth of
// the used heap between collections, summed, from V8's per-collection heap statistics.
let profiler = new GCProfiler();
profiler.start();
let usedAtStart = getHeapStatistics().used_heap_size;
function allocatedBytes(): number {
  const events = profiler.stop()?.statistics ?? [];
  let allocated = 0;
  let used = usedAtStart;
  for (const event of events) {
    allocated += Math.max(0, event.beforeGC.heapStatistics.usedHeapSize - used);
    used = event.afterGC.heapStatistics.usedHeapSize;
  }
  const now = getHeapStatistics().used_heap_size;
  allocated += Math.max(0, now - used);
  profiler = new GCProfiler();
  profiler.start();
  usedAtStart = now;
  return allocated;
}
const ms = (ns: number) => Math.round(ns / 1e4) / 100;
process.on("SIGUSR2", () => {
  const stalls = {
    loopDelayP50ms: ms(loopDelay.percentile(50)),
    loopDelayP99ms: ms(loopDelay.percentile(99)),
    loopDelayMaxMs: ms(loopDelay.max),
    gc,
    allocatedBytes: allocatedBytes(),
  };
  process.stdout.write(`${JSON.stringify({ stalls })}\n`);
  loopDelay.reset();
  gc = {};
});
// BENCH_ALLOCATION_PROFILE=FILE: V8's sampling heap profiler over the whole run, garbage included
// (what the collections are made of), written to FILE on SIGTERM as a .heapprofile (Chrome DevTools).
const allocationProfile = process.env.BENCH_ALLOCATION_PROFILE;
const inspector = allocationProfile ? new Session() : undefined;
if (inspector) {
  inspector.connect();
  await inspector.post("HeapProfiler.startSampling", {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}
async function writeAllocationProfile(): Promise<void> {
  if (!inspector || !allocationProfile) return;
  const { profile } = await inspector.post("HeapProfiler.stopSampling");
  writeFileSync(allocationProfile, JSON.stringify(profile));
}
process.stdout.write(`${JSON.stringify({ port: server.port, ca: pair.caBundle })}\n`);
process.on("SIGTERM", () => void writeAllocationProfile().then(() => server.shutdown().then(() => process.exit(0))));
