import { expect } from "chai";
import type { AdmissionRequest } from "../../api/admission.js";
import { validatePodUpdate } from "../../api/pod-update-policy.js";

const RECONCILER = "system:serviceaccount:bulkhead-system:bulkhead-reconciler";
const MANAGED = { app: "db", "bulkhead.dev/managed": "true", "controller-revision-hash": "db-aaa" };

function pod(labels: Record<string, string> | undefined) {
  return { metadata: { name: "db-0", namespace: "shop", ...(labels ? { labels } : {}) } };
}

function request(
  oldLabels: Record<string, string> | undefined,
  newLabels: Record<string, string> | undefined,
  username = "alice",
): AdmissionRequest {
  return {
    uid: "uid-1",
    kind: { group: "", version: "v1", kind: "Pod" },
    resource: { group: "", version: "v1", resource: "pods" },
    namespace: "shop",
    name: "db-0",
    operation: "UPDATE",
    userInfo: { username },
    object: pod(newLabels),
    oldObject: pod(oldLabels),
  };
}

const without = (key: string) => Object.fromEntries(Object.entries(MANAGED).filter(([k]) => k !== key));

describe("validatePodUpdate", () => {
  const cases: Array<{ name: string; req: AdmissionRequest; allowed: boolean; message?: RegExp }> = [
    { name: "unrelated label added", req: request(MANAGED, { ...MANAGED, team: "a" }), allowed: true },
    { name: "no label change", req: request(MANAGED, MANAGED), allowed: true },
    {
      name: "managed label removed",
      req: request(MANAGED, without("bulkhead.dev/managed")),
      allowed: false,
      message: /removes the bulkhead\.dev\/managed label/,
    },
    {
      name: "managed label set to false",
      req: request(MANAGED, { ...MANAGED, "bulkhead.dev/managed": "false" }),
      allowed: false,
      message: /changes bulkhead\.dev\/managed to "false"/,
    },
    {
      name: "all labels dropped",
      req: request(MANAGED, undefined),
      allowed: false,
      message: /removes the bulkhead\.dev\/managed label.*and changes controller-revision-hash/,
    },
    {
      name: "revision relabelled to the new revision",
      req: request(MANAGED, { ...MANAGED, "controller-revision-hash": "db-bbb" }),
      allowed: false,
      message: /changes controller-revision-hash \("db-aaa"; the update sets it to "db-bbb"\)/,
    },
    {
      name: "revision label removed",
      req: request(MANAGED, without("controller-revision-hash")),
      allowed: false,
      message: /the update removes it/,
    },
    {
      name: "revision label added to a managed pod without one",
      req: request(without("controller-revision-hash"), MANAGED),
      allowed: false,
      message: /\(unset; the update sets it/,
    },
    {
      name: "the reconciler removes the managed label (orphaning)",
      req: request(MANAGED, without("bulkhead.dev/managed"), RECONCILER),
      allowed: true,
    },
    {
      name: "an unmanaged pod (old object) is never judged",
      req: request({ app: "db", "controller-revision-hash": "x" }, { app: "db", "controller-revision-hash": "y" }),
      allowed: true,
    },
    {
      name: "labelling a pod as managed",
      req: request({ app: "db" }, { app: "db", "bulkhead.dev/managed": "true" }),
      allowed: true,
    },
    {
      name: "status subresource",
      req: { ...request(MANAGED, without("bulkhead.dev/managed")), subResource: "status" },
      allowed: true,
    },
    {
      name: "CREATE is not this rule's",
      req: { ...request(MANAGED, without("bulkhead.dev/managed")), operation: "CREATE" },
      allowed: true,
    },
    {
      name: "missing oldObject",
      req: { ...request(MANAGED, MANAGED), oldObject: undefined },
      allowed: false,
      message: /missing or not an object/,
    },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.allowed ? "allowed" : "denied"}`, () => {
      const response = validatePodUpdate(c.req, { reconcilerUsername: RECONCILER });
      expect(response, "a decision carries no uid (the kernel sets it)").not.to.have.property("uid");
      expect(response.allowed, response.status?.message).to.equal(c.allowed);
      if (c.message) expect(response.status?.message).to.match(c.message);
      if (!c.allowed && !c.message?.source.includes("missing"))
        expect(response.status?.message).to.match(/pod shop\/db-0 is managed by Bulkhead/);
    });
  }
});
