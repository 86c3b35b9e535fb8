// What every command shares: the global flags, one lazily made connection, reading a rollout
// by name, and printing objects the way `kubectl get -o yaml|json` does.
import { stringify } from "yaml";
import { parseRollout } from "../api/rollout.js";
import type { StatefulsetRollout } from "../api/rollout.js";
import type { CliDeps, Cluster, PodSummary } from "./deps.js";
import { apiError, CliError, rolloutRef } from "./errors.js";
import { makeStyle } from "./style.js";
import type { Style } from "./style.js";

export interface GlobalOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

export interface LoadedRollout {
  /** As the API returned it, for -o yaml|json. */
  raw: Record<string, unknown>;
  rollout: StatefulsetRollout;
}

export class Session {
  private connected: Cluster | undefined;
  readonly style: Style;

  constructor(
    readonly deps: CliDeps,
    readonly globals: GlobalOptions,
  ) {
    this.style = makeStyle(deps.colour);
  }

  cluster(): Cluster {
    if (!this.connected) {
      try {
        this.connected = this.deps.connect({
          ...(this.globals.kubeconfig !== undefined ? { kubeconfig: this.globals.kubeconfig } : {}),
          ...(this.globals.context !== undefined ? { context: this.globals.context } : {}),
        });
      } catch (err) {
        throw new CliError(`cannot load the kubeconfig: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return this.connected;
  }

  namespace(): string {
    return this.globals.namespace ?? this.cluster().defaultNamespace;
  }

  /** Runs an API call; any failure becomes a message naming the object and the server. */
  async call<T>(what: string, fn: (cluster: Cluster) => Promise<T>): Promise<T> {
    const cluster = this.cluster();
    try {
      return await fn(cluster);
    } catch (err) {
      throw apiError(err, { what, ...(cluster.server ? { server: cluster.server } : {}) });
    }
  }

  async getRollout(name: string): Promise<LoadedRollout> {
    const namespace = this.namespace();
    const raw = await this.call(rolloutRef(namespace, name), (c) => c.rollouts.get(namespace, name));
    return toLoaded(raw, rolloutRef(namespace, name));
  }

  /** The pods of the rollout's StatefulSet; undefined when they cannot be listed (RBAC). */
  async podsOf(rollout: StatefulsetRollout): Promise<PodSummary[] | undefined> {
    const selector = rollout.spec.statefulset.spec.selector.matchLabels;
    if (!selector || Object.keys(selector).length === 0) return undefined;
    try {
      return await this.cluster().rollouts.listPods(rollout.metadata.namespace ?? this.namespace(), selector);
    } catch {
      // Listing pods needs more RBAC than reading the rollout; the status keeps a pod list too.
      return undefined;
    }
  }

  out(text: string): void {
    this.deps.stdout.write(text);
  }

  err(text: string): void {
    this.deps.stderr.write(text);
  }
}

export function toLoaded(raw: unknown, what: string): LoadedRollout {
  const parsed = parseRollout(raw);
  if (!parsed.ok) throw new CliError(`${what} does not match the StatefulsetRollout schema:\n${parsed.error}`);
  return { raw: raw as Record<string, unknown>, rollout: parsed.value };
}

/** What kubectl prints by default: no managedFields. */
function withoutManagedFields(object: unknown): unknown {
  if (!object || typeof object !== "object" || !("metadata" in object)) return object;
  const copy = structuredClone(object) as { metadata?: Record<string, unknown> };
  if (copy.metadata) delete copy.metadata.managedFields;
  return copy;
}

export type ObjectFormat = "yaml" | "json";

export function formatObject(object: unknown, format: ObjectFormat): string {
  const clean = withoutManagedFields(object);
  return format === "json" ? JSON.stringify(clean, null, 2) + "\n" : stringify(clean, { lineWidth: 0 });
}

export function formatList(items: unknown[], format: ObjectFormat): string {
  return formatObject(
    { apiVersion: "v1", kind: "List", items: items.map(withoutManagedFields), metadata: { resourceVersion: "" } },
    format,
  );
}
