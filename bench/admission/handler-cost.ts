// CPU cost of one review inside the handler (parse done, no HTTP), averaged over many calls: a
// figure that other load on the machine barely moves, unlike latency percentiles.
import { pino } from "pino";
import type { AdmissionRequest } from "../../api/admission.js";
import { parseWebhookConfig } from "../../webhook/config.js";
import { createWebhookMetrics } from "../../webhook/metrics.js";
import { webhookRoutes } from "../../webhook/routes.js";
import { syntheticView } from "./world.js";

export async function handlerMicroseconds(pods: number, path: string, body: string, calls = 5000): Promise<number> {
  const view = syntheticView(pods);
  const ctx = {
    config: parseWebhookConfig({}),
    view,
    logger: pino({ level: "silent" }),
    metrics: createWebhookMetrics(),
  };
  const handler = webhookRoutes({
    ctx,
    events: { record: async () => {} },
    liveRollouts: { get: async (ns, name) => view.rollout(ns, name) },
  }).find((r) => r.path === path)?.handler;
  if (!handler) throw new Error(`no handler for ${path}`);
  const request = (JSON.parse(body) as { request: AdmissionRequest }).request;
  for (let i = 0; i < 500; i++) await handler(request);
  const started = performance.now();
  for (let i = 0; i < calls; i++) await handler(request);
  return Math.round(((performance.now() - started) / calls) * 1000 * 10) / 10;
}
