// Leader election against an in-memory Lease store with apiserver-like resourceVersion checks.
import type * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { LeaderElector, type LeaseApi } from "../../adapters/kube/leader-election.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

function candidate(store: LeaseApi, identity: string, log: string[]) {
  return new LeaderElector(
    store,
    {
      namespace: "bulkhead-system",
      name: "bulkhead-reconciler",
      identity,
      leaseDurationSeconds: 1,
      renewDeadlineMs: 600,
      retryPeriodMs: 100,
    },
    {
      onStartedLeading: () => log.push(`${identity} started`),
      onStoppedLeading: () => log.push(`${identity} stopped`),
    },
  );
}

describe("Lease leader election", function () {
  this.timeout(10_000);

  it("one of two replicas leads; the other takes over within the lease time when it dies", async () => {
    const store = leaseStore();
    const log: string[] = [];
    const a = candidate(store, "a", log);
    const b = candidate(store, "b", log);
    a.start();
    await sleep(50);
    b.start();
    await sleep(400);
    expect(a.isLeader()).to.equal(true);
    expect(b.isLeader()).to.equal(false);
    expect(store.lease?.spec?.holderIdentity).to.equal("a");
    // "a" dies without releasing (SIGKILL): its renewals stop.
    const died = Date.now();
    (a as unknown as { stopped: boolean }).stopped = true;
    while (!b.isLeader()) {
      await sleep(20);
      if (Date.now() - died > 3000) throw new Error("b never took over");
    }
    const tookMs = Date.now() - died;
    expect(tookMs).to.be.within(900, 1600);
    expect(store.lease?.spec?.holderIdentity).to.equal("b");
    expect(store.lease?.spec?.leaseTransitions).to.equal(1);
    await b.stop();
  });

  it("a leader that stops cleanly releases the Lease for an immediate handover", async () => {
    const store = leaseStore();
    const log: string[] = [];
    const a = candidate(store, "a", log);
    const b = candidate(store, "b", log);
    a.start();
    await sleep(50);
    b.start();
    await sleep(200);
    await a.stop();
    const stopped = Date.now();
    while (!b.isLeader()) {
      await sleep(20);
      if (Date.now() - stopped > 3000) throw new Error("b never took over");
    }
    expect(Date.now() - stopped).to.be.below(700);
    await b.stop();
  });

  it("a leader that cannot renew past the renew deadline stops leading", async () => {
    const store = leaseStore();
    const log: string[] = [];
    const a = candidate(store, "a", log);
    a.start();
    await sleep(150);
    expect(a.isLeader()).to.equal(true);
    store.replace = async () => {
      throw Object.assign(new Error("apiserver down"), { code: 503 });
    };
    await sleep(1000);
    expect(a.isLeader()).to.equal(false);
    expect(log).to.deep.equal(["a started", "a stopped"]);
    await a.stop();
  });
});
