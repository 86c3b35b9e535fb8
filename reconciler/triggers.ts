// Which StatefulSet informer events wake their rollout's pass. The StatefulSet controller writes
// the StatefulSet's status on every pod change (its replica counts), so every pod event came
// with a second wake-up that cannot change the decision (api/observe.ts statefulSetDecisionKey)
// and that, landing during a pass, queued one more pass for the next pod event to wait behind.
// Bounded by the managed StatefulSets (an entry goes with its StatefulSet's delete event).
import { statefulSetDecisionKey, type StatefulSetObject } from "../api/observe.js";

type NamedStatefulSet = StatefulSetObject & { metadata?: { namespace?: string } };

export class StatefulSetTriggers {
  private readonly seen = new Map<string, string>();

  /** Whether this event can change a decision (added, deleted, or what a decision reads changed). */
  changed(sts: NamedStatefulSet, event: "add" | "update" | "delete"): boolean {
    const id = `${sts.metadata?.namespace ?? ""}/${sts.metadata?.name ?? ""}`;
    if (event === "delete") {
      this.seen.delete(id);
      return true;
    }
    const key = statefulSetDecisionKey(sts);
    const before = this.seen.get(id);
    this.seen.set(id, key);
    return event === "add" || before !== key;
  }
}
