// status.buildMetadata (the seed's BuildMetadata: "branch and commit sha"): what was built, read
// from the rollout's labels and annotations, so Slack and `kubectl sroll status` show the
// version people released instead of guessing it from an image tag. One pure function, called
// by the reconciler each pass; the annotation keys are configurable per installation.
import type { StatefulsetRollout } from "./rollout.js";

/** The label Bedrock (and Helm charts) put the released version in. */
export const VERSION_LABEL = "app.kubernetes.io/version";

export interface BuildMetadataKeys {
  /** Annotation holding the git branch. */
  branch: string;
  /** Annotation holding the git commit. */
  commit: string;
  /** Annotation holding the git origin (the repository). */
  origin: string;
}

/**
 * The seed's names. Its example shows slack.com/bedrock.git.branch and .origin; .commit follows
 * the same pattern (the seed's BuildMetadata holds a commit sha but the example shows no key).
 */
export const DEFAULT_BUILD_METADATA_KEYS: BuildMetadataKeys = {
  branch: "slack.com/bedrock.git.branch",
  commit: "slack.com/bedrock.git.commit",
  origin: "slack.com/bedrock.git.origin",
};

/** Field names in status.buildMetadata. */
export type BuildMetadataField = "version" | "branch" | "commit" | "origin";

/** The longest value kept; longer ones are cut (status is no place for a novel). */
const MAX_VALUE = 256;

/**
 * version from the `app.kubernetes.io/version` label, branch/commit/origin from the configured
 * annotations. The rollout's own metadata wins; the embedded StatefulSet's metadata fills gaps
 * (the seed's generator puts git.origin on both). Empty values are left out; undefined when
 * nothing is known, so status carries no empty object.
 */
export function buildMetadata(
  rollout: StatefulsetRollout,
  keys: BuildMetadataKeys = DEFAULT_BUILD_METADATA_KEYS,
): Record<string, string> | undefined {
  const sources = [rollout.metadata, rollout.spec.statefulset.metadata ?? {}];
  const pick = (kind: "labels" | "annotations", key: string): string | undefined => {
    for (const source of sources) {
      const value = source[kind]?.[key]?.trim();
      if (value) return value.length > MAX_VALUE ? `${value.slice(0, MAX_VALUE - 1)}…` : value;
    }
    return undefined;
  };
  const found: Array<[BuildMetadataField, string | undefined]> = [
    ["version", pick("labels", VERSION_LABEL) ?? pick("annotations", VERSION_LABEL)],
    ["branch", pick("annotations", keys.branch)],
    ["commit", pick("annotations", keys.commit)],
    ["origin", pick("annotations", keys.origin)],
  ];
  const result: Record<string, string> = {};
  for (const [field, value] of found) if (value !== undefined) result[field] = value;
  return Object.keys(result).length > 0 ? result : undefined;
}
