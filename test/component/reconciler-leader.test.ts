// Leader election against an in-memory Lease store with apiserver-like resourceVersion checks.
import type * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { LeaderElector, type LeaseApi } from "../../adapters/kube/leader-election.js";
import { FakeClock } from "../support/fake-clock.js";

function leaseStore(): LeaseApi & { lease?: k8s.V1Lease } {
  let rv = 1;
  const store: LeaseApi & { lease?: k8s.V1Lease } = {
    async read() {
      return store.lease ? structuredClone(store.lease) : undefined;
    },
    async create(_ns, lease) {
      if (store.lease) throw Object.assign(new Error("exists"), { code: 409 });
      store.lease = { ...structuredClone(lease), metadata: { ...lease.metadata, resourceVersion: String(rv++) } };
    },
    async replace(_ns, _name, lease) {
      if (lease.metadata?.resourceVersion !== store.lease?.metadata?.resourceVersion)
        throw Object.assign(new Error("conflict"), { code: 409 });
      store.lease = { ...structuredClone(lease), metadata: { ...lease.metadata, resourceVersion: String(rv++) } };
    },
  };
  return store;
}

/** A replica's view of the store; kill() freezes it like SIGKILL: no call it makes ever returns. */
function replicaApi(store: LeaseApi): LeaseApi & { kill(): void } {
  let dead = false;
  const frozen = new Promise<never>(() => {});
  return {
    kill: () => void (dead = true),
    read: (ns, name, signal) => (dead ? frozen : store.read(ns, name, signal)),
    create: (ns, lease, signal) => (dead ? frozen : store.create(ns, lease, signal)),
    replace: (ns, name, lease, signal) => (dead ? frozen : store.replace(ns, name, lease, signal)),
  };
}

const LEASE_MS = 1000;
const RETRY_MS = 100;
const RENEW_DEADLINE_MS = 600;

function candidate(api: LeaseApi, identity: string, log: Array<{ what: string; at: number }>, clock: FakeClock) {
  return new LeaderElector(
    api,
    {
      namespace: "bulkhead-system",
      name: "bulkhead-reconciler",
      identity,
      leaseDurationSeconds: LEASE_MS / 1000,
      renewDeadlineMs: RENEW_DEADLINE_MS,
      retryPeriodMs: RETRY_MS,
      clock,
    },
    {
      onStartedLeading: () => log.push({ what: `${identity} started`, at: clock.now() }),
      onStoppedLeading: () => log.push({ what: `${identity} stopped`, at: clock.now() }),
    },
  );
}

// All on a fake clock: time moves only by clock.tick(), which lets each replica's store calls
// finish before the next timer is due, so every handover happens at the same moment on every run.
describe("Lease leader election", () => {
  let clock: FakeClock;
  let log: Array<{ what: string; at: number }>;
  beforeEach(() => {
    clock = new FakeClock();
    log = [];
  });
  const when = (what: string) => log.find((l) => l.what === what)?.at;

  it("one of two replicas leads; the other takes over after the lease time when it dies", async () => {
    const store = leaseStore();
    const aApi = replicaApi(store);
    const a = candidate(aApi, "a", log, clock);
    const b = candidate(store, "b", log, clock);
    a.start();
    await clock.tick(50);
    b.start();
    await clock.tick(400);
    expect(a.isLeader()).to.equal(true);
    expect(b.isLeader()).to.equal(false);
    expect(store.lease?.spec?.holderIdentity).to.equal("a");
    // "a" dies without releasing (SIGKILL): its renewals stop.
    aApi.kill();
    const died = clock.now();
    await clock.tick(3 * LEASE_MS);
    expect(b.isLeader()).to.equal(true);
    // b waits a whole lease duration from the last renewal it saw, and takes over at its next poll.
    const tookMs = when("b started")! - died;
    expect(tookMs)
      .to.be.at.least(LEASE_MS - RETRY_MS)
      .and.at.most(LEASE_MS + RETRY_MS);
    expect(store.lease?.spec?.holderIdentity).to.equal("b");
    expect(store.lease?.spec?.leaseTransitions).to.equal(1);
    await b.stop();
  });

  it("a leader that stops cleanly releases the Lease for an immediate handover", async () => {
    const store = leaseStore();
    const a = candidate(store, "a", log, clock);
    const b = candidate(store, "b", log, clock);
    a.start();
    await clock.tick(50);
    b.start();
    await clock.tick(200);
    await a.stop();
    const stopped = clock.now();
    await clock.tick(3 * LEASE_MS);
    expect(b.isLeader()).to.equal(true);
    // At b's next poll, not after a lease duration.
    expect(when("b started")! - stopped).to.be.at.most(RETRY_MS);
    await b.stop();
  });

  it("a leader that cannot renew past the renew deadline stops leading", async () => {
    const store = leaseStore();
    const a = candidate(store, "a", log, clock);
    a.start();
    await clock.tick(150);
    expect(a.isLeader()).to.equal(true);
    const lastRenew = new Date(store.lease!.spec!.renewTime!).getTime();
    store.replace = async () => {
      throw Object.assign(new Error("apiserver down"), { code: 503 });
    };
    await clock.tick(1000);
    expect(a.isLeader()).to.equal(false);
    expect(log.map((l) => l.what)).to.deep.equal(["a started", "a stopped"]);
    // It stops at the first failed renewal past the deadline, not before it.
    expect(when("a stopped")! - lastRenew)
      .to.be.above(RENEW_DEADLINE_MS)
      .and.at.most(RENEW_DEADLINE_MS + RETRY_MS);
    await a.stop();
  });
});
