// Prometheus metrics of the admission server, on a registry the handlers may add to.
import { Counter, Histogram, Registry } from "prom-client";

export interface WebhookMetrics {
  registry: Registry;
  requests: Counter<"path" | "code">;
  decisions: Counter<"path" | "decision">;
  latency: Histogram<"path">;
}

export type Decision = "allowed" | "patched" | "denied" | "errored";

export function createWebhookMetrics(registry = new Registry()): WebhookMetrics {
  return {
    registry,
    requests: new Counter({
      name: "bulkhead_webhook_requests_total",
      help: "HTTP requests to the webhook by path and status code.",
      labelNames: ["path", "code"],
      registers: [registry],
    }),
    decisions: new Counter({
      name: "bulkhead_webhook_decisions_total",
      help: "Admission decisions by path: allowed, patched, denied or errored.",
      labelNames: ["path", "decision"],
      registers: [registry],
    }),
    latency: new Histogram({
      name: "bulkhead_webhook_admission_duration_seconds",
      help: "Time from a parsed AdmissionReview to its response, by path.",
      labelNames: ["path"],
      // Admission must answer in a few ms; the apiserver's timeout is seconds.
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5],
      registers: [registry],
    }),
  };
}
