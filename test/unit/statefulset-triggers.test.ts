// Which StatefulSet informer events wake a pass (api/observe.ts statefulSetDecisionKey,
// reconciler/triggers.ts): the status counts rewritten on every pod change do not.
import { expect } from "chai";
import type { StatefulSetObject } from "../../api/observe.js";
import { StatefulSetTriggers } from "../../reconciler/triggers.js";

type Sts = StatefulSetObject & { metadata: { namespace?: string; name?: string } };

function sts(): Sts {
  return {
    metadata: {
      namespace: "ns",
      name: "web",
      uid: "u1",
      generation: 3,
      resourceVersion: "100",
      labels: { "bulkhead.dev/managed": "true" },
      annotations: { a: "1" },
      ownerReferences: [{ apiVersion: "bulkhead.dev/v1", kind: "StatefulsetRollout", name: "web", uid: "r1" }],
    },
    spec: { replicas: 10, template: { spec: {} }, updateStrategy: { type: "OnDelete" } },
    status: {
      observedGeneration: 3,
      updateRevision: "web-2",
      currentRevision: "web-1",
      replicas: 10,
      readyReplicas: 9,
      updatedReplicas: 4,
      currentReplicas: 6,
      availableReplicas: 9,
    },
  } as Sts;
}

const cases: Array<{ what: string; change: (s: Sts) => void; wakes: boolean }> = [
  { what: "nothing but the resourceVersion", change: (s) => (s.metadata.resourceVersion = "101"), wakes: false },
  {
    what: "the status counts (a pod went Ready)",
    change: (s) => Object.assign(s.status!, { readyReplicas: 10, updatedReplicas: 5, currentReplicas: 5 }),
    wakes: false,
  },
  { what: "metadata.generation (a spec change)", change: (s) => (s.metadata.generation = 4), wakes: true },
  { what: "status.observedGeneration", change: (s) => (s.status!.observedGeneration = 2), wakes: true },
  { what: "status.updateRevision", change: (s) => (s.status!.updateRevision = "web-3"), wakes: true },
  { what: "status.currentRevision", change: (s) => (s.status!.currentRevision = "web-2"), wakes: true },
  { what: "a label", change: (s) => (s.metadata.labels = {}), wakes: true },
  { what: "an annotation", change: (s) => (s.metadata.annotations = { a: "2" }), wakes: true },
  { what: "the owner references", change: (s) => (s.metadata.ownerReferences = []), wakes: true },
  {
    what: "a deletionTimestamp",
    change: (s) => (s.metadata.deletionTimestamp = "2026-12-01T00:00:00Z"),
    wakes: true,
  },
  { what: "another uid (recreated)", change: (s) => (s.metadata.uid = "u2"), wakes: true },
];

describe("StatefulSet events that wake a pass", () => {
  for (const c of cases) {
    it(`an update changing ${c.what}: ${c.wakes ? "wakes" : "does not wake"}`, () => {
      const triggers = new StatefulSetTriggers();
      expect(triggers.changed(sts(), "add")).to.equal(true);
      const next = sts();
      c.change(next);
      expect(triggers.changed(next, "update")).to.equal(c.wakes);
    });
  }

  it("add and delete always wake; after a delete the next update wakes again", () => {
    const triggers = new StatefulSetTriggers();
    expect(triggers.changed(sts(), "add")).to.equal(true);
    expect(triggers.changed(sts(), "add"), "a re-list's add").to.equal(true);
    expect(triggers.changed(sts(), "update")).to.equal(false);
    expect(triggers.changed(sts(), "delete")).to.equal(true);
    expect(triggers.changed(sts(), "update"), "not remembered past its delete").to.equal(true);
  });

  it("StatefulSets are told apart by namespace and name", () => {
    const triggers = new StatefulSetTriggers();
    triggers.changed(sts(), "add");
    const other = sts();
    other.metadata.namespace = "other";
    expect(triggers.changed(other, "update")).to.equal(true);
  });
});
