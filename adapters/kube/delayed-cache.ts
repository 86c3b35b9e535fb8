// TEST AND FAULT-INJECTION ONLY: a read cache that answers as the wrapped cache stood `delayMs`
// ago, to show that nothing depends on how fast a watch delivers (issue 13: "webhook cache
// delayed artificially by 2 s"). The webhook wraps its rollout cache in it only when
// BULKHEAD_TEST_ROLLOUT_CACHE_DELAY is set (webhook/config.ts); no production path uses it.
import type { Clock } from "../../api/clock.js";
import { systemClock } from "../clock.js";
import type { WatchedCache } from "./cache.js";

interface Entry<T> {
  at: number;
  /** undefined: deleted at `at`. */
  value: T | undefined;
}

interface Keyed {
  metadata?: { name?: string; namespace?: string };
}

const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;

/**
 * Keeps, per object, the versions seen within the last `delayMs` (plus the one before them) and
 * hands out the newest version at least `delayMs` old. Change listeners still fire at once.
 */
export function delayedCache<T extends Keyed>(
  cache: WatchedCache<T>,
  delayMs: number,
  clock: Clock = systemClock,
): WatchedCache<T> {
  const now = () => clock.now();
  const history = new Map<string, Array<Entry<T>>>();
  const record = (obj: T, value: T | undefined): void => {
    const key = keyOf(obj.metadata?.namespace ?? "", obj.metadata?.name ?? "");
    const entries = history.get(key) ?? [];
    entries.push({ at: now(), value });
    // Bounded: drop versions that a newer one, itself old enough, already hides.
    const cutoff = now() - delayMs;
    while (entries.length > 1 && entries[1]!.at <= cutoff) entries.shift();
    history.set(key, entries);
  };
  // What the cache held when wrapped counts as old enough.
  for (const obj of cache.list())
    history.set(keyOf(obj.metadata?.namespace ?? "", obj.metadata?.name ?? ""), [{ at: -Infinity, value: obj }]);
  cache.onChange((obj, event) => record(obj, event === "delete" ? undefined : obj));

  const asOf = (entries: Array<Entry<T>>): T | undefined => {
    const cutoff = now() - delayMs;
    let found: T | undefined;
    for (const e of entries) if (e.at <= cutoff) found = e.value;
    return found;
  };
  return {
    get: (namespace, name) => {
      const entries = history.get(keyOf(namespace, name));
      return entries ? asOf(entries) : undefined;
    },
    list: (namespace) =>
      [...history.entries()]
        .filter(([key]) => namespace === undefined || key.startsWith(`${namespace}/`))
        .map(([, entries]) => asOf(entries))
        .filter((v): v is T => v !== undefined),
    synced: cache.synced,
    isSynced: () => cache.isSynced(),
    hasLoaded: () => cache.hasLoaded(),
    stalenessMs: () => cache.stalenessMs(),
    onChange: (listener) => cache.onChange(listener),
    stop: () => cache.stop(),
  };
}
