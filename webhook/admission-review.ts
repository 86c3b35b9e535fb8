// Validates an incoming AdmissionReview (admission.k8s.io/v1 only). A malformed review is the
// caller's fault: the route answers HTTP 400 with the message built here, naming each bad field.
// The objects inside (object, oldObject) stay unknown here: each policy's parser in api/ reads
// them through typed guards.
import type { AdmissionRequest } from "../api/admission.js";

// The envelope is checked by hand, not with a schema library: at 1,000 reviews/s the library's
// per-parse objects were a third of the webhook's garbage, and its pauses the latency tail. The
// checks and their words are the ones the zod schema had (test/unit/admission-review.test.ts).

/** A field's check: pushes "path: problem" (path from the shared stack) for each bad value. */
type Check = (value: unknown, at: Path) => void;

/** The path being checked, kept as a stack so a valid review builds no path strings at all. */
interface Path {
  keys: Array<string | number>;
  problems: string[];
}

const MISSING = "is missing";

function problem(at: Path, message: string): void {
  const path = at.keys.join(".") || "(root)";
  at.problems.push(message === MISSING ? `${path} is missing` : `${path}: ${message}`);
}

function received(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** The type error, or "is missing" for an absent value (zod said "received undefined"). */
function wrongType(at: Path, expected: string, value: unknown): void {
  problem(at, value === undefined ? MISSING : `Invalid input: expected ${expected}, received ${received(value)}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

const string =
  (minLength = 0): Check =>
  (value, at) => {
    if (typeof value !== "string") wrongType(at, "string", value);
    else if (value.length < minLength) problem(at, `Too small: expected string to have >=${minLength} characters`);
  };

const boolean: Check = (value, at) => {
  if (typeof value !== "boolean") wrongType(at, "boolean", value);
};

const optional =
  (check: Check): Check =>
  (value, at) => {
    if (value !== undefined) check(value, at);
  };

const arrayOf =
  (item: Check): Check =>
  (value, at) => {
    if (!Array.isArray(value)) return wrongType(at, "array", value);
    for (let i = 0; i < value.length; i++) field(value[i], i, item, at);
  };

const recordOf =
  (item: Check): Check =>
  (value, at) => {
    if (!isRecord(value)) return wrongType(at, "record", value);
    for (const key in value) if (Object.hasOwn(value, key)) field(value[key], key, item, at);
  };

const oneOf = (options: readonly string[]): Check => {
  const message = `Invalid option: expected one of ${options.map((o) => JSON.stringify(o)).join("|")}`;
  return (value, at) => {
    if (typeof value !== "string" || !options.includes(value)) problem(at, message);
  };
};

const literal =
  (expected: string, explain: string): Check =>
  (value, at) => {
    if (value === undefined) problem(at, MISSING);
    else if (value !== expected) problem(at, `${explain}, got ${JSON.stringify(value)}`);
  };

/** Checks the listed fields, in order; other fields pass through unchecked. */
const object =
  (fields: ReadonlyArray<readonly [string, Check]>): Check =>
  (value, at) => {
    if (!isRecord(value)) return wrongType(at, "object", value);
    for (let i = 0; i < fields.length; i++) field(value[fields[i]![0]], fields[i]![0], fields[i]![1], at);
  };

function field(value: unknown, key: string | number, check: Check, at: Path): void {
  at.keys.push(key);
  check(value, at);
  at.keys.pop();
}

const gvk = object([
  ["group", string()],
  ["version", string(1)],
  ["kind", string(1)],
]);
const gvr = object([
  ["group", string()],
  ["version", string(1)],
  ["resource", string(1)],
]);

const OPERATIONS = ["CREATE", "UPDATE", "DELETE", "CONNECT"] as const;

const userInfo = object([
  ["username", optional(string())],
  ["uid", optional(string())],
  ["groups", optional(arrayOf(string()))],
  ["extra", optional(recordOf(arrayOf(string())))],
]);

// object, oldObject and options stay unknown: each policy's parser in api/ reads them.
const request = object([
  ["uid", string(1)],
  ["kind", gvk],
  ["resource", gvr],
  ["subResource", optional(string())],
  ["requestKind", optional(gvk)],
  ["requestResource", optional(gvr)],
  ["requestSubResource", optional(string())],
  ["name", optional(string())],
  ["namespace", optional(string())],
  ["operation", oneOf(OPERATIONS)],
  // An absent userInfo is an empty one (parseAdmissionReview fills it in).
  ["userInfo", optional(userInfo)],
  ["dryRun", optional(boolean)],
]);

const review = object([
  [
    "apiVersion",
    literal(
      "admission.k8s.io/v1",
      'expected "admission.k8s.io/v1" (the only version served; list only v1 in admissionReviewVersions)',
    ),
  ],
  ["kind", literal("AdmissionReview", 'expected "AdmissionReview"')],
  ["request", request],
]);

export type ParsedReview = { ok: true; request: AdmissionRequest } | { ok: false; error: string };

/**
 * Kubernetes objects nest about 20 levels (a pod template inside a StatefulSet inside a rollout
 * is under 40). Deeper input is refused here, before handlers, clones and JSON patch diffs
 * recurse into it and run out of stack.
 */
export const MAX_NESTING_DEPTH = 128;

/** The path to the first value nested deeper than maxDepth, or undefined. */
export function tooDeep(value: unknown, maxDepth = MAX_NESTING_DEPTH): string | undefined {
  if (value === null || typeof value !== "object" || !deeperThan(value, 0, maxDepth)) return undefined;
  return pathTooDeep(value, maxDepth);
}

/**
 * Whether anything under node sits at maxDepth or deeper. Recursive but bounded: it never goes
 * past maxDepth frames. It builds no paths and no entry arrays, so a valid review costs no garbage.
 */
function deeperThan(node: object, depth: number, maxDepth: number): boolean {
  if (depth >= maxDepth) return true;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const child: unknown = node[i];
      if (child !== null && typeof child === "object" && deeperThan(child, depth + 1, maxDepth)) return true;
    }
    return false;
  }
  for (const key in node) {
    if (!Object.hasOwn(node, key)) continue;
    const child: unknown = (node as Record<string, unknown>)[key];
    if (child !== null && typeof child === "object" && deeperThan(child, depth + 1, maxDepth)) return true;
  }
  return false;
}

/** Only for input already found too deep: the path to it, for the error. Iterative: no recursion. */
function pathTooDeep(value: object, maxDepth: number): string | undefined {
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
  const at: Path = { keys: [], problems: [] };
  review(body, at);
  if (at.problems.length > 0) return { ok: false, error: `invalid AdmissionReview: ${at.problems.join("; ")}` };
  const checked = (
    body as { request: Omit<AdmissionRequest, "userInfo"> & { userInfo?: AdmissionRequest["userInfo"] } }
  ).request;
  checked.userInfo ??= {};
  return { ok: true, request: checked as AdmissionRequest };
}
