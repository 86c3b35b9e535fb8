// Prometheus counters that several parts of one process (and tests) may ask for on one registry:
// the first asks creates the counter, the others get the same one (prom-client refuses a second
// registration of a name).
import { Counter, type Registry } from "prom-client";

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
