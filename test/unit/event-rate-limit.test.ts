// rateLimitedEventRecorder: one Event per object and reason per window, a bounded number of keys.
import { expect } from "chai";
import { rateLimitedEventRecorder, type EventRecorder, type ObjectRef } from "../../adapters/kube/events.js";
import { FakeClock } from "../support/fake-clock.js";

const pod = (name: string): ObjectRef => ({
  apiVersion: "v1",
  kind: "Pod",
  name,
  namespace: "shop",
  uid: `uid-${name}`,
});

function setup(maxKeys = 3) {
  const clock = new FakeClock();
  const written: string[] = [];
  const suppressed: string[] = [];
  const inner: EventRecorder = { record: async (ref, _type, reason) => void written.push(`${ref.name}/${reason}`) };
  const events = rateLimitedEventRecorder(inner, {
    windowMs: 1000,
    maxKeys,
    clock,
    onSuppressed: (r) => suppressed.push(r),
  });
  return { events, written, suppressed, advance: (ms: number) => clock.advance(ms) };
}

describe("rateLimitedEventRecorder", () => {
  it("writes one Event per object and reason per window", async () => {
    const { events, written, suppressed, advance } = setup();
    for (let i = 0; i < 5; i++) await events.record(pod("web-0"), "Warning", "LeakDenied", "n");
    await events.record(pod("web-0"), "Warning", "LeakFlagged", "n");
    await events.record(pod("web-1"), "Warning", "LeakDenied", "n");
    expect(written).to.deep.equal(["web-0/LeakDenied", "web-0/LeakFlagged", "web-1/LeakDenied"]);
    expect(suppressed).to.have.length(4);
    advance(999);
    await events.record(pod("web-0"), "Warning", "LeakDenied", "n");
    expect(written).to.have.length(3);
    advance(1);
    await events.record(pod("web-0"), "Warning", "LeakDenied", "n");
    expect(written).to.have.length(4);
  });

  it("drops new objects while the map is full, then takes them once old keys expire", async () => {
    const { events, written, suppressed, advance } = setup(3);
    for (let i = 0; i < 10; i++) await events.record(pod(`forged-${i}`), "Normal", "PodPinned", "n");
    expect(written).to.deep.equal(["forged-0/PodPinned", "forged-1/PodPinned", "forged-2/PodPinned"]);
    expect(suppressed).to.have.length(7);
    advance(1000);
    await events.record(pod("forged-9"), "Normal", "PodPinned", "n");
    expect(written.at(-1)).to.equal("forged-9/PodPinned");
  });
});
