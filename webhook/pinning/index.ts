// Revision pinning, /mutate/pod (DESIGN.md §4). webhook/main.ts wires it:
//   createPodPinningHandler({ view, liveRollouts, liveRevisions, events, logger, alerts,
//     metrics: podPinningMetrics(registry) })
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
