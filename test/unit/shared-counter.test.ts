// sharedCounter and sharedHistogram: the parts of one process that ask for a metric by name on
// one registry share it; another registry gets its own.
import { expect } from "chai";
import { Registry } from "prom-client";
import { sharedCounter, sharedHistogram } from "../../adapters/metrics.js";

const spec = { name: "bulkhead_test_things_total", help: "Things.", labelNames: ["kind"] as const };

describe("sharedCounter", () => {
  it("creates the counter on first use and hands the same one out after", async () => {
    const registry = new Registry();
    const first = sharedCounter(registry, spec);
    const second = sharedCounter(registry, spec);
    expect(second).to.equal(first);
    first.inc({ kind: "a" });
    second.inc({ kind: "a" });
    const metric = await registry.getSingleMetric(spec.name)?.get();
    expect(metric?.values).to.deep.equal([{ value: 2, labels: { kind: "a" } }]);
  });

  it("keeps registries apart", () => {
    expect(sharedCounter(new Registry(), spec)).not.to.equal(sharedCounter(new Registry(), spec));
  });

  it("makes a counter without labels when the spec names none", async () => {
    const registry = new Registry();
    sharedCounter(registry, { name: "bulkhead_test_plain_total", help: "Plain." }).inc();
    const metric = await registry.getSingleMetric("bulkhead_test_plain_total")?.get();
    expect(metric?.values).to.deep.equal([{ value: 1, labels: {} }]);
  });
});

describe("sharedHistogram", () => {
  const histogram = { name: "bulkhead_test_wait_seconds", help: "Waits.", buckets: [0.1, 1] };

  it("creates the histogram with its buckets on first use and hands the same one out after", async () => {
    const registry = new Registry();
    const first = sharedHistogram(registry, histogram);
    expect(sharedHistogram(registry, histogram)).to.equal(first);
    first.observe(0.05);
    sharedHistogram(registry, histogram).observe(0.5);
    const values = ((await registry.getSingleMetric(histogram.name)?.get())?.values ?? []) as Array<{
      metricName?: string;
      labels: { le?: string | number };
      value: number;
    }>;
    const buckets = values.filter((v) => v.metricName?.endsWith("_bucket")).map((v) => [v.labels.le, v.value]);
    expect(buckets).to.deep.equal([
      [0.1, 1],
      [1, 2],
      ["+Inf", 2],
    ]);
  });

  it("keeps registries apart", () => {
    expect(sharedHistogram(new Registry(), histogram)).not.to.equal(sharedHistogram(new Registry(), histogram));
  });
});
