// The admission kernel: every admission path goes through here. It decodes the review once (the
// body is already JSON-parsed and size-limited by server.ts), calls the handler, and answers with
// review(request, decision): handlers return a decision without a uid (the type forbids one), so
// this is the one place the response's uid is set. A handler that throws, or returns no decision,
// is a bug, not a decision: the kernel answers HTTP 500 so the apiserver applies the hook's
// failurePolicy (an HTTP 200 with allowed:false would be a denial, even on an Ignore hook).
import type { Request, Response } from "express";
import type { Logger } from "pino";
import { review, type AdmissionDecision, type AdmissionRequest } from "../api/admission.js";
import { parseAdmissionReview } from "./admission-review.js";
import type { AdmissionHandler } from "./context.js";
import type { Decision, WebhookMetrics } from "./metrics.js";

function decisionOf(decision: AdmissionDecision): Decision {
  if (!decision.allowed) return "denied";
  return decision.patch ? "patched" : "allowed";
}

/** What every log line about a review names. */
function reviewFields(path: string, request: AdmissionRequest) {
  return {
    path,
    uid: request.uid,
    operation: request.operation,
    resource: `${request.namespace ?? ""}/${request.name ?? ""}`,
    user: request.userInfo.username,
    dryRun: request.dryRun === true,
  };
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
    const stopTimer = metrics.latency.startTimer({ path });
    let decision: AdmissionDecision;
    try {
      decision = await handler(request);
      // Only reachable past the type (a cast, or JavaScript): still a bug, not a decision.
      if (typeof decision?.allowed !== "boolean") throw new Error("handler returned no decision");
    } catch (err) {
      stopTimer();
      metrics.handlerErrors.inc({ path });
      logger.error(
        { ...reviewFields(path, request), err },
        "admission handler failed; answering HTTP 500 so the webhook's failurePolicy applies",
      );
      const reason = err instanceof Error ? err.message : String(err);
      res
        .status(500)
        .json({ code: 500, message: `bulkhead webhook ${path} failed on review ${request.uid}: ${reason}` });
      return;
    }
    stopTimer();
    const outcome = decisionOf(decision);
    metrics.decisions.inc({ path, decision: outcome });
    // The fields are built only for a line that is written: at 1,000 reviews/s, per-request
    // objects for lines the level drops are garbage, and garbage is the latency tail.
    if (outcome === "denied") {
      if (logger.isLevelEnabled("info"))
        logger.info(
          { ...reviewFields(path, request), decision: outcome, message: decision.status?.message },
          "admission denied",
        );
    } else if (logger.isLevelEnabled("debug")) {
      logger.debug(
        { ...reviewFields(path, request), decision: outcome, warnings: decision.warnings },
        "admission decided",
      );
    }
    // Written directly, not through express's res.json: the same status, headers and bytes,
    // without the per-response header objects of express's send (measured in bench/RESULTS.md).
    const answer = JSON.stringify(review(request, decision));
    res.statusCode = 200;
    res.setHeader("Content-Type", "application/json; charset=utf-8");
    res.setHeader("Content-Length", Buffer.byteLength(answer));
    res.end(answer);
  };
}
