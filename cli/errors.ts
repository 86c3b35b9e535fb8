// Every failure the user can cause ends as one clear line and an exit code, never a stack trace.
import { apiStatusCode } from "../adapters/kube/client.js";

export const EXIT_OK = 0;
/** The rollout failed, an action was refused, or the API said no. */
export const EXIT_FAILED = 1;
/** Bad flags or arguments. */
export const EXIT_USAGE = 2;
/** Ctrl-C during `status -w`, as shells report SIGINT. */
export const EXIT_INTERRUPTED = 130;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILED,
  ) {
    super(message);
  }
}

export const usageError = (message: string): CliError => new CliError(message, EXIT_USAGE);

/** The apiserver's own message (its Status object), if the error carries one. */
function statusMessage(err: unknown): string | undefined {
  if (!err || typeof err !== "object" || !("body" in err)) return undefined;
  let body = (err as { body: unknown }).body;
  if (typeof body === "string") {
    const text = body;
    try {
      body = JSON.parse(text);
    } catch {
      return text.trim() || undefined;
    }
  }
  if (body && typeof body === "object" && "message" in body && typeof body.message === "string") return body.message;
  return undefined;
}

const NETWORK_CODES = [
  "ECONNREFUSED",
  "ENOTFOUND",
  "ETIMEDOUT",
  "ECONNRESET",
  "EHOSTUNREACH",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
];

/** An error's network code (ECONNREFUSED, ...), looking through fetch's `cause`. */
function networkCode(err: unknown): string | undefined {
  for (
    let e: unknown = err, depth = 0;
    e && typeof e === "object" && depth < 4;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.includes(code)) return code;
  }
  return undefined;
}

export interface ApiErrorContext {
  /** e.g. `statefulsetrollout "web" in namespace "default"` */
  what: string;
  server?: string;
}

/** Turns an API or network error into a CliError that says what went wrong and where. */
export function apiError(err: unknown, context: ApiErrorContext): CliError {
  if (err instanceof CliError) return err;
  const code = apiStatusCode(err);
  const detail = statusMessage(err);
  switch (code) {
    case 404:
      // The path itself is unknown: the CRD is not installed (or another API version is).
      if (detail && /could not find the requested resource/.test(detail)) {
        return new CliError(
          `the API server does not serve statefulsetrollouts.bulkhead.dev/v1alpha1: is Bulkhead's CRD installed in this cluster? (kubectl get crd statefulsetrollouts.bulkhead.dev)`,
        );
      }
      return new CliError(`${context.what} not found${detail && !/not found/.test(detail) ? ` (${detail})` : ""}`);
    case 401:
      return new CliError(
        `the API server rejected the credentials for ${context.what} (401 Unauthorized): check --kubeconfig and --context`,
      );
    case 403:
      return new CliError(`forbidden: ${detail ?? `not allowed to access ${context.what}`}`);
    case 409:
      return new CliError(`${context.what} changed while this command ran (409 Conflict): run it again`);
    case 422:
    case 400:
      return new CliError(`the API server rejected ${context.what}: ${detail ?? "invalid"}`);
    case undefined:
      break;
    default:
      return new CliError(`${context.what}: API error ${code}${detail ? `: ${detail}` : ""}`);
  }
  const net = networkCode(err);
  const where = context.server ? ` at ${context.server}` : "";
  if (net)
    return new CliError(
      `cannot reach the Kubernetes API server${where} (${net}): is the cluster up, and is the right --context selected?`,
    );
  const message = err instanceof Error ? err.message : String(err);
  return new CliError(`${context.what}: ${message}`);
}

export function rolloutRef(namespace: string | undefined, name?: string): string {
  const ns = namespace === undefined ? "in any namespace" : `in namespace "${namespace}"`;
  return name === undefined ? `statefulsetrollouts ${ns}` : `statefulsetrollout "${name}" ${ns}`;
}
