// A fire-and-forget queue in front of the Slack client: callers (the admission path above all)
// enqueue and return at once; one worker sends in order, so a Retry-After pause delays later
// messages, never the caller. Bounded: when Slack is down for long, new messages are dropped
// and counted rather than piling up in memory.
import type { Logger } from "pino";
import type { Counter, Registry } from "prom-client";
import { sharedCounter } from "../metrics.js";

export interface SendQueue {
  /** Queues `task`; false when the queue is full and the task was dropped. Never throws. */
  enqueue(description: string, task: () => Promise<void>): boolean;
  /** Resolves when every queued task has run (for shutdown and tests). */
  idle(): Promise<void>;
  readonly pending: number;
}

export interface SendQueueOptions {
  logger: Logger;
  /** Tasks waiting, beyond which new ones are dropped (default 1,000). */
  maxPending?: number;
  registry?: Registry;
}

const DROPPED_METRIC = "bulkhead_slack_queue_dropped_total";

function droppedCounter(registry: Registry | undefined): Counter | undefined {
  if (!registry) return undefined;
  return sharedCounter(registry, {
    name: DROPPED_METRIC,
    help: "Slack messages dropped because the send queue was full.",
  });
}

export function createSendQueue(options: SendQueueOptions): SendQueue {
  const maxPending = options.maxPending ?? 1_000;
  const log = options.logger.child({ component: "slack-queue" });
  const dropped = droppedCounter(options.registry);
  const tasks: Array<{ description: string; task: () => Promise<void> }> = [];
  let running = false;
  let waiters: Array<() => void> = [];

  async function drain(): Promise<void> {
    running = true;
    for (let next = tasks.shift(); next; next = tasks.shift()) {
      try {
        await next.task();
      } catch (err) {
        log.error({ err, task: next.description }, "slack task failed");
      }
    }
    running = false;
    const done = waiters;
    waiters = [];
    done.forEach((w) => w());
  }

  return {
    enqueue(description, task) {
      if (tasks.length >= maxPending) {
        dropped?.inc();
        log.warn({ task: description, pending: tasks.length }, "slack queue full; message dropped");
        return false;
      }
      tasks.push({ description, task });
      if (!running) void drain();
      return true;
    },
    idle() {
      if (!running && tasks.length === 0) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
    get pending() {
      return tasks.length;
    },
  };
}
