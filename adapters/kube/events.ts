// Records Kubernetes Events (events.k8s.io/v1) on objects. Best effort: a failed Event write is
// reported to the caller's logger, never thrown, so it cannot fail an admission or a reconcile.
import * as k8s from "@kubernetes/client-node";

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

export type EventType = "Normal" | "Warning";

export interface EventRecorder {
  record(regarding: ObjectRef, type: EventType, reason: string, note: string, action?: string): Promise<void>;
}

export function kubeEventRecorder(
  events: k8s.EventsV1Api,
  reportingController: string,
  reportingInstance: string,
  onError: (err: unknown) => void,
): EventRecorder {
  return {
    async record(regarding, type, reason, note, action = reason) {
      const now = new Date();
      try {
        await events.createNamespacedEvent({
          namespace: regarding.namespace,
          body: {
            // generateName must end in a DNS-label character; "." is refused with 422.
            metadata: { generateName: `${regarding.name}-`, namespace: regarding.namespace },
            // The apiserver wants microsecond precision; V1MicroTime serialises with 6 digits.
            eventTime: new k8s.V1MicroTime(now),
            type,
            reason,
            action,
            // The API limits a note to 1 KiB.
            note: note.length > 1024 ? `${note.slice(0, 1021)}...` : note,
            regarding,
            reportingController,
            reportingInstance,
          },
        });
      } catch (err) {
        onError(err);
      }
    },
  };
}
