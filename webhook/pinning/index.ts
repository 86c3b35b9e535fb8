// Revision pinning, /mutate/pod (DESIGN.md §4). The /mutate/pod route in webhook/routes.ts
// builds it from the webhook's shared caches, live rollout reads, Events and alert sink.
// The decision table is api/pinning.ts.
export {
  createPodPinningHandler,
  type LiveRolloutReader,
  type PinningAlert,
  type PinningAlertSink,
  type PodPinningDeps,
  type PodPinningHandler,
} from "./handler.js";
export { type CacheView, type PinningCaches } from "./lookup.js";
export { podPinningMetrics, type PinningMetrics, type PinningOutcome } from "./metrics.js";
