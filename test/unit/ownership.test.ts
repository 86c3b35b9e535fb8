import { expect } from "chai";
import {
  controllerOf,
  isOwnedBy,
  ownershipOf,
  owningRollout,
  owningStatefulSet,
  type OwnedMeta,
  type OwnershipVerdict,
} from "../../api/ownership.js";

const rolloutRef = (name: string, uid: string, controller = true) => ({
  apiVersion: "bulkhead.dev/v1alpha1",
  kind: "StatefulsetRollout",
  name,
  uid,
  controller,
});
const stsRef = (name: string, uid: string, controller = true) => ({
  apiVersion: "apps/v1",
  kind: "StatefulSet",
  name,
  uid,
  controller,
});
const meta = (...ownerReferences: NonNullable<OwnedMeta["ownerReferences"]>) => ({
  metadata: { name: "db", namespace: "shop", ownerReferences },
});

describe("ownership: controller references", () => {
  const cases: Array<{ name: string; object: unknown; rollout?: string; statefulSet?: string }> = [
    { name: "no metadata", object: undefined },
    { name: "null owner list (hostile input)", object: { metadata: { ownerReferences: null } } },
    {
      name: "a non-string apiVersion is no owner (hostile input)",
      object: { metadata: { ownerReferences: [{ ...rolloutRef("db", "u1"), apiVersion: {} }] } },
    },
    {
      name: "null entries are skipped",
      object: { metadata: { ownerReferences: [null, rolloutRef("db", "u1")] } },
      rollout: "db",
    },
    { name: "the rollout controller", object: meta(rolloutRef("db", "u1")), rollout: "db" },
    { name: "a non-controller rollout reference is not ownership", object: meta(rolloutRef("db", "u1", false)) },
    {
      name: "another group's StatefulsetRollout kind is not ours",
      object: meta({ ...rolloutRef("x", "u"), apiVersion: "other.dev/v1" }),
    },
    { name: "the StatefulSet controller of a pod", object: meta(stsRef("db", "s1")), statefulSet: "db" },
    { name: "a non-controller StatefulSet reference does not own the pod", object: meta(stsRef("db", "s1", false)) },
    {
      name: "a core-group kind named StatefulSet is not apps/v1",
      object: meta({ ...stsRef("db", "s1"), apiVersion: "v1" }),
    },
    { name: "an empty name is no owner", object: meta(rolloutRef("", "u1")) },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const object = c.object as { metadata?: OwnedMeta } | undefined;
      expect(owningRollout(object)?.name).to.equal(c.rollout);
      expect(owningStatefulSet(object)?.name).to.equal(c.statefulSet);
    });
  }

  it("carries the uid when the reference has one", () => {
    expect(controllerOf(meta(rolloutRef("db", "u1")).metadata, "StatefulsetRollout", "bulkhead.dev")).to.deep.equal({
      name: "db",
      uid: "u1",
    });
    expect(
      controllerOf(meta({ ...rolloutRef("db", "") }).metadata, "StatefulsetRollout", "bulkhead.dev"),
    ).to.deep.equal({ name: "db" });
  });

  it("isOwnedBy compares uids when both have one, else names", () => {
    expect(isOwnedBy({ name: "db", uid: "a" }, { name: "db", uid: "a" })).to.equal(true);
    expect(isOwnedBy({ name: "db", uid: "a" }, { name: "db", uid: "b" })).to.equal(false);
    expect(isOwnedBy({ name: "db" }, { name: "db", uid: "b" })).to.equal(true);
    expect(isOwnedBy({ name: "db" }, { name: "other" })).to.equal(false);
    expect(isOwnedBy(undefined, { name: "db" })).to.equal(false);
  });
});

describe("ownership: one rollout per StatefulSet (admission and reconciler share it)", () => {
  const me = { namespace: "shop", name: "db", uid: "u1", adoptExisting: false };
  const cases: Array<{
    name: string;
    rollout?: Partial<typeof me>;
    sts: unknown;
    verdict: OwnershipVerdict["verdict"];
    says?: string[];
  }> = [
    { name: "no StatefulSet yet: create it", sts: undefined, verdict: "create" },
    { name: "owned by this rollout", sts: meta(rolloutRef("db", "u1")), verdict: "owned" },
    {
      name: "owned by this rollout, before the uid is known (admission of a CREATE)",
      rollout: { uid: undefined },
      sts: meta(rolloutRef("db", "u1")),
      verdict: "owned",
    },
    {
      name: "owned by another rollout: refused, naming it",
      sts: meta(rolloutRef("db-2", "u2")),
      verdict: "refuse",
      says: [
        "StatefulsetRollout shop/db-2",
        "kubectl delete sroll db-2 -n shop",
        "leaves the StatefulSet and its pods running",
        "adoptExisting",
      ],
    },
    {
      name: "owned by an earlier rollout of the same name (another uid): refused",
      sts: meta(rolloutRef("db", "old-uid")),
      verdict: "refuse",
      says: ["an earlier object of that name", "old-uid"],
    },
    {
      name: "owned by another rollout even when adoption is asked: refused",
      rollout: { adoptExisting: true },
      sts: meta(rolloutRef("db-2", "u2")),
      verdict: "refuse",
    },
    {
      name: "controlled by another controller: refused, naming it",
      rollout: { adoptExisting: true },
      sts: meta({ apiVersion: "apps.kruise.io/v1beta1", kind: "StatefulSet", name: "db", uid: "k", controller: true }),
      verdict: "refuse",
      says: ["StatefulSet db (apps.kruise.io/v1beta1)", "another controller"],
    },
    {
      name: "unowned, adoption not asked: refused, saying how to adopt",
      sts: meta(),
      verdict: "refuse",
      says: ["no rollout owns it", "spec.adoptExisting: true"],
    },
    {
      name: "unowned with a non-controller reference, adoption asked: adopt",
      rollout: { adoptExisting: true },
      sts: meta(rolloutRef("x", "u9", false)),
      verdict: "adopt",
    },
    { name: "unowned, adoption asked: adopt", rollout: { adoptExisting: true }, sts: meta(), verdict: "adopt" },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = ownershipOf({ ...me, ...c.rollout }, "db", c.sts as { metadata?: OwnedMeta } | undefined);
      expect(got.verdict).to.equal(c.verdict);
      for (const part of c.says ?? []) expect(got.verdict === "refuse" ? got.message : "").to.contain(part);
    });
  }
});
