// The certificate material the webhook serves with, and the checks that decide when to renew it.
import { X509Certificate, createPrivateKey } from "node:crypto";
import { serviceDnsNames, servingIpAddresses, type ServingIdentity } from "./generate.js";

/** PEM strings. `caBundle` may hold several CAs (the newest first) during a CA rotation. */
export interface CertificatePair {
  caBundle: string;
  caKey: string;
  cert: string;
  key: string;
}

/** What the HTTPS server needs: the serving pair and, for injection, the CA bundle. */
export interface ServingCertificate {
  cert: string;
  key: string;
  caBundle?: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function splitPemCertificates(bundle: string): string[] {
  return bundle.match(PEM_CERT) ?? [];
}

export type RenewalNeed =
  { action: "none" } | { action: "renew-serving"; reason: string } | { action: "regenerate"; reason: string };

export interface RenewalPolicy {
  renewBeforeMs: number;
  servingValidityMs: number;
}

function sanList(cert: X509Certificate): { dns: Set<string>; ips: Set<string> } {
  const dns = new Set<string>();
  const ips = new Set<string>();
  for (const entry of (cert.subjectAltName ?? "").split(/,\s*/)) {
    if (entry.startsWith("DNS:")) dns.add(entry.slice(4));
    if (entry.startsWith("IP Address:")) ips.add(entry.slice(11));
  }
  return { dns, ips };
}

/**
 * Whether the stored pair can keep serving: the serving certificate must match its key, be signed
 * by the bundle's first CA, cover every Service name, and not expire within `renewBeforeMs`; the
 * CA must outlive a serving certificate issued now.
 */
export function renewalNeed(
  pair: CertificatePair,
  identity: ServingIdentity,
  policy: RenewalPolicy,
  now = new Date(),
): RenewalNeed {
  let ca: X509Certificate;
  let serving: X509Certificate;
  try {
    const first = splitPemCertificates(pair.caBundle)[0];
    if (!first) return { action: "regenerate", reason: "the CA bundle holds no certificate" };
    ca = new X509Certificate(first);
    serving = new X509Certificate(pair.cert);
    createPrivateKey(pair.caKey);
    if (!serving.checkPrivateKey(createPrivateKey(pair.key)))
      return { action: "regenerate", reason: "tls.key does not match tls.crt" };
  } catch (err) {
    return { action: "regenerate", reason: `unreadable certificate material: ${(err as Error).message}` };
  }
  if (!serving.verify(ca.publicKey)) return { action: "regenerate", reason: "tls.crt is not signed by the CA" };
  const t = now.getTime();
  if (Date.parse(ca.validTo) - t < policy.renewBeforeMs + policy.servingValidityMs) {
    return { action: "regenerate", reason: `the CA expires ${ca.validTo}` };
  }
  if (Date.parse(serving.validTo) - t < policy.renewBeforeMs) {
    return { action: "renew-serving", reason: `the serving certificate expires ${serving.validTo}` };
  }
  const sans = sanList(serving);
  const missing = [
    ...serviceDnsNames(identity.serviceName, identity.namespace).filter((n) => !sans.dns.has(n)),
    ...servingIpAddresses(identity).filter((ip) => !sans.ips.has(ip)),
  ];
  if (missing.length > 0)
    return { action: "renew-serving", reason: `the serving certificate lacks ${missing.join(", ")}` };
  return { action: "none" };
}

/** The CAs of `bundle` still valid at `now`: kept in the bundle across a CA rotation. */
export function unexpiredCertificates(bundle: string, now = new Date()): string[] {
  return splitPemCertificates(bundle).filter((pem) => {
    try {
      return Date.parse(new X509Certificate(pem).validTo) > now.getTime();
    } catch {
      return false;
    }
  });
}

export function samePair(a: CertificatePair | undefined, b: CertificatePair | undefined): boolean {
  return !!a && !!b && a.cert === b.cert && a.key === b.key && a.caBundle === b.caBundle && a.caKey === b.caKey;
}
