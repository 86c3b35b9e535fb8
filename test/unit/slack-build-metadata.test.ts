// status.buildMetadata from labels and annotations (api/build-metadata.ts), table-driven.
import { expect } from "chai";
import { buildMetadata, DEFAULT_BUILD_METADATA_KEYS, type BuildMetadataKeys } from "../../api/build-metadata.js";
import { parseRollout, type StatefulsetRollout } from "../../api/rollout.js";
import { loadConfig } from "../../reconciler/config.js";

type Meta = { labels?: Record<string, string>; annotations?: Record<string, string> };

function rollout(own: Meta, sts: Meta = {}): StatefulsetRollout {
  const parsed = parseRollout({
    metadata: { name: "bedrock-tester-sts-dev", namespace: "dev", ...own },
    spec: { statefulset: { metadata: { name: "bedrock-tester-sts", ...sts }, spec: { selector: {}, template: {} } } },
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

const SEED_ORIGIN = "git@internal-github.com:slack/bedrock-tester.git";
const custom: BuildMetadataKeys = {
  branch: "ci.example.com/branch",
  commit: "ci.example.com/sha",
  origin: "ci.example.com/repo",
};

describe("buildMetadata", () => {
  const cases: Array<{
    name: string;
    own: Meta;
    sts?: Meta;
    keys?: BuildMetadataKeys;
    want: Record<string, string> | undefined;
  }> = [
    {
      name: "the seed's example: version label, branch and origin annotations",
      own: {
        labels: { app: "bedrock-tester-sts-dev", "app.kubernetes.io/version": "v1.custom-1709074522" },
        annotations: { "slack.com/bedrock.git.branch": "master", "slack.com/bedrock.git.origin": SEED_ORIGIN },
      },
      want: { version: "v1.custom-1709074522", branch: "master", origin: SEED_ORIGIN },
    },
    {
      name: "a commit annotation under the default key",
      own: { annotations: { "slack.com/bedrock.git.commit": "3f2a9c1d0e" } },
      want: { commit: "3f2a9c1d0e" },
    },
    { name: "nothing known: undefined, not an empty object", own: { labels: { app: "x" } }, want: undefined },
    {
      name: "the StatefulSet's metadata fills gaps; the rollout's own wins",
      own: { annotations: { "slack.com/bedrock.git.branch": "release-1" } },
      sts: {
        labels: { "app.kubernetes.io/version": "v9" },
        annotations: { "slack.com/bedrock.git.branch": "master", "slack.com/bedrock.git.origin": SEED_ORIGIN },
      },
      want: { version: "v9", branch: "release-1", origin: SEED_ORIGIN },
    },
    {
      name: "configured keys replace the defaults",
      own: {
        annotations: {
          "ci.example.com/branch": "main",
          "ci.example.com/sha": "abc",
          "slack.com/bedrock.git.branch": "ignored",
        },
      },
      keys: custom,
      want: { branch: "main", commit: "abc" },
    },
    {
      name: "blank values are left out",
      own: { labels: { "app.kubernetes.io/version": "  " }, annotations: { "slack.com/bedrock.git.branch": "" } },
      want: undefined,
    },
    {
      name: "the version annotation when there is no label",
      own: { annotations: { "app.kubernetes.io/version": "2.0.1" } },
      want: { version: "2.0.1" },
    },
    {
      name: "long values are cut",
      own: { annotations: { "slack.com/bedrock.git.origin": "x".repeat(300) } },
      want: { origin: `${"x".repeat(255)}…` },
    },
  ];
  for (const c of cases) {
    it(c.name, () =>
      expect(buildMetadata(rollout(c.own, c.sts), c.keys ?? DEFAULT_BUILD_METADATA_KEYS)).to.deep.equal(c.want),
    );
  }
});

describe("reconciler config: the build-metadata annotation keys", () => {
  it("default to the seed's names", () => {
    expect(loadConfig({}).buildMetadataKeys).to.deep.equal(DEFAULT_BUILD_METADATA_KEYS);
  });
  it("are configurable", () => {
    const config = loadConfig({
      BULKHEAD_BUILD_BRANCH_ANNOTATION: "ci.example.com/branch",
      BULKHEAD_BUILD_COMMIT_ANNOTATION: "sha",
      BULKHEAD_BUILD_ORIGIN_ANNOTATION: "ci.example.com/repo",
    });
    expect(config.buildMetadataKeys).to.deep.equal({
      branch: "ci.example.com/branch",
      commit: "sha",
      origin: "ci.example.com/repo",
    });
  });
  it("a key that is no annotation key fails start-up, naming the variable", () => {
    expect(() => loadConfig({ BULKHEAD_BUILD_COMMIT_ANNOTATION: "not a key/" })).to.throw(
      /BULKHEAD_BUILD_COMMIT_ANNOTATION: an annotation key/,
    );
  });
});
