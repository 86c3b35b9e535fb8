// Wraps an AdmissionHandler as an express route: parse and validate the review, call the handler,
// turn any throw into errored() (a handler never takes the server down), record metrics and log.
import type { Request, Response } from "express";
import type { Logger } from "pino";
import { errored, review, type AdmissionResponse } from "../api/admission.js";
import { parseAdmissionReview } from "./admission-review.js";
import type { AdmissionHandler } from "./context.js";
import type { Decision, WebhookMetrics } from "./metrics.js";

function decisionOf(response: AdmissionResponse): Decision {
  if (!response.allowed) return response.status?.code === 500 ? "errored" : "denied";
  return response.patch ? "patched" : "allowed";
}

export function admissionRoute(path: string, handler: AdmissionHandler, metrics: WebhookMetrics, logger: Logger) {
  return async (req: Request, res: Response): Promise<void> => {
    const parsed = parseAdmissionReview(req.body);
    if (!parsed.ok) {
      logger.warn({ path, error: parsed.error }, "malformed AdmissionReview");
      res.status(400).json({ code: 400, message: parsed.error });
      return;
    }
    const request = parsed.request;
    const log = logger.child({
      path,
      uid: request.uid,
      operation: request.operation,
      resource: `${request.namespace ?? ""}/${request.name ?? ""}`,
      user: request.userInfo.username,
    });
    const stopTimer = metrics.latency.startTimer({ path });
    let response: AdmissionResponse;
    try {
      response = await handler(request);
      if (!response || response.uid !== request.uid) {
        throw new Error(`handler returned ${response ? `uid ${JSON.stringify(response.uid)}` : "no response"} for uid ${request.uid}`);
      }
    } catch (err) {
      log.error({ err }, "admission handler failed");
      response = errored(request, `bulkhead webhook ${path} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    stopTimer();
    const decision = decisionOf(response);
    metrics.decisions.inc({ path, decision });
    if (decision === "denied") log.info({ decision, message: response.status?.message }, "admission denied");
    else log.debug({ decision, warnings: response.warnings }, "admission decided");
    res.status(200).json(review(response));
  };
}
