// The StatefulsetRollout resource: one zod schema is the source of truth for spec and status.
// The CRD's OpenAPI schema is generated from it (api/crd.ts). Field names follow the seed
// (Slack's Bedrock Rollout Operator) where it has them; DESIGN.md §3 lists the additions.
import { z } from "zod";

/** "1%" to "100%": the string form of a budget (the CRD's CEL rule uses it too). */
export const PERCENT_PATTERN = "^(100|[1-9][0-9]?)%$";

// A budget of 0 would block every wave (and the PDB webhook refuses it), so it starts at 1.
const intOrPercent = z
  .union([z.number().int().min(1), z.string().regex(new RegExp(PERCENT_PATTERN), 'a percent from "1%" to "100%"')])
  .meta({ "x-kubernetes-int-or-string": true });

const nonNegativeSeconds = z.number().int().min(0);

/** An apps/v1 StatefulSet, kept whole; only what Bulkhead reads is typed. */
export const embeddedStatefulSetSchema = z
  .object({
    apiVersion: z.string().optional(),
    kind: z.string().optional(),
    metadata: z
      .object({
        name: z.string().min(1).optional(),
        namespace: z.string().optional(),
        labels: z.record(z.string(), z.string()).optional(),
        annotations: z.record(z.string(), z.string()).optional(),
      })
      .loose()
      .optional(),
    spec: z
      .object({
        replicas: z.number().int().min(0).optional(),
        serviceName: z.string().optional(),
        selector: z.object({ matchLabels: z.record(z.string(), z.string()).optional() }).loose(),
        template: z.object({}).loose().meta({ "x-kubernetes-preserve-unknown-fields": true }),
      })
      .loose()
      .meta({ "x-kubernetes-preserve-unknown-fields": true }),
  })
  .loose()
  // No CEL rule for the bulkhead.dev/max-unavailable annotation here: annotation values have no
  // maxLength, so the apiserver's cost estimate of a regex on one exceeds the CRD's budget. The
  // admission webhook checks it (api/budget.ts).
  .meta({ "x-kubernetes-preserve-unknown-fields": true })
  .describe(
    "The full apps/v1 StatefulSet to roll out. Its template is applied by the reconciler; edit it here, not on the StatefulSet. " +
      "Admission dry-runs it against the apiserver, so an invalid StatefulSet is refused with the apiserver's own message.",
  );

export const LEAK_PROTECTION_MODES = ["enforce", "flag", "pin", "off"] as const;
export type LeakProtectionMode = (typeof LEAK_PROTECTION_MODES)[number];
export const DEFAULT_LEAK_PROTECTION: LeakProtectionMode = "enforce";

export const DELETION_POLICIES = ["Orphan", "Delete"] as const;
export type DeletionPolicy = (typeof DELETION_POLICIES)[number];

export const NOTIFY_LEVELS = ["debug", "info", "error"] as const;
export type NotifyLevel = (typeof NOTIFY_LEVELS)[number];

export const rolloutSpecSchema = z
  .object({
    statefulset: embeddedStatefulSetSchema,
    percent: z.number().int().min(0).max(100).default(100).describe("Percent of pods to run the new template (0-100)."),
    pauseRequested: z
      .boolean()
      .default(false)
      .describe("Stop after the current wave; the split is kept by leak protection."),
    minPodEvictionIntervalSeconds: nonNegativeSeconds
      .default(0)
      .describe(
        "Least time from one wave completing to the next starting. Set, waves run one at a time; 0 (default): the next wave starts as soon as the budget has room.",
      ),
    rolloutIdentity: z.string().optional().describe("A new value with an unchanged spec retries a failed rollout."),
    channel: z.string().optional().describe("Slack channel for rollout notifications and leak alerts."),
    notifyLevel: z
      .enum(NOTIFY_LEVELS)
      .default("info")
      .describe("debug: every wave; info: start, end and failure; error: failures and leak alerts only."),
    serviceDiscovery: z
      .object({
        dc: z.string().min(1),
        serviceNames: z.array(z.string().min(1)).min(1),
      })
      .optional()
      .describe("Consul services whose health gates each wave."),
    bapi: z
      .object({
        bapiUrl: z.string().regex(/^https?:\/\/\S+$/, "an http(s) URL"),
        stageId: z.string().min(1),
      })
      .optional()
      .describe("Release-API callback sent once per stage when the rollout is done or failed."),
    disruptionPolicy: z
      .object({ maxUnavailable: intOrPercent })
      .optional()
      .describe("Becomes the PodDisruptionBudget that sizes each wave."),
    phases: z
      .array(z.number().int().min(0).max(100))
      .max(101)
      .optional()
      .meta({
        "x-kubernetes-validations": [
          {
            rule: "self.isSorted() && self.all(p, self.indexOf(p) == self.lastIndexOf(p))",
            message: "phases must be strictly increasing, e.g. [1, 50, 100]",
          },
        ],
      })
      .describe(
        "Percents to advance through, e.g. [1, 50, 100]; used with autoPromoteSeconds. Strictly increasing, and the last phase is at " +
          "least percent: each phase is capped at percent and the rollout ends at percent (phases above it are skipped).",
      ),
    autoPromoteSeconds: nonNegativeSeconds
      .optional()
      .describe("Time spent at a completed phase before moving to the next."),
    progressDeadlineSeconds: z
      .number()
      .int()
      .min(1)
      .default(600)
      .describe("A new pod not Ready within this fails the rollout."),
    leakProtection: z
      .enum(LEAK_PROTECTION_MODES)
      .optional()
      .describe(
        'What happens to an eviction or delete of an old pod while the rollout is split: enforce, flag, pin or "off" (quote it in YAML). Unset: the installation\'s default (enforce).',
      ),
    maxParallel: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe("Upper bound on pods being moved at once, across the waves in flight."),
    adoptExisting: z
      .boolean()
      .default(false)
      .describe(
        "Take over a StatefulSet of that name that already exists and that nothing owns. Without it such a rollout is refused.",
      ),
    deletionPolicy: z
      .enum(DELETION_POLICIES)
      .default("Orphan")
      .describe(
        "What deleting this rollout does to its StatefulSet, pods and PDB: Orphan (default) leaves them running, unowned; Delete removes them.",
      ),
    historyLimit: z
      .number()
      .int()
      .min(0)
      .max(20)
      .optional()
      .describe("How many past rollouts status.history keeps (default 10, at most 20)."),
    group: z
      .object({
        name: z
          .string()
          .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "a DNS label (lower-case letters, digits and '-', at most 63)")
          .describe("Rollouts in one namespace that name the same group roll one after another (api/groups.ts)."),
        order: z
          .number()
          .int()
          .min(0)
          .max(1000)
          .describe("Position in the group: lower orders roll first; equal orders are ordered by rollout name."),
      })
      .optional()
      .describe(
        "Rollout group, e.g. one StatefulSet per zone: members roll in order and no member takes pods down while another member has unavailable pods.",
      ),
  })
  .meta({
    "x-kubernetes-validations": [
      {
        // Ratcheted: an update that leaves percent and phases as they were is not judged again, so
        // a rollout stored before this rule can still be paused or edited.
        rule:
          "(oldSelf.hasValue() && oldSelf.value().percent == self.percent && has(oldSelf.value().phases) == has(self.phases) && " +
          "(!has(self.phases) || oldSelf.value().phases == self.phases)) || " +
          "!has(self.phases) || size(self.phases) == 0 || self.phases.max() >= self.percent",
        optionalOldSelf: true,
        message:
          "the last of spec.phases is below spec.percent: the rollout would stop there and report done; add percent as the last phase",
      },
    ],
  });

export const ROLLOUT_PHASES = ["Pending", "Progressing", "Paused", "RolloutDone", "RolloutFailed"] as const;
export type RolloutPhase = (typeof ROLLOUT_PHASES)[number];
export const TERMINAL_PHASES: readonly RolloutPhase[] = ["RolloutDone", "RolloutFailed"];

const podStatusSchema = z.object({
  name: z.string(),
  ordinal: z.number().int().min(0),
  revision: z.string().optional(),
  ready: z.boolean(),
  /** Set when the pod's containers are crash-looping or it cannot be scheduled. */
  stuck: z.string().optional(),
  consulPassing: z.boolean().optional(),
});

/** Pod list limits of status.podSummary (api/pod-summary.ts). */
export const POD_SUMMARY_LIMITS = {
  /** Characters of one ordinal-range string: far above the worst case of 10,000 pods in alternating ordinals (~25 KB). */
  rangesLength: 100_000,
  /** Stuck pods whose reason is kept; the rest are counted in stuckOmitted (every one is still in notReady). */
  stuckDetails: 50,
  /** Characters of one stuck reason. */
  reasonLength: 300,
} as const;

/** Ordinal ranges, ascending and disjoint: "0-449,451,460-469"; "" is no pod. */
const ordinalRangesSchema = z
  .string()
  .max(POD_SUMMARY_LIMITS.rangesLength)
  .regex(/^(\d+(-\d+)?(,\d+(-\d+)?)*)?$/);

/**
 * The pods observed in the last pass, compact (api/pod-summary.ts summarizePods writes it,
 * podsOfStatus expands it into one entry per pod): every pod's revision and readiness is exact
 * in ordinal ranges; free text (why a pod is stuck) is kept only for pods that are not settled,
 * bounded. A settled pod (Ready, not terminating, not stuck, passing Consul when checked) costs
 * nothing beyond its place in a revision's range.
 */
const podSummarySchema = z.object({
  /** Every pod observed, by revision (pods with no revision label have no `revision`). */
  revisions: z.array(z.object({ revision: z.string().optional(), ordinals: ordinalRangesSchema })),
  /** Pods not Ready (every one of them). */
  notReady: ordinalRangesSchema.optional(),
  /** Pods being deleted. */
  terminating: ordinalRangesSchema.optional(),
  /** True when Consul was checked in the pass: every pod not in consulNotPassing passes. */
  consulChecked: z.boolean().optional(),
  consulNotPassing: ordinalRangesSchema.optional(),
  /** Why pods are stuck (crash-looping, cannot be scheduled), lowest ordinals first, at most stuckDetails of them. */
  stuck: z
    .array(z.object({ ordinal: z.number().int().min(0), reason: z.string().max(POD_SUMMARY_LIMITS.reasonLength) }))
    .max(POD_SUMMARY_LIMITS.stuckDetails)
    .optional(),
  /** Stuck pods beyond the bound, whose reason is not kept. */
  stuckOmitted: z.number().int().min(1).optional(),
});

const conditionSchema = z.object({
  type: z.string(),
  status: z.enum(["True", "False", "Unknown"]),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.string().optional(),
  observedGeneration: z.number().int().optional(),
});

const waveSchema = z.object({
  number: z.number().int().min(1),
  pods: z.array(z.string()),
  /** forward: pods move to updateRevision; back: percent was lowered, pods return to currentRevision. */
  direction: z.enum(["forward", "back"]).optional(),
  startedAt: z.string(),
  completedAt: z.string().optional(),
});

/** One rollout in status.history (api/history.ts writes it; strings are cut to 300 characters). */
const historyEntrySchema = z.object({
  identity: z.string().max(300).optional(),
  fromRevision: z.string().max(300).optional(),
  toRevision: z.string().max(300),
  /** templateHash of the pod template rolled out: tells a retry from a new template. */
  template: z.string().max(300),
  fromImage: z.string().max(300).optional(),
  toImage: z.string().max(300).optional(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  outcome: z.enum(["InProgress", "Done", "Failed", "Superseded"]),
  /** The reason when it ended (the failure, or the last status). */
  reason: z.string().max(300).optional(),
  waves: z.number().int().min(0),
  percent: z.number().int().min(0).max(100).optional(),
  /** create: the first revision; update: a new template; rollback: back to the revision before; retry: same template, new rolloutIdentity. */
  trigger: z.enum(["create", "update", "rollback", "retry"]),
});

const groupMemberSchema = z.object({
  name: z.string().max(253),
  order: z.number().int().min(0),
  statefulset: z.string().max(253).optional(),
  phase: z.enum(ROLLOUT_PHASES).optional(),
  /** Pods of the member's StatefulSet that are not Ready or are terminating. */
  unavailable: z.number().int().min(0).optional(),
});

export const GROUP_MEMBERS_MAX = 16;

const groupStatusSchema = z.object({
  name: z.string(),
  members: z.array(groupMemberSchema).max(GROUP_MEMBERS_MAX),
  /** The member allowed to take pods down now, if any. */
  active: z.string().optional(),
  /** What this member waits for before its next wave, for people to read. */
  waitingFor: z.string().max(300).optional(),
});

export const rolloutStatusSchema = z.object({
  phase: z.enum(ROLLOUT_PHASES).optional(),
  percentDeployed: z.number().int().min(0).max(100).optional(),
  reason: z.string().optional(),
  readyReplicas: z.number().int().min(0).optional(),
  readyReplicasServiceDiscovery: z.number().int().min(0).optional(),
  paused: z.boolean().optional(),
  deleted: z.boolean().optional(),
  /**
   * One entry per pod, as written before podSummary replaced it: still read (api/pod-summary.ts
   * podsOfStatus) until the reconciler's next write, which removes it.
   */
  pods: z.array(podStatusSchema).optional(),
  /** The pods observed in the last pass, compact; read it through api/pod-summary.ts podsOfStatus. */
  podSummary: podSummarySchema.optional(),
  reconcileAfter: z.string().optional(),
  lastUpdated: z.string().optional(),
  lastCallbackStageId: z.string().optional(),
  /** version, branch, commit, origin from the rollout's labels and annotations (api/build-metadata.ts). */
  buildMetadata: z.record(z.string(), z.string()).optional(),
  /**
   * The Slack summary message, its thread pages, and `rollout`: the rollout they belong to
   * ("generation/rolloutIdentity", adapters/slack/rollout-blocks.ts rolloutRunOf). A new rollout
   * posts a new message; a ref for an earlier one is that rollout's record.
   */
  slackMessage: z
    .object({
      channel: z.string(),
      ts: z.string(),
      pageTs: z.array(z.string()).optional(),
      rollout: z.string().optional(),
    })
    .optional(),
  consulServices: z.array(z.string()).optional(),
  statefulsetName: z.string().optional(),
  statefulsetSpecCurrent: z.boolean().optional(),
  rolloutIdentity: z.string().optional(),
  observedGeneration: z.number().int().optional(),
  conditions: z.array(conditionSchema).optional(),
  // Added by Bulkhead (DESIGN.md §3-§4).
  /** The StatefulSet's update revision this rollout moves pods to. */
  updateRevision: z.string().optional(),
  /** The revision pods are moved away from; pinned pods are recreated on it. */
  currentRevision: z.string().optional(),
  /** Ordinals the reconciler has moved to updateRevision, in the order moved (appended wave by wave): the only ones allowed to run it. */
  updatedOrdinals: z.array(z.number().int().min(0)).optional(),
  updatedReplicas: z.number().int().min(0).optional(),
  targetReplicas: z.number().int().min(0).optional(),
  wavesCompleted: z.number().int().min(0).optional(),
  /** The newest wave (in flight, or completed when completedAt is set). */
  currentWave: waveSchema.optional(),
  /**
   * Every wave recorded and not yet completed, oldest first: waves are a pipeline, so the next
   * starts as soon as the budget has room and several can be in flight (api/reconcile.ts).
   */
  wavesInFlight: z.array(waveSchema).optional(),
  /** When the current phase of spec.phases was reached, for autoPromoteSeconds. */
  phaseReachedAt: z.string().optional(),
  /** The template before the last applied change: what a rollback applies. */
  previousTemplate: z.object({}).loose().meta({ "x-kubernetes-preserve-unknown-fields": true }).optional(),
  /** Index into spec.phases of the phase being rolled out (reset when a new revision starts). */
  phaseIndex: z.number().int().min(0).optional(),
  /** True when this rollout returns pods to the revision the previous one moved away from (informational). */
  rollback: z.boolean().optional(),
  /** When the current attempt began (a new revision, a new spec or a new rolloutIdentity): the progress deadline counts from here. */
  attemptStartedAt: z.string().optional(),
  /** "stageId: error" when the callback for that stage failed for good (it is not retried). */
  lastCallbackError: z.string().optional(),
  /**
   * True from the pass that records the split (currentRevision, updatedOrdinals) before a new
   * template is applied to the StatefulSet until the pass that records the new updateRevision:
   * a pod of the new template created meanwhile keeps the revision its ordinal runs.
   */
  templatePending: z.boolean().optional(),
  /**
   * The name of the old ControllerRevision (status.currentRevision) once the reconciler found it
   * gone during the split; the RevisionMissing condition says why it matters. Pinning then stops
   * rewriting pods to it and back waves fail with that reason.
   */
  revisionMissing: z.string().optional(),
  /** The last rollouts, newest first (spec.historyLimit, default 10): api/history.ts. */
  history: z.array(historyEntrySchema).max(20).optional(),
  /** When this rollout took over an existing, unowned StatefulSet (spec.adoptExisting). */
  adoptedAt: z.string().optional(),
  /** This rollout's view of its group (spec.group), written by the reconciler: api/groups.ts. */
  group: groupStatusSchema.optional(),
});

export const rolloutSchema = z.object({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: z
    .object({
      name: z.string(),
      namespace: z.string().optional(),
      uid: z.string().optional(),
      generation: z.number().int().optional(),
      resourceVersion: z.string().optional(),
      labels: z.record(z.string(), z.string()).optional(),
      annotations: z.record(z.string(), z.string()).optional(),
      creationTimestamp: z.union([z.string(), z.date()]).optional(),
    })
    .loose(),
  spec: rolloutSpecSchema,
  status: rolloutStatusSchema.optional(),
});

export type EmbeddedStatefulSet = z.infer<typeof embeddedStatefulSetSchema>;
export type RolloutSpec = z.infer<typeof rolloutSpecSchema>;
export type RolloutStatus = z.infer<typeof rolloutStatusSchema>;
export type PodStatus = z.infer<typeof podStatusSchema>;
export type PodSummaryStatus = z.infer<typeof podSummarySchema>;
export type Condition = z.infer<typeof conditionSchema>;
export type Wave = z.infer<typeof waveSchema>;
export type HistoryEntry = z.infer<typeof historyEntrySchema>;
export type GroupStatus = z.infer<typeof groupStatusSchema>;
export type GroupMember = z.infer<typeof groupMemberSchema>;
export type StatefulsetRollout = z.infer<typeof rolloutSchema>;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** Parses an object read from the API (defaults filled in); the error names each bad field. */
export function parseRollout(input: unknown): ParseResult<StatefulsetRollout> {
  const result = rolloutSchema.safeParse(input);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, error: z.prettifyError(result.error) };
}

/**
 * parseRollout, once per stored object, for the admission paths that read cached rollouts on
 * every review (the leak guard, the group guard, the StatefulSet hook): a read cache replaces a
 * rollout on every change and never edits one in place, so the parse of an object it holds
 * cannot go stale. Re-parsing was a third of the garbage left per denied review. Callers only
 * read the parsed value (it is shared). Entries go with their objects (a WeakMap): nothing to
 * bound.
 */
const storedRollouts = new WeakMap<object, ParseResult<StatefulsetRollout>>();
export function parseStoredRollout(raw: unknown): ParseResult<StatefulsetRollout> {
  if (raw === null || typeof raw !== "object") return parseRollout(raw);
  let parsed = storedRollouts.get(raw);
  if (parsed === undefined) {
    parsed = parseRollout(raw);
    storedRollouts.set(raw, parsed);
  }
  return parsed;
}

/** The mode in force: the rollout's own, else the installation's default. */
export function leakProtectionOf(
  rollout: StatefulsetRollout,
  installationDefault = DEFAULT_LEAK_PROTECTION,
): LeakProtectionMode {
  return rollout.spec.leakProtection ?? installationDefault;
}

export function isTerminal(phase: RolloutPhase | undefined): boolean {
  return phase !== undefined && TERMINAL_PHASES.includes(phase);
}
