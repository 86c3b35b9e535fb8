// Picks the certificate source the configuration asks for: cert-manager's mounted directory, or
// the Secret the replicas share (with CA injection into the labelled webhook configurations).
import type { Logger } from "pino";
import type { Clock } from "../api/clock.js";
import type { KubeClients } from "../adapters/kube/client.js";
import { kubeWebhookConfigPatcher } from "../certs/ca-injector.js";
import { DirectoryCertificateSource } from "../certs/directory-source.js";
import { SecretCertificateManager } from "../certs/secret-manager.js";
import { kubeSecretStore } from "../certs/secret-store.js";
import type { CertificateSource } from "../certs/source.js";
import type { WebhookConfig } from "./config.js";

const CA_VALIDITY_MS = 10 * 365 * 24 * 3600 * 1000;

export function certificateSource(
  config: WebhookConfig,
  clients: KubeClients,
  logger: Logger,
  clock: Clock,
): CertificateSource {
  const log = logger.child({ component: "certs" });
  if (config.certDir) {
    return new DirectoryCertificateSource({ directory: config.certDir, pollIntervalMs: 10_000, logger: log, clock });
  }
  return new SecretCertificateManager({
    store: kubeSecretStore(clients.core, config.namespace, config.certSecret),
    patcher: kubeWebhookConfigPatcher(clients.admissionRegistration, {
      name: config.serviceName,
      namespace: config.namespace,
    }),
    identity: { serviceName: config.serviceName, namespace: config.namespace },
    renewBeforeMs: config.certRenewBeforeMs,
    servingValidityMs: config.certValidityMs,
    caValidityMs: Math.max(CA_VALIDITY_MS, 2 * (config.certValidityMs + config.certRenewBeforeMs)),
    checkIntervalMs: config.certCheckIntervalMs,
    logger: log,
    clock,
  });
}
