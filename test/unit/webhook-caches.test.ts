// The webhook's cache health (webhook/caches.ts): readiness needs only the first load, and the
// staleness gauge reports each cache's age while its watch is down (issue 13 item 4).
import { expect } from "chai";
import { Registry } from "prom-client";
import { cachesNotLoaded, registerCacheStaleness, type WebhookCaches } from "../../webhook/caches.js";

interface Health {
  loaded: boolean;
  staleMs: number;
}

function caches(health: Record<"pods" | "statefulSets" | "rollouts" | "controllerRevisions", Health>): WebhookCaches {
  const cache = (h: Health) => ({ hasLoaded: () => h.loaded, stalenessMs: () => h.staleMs });
  return Object.fromEntries(Object.entries(health).map(([name, h]) => [name, cache(h)])) as unknown as WebhookCaches;
}

async function gauge(registry: Registry): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric("bulkhead_webhook_cache_staleness_seconds");
  const { values } = await metric!.get();
  return Object.fromEntries(values.map((v) => [String(v.labels.cache), v.value]));
}

describe("webhook cache health", () => {
  it("names the caches that have not loaded their first list; a stale one counts as loaded", () => {
    const health = {
      pods: { loaded: true, staleMs: 0 },
      statefulSets: { loaded: false, staleMs: 0 },
      rollouts: { loaded: true, staleMs: 600_000 },
      controllerRevisions: { loaded: false, staleMs: 0 },
    };
    expect(cachesNotLoaded(caches(health))).to.deep.equal(["statefulSets", "controllerRevisions"]);
    health.statefulSets.loaded = true;
    health.controllerRevisions.loaded = true;
    expect(cachesNotLoaded(caches(health))).to.deep.equal([]);
  });

  it("reports each cache's staleness in seconds at scrape time, 0 while its watch is up", async () => {
    const health = {
      pods: { loaded: true, staleMs: 0 },
      statefulSets: { loaded: true, staleMs: 0 },
      rollouts: { loaded: true, staleMs: 0 },
      controllerRevisions: { loaded: true, staleMs: 0 },
    };
    const registry = new Registry();
    registerCacheStaleness(registry, caches(health));
    expect(await gauge(registry)).to.deep.equal({ pods: 0, statefulSets: 0, rollouts: 0, controllerRevisions: 0 });
    health.rollouts.staleMs = 12_500;
    expect(await gauge(registry)).to.deep.equal({ pods: 0, statefulSets: 0, rollouts: 12.5, controllerRevisions: 0 });
  });
});
