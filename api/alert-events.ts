// Alerts from the webhook to people, once across all webhook replicas (DESIGN.md §4).
//
// Why Events, and why the reconciler sends: the chart runs two webhook replicas and a drain
// retries a refused pod every few seconds, hitting both. De-duplicating in each replica gives
// one Slack message per replica; agreeing between replicas would need a shared record written
// on the admission path. Instead each replica records what it refused as a Kubernetes Event
// (one per (pod, rollout, decision) per window, its series.count raised as repeats arrive, at
// most every 30 s) — a write the webhook makes anyway, off the admission path — and the one
// leader-elected reconciler, which already watches the cluster and talks to Slack, groups the
// Events of all replicas by (pod, rollout, decision) and window and keeps exactly one message
// per group, updated in place with the attempts summed over the replicas. The message's ts is
// written back onto the group's Events, so a new leader updates the same message.
//
// This file holds the shared facts: the label and annotations, what an alert Event carries,
// how it is read back, and how observations are grouped. Pure.
import { z } from "zod";
import type { LeakAlert } from "./leak-guard.js";

/** On alert Events: what kind of alert; the reconciler watches Events with this label. */
export const ALERT_LABEL = "bulkhead.dev/alert";
/** On alert Events: the alert's details as JSON (encodeAlertDetail). */
export const ALERT_DETAIL_ANNOTATION = "bulkhead.dev/alert-detail";
/** On alert Events: "channelId/ts" of the Slack message that shows the group. */
export const ALERT_SLACK_ANNOTATION = "bulkhead.dev/slack-message";

/** How long one alert (one message) covers repeats of the same refusal: 5 minutes. */
export const ALERT_WINDOW_MS = 5 * 60_000;

export const ALERT_KINDS = ["leak", "pin-failure"] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

const leakSchema = z.object({
  via: z.enum(["eviction", "delete"]),
  namespace: z.string(),
  pod: z.string(),
  podRevision: z.string(),
  updateRevision: z.string(),
  statefulSet: z.string(),
  rollout: z.string(),
  mode: z.enum(["enforce", "flag", "pin", "off"]),
  percent: z.number(),
  percentDeployed: z.number().optional(),
  paused: z.boolean(),
  failed: z.boolean(),
  oldPods: z.number(),
  newPods: z.number(),
  caller: z.string(),
});

const leakDetailSchema = z.object({
  kind: z.literal("leak"),
  decision: z.enum(["denied", "flagged"]),
  leak: leakSchema,
  /** Who asked, as seen by the replica that wrote the Event (bounded). */
  callers: z.array(z.string()).max(20),
});

const pinDetailSchema = z.object({
  kind: z.literal("pin-failure"),
  reason: z.enum(["revision-missing", "revision-invalid", "rewrite-failed"]),
  namespace: z.string(),
  pod: z.string(),
  rollout: z.string(),
  statefulSet: z.string(),
  wantedRevision: z.string(),
  actualRevision: z.string(),
});

export const alertDetailSchema = z.discriminatedUnion("kind", [leakDetailSchema, pinDetailSchema]);
export type AlertDetail = z.infer<typeof alertDetailSchema>;
export type LeakAlertDetail = z.infer<typeof leakDetailSchema>;
export type PinAlertDetail = z.infer<typeof pinDetailSchema>;

/** Which pod of which rollout the alert is about, and what happened (decision or reason). */
export function alertSubject(detail: AlertDetail): { namespace: string; pod: string; rollout: string; what: string } {
  return detail.kind === "leak"
    ? { namespace: detail.leak.namespace, pod: detail.leak.pod, rollout: detail.leak.rollout, what: detail.decision }
    : { namespace: detail.namespace, pod: detail.pod, rollout: detail.rollout, what: detail.reason };
}

/** The alert's identity: one message per key per window. A refusal and a flag are different facts. */
export function alertKey(detail: AlertDetail): string {
  const s = alertSubject(detail);
  return [detail.kind, s.namespace, s.pod, s.rollout, s.what].join("\u0000");
}

/** Annotation values are limited in total (256 KiB); an alert's details stay far below. */
const MAX_CALLER = 200;

export function encodeAlertDetail(detail: AlertDetail): string {
  if (detail.kind !== "leak") return JSON.stringify(detail);
  const callers = detail.callers.slice(0, 20).map((c) => c.slice(0, MAX_CALLER));
  return JSON.stringify({
    ...detail,
    callers,
    leak: { ...detail.leak, caller: detail.leak.caller.slice(0, MAX_CALLER) },
  });
}

/** An Event as written by the webhook and read back by the reconciler (events.k8s.io/v1). */
export interface AlertEventObject {
  metadata?: {
    uid?: string;
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  eventTime?: Date | string | null;
  note?: string;
  series?: { count?: number; lastObservedTime?: Date | string | null } | null;
}

/** One replica's record of one alert: the Event, read back. */
export interface AlertObservation {
  /** The Event's uid (or namespace/name). */
  id: string;
  namespace: string;
  name: string;
  key: string;
  detail: AlertDetail;
  /** The refusal text the caller saw. */
  message: string;
  /** Attempts this replica saw: series.count, or 1. */
  count: number;
  firstAt: number;
  lastAt: number;
  /** The Slack message already showing this alert, if any. */
  slack?: { channel: string; ts: string };
}

const toMs = (value: Date | string | null | undefined): number =>
  value instanceof Date ? value.getTime() : typeof value === "string" ? Date.parse(value) : Number.NaN;

/** Reads an alert Event; undefined for anything else (or an Event whose details do not parse). */
export function parseAlertEvent(event: AlertEventObject): AlertObservation | undefined {
  const meta = event.metadata ?? {};
  if (!meta.labels?.[ALERT_LABEL] || !meta.name || !meta.namespace) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(meta.annotations?.[ALERT_DETAIL_ANNOTATION] ?? "");
  } catch {
    return undefined;
  }
  const detail = alertDetailSchema.safeParse(raw);
  if (!detail.success) return undefined;
  const firstAt = toMs(event.eventTime);
  if (Number.isNaN(firstAt)) return undefined;
  const seriesAt = toMs(event.series?.lastObservedTime);
  const observation: AlertObservation = {
    id: meta.uid ?? `${meta.namespace}/${meta.name}`,
    namespace: meta.namespace,
    name: meta.name,
    key: alertKey(detail.data),
    detail: detail.data,
    message: event.note ?? "",
    count: Math.max(1, event.series?.count ?? 1),
    firstAt,
    lastAt: Number.isNaN(seriesAt) ? firstAt : Math.max(firstAt, seriesAt),
  };
  const slack = parseSlackRef(meta.annotations?.[ALERT_SLACK_ANNOTATION]);
  if (slack) observation.slack = slack;
  return observation;
}

export function formatSlackRef(ref: { channel: string; ts: string }): string {
  return `${ref.channel}/${ref.ts}`;
}

function parseSlackRef(value: string | undefined): { channel: string; ts: string } | undefined {
  const slash = value?.indexOf("/") ?? -1;
  if (!value || slash <= 0 || slash === value.length - 1) return undefined;
  return { channel: value.slice(0, slash), ts: value.slice(slash + 1) };
}

/** Observations of one alert across replicas: what one Slack message shows. */
export interface AlertGroup {
  /** key@windowStart: stable while the group's first observation is known. */
  id: string;
  key: string;
  namespace: string;
  rollout: string;
  windowStart: number;
  observationIds: string[];
  /** Summed over the replicas. */
  attempts: number;
  firstAt: number;
  lastAt: number;
  callers: string[];
  /** Details and text of the newest observation. */
  detail: AlertDetail;
  message: string;
  slack?: { channel: string; ts: string };
}

/**
 * Groups observations by key and window: a group starts with the earliest observation not yet
 * in one and takes every observation of the key that began within `windowMs` of it. Each
 * replica starts its own Event per window, so a group holds at most a few per replica.
 */
export function groupAlerts(observations: readonly AlertObservation[], windowMs = ALERT_WINDOW_MS): AlertGroup[] {
  const byKey = new Map<string, AlertObservation[]>();
  for (const o of observations) byKey.set(o.key, [...(byKey.get(o.key) ?? []), o]);
  const groups: AlertGroup[] = [];
  for (const [key, list] of byKey) {
    list.sort((a, b) => a.firstAt - b.firstAt || a.id.localeCompare(b.id));
    let current: AlertGroup | undefined;
    let newest: AlertObservation | undefined;
    for (const o of list) {
      if (!current || o.firstAt >= current.windowStart + windowMs) {
        current = {
          id: `${key}@${o.firstAt}`,
          key,
          namespace: alertSubject(o.detail).namespace,
          rollout: alertSubject(o.detail).rollout,
          windowStart: o.firstAt,
          observationIds: [],
          attempts: 0,
          firstAt: o.firstAt,
          lastAt: o.lastAt,
          callers: [],
          detail: o.detail,
          message: o.message,
        };
        groups.push(current);
        newest = undefined;
      }
      current.observationIds.push(o.id);
      current.attempts += o.count;
      current.lastAt = Math.max(current.lastAt, o.lastAt);
      if (!newest || o.lastAt >= newest.lastAt) {
        newest = o;
        current.detail = o.detail;
        current.message = o.message;
      }
      if (o.detail.kind === "leak")
        for (const c of o.detail.callers)
          if (!current.callers.includes(c) && current.callers.length < 20) current.callers.push(c);
      if (!current.slack && o.slack) current.slack = o.slack;
    }
  }
  return groups;
}

/** A leak group as the Slack message (adapters/slack/leak-alert.ts) shows it. */
export function leakAlertOf(group: AlertGroup): LeakAlert | undefined {
  if (group.detail.kind !== "leak") return undefined;
  return {
    leak: { ...group.detail.leak },
    decision: group.detail.decision,
    message: group.message,
    attempts: group.attempts,
    firstAt: new Date(group.firstAt),
    lastAt: new Date(group.lastAt),
    callers: group.callers,
  };
}
