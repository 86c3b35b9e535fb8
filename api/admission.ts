// admission.k8s.io/v1 AdmissionReview types and the only ways to build an answer.
// Handlers and policies build a decision (allowed, denied, patched), which has no uid: the
// admission kernel (webhook/admission-route.ts) turns it into the AdmissionReview with review(),
// the one place the request's uid is set. A decision that names a uid does not type-check.

export interface UserInfo {
  username?: string;
  uid?: never;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export type Operation = "CREATE" | "UPDATE" | "DELETE" | "CONNECT";

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  requestKind?: GroupVersionKind;
  requestResource?: GroupVersionResource;
  requestSubResource?: string;
  name?: string;
  namespace?: string;
  operation: Operation;
  userInfo: UserInfo;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
  options?: unknown;
}

export interface AdmissionStatus {
  code?: number;
  message?: string;
  reason?: string;
}

/** What a handler or policy decides: the response without its uid. */
export interface AdmissionDecision {
  allowed: boolean;
  status?: AdmissionStatus;
  patch?: string;
  patchType?: "JSONPatch";
  warnings?: string[];
  /** Never set by a decision: review() sets the response's uid from the request. */
  uid?: never;
}

/** The response on the wire: a decision and the request's uid (built only by review()). */
export interface AdmissionResponse extends Omit<AdmissionDecision, "uid"> {
  uid: string;
}

export interface AdmissionReview<T = AdmissionRequest | AdmissionResponse> {
  apiVersion: "admission.k8s.io/v1";
  kind: "AdmissionReview";
  request?: T extends AdmissionRequest ? AdmissionRequest : never;
  response?: T extends AdmissionResponse ? AdmissionResponse : never;
}

export interface JsonPatchOperation {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

export function allowed(warnings: string[] = []): AdmissionDecision {
  return withWarnings({ allowed: true }, warnings);
}

/** Denies with an HTTP-like code: 403 for policy, 429 for "retry later" (drain tools retry on it). */
export function denied(message: string, code = 403, warnings: string[] = []): AdmissionDecision {
  const reason = code === 429 ? "TooManyRequests" : "Forbidden";
  return withWarnings({ allowed: false, status: { code, reason, message } }, warnings);
}

/**
 * The value if it is a JSON object (not null, not an array), typed as the policy reads it; else
 * undefined. A CREATE or UPDATE whose request.object is not one is answered with objectMissing.
 */
export function jsonObject<T extends object>(value: unknown): T | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as T) : undefined;
}

/** The 400 for a CREATE or UPDATE without an object: says what the request should carry. */
export function objectMissing(request: AdmissionRequest, kind: string, carried = kind): AdmissionDecision {
  return denied(
    `request.object is missing or not an object: a ${kind} ${request.operation} carries the ${carried}`,
    400,
  );
}

/** Allows with a JSON patch; an empty patch is no patch at all. */
export function patched(operations: JsonPatchOperation[], warnings: string[] = []): AdmissionDecision {
  if (operations.length === 0) return allowed(warnings);
  return withWarnings(
    { allowed: true, patchType: "JSONPatch", patch: Buffer.from(JSON.stringify(operations)).toString("base64") },
    warnings,
  );
}

function withWarnings(decision: AdmissionDecision, warnings: string[]): AdmissionDecision {
  return warnings.length > 0 ? { ...decision, warnings } : decision;
}

/**
 * The AdmissionReview answering `request` with `decision`: the only place a response gets its
 * uid. Only the decision's own fields are copied, so a uid smuggled into a decision (past the
 * type) cannot reach the wire.
 */
export function review(
  request: Pick<AdmissionRequest, "uid">,
  decision: AdmissionDecision,
): AdmissionReview<AdmissionResponse> {
  const { allowed: isAllowed, status, patch, patchType, warnings } = decision;
  const response: AdmissionResponse = {
    uid: request.uid,
    allowed: isAllowed,
    ...(status !== undefined ? { status } : {}),
    ...(patch !== undefined ? { patch, patchType: patchType ?? "JSONPatch" } : {}),
    ...(warnings !== undefined && warnings.length > 0 ? { warnings } : {}),
  };
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response };
}
