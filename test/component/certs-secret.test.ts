// The shared-Secret certificate manager against an in-memory SecretStore that behaves like the API
// (409 on create of an existing Secret and on a stale resourceVersion).
import { expect } from "chai";
import { X509Certificate } from "node:crypto";
import type { WebhookConfigPatcher } from "../../certs/ca-injector.js";
import type { CertificatePair, ServingCertificate } from "../../certs/pair.js";
import { SecretCertificateManager, type SecretCertificateOptions } from "../../certs/secret-manager.js";
import { SecretConflictError, type SecretStore, type StoredPair } from "../../certs/secret-store.js";
import type { CertLogger } from "../../certs/source.js";
import { FakeClock } from "../support/fake-clock.js";

const DAY = 24 * 3600 * 1000;
const silent: CertLogger = { info() {}, warn() {}, error() {} };

class FakeSecretStore implements SecretStore {
  stored: StoredPair | undefined;
  private version = 0;
  creates = 0;
  replaces = 0;
  conflicts = 0;
  /** Reads wait until this many have been made: forces replicas to race from the same view. */
  private readBarrier: { count: number; release: () => void; wait: Promise<void> } | undefined;

  holdReadsUntil(count: number): void {
    let release!: () => void;
    const wait = new Promise<void>((r) => (release = r));
    this.readBarrier = { count, release, wait };
  }

  async read(): Promise<StoredPair | undefined> {
    const snapshot = this.stored && structuredClone(this.stored);
    if (this.readBarrier) {
      const barrier = this.readBarrier;
      if (--barrier.count <= 0) {
        this.readBarrier = undefined;
        barrier.release();
      }
      await barrier.wait;
    }
    return snapshot;
  }

  async create(pair: CertificatePair): Promise<StoredPair> {
    await Promise.resolve();
    if (this.stored) {
      this.conflicts++;
      throw new SecretConflictError("already exists");
    }
    this.creates++;
    this.stored = { pair, resourceVersion: String(++this.version) };
    return structuredClone(this.stored);
  }

  async replace(pair: CertificatePair, resourceVersion: string): Promise<StoredPair> {
    await Promise.resolve();
    if (!this.stored || this.stored.resourceVersion !== resourceVersion) {
      this.conflicts++;
      throw new SecretConflictError("changed");
    }
    this.replaces++;
    this.stored = { pair, resourceVersion: String(++this.version) };
    return structuredClone(this.stored);
  }
}

class FakePatcher implements WebhookConfigPatcher {
  injected: string[] = [];
  fail = false;
  async injectCaBundle(caBundlePem: string): Promise<string[]> {
    if (this.fail) throw new Error("apiserver unavailable");
    if (this.injected.at(-1) === caBundlePem) return [];
    this.injected.push(caBundlePem);
    return ["MutatingWebhookConfiguration/bulkhead"];
  }
}

function manager(
  store: SecretStore,
  clock: FakeClock,
  extra: Partial<SecretCertificateOptions> = {},
): SecretCertificateManager {
  return new SecretCertificateManager({
    store,
    identity: { serviceName: "bulkhead-webhook", namespace: "bulkhead-system" },
    renewBeforeMs: 30 * DAY,
    servingValidityMs: 365 * DAY,
    caValidityMs: 3650 * DAY,
    checkIntervalMs: 60_000,
    retryDelayMs: 10,
    logger: silent,
    clock,
    ...extra,
  });
}

describe("certs: Secret-backed certificate manager", () => {
  it("two replicas starting at once end with the same pair (the second create gets 409)", async () => {
    const store = new FakeSecretStore();
    const clock = new FakeClock(Date.now());
    const [a, b] = [manager(store, clock), manager(store, clock)];
    store.holdReadsUntil(2);
    const [pa, pb] = await Promise.all([a.sync(), b.sync()]);
    expect(store.creates).to.equal(1);
    expect(store.conflicts).to.equal(1);
    expect(pa).to.deep.equal(pb);
    expect(pa).to.deep.equal(store.stored!.pair);
    expect(a.current()).to.deep.equal(b.current());
  });

  it("uses an existing valid Secret without writing", async () => {
    const store = new FakeSecretStore();
    const clock = new FakeClock(Date.now());
    const first = await manager(store, clock).sync();
    const second = await manager(store, clock).sync();
    expect(second).to.deep.equal(first);
    expect(store.creates).to.equal(1);
    expect(store.replaces).to.equal(0);
  });

  it("renews the serving certificate before expiry, keeping the CA, and notifies listeners", async () => {
    const store = new FakeSecretStore();
    const clock = new FakeClock(Date.now());
    const m = manager(store, clock);
    const first = await m.sync();
    const seen: ServingCertificate[] = [];
    m.onChange((c) => seen.push(c));
    clock.advance(200 * DAY);
    await m.sync();
    expect(store.replaces).to.equal(0);
    clock.advance(140 * DAY);
    const renewed = await m.sync();
    expect(store.replaces).to.equal(1);
    expect(renewed.caBundle).to.equal(first.caBundle);
    expect(renewed.cert).to.not.equal(first.cert);
    expect(Date.parse(new X509Certificate(renewed.cert).validTo)).to.be.greaterThan(clock.now() + 300 * DAY);
    expect(seen.map((c) => c.cert)).to.deep.equal([renewed.cert]);
  });

  it("two replicas renewing at once: the loser re-reads and adopts the winner's renewal", async () => {
    const store = new FakeSecretStore();
    const clock = new FakeClock(Date.now());
    const [a, b] = [manager(store, clock), manager(store, clock)];
    await a.sync();
    await b.sync();
    clock.advance(350 * DAY);
    store.holdReadsUntil(2);
    const [pa, pb] = await Promise.all([a.sync(), b.sync()]);
    expect(store.replaces).to.equal(1);
    expect(store.conflicts).to.equal(1);
    expect(pa).to.deep.equal(pb);
    expect(b.current()?.cert).to.equal(store.stored!.pair.cert);
  });

  it("a replica picks up a pair renewed by another on its next check", async () => {
    const store = new FakeSecretStore();
    const clock = new FakeClock(Date.now());
    const [a, b] = [manager(store, clock), manager(store, clock)];
    await a.sync();
    await b.sync();
    const changes: string[] = [];
    b.onChange((c) => changes.push(c.cert));
    clock.advance(350 * DAY);
    await a.sync();
    await b.sync();
    expect(changes).to.deep.equal([store.stored!.pair.cert]);
  });

  it("regenerates an unusable Secret, keeping a still-valid old CA in the bundle", async () => {
    const store = new FakeSecretStore();
    const clock = new FakeClock(Date.now());
    const old = await manager(store, clock).sync();
    store.stored = { pair: { ...old, key: "garbage" }, resourceVersion: "41" };
    const fresh = await manager(store, clock).sync();
    expect(fresh.caBundle.startsWith(old.caBundle)).to.equal(false);
    expect(fresh.caBundle).to.contain(old.caBundle.trim());
    expect(store.replaces).to.equal(1);
  });

  it("injects the CA bundle, again only when it changed", async () => {
    const store = new FakeSecretStore();
    const patcher = new FakePatcher();
    const clock = new FakeClock(Date.now());
    const m = manager(store, clock, { patcher });
    const pair = await m.sync();
    await m.sync();
    expect(patcher.injected).to.deep.equal([pair.caBundle]);
  });

  it("start() serves even when CA injection fails, and retries until the store answers", async () => {
    const store = new FakeSecretStore();
    const patcher = new FakePatcher();
    patcher.fail = true;
    let failures = 2;
    const flaky: SecretStore = {
      read: () => (failures-- > 0 ? Promise.reject(new Error("connection refused")) : store.read()),
      create: (p) => store.create(p),
      replace: (p, rv) => store.replace(p, rv),
    };
    const clock = new FakeClock(Date.now());
    const m = manager(flaky, clock, { patcher });
    // The waits between attempts are on the clock: move it on to each.
    const cert = await clock.drive(m.start());
    m.stop();
    expect(failures).to.equal(-1);
    expect(cert.cert).to.equal(store.stored!.pair.cert);
  });

  it("gives up after repeated conflicts with a clear error", async () => {
    const always: SecretStore = {
      read: async () => undefined,
      create: async () => {
        throw new SecretConflictError("already exists");
      },
      replace: async () => {
        throw new SecretConflictError("changed");
      },
    };
    const error = await manager(always, new FakeClock(Date.now()))
      .sync()
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(error?.message).to.match(/still conflicting after 5 attempts/);
  });
});
