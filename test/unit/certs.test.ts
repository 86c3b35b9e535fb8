import { expect } from "chai";
import { X509Certificate } from "node:crypto";
import { caBundlePatch } from "../../certs/ca-injector.js";
import { generateCertificatePair, renewServingCertificate } from "../../certs/generate.js";
import { renewalNeed, splitPemCertificates, unexpiredCertificates, type CertificatePair } from "../../certs/pair.js";

const DAY = 24 * 3600 * 1000;
const identity = { serviceName: "bulkhead-webhook", namespace: "bulkhead-system" };
const validity = { caValidityMs: 3650 * DAY, servingValidityMs: 365 * DAY };
const policy = { renewBeforeMs: 30 * DAY, servingValidityMs: 365 * DAY };

describe("certs: generated pair", () => {
  const now = new Date("2026-01-01T00:00:00Z");
  let pair: CertificatePair;
  before(() => {
    pair = generateCertificatePair(identity, validity, now);
  });

  it("serves the Service DNS names and 127.0.0.1 for serverAuth, signed by its CA", () => {
    const cert = new X509Certificate(pair.cert);
    const ca = new X509Certificate(pair.caBundle);
    expect(cert.subjectAltName).to.equal(
      "DNS:bulkhead-webhook, DNS:bulkhead-webhook.bulkhead-system, DNS:bulkhead-webhook.bulkhead-system.svc, " +
        "DNS:bulkhead-webhook.bulkhead-system.svc.cluster.local, IP Address:127.0.0.1",
    );
    expect(cert.keyUsage).to.deep.equal(["1.3.6.1.5.5.7.3.1"]);
    expect(cert.verify(ca.publicKey)).to.equal(true);
    expect(cert.checkIssued(ca)).to.equal(true);
    expect(cert.ca).to.equal(false);
    expect(ca.ca).to.equal(true);
    expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).to.equal(2048);
    expect(Date.parse(cert.validTo) - now.getTime()).to.equal(365 * DAY);
  });

  it("uses a random positive serial per certificate", () => {
    const again = generateCertificatePair(identity, validity, now);
    const serials = [pair.cert, pair.caBundle, again.cert, again.caBundle].map(
      (p) => new X509Certificate(p).serialNumber,
    );
    expect(new Set(serials).size).to.equal(4);
    for (const s of serials) expect(parseInt(s.slice(0, 1), 16)).to.be.below(8);
  });

  it("renewal keeps the CA and issues a new serving certificate", () => {
    const renewed = renewServingCertificate(pair, identity, 365 * DAY, new Date(now.getTime() + 340 * DAY));
    expect(renewed.caBundle).to.equal(pair.caBundle);
    expect(renewed.cert).to.not.equal(pair.cert);
    expect(new X509Certificate(renewed.cert).verify(new X509Certificate(pair.caBundle).publicKey)).to.equal(true);
  });

  const cases: Array<
    [name: string, mutate: (p: CertificatePair) => CertificatePair, at: number, expected: string, reason?: RegExp]
  > = [
    ["fresh pair", (p) => p, 0, "none"],
    ["well before renewal", (p) => p, 300 * DAY, "none"],
    ["inside renewBefore", (p) => p, 340 * DAY, "renew-serving", /serving certificate expires/],
    ["expired", (p) => p, 400 * DAY, "renew-serving"],
    ["CA would expire before a new serving cert", (p) => p, 3300 * DAY, "regenerate", /the CA expires/],
    [
      "key does not match",
      (p) => ({ ...p, key: generateCertificatePair(identity, validity, now).key }),
      0,
      "regenerate",
      /does not match/,
    ],
    [
      "other CA",
      (p) => ({ ...p, caBundle: generateCertificatePair(identity, validity, now).caBundle }),
      0,
      "regenerate",
      /not signed by the CA/,
    ],
    ["empty Secret", () => ({ cert: "", key: "", caBundle: "", caKey: "" }), 0, "regenerate", /no certificate/],
    ["garbage cert", (p) => ({ ...p, cert: "not a cert" }), 0, "regenerate", /unreadable/],
  ];
  for (const [name, mutate, at, expected, reason] of cases) {
    it(`renewalNeed: ${name} → ${expected}`, () => {
      const need = renewalNeed(mutate(pair), identity, policy, new Date(now.getTime() + at));
      expect(need.action).to.equal(expected);
      if (reason && need.action !== "none") expect(need.reason).to.match(reason);
    });
  }

  it("renewalNeed: a pair for another Service name needs renewing", () => {
    const need = renewalNeed(pair, { serviceName: "other", namespace: "bulkhead-system" }, policy, now);
    expect(need).to.deep.include({ action: "renew-serving" });
    expect(need.action !== "none" && need.reason).to.match(/lacks other, other\.bulkhead-system/);
  });

  it("unexpiredCertificates keeps only CAs still valid", () => {
    const bundle = `${pair.caBundle}${generateCertificatePair(identity, { ...validity, caValidityMs: DAY }, now).caBundle}`;
    expect(splitPemCertificates(bundle)).to.have.length(2);
    expect(unexpiredCertificates(bundle, new Date(now.getTime() + 2 * DAY))).to.deep.equal([pair.caBundle.trim()]);
  });
});

describe("certs: caBundlePatch", () => {
  const ours = { name: "bulkhead-webhook", namespace: "bulkhead-system" };
  const service = { service: { name: "bulkhead-webhook", namespace: "bulkhead-system" } };

  it("patches only our webhooks whose caBundle differs, each guarded by a name test", () => {
    const ops = caBundlePatch(
      [
        { name: "a", clientConfig: { ...service, caBundle: "NEW" } },
        { name: "b", clientConfig: { ...service, caBundle: "OLD" } },
        { name: "c", clientConfig: { url: "https://127.0.0.1:8443/validate/pdb" } },
        {
          name: "other-release",
          clientConfig: { service: { name: "bulkhead-webhook", namespace: "team-b" }, caBundle: "THEIRS" },
        },
        { name: "other-service", clientConfig: { service: { name: "not-us", namespace: "bulkhead-system" } } },
      ],
      "NEW",
      ours,
    );
    expect(ops).to.deep.equal([
      { op: "test", path: "/webhooks/1/name", value: "b" },
      { op: "add", path: "/webhooks/1/clientConfig/caBundle", value: "NEW" },
      { op: "test", path: "/webhooks/2/name", value: "c" },
      { op: "add", path: "/webhooks/2/clientConfig/caBundle", value: "NEW" },
    ]);
  });

  it("is empty when every webhook already has the bundle, or none is ours", () => {
    expect(caBundlePatch([{ name: "a", clientConfig: { ...service, caBundle: "X" } }], "X", ours)).to.deep.equal([]);
    expect(caBundlePatch([{ name: "a" }], "X", ours)).to.deep.equal([]);
    expect(caBundlePatch([], "X", ours)).to.deep.equal([]);
  });
});
