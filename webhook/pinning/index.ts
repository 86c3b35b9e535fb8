// Revision pinning, /mutate/pod (DESIGN.md §4). webhook/main.ts wires it:
//   createPodPinningHandler({ caches: { statefulSets, rollouts, controllerRevisions }, events,
//     logger, alerts, metrics: podPinningMetrics(registry) })
export { createPodPinningHandler, type PinningAlert, type PinningAlertSink, type PodPinningDeps, type PodPinningHandler } from "./handler.js";
export { type CacheView, type PinningCaches } from "./lookup.js";
export { podPinningMetrics, type PinningMetrics, type PinningOutcome } from "./metrics.js";
