// /validate/pod-update: the pure rule of api/pod-update-policy.ts. It needs no cache: the old and
// new pod in the request are all the facts, so it answers the same whether caches are synced or not.
import { validatePodUpdate } from "../api/pod-update-policy.js";
import type { AdmissionHandler, WebhookContext } from "./context.js";

export function createPodUpdateValidateHandler(ctx: Pick<WebhookContext, "config">): AdmissionHandler {
  return async (request) => validatePodUpdate(request, { reconcilerUsername: ctx.config.reconcilerUsername });
}
