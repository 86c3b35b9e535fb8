// The StatefulSet and PDB routes of DESIGN.md §2 (the leak guard and pinning are added in main.ts).
import { createPdbMutateHandler, createPdbValidateHandler } from "./pdb-handlers.js";
import { createPodUpdateValidateHandler } from "./pod-update-handlers.js";
import { createStatefulSetMutateHandler, createStatefulSetValidateHandler } from "./statefulset-handlers.js";
import type { RouteTable, WebhookContext } from "./context.js";

export function policyRoutes(ctx: Pick<WebhookContext, "config" | "caches">): RouteTable {
  return {
    "/mutate/statefulset": createStatefulSetMutateHandler(),
    "/validate/statefulset": createStatefulSetValidateHandler(ctx),
    "/mutate/pdb": createPdbMutateHandler(ctx),
    "/validate/pdb": createPdbValidateHandler(ctx),
    "/validate/pod-update": createPodUpdateValidateHandler(ctx),
  };
}
