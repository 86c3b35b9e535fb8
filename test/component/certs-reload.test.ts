// Hot reload: a renewed certificate is served to new TLS handshakes without restarting the server.
import { expect } from "chai";
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile, rename } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../adapters/clock.js";
import { DirectoryCertificateSource } from "../../certs/directory-source.js";
import type { CertificatePair } from "../../certs/pair.js";
import { SecretCertificateManager } from "../../certs/secret-manager.js";
import type { SecretStore, StoredPair } from "../../certs/secret-store.js";
import type { CertificateSource } from "../../certs/source.js";
import { createWebhookMetrics } from "../../webhook/metrics.js";
import { FakeClock } from "../support/fake-clock.js";
import { until } from "../support/until.js";
import { admissionLimits, createApp, serverTimeouts, startHttpsServer } from "../../webhook/server.js";
import { call, silentLogger, testConfig, testPair } from "./webhook-support.js";

const DAY = 24 * 3600 * 1000;

function serial(pem: string): string {
  return new X509Certificate(pem).serialNumber;
}

function memoryStore(): SecretStore & { stored?: StoredPair } {
  let version = 0;
  const store: SecretStore & { stored?: StoredPair } = {
    read: async () => store.stored,
    create: async (pair) => (store.stored = { pair, resourceVersion: String(++version) }),
    replace: async (pair) => (store.stored = { pair, resourceVersion: String(++version) }),
  };
  return store;
}

async function serve(certificates: CertificateSource) {
  const app = createApp({
    routes: [],
    metrics: createWebhookMetrics(),
    logger: silentLogger,
    limits: admissionLimits(testConfig),
    readiness: { notReadyReasons: () => [] },
  });
  return startHttpsServer({
    app,
    certificates,
    host: "127.0.0.1",
    port: 0,
    logger: silentLogger,
    shutdownTimeoutMs: 1000,
    clock: systemClock,
    timeouts: serverTimeouts(testConfig),
  });
}

describe("certs: hot reload into the HTTPS server", () => {
  it("a renewal by the Secret manager is served on the next handshake, same CA, no restart", async () => {
    // The first pair is issued 340 days ago, so it is inside the 30-day renewal window today.
    const clock = new FakeClock(Date.now() - 340 * DAY);
    const store = memoryStore();
    const manager = new SecretCertificateManager({
      store,
      identity: { serviceName: "bulkhead-webhook", namespace: "bulkhead-system" },
      renewBeforeMs: 30 * DAY,
      servingValidityMs: 365 * DAY,
      caValidityMs: 3650 * DAY,
      checkIntervalMs: 3_600_000,
      logger: silentLogger,
      clock,
    });
    await manager.start();
    const server = await serve(manager);
    try {
      const first = store.stored!.pair;
      const before = await call(server.port, first.caBundle, "GET", "/healthz");
      expect(before.peerSerial).to.equal(serial(first.cert));

      clock.advance(340 * DAY);
      await manager.sync();
      const renewed = store.stored!.pair;
      expect(renewed.cert).to.not.equal(first.cert);

      const after = await call(server.port, first.caBundle, "GET", "/healthz");
      expect(after.status).to.equal(200);
      expect(after.peerSerial).to.equal(serial(renewed.cert));
    } finally {
      manager.stop();
      await server.shutdown();
    }
  });

  it("cert-manager mode: a rewritten mounted directory is picked up and served", async () => {
    const dir = await mkdtemp(join(tmpdir(), "bulkhead-certs-"));
    const write = async (pair: CertificatePair) => {
      // Write then rename, as the kubelet swaps a Secret volume atomically.
      for (const [file, text] of [
        ["tls.crt", pair.cert],
        ["tls.key", pair.key],
        ["ca.crt", pair.caBundle],
      ] as const) {
        await writeFile(join(dir, `.${file}.tmp`), text);
        await rename(join(dir, `.${file}.tmp`), join(dir, file));
      }
    };
    const [a, b] = [testPair(), testPair()];
    await write(a);
    const source = new DirectoryCertificateSource({
      directory: dir,
      pollIntervalMs: 100,
      logger: silentLogger,
      clock: systemClock,
    });
    await source.start();
    const server = await serve(source);
    try {
      expect((await call(server.port, a.caBundle, "GET", "/healthz")).peerSerial).to.equal(serial(a.cert));
      await write(b);
      await until("the rewritten certificate is reloaded", () => source.current()?.caBundle === b.caBundle, 5000, 50);
      expect(source.current()?.cert).to.equal(b.cert);
      expect((await call(server.port, b.caBundle, "GET", "/healthz")).peerSerial).to.equal(serial(b.cert));
    } finally {
      source.stop();
      await server.shutdown();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("cert-manager mode: a key that does not match the certificate is not loaded", async () => {
    const dir = await mkdtemp(join(tmpdir(), "bulkhead-certs-"));
    const [a, b] = [testPair(), testPair()];
    const warnings: string[] = [];
    const logger = { info() {}, warn: (o: object) => warnings.push(JSON.stringify(o)), error() {} };
    try {
      await writeFile(join(dir, "tls.crt"), a.cert);
      await writeFile(join(dir, "tls.key"), b.key);
      const source = new DirectoryCertificateSource({
        directory: dir,
        pollIntervalMs: 100,
        logger,
        clock: systemClock,
      });
      expect(await source.reload()).to.equal(false);
      expect(source.current()).to.equal(undefined);
      expect(warnings.join()).to.contain("tls.key does not match tls.crt");
      await writeFile(join(dir, "tls.key"), a.key);
      expect(await source.reload()).to.equal(true);
      expect(source.current()?.cert).to.equal(a.cert);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
