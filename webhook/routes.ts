// Every admission endpoint of DESIGN.md §2 in one table: what the chart registers it for (rules,
// objectSelector, failurePolicy), how large a body it accepts, and how its handler is built.
// test/unit/webhook-routes-chart.test.ts checks templates/webhook-configurations.yaml against this
// table, so adding an endpoint is one entry here plus its webhook in the chart.
import type { Operation } from "../api/admission.js";
import { LIVE_POD_DELETE_CONDITION } from "../api/leak-guard.js";
import type { EventRecorder } from "../adapters/kube/events.js";
import type { AlertEventApi } from "../adapters/kube/alert-events.js";
import type { AdmissionHandler, RouteTable, WebhookContext } from "./context.js";
import {
  createEvictionHandler,
  createLeakAlerter,
  createPodDeleteHandler,
  type LeakAlerter,
  type LeakGuardDeps,
} from "./leak-guard/index.js";
import { createPdbMutateHandler, createPdbValidateHandler } from "./pdb-handlers.js";
import {
  createPodPinningHandler,
  podPinningMetrics,
  type LiveRevisionReader,
  type LiveRolloutReader,
} from "./pinning/index.js";
import { createPodUpdateValidateHandler } from "./pod-update-handlers.js";
import { createRolloutValidateHandler, type RolloutAdmissionDeps } from "./rollout-handlers.js";
import { createStatefulSetMutateHandler, createStatefulSetValidateHandler } from "./statefulset-handlers.js";

export interface RouteDeps {
  ctx: WebhookContext;
  events: EventRecorder;
  /**
   * Alert Events; the leader-elected reconciler turns them into Slack alerts (api/alert-events.ts).
   * Absent (benchmarks, tests of other routes): plain Events only.
   */
  alertEvents?: AlertEventApi;
  /** The live reads /validate/statefulsetrollout needs (main.ts builds them); without them that route is not served. */
  rolloutApi?: Pick<RolloutAdmissionDeps, "readStatefulSet" | "dryRunCreate">;
  /** Live reads of rollouts: pinning confirms answers its cache may be behind on. */
  liveRollouts: LiveRolloutReader;
  /** Live reads of ControllerRevisions the cache does not hold (one made before its StatefulSet was managed). */
  liveRevisions?: LiveRevisionReader;
}

/** One webhook entry of the chart's (Mutating|Validating)WebhookConfiguration. */
export interface WebhookRegistration {
  /** webhooks[].name */
  name: string;
  configuration: "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration";
  rule: { apiGroups: string[]; apiVersions: string[]; resources: string[]; operations: Operation[] };
  /** objectSelector bulkhead.dev/managed=true: unmanaged objects never reach the handler. */
  managedOnly: boolean;
  /** Key under webhook.failurePolicy in values.yaml, and its default there. */
  failurePolicy: { value: string; default: "Fail" | "Ignore" };
  /**
   * CEL matchConditions: requests they exclude never reach the handler. Only for requests the
   * handler would allow with no side effect, so leaving them out changes no answer.
   */
  matchConditions?: ReadonlyArray<{ name: string; expression: string }>;
}

export interface AdmissionRouteSpec {
  path: string;
  registration: WebhookRegistration;
  /** Bodies over this are answered 413 before they are parsed. */
  maxBodyBytes: number;
  /** Undefined: the route cannot be served with these deps (and is left out). */
  build(deps: RouteDeps, shared: SharedDeps): AdmissionHandler | undefined;
}

const KiB = 1024;
const MiB = 1024 * KiB;
/** etcd's default --max-request-bytes: no stored object is larger. */
const MAX_OBJECT = 1.5 * MiB;
/** The review around the object(s): uid, kinds, userInfo with groups and extra, options. */
const ENVELOPE = 64 * KiB;

/** Built once per table and shared by the routes that need it (the leak guard's two paths). */
interface SharedDeps {
  leakGuard(): LeakGuardDeps;
  /** One alerter for refusals and pin failures: one alert Event per pod, rollout and decision per window. */
  alerts(): LeakAlerter;
}

export const ADMISSION_ROUTES: readonly AdmissionRouteSpec[] = [
  {
    path: "/mutate/statefulset",
    registration: {
      name: "statefulset.mutate.bulkhead.dev",
      configuration: "MutatingWebhookConfiguration",
      rule: { apiGroups: ["apps"], apiVersions: ["v1"], resources: ["statefulsets"], operations: ["CREATE", "UPDATE"] },
      managedOnly: true,
      failurePolicy: { value: "statefulset", default: "Fail" },
    },
    // UPDATE carries the object and the old object.
    maxBodyBytes: 2 * MAX_OBJECT + ENVELOPE,
    build: () => createStatefulSetMutateHandler(),
  },
  {
    path: "/validate/statefulset",
    registration: {
      name: "statefulset.validate.bulkhead.dev",
      configuration: "ValidatingWebhookConfiguration",
      rule: { apiGroups: ["apps"], apiVersions: ["v1"], resources: ["statefulsets"], operations: ["CREATE", "UPDATE"] },
      managedOnly: true,
      failurePolicy: { value: "statefulset", default: "Fail" },
    },
    maxBodyBytes: 2 * MAX_OBJECT + ENVELOPE,
    build: ({ ctx }) => createStatefulSetValidateHandler(ctx),
  },
  {
    path: "/mutate/pdb",
    registration: {
      name: "pdb.mutate.bulkhead.dev",
      configuration: "MutatingWebhookConfiguration",
      rule: {
        apiGroups: ["policy"],
        apiVersions: ["v1"],
        resources: ["poddisruptionbudgets"],
        operations: ["CREATE", "UPDATE"],
      },
      managedOnly: false,
      failurePolicy: { value: "pdb", default: "Ignore" },
    },
    // A PDB is small, but its annotations may hold up to 256 KiB; object and old object.
    maxBodyBytes: 1 * MiB,
    build: ({ ctx }) => createPdbMutateHandler(ctx),
  },
  {
    path: "/validate/pdb",
    registration: {
      name: "pdb.validate.bulkhead.dev",
      configuration: "ValidatingWebhookConfiguration",
      rule: {
        apiGroups: ["policy"],
        apiVersions: ["v1"],
        resources: ["poddisruptionbudgets"],
        operations: ["CREATE", "UPDATE"],
      },
      managedOnly: false,
      failurePolicy: { value: "pdb", default: "Ignore" },
    },
    maxBodyBytes: 1 * MiB,
    build: ({ ctx }) => createPdbValidateHandler(ctx),
  },
  {
    path: "/mutate/pod",
    registration: {
      name: "pod.mutate.bulkhead.dev",
      configuration: "MutatingWebhookConfiguration",
      rule: { apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], operations: ["CREATE"] },
      managedOnly: true,
      failurePolicy: { value: "podCreate", default: "Fail" },
    },
    // CREATE: the new pod only.
    maxBodyBytes: MAX_OBJECT + ENVELOPE,
    build: ({ ctx, events, liveRollouts, liveRevisions }, shared) =>
      createPodPinningHandler({
        view: ctx.view,
        liveRollouts,
        ...(liveRevisions ? { liveRevisions } : {}),
        defaultLeakProtection: ctx.config.defaultLeakProtection,
        events,
        logger: ctx.logger,
        // A pod that could not be pinned: an alert Event (the rollout's channel hears of it); never block the pod.
        alerts: shared.alerts(),
        metrics: podPinningMetrics(ctx.metrics.registry),
      }),
  },
  {
    path: "/validate/eviction",
    registration: {
      name: "eviction.validate.bulkhead.dev",
      configuration: "ValidatingWebhookConfiguration",
      rule: { apiGroups: [""], apiVersions: ["v1"], resources: ["pods/eviction"], operations: ["CREATE"] },
      // The objectSelector would match the Eviction's labels, not the pod's (DESIGN.md §2).
      managedOnly: false,
      failurePolicy: { value: "eviction", default: "Ignore" },
    },
    // An Eviction is a name and DeleteOptions; the rest is the envelope.
    maxBodyBytes: 16 * KiB,
    build: (_deps, shared) => createEvictionHandler(shared.leakGuard()),
  },
  {
    path: "/validate/pod-delete",
    registration: {
      name: "pod-delete.validate.bulkhead.dev",
      configuration: "ValidatingWebhookConfiguration",
      rule: { apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], operations: ["DELETE"] },
      managedOnly: true,
      failurePolicy: { value: "podDelete", default: "Ignore" },
      // A pod already terminating is allowed by both guards; the apiserver need not ask.
      matchConditions: [LIVE_POD_DELETE_CONDITION],
    },
    // DELETE carries the pod being deleted as oldObject. A managed pod is its StatefulSet's
    // template plus status: tens of KiB at most; over the limit the hook's Ignore applies.
    maxBodyBytes: 256 * KiB,
    build: (_deps, shared) => createPodDeleteHandler(shared.leakGuard()),
  },
  {
    path: "/validate/pod-update",
    registration: {
      name: "pod-update.validate.bulkhead.dev",
      configuration: "ValidatingWebhookConfiguration",
      rule: { apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], operations: ["UPDATE"] },
      // For UPDATE the objectSelector matches the old or the new pod: removing the label still arrives.
      managedOnly: true,
      failurePolicy: { value: "podUpdate", default: "Ignore" },
    },
    // UPDATE: the pod and the old pod.
    maxBodyBytes: 2 * MAX_OBJECT + ENVELOPE,
    build: ({ ctx }) => createPodUpdateValidateHandler(ctx),
  },
  {
    path: "/validate/statefulsetrollout",
    registration: {
      name: "statefulsetrollout.validate.bulkhead.dev",
      configuration: "ValidatingWebhookConfiguration",
      rule: {
        apiGroups: ["bulkhead.dev"],
        apiVersions: ["v1alpha1"],
        resources: ["statefulsetrollouts"],
        operations: ["CREATE", "UPDATE"],
      },
      managedOnly: false,
      failurePolicy: { value: "rollout", default: "Ignore" },
    },
    // UPDATE: the rollout (a whole StatefulSet inside) and the old rollout.
    maxBodyBytes: 2 * MAX_OBJECT + ENVELOPE,
    build: ({ ctx, rolloutApi }) =>
      rolloutApi &&
      createRolloutValidateHandler({
        ...rolloutApi,
        install: { consulConfigured: ctx.config.consulConfigured, unchecked: ctx.config.uncheckedServiceDiscovery },
        view: ctx.view,
        logger: ctx.logger,
        registry: ctx.metrics.registry,
      }),
  },
];

/** The routes the server serves, handlers built once. */
export function webhookRoutes(deps: RouteDeps, specs: readonly AdmissionRouteSpec[] = ADMISSION_ROUTES): RouteTable {
  const { ctx, events, alertEvents } = deps;
  let leakGuard: LeakGuardDeps | undefined;
  let alerts: LeakAlerter | undefined;
  const shared: SharedDeps = {
    alerts: () =>
      (alerts ??= createLeakAlerter({ events, ...(alertEvents ? { alertEvents } : {}), logger: ctx.logger })),
    leakGuard: () =>
      (leakGuard ??= {
        view: ctx.view,
        reconcilerUsername: ctx.config.reconcilerUsername,
        defaultLeakProtection: ctx.config.defaultLeakProtection,
        alerts: shared.alerts(),
        events,
        logger: ctx.logger,
        registry: ctx.metrics.registry,
      }),
  };
  return specs.flatMap((spec) => {
    const handler = spec.build(deps, shared);
    return handler ? [{ path: spec.path, maxBodyBytes: spec.maxBodyBytes, handler }] : [];
  });
}
