import { expect } from "chai";
import { GroupWakeups } from "../../reconciler/group-wakeups.js";

type Obj = {
  metadata: { name: string; namespace: string; generation: number };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
};

function rollout(name: string, group: string | undefined, status: Record<string, unknown> = {}, namespace = "ns"): Obj {
  return {
    metadata: { name, namespace, generation: 1 },
    spec: {
      statefulset: { spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: {} } },
      ...(group ? { group: { name: group, order: name.charCodeAt(name.length - 1) } } : {}),
    },
    status: { observedGeneration: 1, ...status },
  };
}

describe("GroupWakeups: a member's change queues the other members of its group", () => {
  const progressing = { phase: "Progressing", readyReplicas: 2 };
  const cases: Array<{ name: string; first: Obj | undefined; then: Obj; deleted?: boolean; woken: string[] }> = [
    {
      name: "a member reaching RolloutDone wakes the others, not itself, not other groups or namespaces",
      first: rollout("a", "g", progressing),
      then: rollout("a", "g", { phase: "RolloutDone", readyReplicas: 2 }),
      woken: ["b", "c"],
    },
    {
      name: "a new rollout in a group wakes the others",
      first: undefined,
      then: rollout("a", "g", progressing),
      woken: ["b", "c"],
    },
    {
      name: "a reason or Ready-count change that leaves the member whole wakes nobody",
      first: rollout("a", "g", { ...progressing, reason: "wave 1", readyReplicas: 2 }),
      then: rollout("a", "g", { ...progressing, reason: "wave 2", readyReplicas: 3 }),
      woken: [],
    },
    {
      name: "a member losing a Ready pod wakes the others",
      first: rollout("a", "g", progressing),
      then: rollout("a", "g", { ...progressing, readyReplicas: 1 }),
      woken: ["b", "c"],
    },
    {
      name: "a wave recorded wakes the others",
      first: rollout("a", "g", progressing),
      then: rollout("a", "g", {
        ...progressing,
        currentWave: { number: 1, pods: ["a-1"], startedAt: "2026-11-30T00:00:00Z" },
      }),
      woken: ["b", "c"],
    },
    {
      name: "a member deleted wakes the others",
      first: rollout("a", "g", progressing),
      then: rollout("a", "g", progressing),
      deleted: true,
      woken: ["b", "c"],
    },
    {
      name: "a member moving to another group wakes both groups",
      first: rollout("a", "g", progressing),
      then: rollout("a", "h", progressing),
      woken: ["b", "c", "x"],
    },
    {
      name: "a rollout in no group wakes nobody",
      first: rollout("a", undefined, progressing),
      then: rollout("a", undefined, { phase: "RolloutDone" }),
      woken: [],
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const cache = [
        rollout("b", "g"),
        rollout("c", "g"),
        rollout("x", "h"),
        rollout("y", undefined),
        rollout("z", "g", {}, "other"),
      ];
      const woken: string[] = [];
      const wakeups = new GroupWakeups(
        (namespace) => cache.filter((r) => r.metadata.namespace === namespace),
        (namespace, name) => woken.push(`${namespace}/${name}`),
      );
      if (c.first) wakeups.changed(c.first, false);
      woken.length = 0;
      wakeups.changed(c.then, c.deleted ?? false);
      expect(woken.sort()).to.deep.equal(c.woken.map((n) => `ns/${n}`));
    });
});
