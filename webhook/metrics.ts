// Prometheus metrics of the admission server, on a registry the handlers may add to. Every label
// value comes from a fixed set (route paths, decisions, reasons, cache names), never from a request.
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export interface WebhookMetrics {
  registry: Registry;
  requests: Counter<"path" | "code">;
  decisions: Counter<"path" | "decision">;
  /** A handler threw or returned no decision: HTTP 500, the hook's failurePolicy applies. */
  handlerErrors: Counter<"path">;
  /** Requests turned away before a handler ran, by reason. */
  rejections: Counter<"path" | "reason">;
  inFlightRequests: Gauge;
  inFlightBodyBytes: Gauge;
  latency: Histogram<"path">;
}

export type Decision = "allowed" | "patched" | "denied";

/** Why a request was turned away before its handler: each is its own HTTP status. */
export type Rejection = "in-flight" | "body-too-large" | "body-unreadable" | "malformed-review";

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
      help: "Admission decisions by path: allowed, patched or denied.",
      labelNames: ["path", "decision"],
      registers: [registry],
    }),
    handlerErrors: new Counter({
      name: "bulkhead_webhook_handler_errors_total",
      help: "Admission handlers that threw or returned no decision (answered HTTP 500, so the hook's failurePolicy applies).",
      labelNames: ["path"],
      registers: [registry],
    }),
    rejections: new Counter({
      name: "bulkhead_webhook_rejected_requests_total",
      help: "Admission requests turned away before a handler ran: in-flight (503), body-too-large (413), body-unreadable (400/415), malformed-review (400).",
      labelNames: ["path", "reason"],
      registers: [registry],
    }),
    inFlightRequests: new Gauge({
      name: "bulkhead_webhook_in_flight_requests",
      help: "Admission requests being read or decided now.",
      registers: [registry],
    }),
    inFlightBodyBytes: new Gauge({
      name: "bulkhead_webhook_in_flight_body_bytes",
      help: "Body bytes reserved by the admission requests in flight (declared length, or the path's limit).",
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
