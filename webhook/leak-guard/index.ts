// The leak guard (DESIGN.md §4) for webhook/main.ts: two admission handlers and the alerter
// they report to.
export {
  type AdmissionHandler,
  type LeakGuardDeps,
  createEvictionHandler,
  createPodDeleteHandler,
} from "./handlers.js";
export {
  type AlertDecision,
  type LeakAlertSink,
  type LeakAlerter,
  type LeakAlerterOptions,
  createLeakAlerter,
} from "./alerts.js";
export { type LeakGuardCaches } from "./world.js";
