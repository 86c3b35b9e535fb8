// /mutate/pdb and /validate/pdb: the pure policy of api/pdb-policy.ts, given the managed
// StatefulSets of the PDB's namespace from the view.
import { mutatePdb, validatePdb } from "../api/pdb-policy.js";
import type { StatefulSetLike } from "../api/statefulset-policy.js";
import type { AdmissionRequest } from "../api/admission.js";
import type { AdmissionHandler, WebhookContext } from "./context.js";

function managedIn(ctx: Pick<WebhookContext, "view">, request: AdmissionRequest): readonly StatefulSetLike[] {
  const namespace =
    request.namespace ?? (request.object as { metadata?: { namespace?: string } } | undefined)?.metadata?.namespace;
  return namespace ? ctx.view.statefulSets(namespace) : [];
}

export function createPdbMutateHandler(ctx: Pick<WebhookContext, "view">): AdmissionHandler {
  return async (request) => mutatePdb(request, managedIn(ctx, request));
}

export function createPdbValidateHandler(ctx: Pick<WebhookContext, "view">): AdmissionHandler {
  return async (request) => validatePdb(request, managedIn(ctx, request));
}
