// Revision pinning, /mutate/pod (DESIGN.md §4). The /mutate/pod route in webhook/routes.ts
// builds it from the webhook's shared view of the cluster, live rollout and revision reads,
// Events and alert sink.
// The decision table is api/pinning.ts.
export {
  createPodPinningHandler,
  type LiveRolloutReader,
  type PinningAlert,
  type PinningAlertSink,
  type PodPinningDeps,
  type PodPinningHandler,
} from "./handler.js";
export { liveControllerRevisionReader, type LiveRevisionReader } from "./lookup.js";
export { podPinningMetrics, type PinningMetrics, type PinningOutcome } from "./metrics.js";
