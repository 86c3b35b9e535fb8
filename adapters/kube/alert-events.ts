// Alert Events (api/alert-events.ts): the webhook creates one per alert and window and raises
// its series.count; the reconciler writes the Slack message's ts onto it. Both change an Event
// by read + replace with its resourceVersion (409: read again), so neither loses the other's
// change. Best effort like every Event write: failures go to onError, nothing throws.
import * as k8s from "@kubernetes/client-node";
import { ALERT_DETAIL_ANNOTATION, ALERT_LABEL, type AlertKind } from "../../api/alert-events.js";
import { informerCache, type ReadCache } from "./cache.js";
import { isConflict, isNotFound } from "./client.js";
import type { EventType, ObjectRef } from "./events.js";

export interface NewAlertEvent {
  kind: AlertKind;
  regarding: ObjectRef;
  related?: ObjectRef;
  type: EventType;
  reason: string;
  action: string;
  note: string;
  /** encodeAlertDetail(...) */
  detail: string;
  /** When it happened (the alerter's clock). */
  at: Date;
}

export interface AlertEventApi {
  /** Creates the Event; its name, or undefined when the write failed. */
  create(event: NewAlertEvent): Promise<string | undefined>;
  /** Repeats: series.count and lastObservedTime (a count of 1 has no series), and the details. */
  update(
    namespace: string,
    name: string,
    repeats: { count: number; lastObservedAt: Date; detail: string },
  ): Promise<void>;
  /** Sets one annotation. */
  annotate(namespace: string, name: string, key: string, value: string): Promise<void>;
}

const ATTEMPTS = 3;

export function kubeAlertEvents(
  events: k8s.EventsV1Api,
  reportingController: string,
  reportingInstance: string,
  onError: (err: unknown) => void,
): AlertEventApi {
  async function change(namespace: string, name: string, edit: (event: k8s.EventsV1Event) => void): Promise<void> {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      try {
        const event = await events.readNamespacedEvent({ namespace, name });
        edit(event);
        await events.replaceNamespacedEvent({ namespace, name, body: event });
        return;
      } catch (err) {
        // An Event gone (its TTL) needs no update; a conflict is re-read.
        if (isNotFound(err)) return;
        if (!isConflict(err) || attempt === ATTEMPTS) {
          onError(err);
          return;
        }
      }
    }
  }

  return {
    async create(e) {
      try {
        const created = await events.createNamespacedEvent({
          namespace: e.regarding.namespace,
          body: {
            metadata: {
              generateName: `${e.regarding.name}-`,
              namespace: e.regarding.namespace,
              labels: { [ALERT_LABEL]: e.kind },
              annotations: { [ALERT_DETAIL_ANNOTATION]: e.detail },
            },
            eventTime: new k8s.V1MicroTime(e.at),
            type: e.type,
            reason: e.reason,
            action: e.action,
            // The API limits a note to 1 KiB.
            note: e.note.length > 1024 ? `${e.note.slice(0, 1021)}...` : e.note,
            regarding: e.regarding,
            ...(e.related ? { related: e.related } : {}),
            reportingController,
            reportingInstance,
          },
        });
        return created.metadata?.name;
      } catch (err) {
        onError(err);
        return undefined;
      }
    },
    update(namespace, name, { count, lastObservedAt, detail }) {
      return change(namespace, name, (event) => {
        // The API wants a series count of at least 2 (a single occurrence has no series).
        if (count >= 2) event.series = { count, lastObservedTime: new k8s.V1MicroTime(lastObservedAt) };
        event.metadata = {
          ...event.metadata,
          annotations: { ...(event.metadata?.annotations ?? {}), [ALERT_DETAIL_ANNOTATION]: detail },
        };
      });
    },
    annotate(namespace, name, key, value) {
      return change(namespace, name, (event) => {
        event.metadata = { ...event.metadata, annotations: { ...(event.metadata?.annotations ?? {}), [key]: value } };
      });
    },
  };
}

/** Alert Events in every namespace (only those with the alert label), for the reconciler. */
export function alertEventsCache(kc: k8s.KubeConfig, onError?: (err: unknown) => void): ReadCache<k8s.EventsV1Event> {
  const events = kc.makeApiClient(k8s.EventsV1Api);
  return informerCache<k8s.EventsV1Event>(
    kc,
    "/apis/events.k8s.io/v1/events",
    () => events.listEventForAllNamespaces({ labelSelector: ALERT_LABEL }),
    ALERT_LABEL,
    onError ? { onError } : {},
  );
}
