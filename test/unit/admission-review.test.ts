// The envelope check of webhook/admission-review.ts, table-driven. The expected messages are the
// ones the zod schema produced before the check was written by hand (same paths, same words, same
// order), so a malformed review is answered exactly as before.
import { expect } from "chai";
import { MAX_NESTING_DEPTH, parseAdmissionReview, tooDeep } from "../../webhook/admission-review.js";

const request = () => ({
  uid: "u-1",
  kind: { group: "", version: "v1", kind: "Pod" },
  resource: { group: "", version: "v1", resource: "pods" },
  operation: "CREATE",
  userInfo: { username: "alice", groups: ["a"], extra: { k: ["v"] } },
});
const envelope = (r: unknown) => ({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: r });
const withRequest = (patch: Record<string, unknown>) => envelope({ ...request(), ...patch });
const bad = (...problems: string[]) => `invalid AdmissionReview: ${problems.join("; ")}`;
const OPERATION = 'Invalid option: expected one of "CREATE"|"UPDATE"|"DELETE"|"CONNECT"';
const TOO_SHORT = "Too small: expected string to have >=1 characters";

describe("parseAdmissionReview: bad envelopes", () => {
  const cases: Array<{ name: string; body: unknown; error: string }> = [
    { name: "null", body: null, error: "invalid AdmissionReview: the body must be a JSON object" },
    { name: "an array", body: [1], error: "invalid AdmissionReview: the body must be a JSON object" },
    { name: "a string", body: "x", error: "invalid AdmissionReview: the body must be a JSON object" },
    { name: "an empty object", body: {}, error: bad("apiVersion is missing", "kind is missing", "request is missing") },
    {
      name: "v1beta1",
      body: { ...envelope(request()), apiVersion: "admission.k8s.io/v1beta1" },
      error: bad(
        'apiVersion: expected "admission.k8s.io/v1" (the only version served; list only v1 in admissionReviewVersions), got "admission.k8s.io/v1beta1"',
      ),
    },
    {
      name: "apiVersion null",
      body: { ...envelope(request()), apiVersion: null },
      error: bad(
        'apiVersion: expected "admission.k8s.io/v1" (the only version served; list only v1 in admissionReviewVersions), got null',
      ),
    },
    {
      name: "another kind",
      body: { ...envelope(request()), kind: 3 },
      error: bad('kind: expected "AdmissionReview", got 3'),
    },
    {
      name: "request a string",
      body: envelope("x"),
      error: bad("request: Invalid input: expected object, received string"),
    },
    {
      name: "request null",
      body: envelope(null),
      error: bad("request: Invalid input: expected object, received null"),
    },
    {
      name: "request an array",
      body: envelope([]),
      error: bad("request: Invalid input: expected object, received array"),
    },
    {
      name: "an empty request",
      body: envelope({}),
      error: bad(
        "request.uid is missing",
        "request.kind is missing",
        "request.resource is missing",
        `request.operation: ${OPERATION}`,
      ),
    },
    { name: "uid empty", body: withRequest({ uid: "" }), error: bad(`request.uid: ${TOO_SHORT}`) },
    {
      name: "uid a number",
      body: withRequest({ uid: 1 }),
      error: bad("request.uid: Invalid input: expected string, received number"),
    },
    // zod also said "Too small: expected array to have >=1 items" here, of a field that takes a string.
    {
      name: "uid an array",
      body: withRequest({ uid: [] }),
      error: bad("request.uid: Invalid input: expected string, received array"),
    },
    {
      name: "kind a string",
      body: withRequest({ kind: "Pod" }),
      error: bad("request.kind: Invalid input: expected object, received string"),
    },
    {
      name: "kind empty",
      body: withRequest({ kind: {} }),
      error: bad("request.kind.group is missing", "request.kind.version is missing", "request.kind.kind is missing"),
    },
    {
      name: "kind.version empty, kind.group a boolean",
      body: withRequest({ kind: { group: true, version: "", kind: "Pod" } }),
      error: bad(
        "request.kind.group: Invalid input: expected string, received boolean",
        `request.kind.version: ${TOO_SHORT}`,
      ),
    },
    {
      name: "resource.resource empty",
      body: withRequest({ resource: { group: "", version: "v1", resource: "" } }),
      error: bad(`request.resource.resource: ${TOO_SHORT}`),
    },
    {
      name: "requestKind null",
      body: withRequest({ requestKind: null }),
      error: bad("request.requestKind: Invalid input: expected object, received null"),
    },
    {
      name: "requestResource without resource",
      body: withRequest({ requestResource: { group: "", version: "v1" } }),
      error: bad("request.requestResource.resource is missing"),
    },
    {
      name: "subResource, requestSubResource, name and namespace not strings",
      body: withRequest({ subResource: 1, requestSubResource: {}, name: null, namespace: false }),
      error: bad(
        "request.subResource: Invalid input: expected string, received number",
        "request.requestSubResource: Invalid input: expected string, received object",
        "request.name: Invalid input: expected string, received null",
        "request.namespace: Invalid input: expected string, received boolean",
      ),
    },
    {
      name: "operation PATCH",
      body: withRequest({ operation: "PATCH" }),
      error: bad(`request.operation: ${OPERATION}`),
    },
    {
      name: "operation lower case",
      body: withRequest({ operation: "create" }),
      error: bad(`request.operation: ${OPERATION}`),
    },
    {
      name: "operation missing",
      body: withRequest({ operation: undefined }),
      error: bad(`request.operation: ${OPERATION}`),
    },
    {
      name: "userInfo null",
      body: withRequest({ userInfo: null }),
      error: bad("request.userInfo: Invalid input: expected object, received null"),
    },
    {
      name: "userInfo an array",
      body: withRequest({ userInfo: [] }),
      error: bad("request.userInfo: Invalid input: expected object, received array"),
    },
    {
      name: "userInfo fields of the wrong types",
      body: withRequest({ userInfo: { username: 1, uid: [], groups: "g", extra: [] } }),
      error: bad(
        "request.userInfo.username: Invalid input: expected string, received number",
        "request.userInfo.uid: Invalid input: expected string, received array",
        "request.userInfo.groups: Invalid input: expected array, received string",
        "request.userInfo.extra: Invalid input: expected record, received array",
      ),
    },
    {
      name: "a group that is not a string",
      body: withRequest({ userInfo: { groups: ["a", null, 3] } }),
      error: bad(
        "request.userInfo.groups.1: Invalid input: expected string, received null",
        "request.userInfo.groups.2: Invalid input: expected string, received number",
      ),
    },
    {
      name: "extra values that are not string lists",
      body: withRequest({ userInfo: { extra: { a: "b", "c.d": [1], ok: ["x"] } } }),
      error: bad(
        "request.userInfo.extra.a: Invalid input: expected array, received string",
        "request.userInfo.extra.c.d.0: Invalid input: expected string, received number",
      ),
    },
    {
      name: "dryRun a string",
      body: withRequest({ dryRun: "true" }),
      error: bad("request.dryRun: Invalid input: expected boolean, received string"),
    },
    {
      name: "everything wrong at once, in schema order",
      body: { apiVersion: "v1", request: { kind: "x", uid: 3, operation: "PATCH", userInfo: { groups: [1] } } },
      error: bad(
        'apiVersion: expected "admission.k8s.io/v1" (the only version served; list only v1 in admissionReviewVersions), got "v1"',
        "kind is missing",
        "request.uid: Invalid input: expected string, received number",
        "request.kind: Invalid input: expected object, received string",
        "request.resource is missing",
        `request.operation: ${OPERATION}`,
        "request.userInfo.groups.0: Invalid input: expected string, received number",
      ),
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(parseAdmissionReview(JSON.parse(JSON.stringify(c.body ?? null)) as unknown)).to.deep.equal({
        ok: false,
        error: c.error,
      });
    });
  }
});

describe("parseAdmissionReview: good envelopes", () => {
  it("returns the request, every optional field as sent and unknown fields kept", () => {
    const full = {
      ...request(),
      subResource: "eviction",
      requestKind: { group: "policy", version: "v1", kind: "Eviction" },
      requestResource: { group: "", version: "v1", resource: "pods" },
      requestSubResource: "eviction",
      name: "web-0",
      namespace: "default",
      operation: "CREATE",
      object: { anything: [1, { x: null }] },
      oldObject: null,
      dryRun: false,
      options: { kind: "CreateOptions" },
      somethingNew: 1,
    };
    expect(parseAdmissionReview(envelope(full))).to.deep.equal({ ok: true, request: full });
  });

  it("an absent userInfo is an empty one", () => {
    const { userInfo: _absent, ...rest } = request();
    expect(parseAdmissionReview(envelope(rest))).to.deep.equal({ ok: true, request: { ...rest, userInfo: {} } });
  });

  for (const operation of ["CREATE", "UPDATE", "DELETE", "CONNECT"])
    it(`operation ${operation}`, () => {
      expect(parseAdmissionReview(withRequest({ operation })).ok).to.equal(true);
    });

  it("an empty group is a group (the core API)", () => {
    expect(parseAdmissionReview(withRequest({ kind: { group: "", version: "v1", kind: "Pod" } })).ok).to.equal(true);
  });
});

describe("tooDeep", () => {
  const nested = (levels: number): unknown => {
    let value: unknown = "leaf";
    for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { k: value };
    return value;
  };
  const cases: Array<{ name: string; value: unknown; maxDepth?: number; at: string | undefined }> = [
    { name: "a scalar", value: 1, at: undefined },
    { name: "null", value: null, at: undefined },
    { name: "an empty object at the limit 0", value: {}, maxDepth: 0, at: "(root)" },
    { name: "objects exactly maxDepth deep", value: nested(3), maxDepth: 3, at: undefined },
    { name: "one level more", value: nested(4), maxDepth: 3, at: "k.0.k" },
    {
      name: "the deep branch is not the first",
      value: { a: { b: 1 }, c: [{}, { d: [[]] }] },
      maxDepth: 3,
      at: "c.1.d",
    },
    { name: "a review at the default limit", value: { request: nested(MAX_NESTING_DEPTH - 1) }, at: undefined },
    {
      name: "a review past the default limit",
      value: { request: nested(MAX_NESTING_DEPTH) },
      // The outermost level of nested() is an object when the level count is even.
      at: ["request", ...Array.from({ length: MAX_NESTING_DEPTH - 1 }, (_, j) => (j % 2 === 0 ? "k" : "0"))].join("."),
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      expect(tooDeep(c.value, c.maxDepth)).to.equal(c.at);
    });

  it("far deeper input than the stack allows is found without recursion running away", () => {
    let value: unknown = [];
    for (let i = 0; i < 200_000; i++) value = [value];
    expect(tooDeep(value)).to.equal(Array(MAX_NESTING_DEPTH).fill("0").join("."));
  });
});
