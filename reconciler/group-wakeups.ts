// Rollout groups (api/groups.ts): a member's pass depends on the other members, so when what they
// judge a member by changes (groupSignalOf: its phase for its current spec, its wave in flight,
// whether all its pods are Ready, its group and order) every other member of its group — and of
// the group it left — is queued. The next member then starts as soon as the previous one has
// settled, without waiting for its own requeue timer. Level-triggered: a missed event costs only
// that timer. Bounded by the number of grouped rollouts (entries go with the rollout).
import { groupNameOf, groupSignalOf } from "../api/groups.js";
import { parseRollout } from "../api/rollout.js";

interface RolloutLike {
  metadata?: { name?: string; namespace?: string };
}

export class GroupWakeups {
  private readonly signals = new Map<string, { group: string; signal: string }>();

  constructor(
    /** The rollouts of a namespace as the cache has them. */
    private readonly list: (namespace: string) => readonly RolloutLike[],
    private readonly enqueue: (namespace: string, name: string) => void,
  ) {}

  /** An informer event for a rollout (`deleted`: it is gone). */
  changed(obj: RolloutLike, deleted: boolean): void {
    const namespace = obj.metadata?.namespace ?? "";
    const name = obj.metadata?.name ?? "";
    const key = `${namespace}/${name}`;
    const before = this.signals.get(key);
    // Most rollouts name no group: parse only those that do (or did).
    if (!before && (deleted || rawGroupName(obj) === undefined)) return;
    const parsed = deleted ? undefined : parseRollout(obj);
    const group = parsed?.ok ? groupNameOf(parsed.value) : undefined;
    const now = parsed?.ok && group ? { group, signal: groupSignalOf(parsed.value) } : undefined;
    if (now) this.signals.set(key, now);
    else this.signals.delete(key);
    if (before?.group === now?.group && before?.signal === now?.signal) return;
    if (before) this.wake(namespace, before.group, name);
    if (now && now.group !== before?.group) this.wake(namespace, now.group, name);
  }

  private wake(namespace: string, group: string, except: string): void {
    for (const r of this.list(namespace)) {
      const name = r.metadata?.name ?? "";
      if (name !== except && rawGroupName(r) === group) this.enqueue(namespace, name);
    }
  }
}

function rawGroupName(obj: unknown): string | undefined {
  return groupNameOf(obj as { spec?: { group?: { name?: string } } });
}
