// Creates the webhook's CA and serving certificate with node-forge. Keys are RSA 2048, made by
// node:crypto (native, milliseconds) rather than forge's pure-JS generator (seconds per key);
// forge does not sign with ECDSA, so RSA it is.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import forge from "node-forge";
import type { CertificatePair } from "./pair.js";

export interface ServingIdentity {
  serviceName: string;
  namespace: string;
  /** Extra IP SANs; 127.0.0.1 is always included for local runs. */
  ipAddresses?: string[];
}

export interface Validity {
  caValidityMs: number;
  servingValidityMs: number;
}

/** The DNS names the apiserver may use to call the Service. */
export function serviceDnsNames(serviceName: string, namespace: string): string[] {
  return [
    serviceName,
    `${serviceName}.${namespace}`,
    `${serviceName}.${namespace}.svc`,
    `${serviceName}.${namespace}.svc.cluster.local`,
  ];
}

export function servingIpAddresses(identity: ServingIdentity): string[] {
  return [...new Set(["127.0.0.1", ...(identity.ipAddresses ?? [])])];
}

function rsaKeyPair(): forge.pki.rsa.KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
  });
  return { privateKey: forge.pki.privateKeyFromPem(privateKey), publicKey: forge.pki.publicKeyFromPem(publicKey) };
}

/** A positive, non-zero 128-bit serial (RFC 5280 allows up to 20 octets). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString("hex");
}

function validityOf(cert: forge.pki.Certificate, now: Date, validityMs: number): void {
  // Backdated a minute so a replica with a slightly slow clock does not see "not yet valid".
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + validityMs);
}

export interface CertificateAuthority {
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
}

export function createCertificateAuthority(
  commonName: string,
  validityMs: number,
  now = new Date(),
): CertificateAuthority {
  const keys = rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerial();
  validityOf(cert, now, validityMs);
  const subject = [{ name: "commonName", value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert, key: keys.privateKey };
}

export function createServingCertificate(
  ca: CertificateAuthority,
  identity: ServingIdentity,
  validityMs: number,
  now = new Date(),
): { cert: string; key: string } {
  const keys = rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerial();
  validityOf(cert, now, validityMs);
  const dnsNames = serviceDnsNames(identity.serviceName, identity.namespace);
  cert.setSubject([{ name: "commonName", value: dnsNames[2]! }]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: [
        ...dnsNames.map((value) => ({ type: 2, value })),
        ...servingIpAddresses(identity).map((ip) => ({ type: 7, ip })),
      ],
    },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(ca.key, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}

/** A fresh CA and a serving certificate it signed. */
export function generateCertificatePair(
  identity: ServingIdentity,
  validity: Validity,
  now = new Date(),
): CertificatePair {
  const ca = createCertificateAuthority(`bulkhead-webhook-ca.${identity.namespace}`, validity.caValidityMs, now);
  const serving = createServingCertificate(ca, identity, validity.servingValidityMs, now);
  return { caBundle: forge.pki.certificateToPem(ca.cert), caKey: forge.pki.privateKeyToPem(ca.key), ...serving };
}

/** A new serving certificate from the pair's own CA, so the CA bundle the apiserver has stays valid. */
export function renewServingCertificate(
  pair: CertificatePair,
  identity: ServingIdentity,
  validityMs: number,
  now = new Date(),
): CertificatePair {
  const ca: CertificateAuthority = {
    cert: forge.pki.certificateFromPem(pair.caBundle),
    key: forge.pki.privateKeyFromPem(pair.caKey) as forge.pki.rsa.PrivateKey,
  };
  return { ...pair, ...createServingCertificate(ca, identity, validityMs, now) };
}
