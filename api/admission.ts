// admission.k8s.io/v1 AdmissionReview types and the only ways to build a response.
// Every builder copies the request uid: the apiserver rejects a response without it.

export interface UserInfo {
  username?: string;
  uid?: string;
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

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  patch?: string;
  patchType?: "JSONPatch";
  warnings?: string[];
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

export function allowed(request: Pick<AdmissionRequest, "uid">, warnings: string[] = []): AdmissionResponse {
  return withWarnings({ uid: request.uid, allowed: true }, warnings);
}

/** Denies with an HTTP-like code: 403 for policy, 429 for "retry later" (drain tools retry on it). */
export function denied(
  request: Pick<AdmissionRequest, "uid">,
  message: string,
  code = 403,
  warnings: string[] = [],
): AdmissionResponse {
  const reason = code === 429 ? "TooManyRequests" : "Forbidden";
  return withWarnings({ uid: request.uid, allowed: false, status: { code, reason, message } }, warnings);
}

/** Allows with a JSON patch; an empty patch is no patch at all. */
export function patched(
  request: Pick<AdmissionRequest, "uid">,
  operations: JsonPatchOperation[],
  warnings: string[] = [],
): AdmissionResponse {
  if (operations.length === 0) return allowed(request, warnings);
  return withWarnings(
    {
      uid: request.uid,
      allowed: true,
      patchType: "JSONPatch",
      patch: Buffer.from(JSON.stringify(operations)).toString("base64"),
    },
    warnings,
  );
}

function withWarnings(response: AdmissionResponse, warnings: string[]): AdmissionResponse {
  return warnings.length > 0 ? { ...response, warnings } : response;
}

export function review(response: AdmissionResponse): AdmissionReview<AdmissionResponse> {
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response };
}
