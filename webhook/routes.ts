// Every admission endpoint of DESIGN.md §2, path → handler: the StatefulSet/PDB policy, the leak
// guard (§4) and revision pinning (§4).
import type { EventRecorder } from "../adapters/kube/events.js";
import type { SlackClient } from "../adapters/slack/client.js";
import type { RouteTable, WebhookContext } from "./context.js";
import { createEvictionHandler, createLeakAlerter, createPodDeleteHandler } from "./leak-guard/index.js";
import { createPodPinningHandler, podPinningMetrics, type LiveRolloutReader } from "./pinning/index.js";
import { policyRoutes } from "./policy-routes.js";

export interface RouteDeps {
  ctx: WebhookContext;
  events: EventRecorder;
  /** Undefined when SLACK_TOKEN is not set: alerts go to Events and logs only. */
  slack?: SlackClient;
  /** Live reads of rollouts: pinning confirms answers its cache may be behind on. */
  liveRollouts: LiveRolloutReader;
}

export function webhookRoutes({ ctx, events, slack, liveRollouts }: RouteDeps): RouteTable {
  const { caches, config, logger, metrics } = ctx;
  const leakGuard = {
    pods: caches.managedPods,
    statefulSets: caches.managedStatefulSets,
    rollouts: caches.rollouts,
    reconcilerUsername: config.reconcilerUsername,
    defaultLeakProtection: config.defaultLeakProtection,
    alerts: createLeakAlerter({ events, ...(slack ? { slack } : {}), logger, registry: metrics.registry }),
    logger,
    registry: metrics.registry,
  };
  return {
    ...policyRoutes(ctx),
    "/validate/eviction": createEvictionHandler(leakGuard),
    "/validate/pod-delete": createPodDeleteHandler(leakGuard),
    "/mutate/pod": createPodPinningHandler({
      caches: { statefulSets: caches.managedStatefulSets, rollouts: caches.rollouts, controllerRevisions: caches.controllerRevisions },
      liveRollouts,
      defaultLeakProtection: config.defaultLeakProtection,
      events,
      logger,
      // A pod that could not be pinned: log it and tell the rollout's channel; never block the pod.
      alerts: {
        async alert(alert) {
          logger.warn({ alert }, "pod could not be pinned to its revision");
          if (slack && alert.channel) await slack.post(alert.channel, alert.message).catch(() => undefined);
        },
      },
      metrics: podPinningMetrics(metrics.registry),
    }),
  };
}
