// Every admission endpoint of DESIGN.md §2, path → handler: the StatefulSet/PDB policy, the leak
// guard (§4) and revision pinning (§4).
import type { AlertEventApi } from "../adapters/kube/alert-events.js";
import type { EventRecorder } from "../adapters/kube/events.js";
import type { RouteTable, WebhookContext } from "./context.js";
import { createEvictionHandler, createLeakAlerter, createPodDeleteHandler } from "./leak-guard/index.js";
import { createPodPinningHandler, podPinningMetrics } from "./pinning/index.js";
import { policyRoutes } from "./policy-routes.js";

export interface RouteDeps {
  ctx: WebhookContext;
  events: EventRecorder;
  /**
   * Alert Events; the leader-elected reconciler turns them into Slack alerts (api/alert-events.ts).
   * Absent (benchmarks, tests of other routes): plain Events only.
   */
  alertEvents?: AlertEventApi;
}

export function webhookRoutes({ ctx, events, alertEvents }: RouteDeps): RouteTable {
  const { caches, config, logger, metrics } = ctx;
  // One alerter for refusals and pin failures: one alert Event per pod, rollout and decision per window.
  const alerts = createLeakAlerter({ events, ...(alertEvents ? { alertEvents } : {}), logger });
  const leakGuard = {
    pods: caches.managedPods,
    statefulSets: caches.managedStatefulSets,
    rollouts: caches.rollouts,
    reconcilerUsername: config.reconcilerUsername,
    defaultLeakProtection: config.defaultLeakProtection,
    alerts,
    logger,
    registry: metrics.registry,
  };
  return {
    ...policyRoutes(ctx),
    "/validate/eviction": createEvictionHandler(leakGuard),
    "/validate/pod-delete": createPodDeleteHandler(leakGuard),
    "/mutate/pod": createPodPinningHandler({
      caches: { statefulSets: caches.managedStatefulSets, rollouts: caches.rollouts, controllerRevisions: caches.controllerRevisions },
      defaultLeakProtection: config.defaultLeakProtection,
      events,
      logger,
      // A pod that could not be pinned: an alert Event (the rollout's channel hears of it); never block the pod.
      alerts,
      metrics: podPinningMetrics(metrics.registry),
    }),
  };
}
