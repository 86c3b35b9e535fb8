// Validates an incoming AdmissionReview (admission.k8s.io/v1 only). A malformed review is the
// caller's fault: the route answers HTTP 400 with the message built here, naming each bad field.
// The objects inside (object, oldObject) stay unknown here: each policy's parser in api/ reads
// them through typed guards.
import { z } from "zod";
import type { AdmissionRequest } from "../api/admission.js";

const gvk = z.object({ group: z.string(), version: z.string().min(1), kind: z.string().min(1) });
const gvr = z.object({ group: z.string(), version: z.string().min(1), resource: z.string().min(1) });

const requestSchema = z
  .object({
    uid: z.string().min(1),
    kind: gvk,
    resource: gvr,
    subResource: z.string().optional(),
    requestKind: gvk.optional(),
    requestResource: gvr.optional(),
    requestSubResource: z.string().optional(),
    name: z.string().optional(),
    namespace: z.string().optional(),
    operation: z.enum(["CREATE", "UPDATE", "DELETE", "CONNECT"]),
    userInfo: z
      .object({
        username: z.string().optional(),
        uid: z.string().optional(),
        groups: z.array(z.string()).optional(),
        extra: z.record(z.string(), z.array(z.string())).optional(),
      })
      .default({}),
    object: z.unknown().optional(),
    oldObject: z.unknown().optional(),
    dryRun: z.boolean().optional(),
    options: z.unknown().optional(),
  })
  .loose();

const MISSING = "is missing";

const reviewSchema = z.object({
  apiVersion: z.literal("admission.k8s.io/v1", {
    error: (issue) =>
      issue.input === undefined
        ? MISSING
        : `expected "admission.k8s.io/v1" (the only version served; list only v1 in admissionReviewVersions), got ${JSON.stringify(issue.input)}`,
  }),
  kind: z.literal("AdmissionReview", {
    error: (issue) =>
      issue.input === undefined ? MISSING : `expected "AdmissionReview", got ${JSON.stringify(issue.input)}`,
  }),
  request: requestSchema,
});

export type ParsedReview = { ok: true; request: AdmissionRequest } | { ok: false; error: string };

/**
 * Kubernetes objects nest about 20 levels (a pod template inside a StatefulSet inside a rollout
 * is under 40). Deeper input is refused here, before handlers, clones and JSON patch diffs
 * recurse into it and run out of stack.
 */
export const MAX_NESTING_DEPTH = 128;

/** The path to the first value nested deeper than maxDepth, or undefined. Iterative: no recursion. */
export function tooDeep(value: unknown, maxDepth = MAX_NESTING_DEPTH): string | undefined {
  const stack: Array<{ value: unknown; depth: number; path: string }> = [{ value, depth: 0, path: "" }];
  while (stack.length > 0) {
    const { value: node, depth, path } = stack.pop()!;
    if (node === null || typeof node !== "object") continue;
    if (depth >= maxDepth) return path || "(root)";
    for (const [key, child] of Object.entries(node)) {
      if (child !== null && typeof child === "object")
        stack.push({ value: child, depth: depth + 1, path: path ? `${path}.${key}` : key });
    }
  }
  return undefined;
}

export function parseAdmissionReview(body: unknown): ParsedReview {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { ok: false, error: "invalid AdmissionReview: the body must be a JSON object" };
  }
  const deepAt = tooDeep(body);
  if (deepAt !== undefined) {
    const shown = deepAt.length > 120 ? `${deepAt.slice(0, 120)}...` : deepAt;
    return {
      ok: false,
      error: `invalid AdmissionReview: nested deeper than ${MAX_NESTING_DEPTH} levels at ${shown}; no Kubernetes object nests that deep`,
    };
  }
  const result = reviewSchema.safeParse(body);
  if (result.success) return { ok: true, request: result.data.request as AdmissionRequest };
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.join(".") || "(root)";
    // zod words a missing field as "expected string, received undefined": say it plainly.
    return issue.message === MISSING || / received undefined$/.test(issue.message)
      ? `${path} is missing`
      : `${path}: ${issue.message}`;
  });
  return { ok: false, error: `invalid AdmissionReview: ${problems.join("; ")}` };
}
