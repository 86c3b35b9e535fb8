// The generated CRD on the real apiserver: it is accepted, and bad input is refused at
// `kubectl apply` time with a message that names the field.
import { expect } from "chai";
import { installRolloutCrd, kubectl, newNamespace } from "./support/cluster.js";

function rollout(spec: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: "bulkhead.dev/v1alpha1",
    kind: "StatefulsetRollout",
    metadata: { name: "web" },
    spec,
  });
}

const statefulset = {
  apiVersion: "apps/v1",
  kind: "StatefulSet",
  metadata: { name: "web" },
  spec: {
    replicas: 2,
    serviceName: "web",
    selector: { matchLabels: { app: "web" } },
    template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "app", image: "app:v1" }] } },
  },
};

describe("StatefulsetRollout CRD on the real apiserver", () => {
  let namespace: string;

  before(async () => {
    await installRolloutCrd();
    namespace = await newNamespace("crd");
  });

  it("accepts a valid rollout, fills the defaults and serves the short name and printer columns", async () => {
    await kubectl(["apply", "-n", namespace, "-f", "-"], {
      input: rollout({ statefulset, percent: 25, disruptionPolicy: { maxUnavailable: "10%" }, leakProtection: "off" }),
      check: true,
    });
    const got = await kubectl(["get", "sroll", "web", "-n", namespace, "-o", "json"], { check: true });
    const spec = JSON.parse(got.stdout).spec;
    expect(spec).to.include({
      percent: 25,
      pauseRequested: false,
      progressDeadlineSeconds: 600,
      leakProtection: "off",
    });
    const table = await kubectl(["get", "sroll", "-n", namespace], { check: true });
    expect(table.stdout.split("\n")[0]).to.match(/NAME\s+PHASE\s+PERCENT\s+UPDATED\s+READY\s+AGE/);
  });

  const refusals: Array<[what: string, spec: Record<string, unknown>, message: RegExp]> = [
    ["percent 150", { statefulset, percent: 150 }, /spec\.percent.*less than or equal to 100/],
    [
      "a negative interval",
      { statefulset, minPodEvictionIntervalSeconds: -5 },
      /spec\.minPodEvictionIntervalSeconds.*greater than or equal to 0/,
    ],
    ["a missing statefulset", { percent: 10 }, /spec\.statefulset: Required value/],
    [
      "an unknown leakProtection",
      { statefulset, leakProtection: "block" },
      /spec\.leakProtection: Unsupported value: "block"/,
    ],
    [
      "maxUnavailable 150%",
      { statefulset, disruptionPolicy: { maxUnavailable: "150%" } },
      /spec\.disruptionPolicy\.maxUnavailable.*percent from "1%" to "100%"/,
    ],
    [
      "a negative maxUnavailable",
      { statefulset, disruptionPolicy: { maxUnavailable: -1 } },
      /spec\.disruptionPolicy\.maxUnavailable.*positive integer/,
    ],
    [
      "maxUnavailable 0, which blocks every wave",
      { statefulset, disruptionPolicy: { maxUnavailable: 0 } },
      /spec\.disruptionPolicy\.maxUnavailable.*would block every wave/,
    ],
    [
      'maxUnavailable "0%"',
      { statefulset, disruptionPolicy: { maxUnavailable: "0%" } },
      /spec\.disruptionPolicy\.maxUnavailable.*would block every wave/,
    ],
  ];
  for (const [what, spec, message] of refusals) {
    it(`refuses ${what} with a message naming the field`, async () => {
      const result = await kubectl(["apply", "-n", namespace, "-f", "-"], { input: rollout({ ...spec }) });
      expect(result.code, result.stdout).to.not.equal(0);
      expect(result.stderr).to.match(message);
    });
  }
});
