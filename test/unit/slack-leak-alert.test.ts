// The leak and pin-failure Slack messages share how they state the attempts' window and how they
// carry the caller's text (escaped, within Slack's section limit).
import { expect } from "chai";
import { leakAlertMessage, pinFailureMessage } from "../../adapters/slack/leak-alert.js";
import type { SlackBlock } from "../../adapters/slack/client.js";
import type { LeakAlert } from "../../api/leak-guard.js";

const first = new Date("2026-11-30T10:00:00.000Z");
const last = new Date("2026-11-30T10:05:00.000Z");
const message = `<b>&</b> ${"x".repeat(4_000)}`;

const leak: LeakAlert = {
  leak: {
    via: "eviction",
    namespace: "shop",
    pod: "db-0",
    podRevision: "db-old",
    updateRevision: "db-new",
    statefulSet: "db",
    rollout: "db",
    mode: "enforce",
    percent: 50,
    paused: false,
    failed: false,
    oldPods: 1,
    newPods: 1,
    caller: "system:serviceaccount:kube-system:drain",
  },
  decision: "denied",
  message,
  attempts: 1,
  firstAt: first,
  lastAt: first,
  callers: ["system:serviceaccount:kube-system:drain"],
};

const pin = {
  detail: {
    kind: "pin-failure" as const,
    reason: "revision-missing" as const,
    namespace: "shop",
    pod: "db-1",
    rollout: "db",
    statefulSet: "db",
    wantedRevision: "db-old",
    actualRevision: "db-new",
  },
  message,
  attempts: 1,
  firstAt: first,
  lastAt: first,
};

function texts(blocks: SlackBlock[]): string[] {
  return blocks.map((b) => JSON.stringify(b));
}

describe("Slack leak and pin-failure messages", () => {
  const cases = [
    { name: "leak alert", build: (attempts: number) => leakAlertMessage({ ...leak, attempts, lastAt: last }) },
    { name: "pin failure", build: (attempts: number) => pinFailureMessage({ ...pin, attempts, lastAt: last }) },
  ];
  for (const c of cases) {
    it(`${c.name}: one attempt is stated at its instant, several from the first to the last`, () => {
      expect(texts(c.build(1).blocks).join()).to.contain(`at ${first.toISOString()}`);
      expect(texts(c.build(3).blocks).join()).to.contain(`from ${first.toISOString()} to ${last.toISOString()}`);
    });

    it(`${c.name}: the caller's text is escaped and cut within Slack's section limit`, () => {
      const section = c.build(1).blocks.find((b) => JSON.stringify(b).includes("&lt;b&gt;&amp;&lt;/b&gt;"));
      expect(section).to.deep.include({ type: "section" });
      const text = (section as unknown as { text: { text: string } }).text.text;
      expect(text.startsWith("&lt;b&gt;&amp;&lt;/b&gt; x")).to.equal(true);
      expect(text).to.have.length(2_900);
    });
  }
});
