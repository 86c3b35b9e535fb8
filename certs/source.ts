// What the HTTPS server reads its certificate from: the shared Secret (certs/secret-manager.ts) or
// a mounted directory written by cert-manager (certs/directory-source.ts).
import type { ServingCertificate } from "./pair.js";

export interface CertificateSource {
  /** The certificate to serve now; undefined until the first one is loaded. */
  current(): ServingCertificate | undefined;
  /** Called with each new certificate (renewal, rotation, another replica's write). */
  onChange(listener: (cert: ServingCertificate) => void): void;
  /** Loads the first certificate (retrying until it succeeds or stop() is called) and starts watching. */
  start(): Promise<ServingCertificate>;
  stop(): void;
}

/** The pino subset certs/ logs through, so tests can pass a silent or recording fake. */
export interface CertLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Listener fan-out shared by both sources; a throwing listener cannot stop the others. */
export function changeNotifier(logger: CertLogger) {
  const listeners: Array<(cert: ServingCertificate) => void> = [];
  return {
    add: (listener: (cert: ServingCertificate) => void) => listeners.push(listener),
    emit(cert: ServingCertificate) {
      for (const listener of listeners) {
        try {
          listener(cert);
        } catch (err) {
          logger.error({ err }, "certificate change listener failed");
        }
      }
    },
  };
}
