import { expect } from "chai";
import { formatDuration, formatHistory } from "../../cli/commands/history.js";
import { makeStyle } from "../../cli/style.js";
import { makeRollout, NEW, NOW, OLD } from "./reconcile.fixtures.js";

describe("kubectl sroll history", () => {
  const durations: Array<[number, string]> = [
    [0, "0s"],
    [45_000, "45s"],
    [80_000, "1m20s"],
    [120_000, "2m"],
    [3_780_000, "1h3m"],
  ];
  for (const [ms, text] of durations)
    it(`formats ${ms} ms as ${text}`, () => expect(formatDuration(ms)).to.equal(text));

  it("prints one row per rollout, newest first, and the reasons of ended ones", () => {
    const r = makeRollout(
      {},
      {
        history: [
          {
            toRevision: "web-ccc",
            fromRevision: NEW,
            template: "c",
            toImage: "app=app:v3",
            startedAt: "2026-11-23T11:59:00.000Z",
            outcome: "InProgress",
            waves: 1,
            percent: 50,
            trigger: "update",
            identity: "id-3",
          },
          {
            toRevision: NEW,
            fromRevision: OLD,
            template: "b",
            toImage: "app=app:v2",
            startedAt: "2026-11-23T11:00:00.000Z",
            finishedAt: "2026-11-23T11:01:20.000Z",
            outcome: "Failed",
            reason: "pod web-3 crash-looping",
            waves: 2,
            percent: 100,
            trigger: "update",
          },
        ],
      },
    );
    const text = formatHistory(r, NOW, makeStyle(false));
    const lines = text.split("\n");
    expect(lines[0]).to.match(/^# +STARTED +DURATION +OUTCOME +TRIGGER +REVISION +IMAGE +PERCENT +WAVES +IDENTITY$/);
    expect(lines[1]).to.match(/^2 +60s ago +1m\+ +InProgress +update +web-bbb → web-ccc +app=app:v3 +50% +1 +id-3$/);
    expect(lines[2]).to.match(/^1 +60m ago +1m20s +Failed +update +web-aaa → web-bbb +app=app:v2 +100% +2 +-$/);
    expect(text).to.include("#1 Failed: pod web-3 crash-looping");
  });
});
