// cert-manager mode: the serving pair is a Secret mounted as a directory (tls.crt, tls.key and,
// when present, ca.crt). The kubelet swaps the files atomically through a symlink; we re-read on
// any change event and on a poll (events are not delivered on every filesystem).
import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { Clock } from "../api/clock.js";
import type { ServingCertificate } from "./pair.js";
import { changeNotifier, type CertificateSource, type CertLogger } from "./source.js";

export interface DirectorySourceOptions {
  directory: string;
  pollIntervalMs: number;
  logger: CertLogger;
  /** Waits between polls (the process's clock). */
  clock: Clock;
}

export class DirectoryCertificateSource implements CertificateSource {
  private cert: ServingCertificate | undefined;
  private readonly changes: ReturnType<typeof changeNotifier>;
  private readonly abort = new AbortController();
  private watcher: FSWatcher | undefined;

  constructor(private readonly options: DirectorySourceOptions) {
    this.changes = changeNotifier(options.logger);
  }

  current(): ServingCertificate | undefined {
    return this.cert;
  }

  onChange(listener: (cert: ServingCertificate) => void): void {
    this.changes.add(listener);
  }

  /** Reads the directory; a half-written or mismatched pair is reported and the old one kept. */
  async reload(): Promise<boolean> {
    const dir = this.options.directory;
    let next: ServingCertificate;
    try {
      const [cert, key, caBundle] = await Promise.all([
        readFile(join(dir, "tls.crt"), "utf8"),
        readFile(join(dir, "tls.key"), "utf8"),
        readFile(join(dir, "ca.crt"), "utf8").catch(() => undefined),
      ]);
      if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key)))
        throw new Error("tls.key does not match tls.crt");
      next = caBundle ? { cert, key, caBundle } : { cert, key };
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message, directory: dir }, "cannot read the mounted certificate");
      return false;
    }
    if (this.cert && this.cert.cert === next.cert && this.cert.key === next.key && this.cert.caBundle === next.caBundle)
      return false;
    this.cert = next;
    this.options.logger.info({ directory: dir }, "loaded the mounted certificate");
    this.changes.emit(next);
    return true;
  }

  async start(): Promise<ServingCertificate> {
    while (!this.abort.signal.aborted && !this.cert) {
      await this.reload();
      if (!this.cert) await this.options.clock.sleep(Math.min(this.options.pollIntervalMs, 1000), this.abort.signal);
    }
    if (!this.cert) throw new Error("certificate source stopped before a certificate was loaded");
    try {
      this.watcher = watch(this.options.directory, () => void this.reload());
      this.watcher.on("error", (err) =>
        this.options.logger.warn({ err }, "certificate directory watch failed; polling only"),
      );
    } catch (err) {
      this.options.logger.warn({ err }, "cannot watch the certificate directory; polling only");
    }
    void this.poll();
    return this.cert;
  }

  private async poll(): Promise<void> {
    while (!this.abort.signal.aborted) {
      await this.options.clock.sleep(this.options.pollIntervalMs, this.abort.signal);
      if (!this.abort.signal.aborted) await this.reload();
    }
  }

  stop(): void {
    this.abort.abort();
    this.watcher?.close();
  }
}
