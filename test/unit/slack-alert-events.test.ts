// Alert Events read back and grouped across webhook replicas (api/alert-events.ts), table-driven.
import { expect } from "chai";
import {
  ALERT_DETAIL_ANNOTATION,
  ALERT_LABEL,
  ALERT_SLACK_ANNOTATION,
  type AlertDetail,
  type AlertObservation,
  alertKey,
  encodeAlertDetail,
  groupAlerts,
  parseAlertEvent,
} from "../../api/alert-events.js";

const T0 = Date.parse("2026-11-30T10:00:00Z");
const MIN = 60_000;

function leakDetail(pod = "web-4", decision: "denied" | "flagged" = "denied", caller = "alice"): AlertDetail {
  return {
    kind: "leak",
    decision,
    callers: [caller],
    leak: {
      via: "eviction",
      namespace: "shop",
      pod,
      podRevision: "web-old",
      updateRevision: "web-new",
      statefulSet: "web",
      rollout: "web",
      mode: decision === "denied" ? "enforce" : "flag",
      percent: 50,
      paused: true,
      failed: false,
      oldPods: 3,
      newPods: 3,
      caller,
    },
  };
}

function obs(
  id: string,
  detail: AlertDetail,
  firstMin: number,
  count = 1,
  lastMin = firstMin,
  slack?: string,
): AlertObservation {
  return {
    id,
    namespace: "shop",
    name: id,
    key: alertKey(detail),
    detail,
    message: `message of ${id}`,
    count,
    firstAt: T0 + firstMin * MIN,
    lastAt: T0 + lastMin * MIN,
    ...(slack ? { slack: { channel: "C1", ts: slack } } : {}),
  };
}

describe("groupAlerts", () => {
  const cases: Array<{
    name: string;
    observations: AlertObservation[];
    want: Array<{ ids: string[]; attempts: number; slack?: string }>;
  }> = [
    {
      name: "two replicas, same pod and decision, same window: one group, attempts summed",
      observations: [obs("a", leakDetail(), 0, 30, 4), obs("b", leakDetail(), 0.1, 29, 4.9)],
      want: [{ ids: ["a", "b"], attempts: 59 }],
    },
    {
      name: "an Event begun after the window: a new group",
      observations: [
        obs("a", leakDetail(), 0, 10, 4),
        obs("b", leakDetail(), 4.9, 3, 6),
        obs("c", leakDetail(), 5.5, 2, 6),
      ],
      want: [
        { ids: ["a", "b"], attempts: 13 },
        { ids: ["c"], attempts: 2 },
      ],
    },
    {
      name: "different pods and decisions are different alerts",
      observations: [
        obs("a", leakDetail("web-3"), 0),
        obs("b", leakDetail("web-4"), 0),
        obs("c", leakDetail("web-4", "flagged"), 0),
      ],
      want: [
        { ids: ["a"], attempts: 1 },
        { ids: ["b"], attempts: 1 },
        { ids: ["c"], attempts: 1 },
      ],
    },
    {
      name: "the message known on any Event of the group is the group's",
      observations: [obs("a", leakDetail(), 0), obs("b", leakDetail(), 1, 2, 2, "171.5")],
      want: [{ ids: ["a", "b"], attempts: 3, slack: "171.5" }],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const groups = groupAlerts(c.observations, 5 * MIN);
      expect(
        groups.map((g) => ({ ids: g.observationIds, attempts: g.attempts, ...(g.slack ? { slack: g.slack.ts } : {}) })),
      ).to.deep.equal(c.want);
    });
  }
  it("the group shows the newest observation's text and every caller once", () => {
    const [group] = groupAlerts(
      [
        obs("a", leakDetail("web-4", "denied", "alice"), 0, 3, 2),
        obs("b", leakDetail("web-4", "denied", "bob"), 1, 2, 3),
        obs("c", leakDetail("web-4", "denied", "alice"), 2),
      ],
      5 * MIN,
    );
    expect(group?.message).to.equal("message of b");
    expect(group?.callers).to.deep.equal(["alice", "bob"]);
    expect(group?.firstAt).to.equal(T0);
    expect(group?.lastAt).to.equal(T0 + 3 * MIN);
    expect(group?.id).to.equal(`${alertKey(leakDetail())}@${T0}`);
  });
});

describe("parseAlertEvent", () => {
  const event = (extra: Record<string, unknown> = {}, annotations: Record<string, string> = {}) => ({
    metadata: {
      uid: "u1",
      name: "web-4.abc",
      namespace: "shop",
      labels: { [ALERT_LABEL]: "leak" },
      annotations: { [ALERT_DETAIL_ANNOTATION]: encodeAlertDetail(leakDetail()), ...annotations },
    },
    eventTime: "2026-11-30T10:00:00.000000Z",
    note: "refused",
    ...extra,
  });
  it("reads an alert Event: a single occurrence counts 1", () => {
    expect(parseAlertEvent(event())).to.deep.include({
      id: "u1",
      namespace: "shop",
      count: 1,
      firstAt: T0,
      lastAt: T0,
      message: "refused",
      key: alertKey(leakDetail()),
    });
  });
  it("a series gives the count and the last time", () => {
    const o = parseAlertEvent(event({ series: { count: 7, lastObservedTime: "2026-11-30T10:02:00.000000Z" } }));
    expect(o?.count).to.equal(7);
    expect(o?.lastAt).to.equal(T0 + 2 * MIN);
  });
  it("the Slack message written back on it", () => {
    expect(parseAlertEvent(event({}, { [ALERT_SLACK_ANNOTATION]: "C0001/1700000000.000100" }))?.slack).to.deep.equal({
      channel: "C0001",
      ts: "1700000000.000100",
    });
  });
  const ignored: Array<[string, Record<string, unknown>]> = [
    [
      "no alert label",
      {
        metadata: {
          name: "x",
          namespace: "shop",
          annotations: { [ALERT_DETAIL_ANNOTATION]: encodeAlertDetail(leakDetail()) },
        },
      },
    ],
    [
      "details that are not JSON",
      {
        metadata: {
          name: "x",
          namespace: "shop",
          labels: { [ALERT_LABEL]: "leak" },
          annotations: { [ALERT_DETAIL_ANNOTATION]: "{" },
        },
      },
    ],
    [
      "details of the wrong shape",
      {
        metadata: {
          name: "x",
          namespace: "shop",
          labels: { [ALERT_LABEL]: "leak" },
          annotations: { [ALERT_DETAIL_ANNOTATION]: '{"kind":"leak"}' },
        },
      },
    ],
    ["no eventTime", { eventTime: null }],
  ];
  for (const [name, extra] of ignored)
    it(`ignores an Event with ${name}`, () => expect(parseAlertEvent(event(extra))).to.equal(undefined));
});
