// The admission answer builders: decisions carry no uid, and review() is the one place the
// response gets the request's uid. The @ts-expect-error lines are checked by tsc (make lint):
// if a decision could name a uid, or a builder took the request, they would fail to compile.
import { expect } from "chai";
import {
  allowed,
  denied,
  jsonObject,
  objectMissing,
  patched,
  review,
  type AdmissionDecision,
  type AdmissionRequest,
} from "../../api/admission.js";

describe("admission decisions and review()", () => {
  it("the builders return decisions without a uid", () => {
    for (const decision of [allowed(), allowed(["w"]), denied("no"), denied("later", 429), patched([])])
      expect(decision).not.to.have.property("uid");
  });

  it("the type forbids a uid in a decision and a request in a builder (checked at compile time)", () => {
    const misuses = [
      // @ts-expect-error a decision never names a uid: review() sets it from the request
      (): AdmissionDecision => ({ allowed: true, uid: "x" }),
      // @ts-expect-error builders take no request (they used to copy its uid)
      () => allowed({ uid: "x" }),
      // @ts-expect-error the same for denials
      () => denied({ uid: "x" }, "message"),
      // @ts-expect-error review() cannot be called without the request whose uid it sets
      () => review(allowed()),
    ];
    expect(misuses).to.have.length(4);
  });

  const cases: Array<{ name: string; decision: AdmissionDecision; response: object }> = [
    { name: "allowed", decision: allowed(), response: { uid: "u-1", allowed: true } },
    {
      name: "allowed with warnings",
      decision: allowed(["careful"]),
      response: { uid: "u-1", allowed: true, warnings: ["careful"] },
    },
    {
      name: "denied 403",
      decision: denied("no"),
      response: { uid: "u-1", allowed: false, status: { code: 403, reason: "Forbidden", message: "no" } },
    },
    {
      name: "denied 429 (drain tools retry)",
      decision: denied("later", 429),
      response: { uid: "u-1", allowed: false, status: { code: 429, reason: "TooManyRequests", message: "later" } },
    },
    { name: "an empty patch is no patch", decision: patched([]), response: { uid: "u-1", allowed: true } },
    {
      name: "patched",
      decision: patched([{ op: "add", path: "/metadata/labels/a", value: "b" }]),
      response: {
        uid: "u-1",
        allowed: true,
        patchType: "JSONPatch",
        patch: Buffer.from(JSON.stringify([{ op: "add", path: "/metadata/labels/a", value: "b" }])).toString("base64"),
      },
    },
    {
      name: "a uid smuggled into a decision (past the type) is not copied: the request's is the only one",
      decision: { allowed: true, uid: "someone-else" } as unknown as AdmissionDecision,
      response: { uid: "u-1", allowed: true },
    },
  ];
  for (const c of cases)
    it(`review(): ${c.name}`, () => {
      expect(review({ uid: "u-1" }, c.decision)).to.deep.equal({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        response: c.response,
      });
    });
});

describe("jsonObject and objectMissing", () => {
  const values: Array<{ value: unknown; object: boolean }> = [
    { value: { kind: "StatefulSet" }, object: true },
    { value: {}, object: true },
    { value: null, object: false },
    { value: undefined, object: false },
    { value: [], object: false },
    { value: "StatefulSet", object: false },
    { value: 3, object: false },
  ];
  for (const c of values)
    it(`${JSON.stringify(c.value) ?? "undefined"} is ${c.object ? "" : "not "}a JSON object`, () => {
      expect(jsonObject(c.value)).to.equal(c.object ? c.value : undefined);
    });

  it("a write without an object is a 400 naming the kind, the operation and what it carries", () => {
    const request = { uid: "u-1", operation: "UPDATE" } as AdmissionRequest;
    expect(objectMissing(request, "PodDisruptionBudget", "PDB").status).to.deep.equal({
      code: 400,
      reason: "Forbidden",
      message: "request.object is missing or not an object: a PodDisruptionBudget UPDATE carries the PDB",
    });
    expect(objectMissing(request, "StatefulSet").status?.message).to.equal(
      "request.object is missing or not an object: a StatefulSet UPDATE carries the StatefulSet",
    );
  });
});
