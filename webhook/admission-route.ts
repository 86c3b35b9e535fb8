// The admission kernel: every admission path goes through here. It decodes the review once (the
// body is already JSON-parsed and size-limited by server.ts), calls the handler, and checks that
// the answer carries the request's uid. A handler that throws, or answers without the uid, is a
// bug, not a decision: the kernel answers HTTP 500 so the apiserver applies the hook's
// failurePolicy (an HTTP 200 with allowed:false would be a denial, even on an Ignore hook).
import type { Request, Response } from "express";
import type { Logger } from "pino";
import { review, type AdmissionResponse } from "../api/admission.js";
import { parseAdmissionReview } from "./admission-review.js";
import type { AdmissionHandler } from "./context.js";
import type { Decision, WebhookMetrics } from "./metrics.js";

function decisionOf(response: AdmissionResponse): Decision {
  if (!response.allowed) return "denied";
  return response.patch ? "patched" : "allowed";
}

export function admissionRoute(path: string, handler: AdmissionHandler, metrics: WebhookMetrics, logger: Logger) {
  return async (req: Request, res: Response): Promise<void> => {
    const parsed = parseAdmissionReview(req.body);
    if (!parsed.ok) {
      metrics.rejections.inc({ path, reason: "malformed-review" });
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
        throw new Error(
          `handler returned ${response ? `uid ${JSON.stringify(response.uid)}` : "no response"} for uid ${request.uid}`,
        );
      }
    } catch (err) {
      stopTimer();
      metrics.handlerErrors.inc({ path });
      log.error({ err }, "admission handler failed; answering HTTP 500 so the webhook's failurePolicy applies");
      const reason = err instanceof Error ? err.message : String(err);
      res
        .status(500)
        .json({ code: 500, message: `bulkhead webhook ${path} failed on review ${request.uid}: ${reason}` });
      return;
    }
    stopTimer();
    const decision = decisionOf(response);
    metrics.decisions.inc({ path, decision });
    if (decision === "denied") log.info({ decision, message: response.status?.message }, "admission denied");
    else log.debug({ decision, warnings: response.warnings }, "admission decided");
    res.status(200).json(review(response));
  };
}
