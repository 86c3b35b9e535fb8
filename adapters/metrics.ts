// Prometheus counters and histograms that several parts of one process (and tests) may ask for on
// one registry: the first asks creates the metric, the others get the same one (prom-client
// refuses a second registration of a name).
import { Counter, Histogram, type Registry } from "prom-client";

export interface CounterSpec<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
}

/** The registry's counter of this name, created from the spec on first use. */
export function sharedCounter<L extends string = string>(registry: Registry, spec: CounterSpec<L>): Counter<L> {
  const existing = registry.getSingleMetric(spec.name);
  if (existing) return existing as Counter<L>;
  return new Counter<L>({ ...spec, labelNames: spec.labelNames ?? [], registers: [registry] });
}

/** The registry's histogram of this name, created from the spec (and its buckets) on first use. */
export function sharedHistogram<L extends string = string>(
  registry: Registry,
  spec: CounterSpec<L> & { buckets: number[] },
): Histogram<L> {
  const existing = registry.getSingleMetric(spec.name);
  if (existing) return existing as Histogram<L>;
  return new Histogram<L>({ ...spec, labelNames: spec.labelNames ?? [], registers: [registry] });
}
