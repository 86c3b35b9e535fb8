// The zone-aware disruption guard (issue #16): may a voluntary eviction or delete take a pod of a
// rollout group's member down now? Rollouts that name one spec.group are usually one StatefulSet
// per availability zone, each holding a full replica of the data: losing pods in one zone is
// fine, losing pods in two zones at once loses availability. So a pod of a member may be taken
// down only while every OTHER member has all its pods available and this member's own budget
// has room. Whether a rollout is in progress does not matter: this is what keeps a drain of a
// whole node pool from taking two zones down.
//
// One pure table (decideGroupDisruption) over plain member views, and one pure fact
// (isPodUnavailable) that the reconciler's group gating uses too, so both processes judge a pod
// the same way. The webhook resolves the views from its caches (decideGroupGuard, below).
import { checkBudget } from "./budget.js";
import { desiredMaxUnavailable, statefulSetName } from "./desired.js";
import { DEFAULT_MAX_UNAVAILABLE, isManaged } from "./labels.js";
import { type DisruptionRequest, type GuardPod, type GuardWorld, isSystemController } from "./leak-guard.js";
import { owningRollout, owningStatefulSet } from "./ownership.js";
import { parseStoredRollout } from "./rollout.js";

/** The well-known node label of a node's zone; also read on a rollout and in pod templates. */
export const ZONE_LABEL = "topology.kubernetes.io/zone";

/** A pod as the reconciler observes it (api/observe.ts ObservedPod has these two fields). */
export interface PodAvailability {
  ready: boolean;
  terminating: boolean;
}

/** A pod as the API returns it: only what availability needs. */
export interface PodAvailabilityLike {
  metadata?: { deletionTimestamp?: unknown } | null;
  status?: { conditions?: ReadonlyArray<{ type?: unknown; status?: unknown } | null> | null } | null;
}

function isObserved(pod: PodAvailability | PodAvailabilityLike): pod is PodAvailability {
  return (
    typeof (pod as PodAvailability).ready === "boolean" && typeof (pod as PodAvailability).terminating === "boolean"
  );
}

/** True when the pod has a Ready condition with status "True". */
export function isPodReady(pod: PodAvailabilityLike): boolean {
  const conditions = pod.status?.conditions;
  return Array.isArray(conditions) && conditions.some((c) => c?.type === "Ready" && c.status === "True");
}

/** True when the pod is being deleted (deletionTimestamp set). */
export function isPodTerminating(pod: PodAvailabilityLike): boolean {
  const at = pod.metadata?.deletionTimestamp;
  return at !== undefined && at !== null;
}

/**
 * The one fact "this pod is unavailable": not Ready, or terminating. Takes either a pod object
 * (Ready condition, deletionTimestamp) or an observed pod ({ready, terminating}).
 */
export function isPodUnavailable(pod: PodAvailability | PodAvailabilityLike): boolean {
  if (isObserved(pod)) return !pod.ready || pod.terminating;
  return !isPodReady(pod) || isPodTerminating(pod);
}

/** One pod of a member, by name, with its availability. */
export interface GroupMemberPod extends PodAvailability {
  name: string;
}

/** One member of a group: a StatefulsetRollout and the pods of its StatefulSet. */
export interface GroupMemberView {
  /** The StatefulsetRollout's name. */
  rollout: string;
  /** spec.group.order. */
  order: number;
  statefulSet: string;
  /** memberZone(): where its pods run, when that is known. */
  zone?: string;
  /** Pods the member should have (the StatefulSet's spec.replicas). */
  replicas: number;
  /** The member's budget as written (api/desired.ts desiredMaxUnavailable): a count or a percent. */
  maxUnavailable: number | string;
  /** The pods of its StatefulSet that exist now. */
  pods: readonly GroupMemberPod[];
}

/** What makes a member degraded: pods that are unavailable, and pods that should exist but do not. */
export interface Degradation {
  member: GroupMemberView;
  /** Names of its pods that are not Ready or are terminating (sorted). */
  unavailable: string[];
  /** replicas minus existing pods, when positive (a pod removed and not yet recreated). */
  missing: number;
}

/** The member's degradation, or undefined when all its pods are available. */
export function memberDegradation(member: GroupMemberView): Degradation | undefined {
  const unavailable = member.pods
    .filter((p) => isPodUnavailable(p))
    .map((p) => p.name)
    .sort();
  const missing = Math.max(0, member.replicas - member.pods.length);
  return unavailable.length > 0 || missing > 0 ? { member, unavailable, missing } : undefined;
}

/** Members in group order: spec.group.order, then rollout name. */
export function compareMembers(a: GroupMemberView, b: GroupMemberView): number {
  return a.order - b.order || (a.rollout < b.rollout ? -1 : a.rollout > b.rollout ? 1 : 0);
}

/** The first member (in group order) other than `self` that is degraded. */
export function otherDegradedMember(members: readonly GroupMemberView[], self: string): Degradation | undefined {
  for (const member of [...members].sort(compareMembers)) {
    if (member.rollout === self) continue;
    const degradation = memberDegradation(member);
    if (degradation) return degradation;
  }
  return undefined;
}

/**
 * The most pods of `replicas` the budget lets be unavailable, rounded up as the PDB's
 * maxUnavailable is. A budget that does not parse counts as the default (25%), as the PDB
 * defaults do (api/pdb-policy.ts).
 */
export function budgetCount(maxUnavailable: number | string, replicas: number): number {
  const verdict = checkBudget(maxUnavailable);
  const budget = verdict.ok ? verdict.value : DEFAULT_MAX_UNAVAILABLE;
  if (typeof budget === "number") return budget;
  return Math.ceil((Math.max(0, replicas) * Number(budget.slice(0, -1))) / 100);
}

/**
 * How many more pods of the member may go down now: available pods minus the pods the budget
 * wants available (replicas - budget), as the disruption controller computes disruptionsAllowed.
 */
export function disruptionsLeft(member: GroupMemberView): number {
  const available = member.pods.filter((p) => !isPodUnavailable(p)).length;
  const wantedAvailable = Math.max(0, member.replicas - budgetCount(member.maxUnavailable, member.replicas));
  return available - wantedAvailable;
}

export type GroupDisruptionVia = "eviction" | "delete";

export interface GroupDisruptionInput {
  via: GroupDisruptionVia;
  namespace: string;
  group: string;
  /** The rollout (member) whose pod is to be taken down. */
  member: string;
  /** The pod to be taken down. */
  pod: string;
  /** The pod's own availability, as the request shows it (freshest) or the member view has it. */
  podState?: PodAvailability;
  /** Every member of the group, this one included. */
  members: readonly GroupMemberView[];
}

export type GroupAllowReason =
  /** Nothing to judge: the pod's rollout is not among the members given (fail-safe). */
  | "member-unknown"
  /** The pod is already not Ready or terminating: removing it takes nothing more down. */
  | "pod-unavailable"
  /** Every other member is whole and this member's budget has room. */
  | "group-available";

export type GroupDenyReason = "other-member-degraded" | "budget-spent";

export type GroupDisruptionDecision =
  | { verdict: "allow"; reason: GroupAllowReason; detail: string }
  | {
      verdict: "deny";
      code: 429;
      reason: GroupDenyReason;
      message: string;
      /** The member that is degraded (another one, or this one when its budget is spent). */
      degraded: Degradation;
    };

/** The table. Pure; never throws. */
export function decideGroupDisruption(input: GroupDisruptionInput): GroupDisruptionDecision {
  const self = input.members.find((m) => m.rollout === input.member);
  const key = `${input.namespace}/${input.pod}`;
  if (!self) {
    return {
      verdict: "allow",
      reason: "member-unknown",
      detail: `rollout ${input.namespace}/${input.member} of pod ${key} is not a known member of group ${input.group}`,
    };
  }
  const podState = input.podState ?? self.pods.find((p) => p.name === input.pod);
  if (podState && isPodUnavailable(podState)) {
    return {
      verdict: "allow",
      reason: "pod-unavailable",
      detail: `pod ${key} is already ${podState.terminating ? "terminating" : "not Ready"}; removing it takes nothing more down`,
    };
  }
  const other = otherDegradedMember(input.members, self.rollout);
  if (other) {
    return {
      verdict: "deny",
      code: 429,
      reason: "other-member-degraded",
      message: groupMessage(input, self, other, "other-member-degraded"),
      degraded: other,
    };
  }
  // A pod the view does not hold yet (just created) counts as available: it is Ready or it
  // would have been allowed above.
  const podCounted = self.pods.some((p) => p.name === input.pod);
  const left = disruptionsLeft(self) + (podCounted ? 0 : 1);
  if (left <= 0) {
    const own = memberDegradation(self) ?? { member: self, unavailable: [], missing: 0 };
    return {
      verdict: "deny",
      code: 429,
      reason: "budget-spent",
      message: groupMessage(input, self, own, "budget-spent"),
      degraded: own,
    };
  }
  return {
    verdict: "allow",
    reason: "group-available",
    detail: `every other member of group ${input.group} has all its pods available and ${self.rollout} may lose ${left} more`,
  };
}

/** "zone zone-a (rollout ingester-a, StatefulSet ingester-a)" or "rollout ingester-a (StatefulSet ...)". */
export function describeMember(member: GroupMemberView): string {
  const sts = member.statefulSet !== member.rollout ? `, StatefulSet ${member.statefulSet}` : "";
  return member.zone
    ? `zone ${member.zone} (rollout ${member.rollout}${sts})`
    : `rollout ${member.rollout}${sts ? ` (${sts.slice(2)})` : ""}`;
}

const LISTED_PODS = 3;

/** "2 pods not Ready or terminating (a-0, a-1) and 1 missing" */
export function describeDegradation(d: Degradation): string {
  const parts: string[] = [];
  if (d.unavailable.length > 0) {
    const names = d.unavailable.slice(0, LISTED_PODS).join(", ");
    const more = d.unavailable.length > LISTED_PODS ? `, and ${d.unavailable.length - LISTED_PODS} more` : "";
    parts.push(`${plural(d.unavailable.length, "pod")} not Ready or terminating (${names}${more})`);
  }
  if (d.missing > 0) parts.push(`${plural(d.missing, "pod")} of its ${d.member.replicas} not created yet`);
  return parts.join(" and ");
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** The one text people read: the 429's message and the Event. */
function groupMessage(
  input: GroupDisruptionInput,
  self: GroupMemberView,
  degraded: Degradation,
  reason: GroupDenyReason,
): string {
  const action = input.via === "eviction" ? "Eviction" : "Deletion";
  const ns = `-n ${input.namespace}`;
  const head = `Bulkhead zone guard: ${action} of pod ${input.namespace}/${input.pod} (${describeMember(self)}, group ${input.group}) refused. `;
  const where = degraded.member.zone ? `zone ${degraded.member.zone}` : `rollout ${degraded.member.rollout}`;
  const firstPod = degraded.unavailable[0];
  const inspect = firstPod ? `; see why with kubectl describe pod ${firstPod} ${ns}` : "";
  const liftGuard = `To lift the guard on purpose, remove spec.group from the group's rollouts.`;
  if (reason === "other-member-degraded") {
    return (
      head +
      `${capitalize(describeMember(degraded.member))} is degraded: ${describeDegradation(degraded)}. ` +
      `Taking this pod down now would leave two members of group ${input.group} degraded at once. ` +
      `Wait until ${where}'s pods are all Ready (kubectl drain retries by itself)${inspect}. ${liftGuard}`
    );
  }
  const budget = budgetCount(self.maxUnavailable, self.replicas);
  return (
    head +
    `Its own budget is spent: ${describeDegradation(degraded) || "no pod is available beyond what the budget keeps"}, ` +
    `and its budget allows ${plural(budget, "pod")} of ${self.replicas} down (maxUnavailable ${JSON.stringify(self.maxUnavailable)}). ` +
    `Wait until ${where}'s pods are Ready (kubectl drain retries by itself)${inspect}, or raise spec.disruptionPolicy.maxUnavailable. ${liftGuard}`
  );
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// ---------------------------------------------------------------------------------------------
// Where a member runs: its zone.

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * The zone a pod template pins its pods to: its nodeSelector's topology.kubernetes.io/zone, else
 * the one zone every term of its required node affinity names (operator In with one value). A
 * template that allows several zones, or says nothing of zones, has none. Reads unknown input.
 */
export function templateZone(template: unknown): string | undefined {
  const spec = record(record(template)?.spec);
  const selected = record(spec?.nodeSelector)?.[ZONE_LABEL];
  if (typeof selected === "string" && selected !== "") return selected;
  const required = record(record(record(spec?.affinity)?.nodeAffinity)?.requiredDuringSchedulingIgnoredDuringExecution);
  const terms = required?.nodeSelectorTerms;
  if (!Array.isArray(terms) || terms.length === 0) return undefined;
  // Terms are ORed: the pods are pinned to one zone only when every term pins the same one.
  const zones = new Set<string | undefined>(terms.map((term) => termZone(term)));
  if (zones.size !== 1) return undefined;
  return [...zones][0];
}

function termZone(term: unknown): string | undefined {
  const expressions = record(term)?.matchExpressions;
  if (!Array.isArray(expressions)) return undefined;
  for (const item of expressions) {
    const e = record(item);
    if (e?.key !== ZONE_LABEL || e.operator !== "In" || !Array.isArray(e.values)) continue;
    if (e.values.length === 1 && typeof e.values[0] === "string" && e.values[0] !== "") return e.values[0];
  }
  return undefined;
}

/**
 * A member's zone, for messages: the rollout's own topology.kubernetes.io/zone label when set
 * (for placement this code cannot read, e.g. taints), else the zone its StatefulSet's pod
 * template pins (the live StatefulSet first, then the rollout's embedded one).
 */
export function memberZone(
  rolloutLabels: Record<string, string> | undefined,
  ...templates: unknown[]
): string | undefined {
  const labelled = rolloutLabels?.[ZONE_LABEL];
  if (typeof labelled === "string" && labelled !== "") return labelled;
  for (const template of templates) {
    const zone = templateZone(template);
    if (zone) return zone;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The webhook's side: from an eviction or delete request and the caches to the table.

/** What the group guard reads of the caches (the webhook's ClusterView and the reconciler's world both provide it). */
export interface GroupGuardWorld extends Pick<GuardWorld, "synced" | "pod" | "statefulSet" | "rollout"> {
  /** Every rollout of a namespace (unparsed). */
  rollouts(namespace: string): readonly unknown[];
  /** The managed pods the StatefulSet controls (api/ownership.ts, by uid when both carry one). */
  podsOf(namespace: string, statefulSet: { name: string; uid?: string }): readonly GuardPod[];
}

export type GroupGuardAllowReason =
  | GroupAllowReason
  | "system-controller"
  | "pod-terminating"
  | "pod-not-managed"
  | "not-grouped"
  // Fail-safe: what the decision needs is missing, and the guard fails open as the leak guard does.
  | "caches-not-synced"
  | "statefulset-not-found"
  | "rollout-not-found"
  | "rollout-invalid";

/** Allowed because something the decision needs is missing (logged and counted, DESIGN.md §4). */
export const GROUP_FAIL_SAFE_REASONS: readonly GroupGuardAllowReason[] = [
  "member-unknown",
  "caches-not-synced",
  "statefulset-not-found",
  "rollout-not-found",
  "rollout-invalid",
];

/** Which group and member a decision was about, when the request got that far. */
export interface GroupGuardSubject {
  namespace: string;
  group: string;
  rollout: string;
  uid?: string;
}

export type GroupGuardDecision =
  | { verdict: "allow"; reason: GroupGuardAllowReason; failSafe: boolean; detail: string; subject?: GroupGuardSubject }
  | (Extract<GroupDisruptionDecision, { verdict: "deny" }> & { subject: GroupGuardSubject });

/**
 * The group guard for one eviction or delete. Exempt, as from the leak guard: cluster controllers
 * removing pods as part of the node and object lifecycle (blocking them jams the cluster; they
 * remove pods that are gone or going anyway) and pods already terminating. The reconciler is NOT
 * exempt: it follows the same rule before each wave, so a refusal it meets only means the caches
 * disagreed for a moment, and a 429 is a normal wait for it. Never throws.
 */
export function decideGroupGuard(req: DisruptionRequest, world: GroupGuardWorld): GroupGuardDecision {
  const key = `${req.namespace}/${req.podName}`;
  const allow = (reason: GroupGuardAllowReason, detail: string, subject?: GroupGuardSubject): GroupGuardDecision => ({
    verdict: "allow",
    reason,
    failSafe: GROUP_FAIL_SAFE_REASONS.includes(reason),
    detail,
    ...(subject ? { subject } : {}),
  });
  if (isSystemController(req.caller)) {
    return allow("system-controller", `${req.caller.username ?? ""} is a cluster controller`);
  }
  const pod = req.pod ?? world.pod(req.namespace, req.podName);
  if (pod && isPodTerminating(pod)) return allow("pod-terminating", `pod ${key} is already being deleted`);
  if (!world.synced) {
    return allow("caches-not-synced", `the webhook's caches have not loaded, so pod ${key}'s group cannot be checked`);
  }
  // The cache holds every managed pod; a pod it lacks is not managed (or an instant old).
  const cached = world.pod(req.namespace, req.podName);
  const stsName = owningStatefulSet(pod ?? cached)?.name;
  if (!pod || !stsName || !isManaged(pod.metadata?.labels ?? cached?.metadata?.labels)) {
    return allow("pod-not-managed", `pod ${key} is not a managed pod of a StatefulSet`);
  }
  const sts = world.statefulSet(req.namespace, stsName);
  if (!sts) return allow("statefulset-not-found", `StatefulSet ${req.namespace}/${stsName} is not in the cache`);
  const rolloutName = owningRollout(sts)?.name;
  if (!rolloutName) return allow("not-grouped", `StatefulSet ${req.namespace}/${stsName} has no StatefulsetRollout`);
  const raw = world.rollout(req.namespace, rolloutName);
  if (raw === undefined) {
    return allow("rollout-not-found", `StatefulsetRollout ${req.namespace}/${rolloutName} is not in the cache`);
  }
  const group = rawGroupName(raw);
  if (group === undefined) return allow("not-grouped", `rollout ${req.namespace}/${rolloutName} is in no group`);
  const subject: GroupGuardSubject = { namespace: req.namespace, group, rollout: rolloutName };
  const parsed = parseStoredRollout(raw);
  if (!parsed.ok) {
    return allow("rollout-invalid", `rollout ${req.namespace}/${rolloutName} does not parse: ${parsed.error}`, subject);
  }
  if (parsed.value.metadata.uid) subject.uid = parsed.value.metadata.uid;
  const decision = decideGroupDisruption({
    via: req.via,
    namespace: req.namespace,
    group,
    member: rolloutName,
    pod: req.podName,
    podState: { ready: isPodReady(pod), terminating: false },
    members: groupMembers(req.namespace, group, world),
  });
  if (decision.verdict === "deny") return { ...decision, subject };
  return allow(decision.reason, decision.detail, subject);
}

/** spec.group.name read without parsing the whole rollout (every eviction reads every rollout of the namespace). */
function rawGroupName(raw: unknown): string | undefined {
  const name = record(record(record(raw)?.spec)?.group)?.name;
  return typeof name === "string" && name !== "" ? name : undefined;
}

/**
 * Every rollout of the namespace that names `group` and parses, as a member view. A rollout that
 * does not parse cannot be read and is left out (the admission webhook refuses such rollouts).
 * A member's pods are the managed pods its StatefulSet controls; a StatefulSet not created yet
 * (or not in the cache) has none, so all its replicas count as missing.
 */
export function groupMembers(namespace: string, group: string, world: GroupGuardWorld): GroupMemberView[] {
  const rollouts = world.rollouts(namespace).flatMap((raw) => {
    if (rawGroupName(raw) !== group) return [];
    const parsed = parseStoredRollout(raw);
    return parsed.ok && parsed.value.spec.group?.name === group ? [parsed.value] : [];
  });
  if (rollouts.length === 0) return [];
  return rollouts.map((rollout) => {
    const name = statefulSetName(rollout);
    const found = world.statefulSet(namespace, name);
    // Only the StatefulSet this rollout controls is its member; another's of that name is not.
    const sts = found && owningRollout(found)?.name === rollout.metadata.name ? found : undefined;
    const pods = sts ? world.podsOf(namespace, { name, uid: sts.metadata?.uid }) : [];
    const zone = memberZone(rollout.metadata.labels, sts?.spec?.template, rollout.spec.statefulset.spec.template);
    return {
      rollout: rollout.metadata.name,
      order: rollout.spec.group?.order ?? 0,
      statefulSet: name,
      ...(zone ? { zone } : {}),
      replicas: sts?.spec?.replicas ?? rollout.spec.statefulset.spec.replicas ?? 1,
      maxUnavailable: desiredMaxUnavailable(rollout, { annotations: sts?.metadata?.annotations ?? {} }),
      pods: pods.map((p) => ({
        name: p.metadata?.name ?? "",
        ready: isPodReady(p),
        terminating: isPodTerminating(p),
      })),
    };
  });
}
