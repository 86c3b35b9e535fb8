// Keeps the webhook's certificate pair in a Secret shared by all replicas: create-if-absent (on
// AlreadyExists the winner's pair is used), renewal before expiry with optimistic concurrency
// (on Conflict re-read: another replica renewed), CA injection, and periodic re-reads so every
// replica picks up whatever pair the Secret holds.
import type { Clock } from "../api/clock.js";
import { generateCertificatePair, renewServingCertificate, type ServingIdentity } from "./generate.js";
import { renewalNeed, samePair, unexpiredCertificates, type CertificatePair, type ServingCertificate } from "./pair.js";
import { SecretConflictError, type SecretStore, type StoredPair } from "./secret-store.js";
import { changeNotifier, type CertificateSource, type CertLogger } from "./source.js";
import type { WebhookConfigPatcher } from "./ca-injector.js";

export interface SecretCertificateOptions {
  store: SecretStore;
  /** Omitted when the CA is given to the apiserver some other way (chart value webhook.caBundle). */
  patcher?: WebhookConfigPatcher;
  identity: ServingIdentity;
  renewBeforeMs: number;
  servingValidityMs: number;
  caValidityMs: number;
  /** How often the Secret is re-read, renewed if due, and the CA re-injected. */
  checkIntervalMs: number;
  /** First retry delay when the Secret cannot be read or written (doubles up to checkIntervalMs). */
  retryDelayMs?: number;
  logger: CertLogger;
  /** Issue times, renewal checks and the waits between them (the process's clock; tests move a fake one). */
  clock: Clock;
}

const MAX_ATTEMPTS = 5;

export class SecretCertificateManager implements CertificateSource {
  private pair: CertificatePair | undefined;
  private readonly changes: ReturnType<typeof changeNotifier>;
  private readonly abort = new AbortController();

  constructor(private readonly options: SecretCertificateOptions) {
    this.changes = changeNotifier(options.logger);
  }

  current(): ServingCertificate | undefined {
    return this.pair && { cert: this.pair.cert, key: this.pair.key, caBundle: this.pair.caBundle };
  }

  onChange(listener: (cert: ServingCertificate) => void): void {
    this.changes.add(listener);
  }

  /**
   * One level-triggered pass: read the Secret, create or renew it when needed, adopt what it
   * holds, and inject the CA. Safe to run on every replica at once.
   */
  async sync(): Promise<CertificatePair> {
    const pair = await this.ensureStored();
    this.adopt(pair);
    if (this.options.patcher) {
      const patched = await this.options.patcher.injectCaBundle(pair.caBundle);
      if (patched.length > 0) this.options.logger.info({ patched }, "CA bundle injected into webhook configurations");
    }
    return pair;
  }

  private async ensureStored(): Promise<CertificatePair> {
    const { store, identity, logger } = this.options;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const stored = await store.read();
      try {
        if (!stored) {
          logger.info({ attempt }, "certificate Secret absent: creating a CA and serving certificate");
          return (await store.create(this.fresh(undefined))).pair;
        }
        const need = renewalNeed(stored.pair, identity, this.options, this.now());
        if (need.action === "none") return stored.pair;
        logger.info({ action: need.action, reason: need.reason, attempt }, "renewing the webhook certificate");
        return (await this.replace(stored, need.action)).pair;
      } catch (err) {
        // Another replica created or renewed it first: read again and use theirs.
        if (err instanceof SecretConflictError) {
          logger.info({ attempt, err: err.message }, "certificate Secret written by another replica: re-reading");
          continue;
        }
        throw err;
      }
    }
    throw new Error(`certificate Secret still conflicting after ${MAX_ATTEMPTS} attempts`);
  }

  private replace(stored: StoredPair, action: "renew-serving" | "regenerate"): Promise<StoredPair> {
    const next =
      action === "renew-serving"
        ? renewServingCertificate(stored.pair, this.options.identity, this.options.servingValidityMs, this.now())
        : this.fresh(stored.pair);
    return this.options.store.replace(next, stored.resourceVersion);
  }

  /** A new CA and serving pair; the old CA stays in the bundle while still valid, so the
   *  apiserver keeps trusting replicas that have not reloaded yet. */
  private fresh(previous: CertificatePair | undefined): CertificatePair {
    const { identity, caValidityMs, servingValidityMs } = this.options;
    const pair = generateCertificatePair(identity, { caValidityMs, servingValidityMs }, this.now());
    const keep = previous ? unexpiredCertificates(previous.caBundle, this.now()) : [];
    return keep.length > 0 ? { ...pair, caBundle: [pair.caBundle.trim(), ...keep].join("\n") + "\n" } : pair;
  }

  private adopt(pair: CertificatePair): void {
    if (samePair(this.pair, pair)) return;
    this.pair = pair;
    this.changes.emit(this.current()!);
  }

  private now(): Date {
    return new Date(this.options.clock.now());
  }

  async start(): Promise<ServingCertificate> {
    const { logger, checkIntervalMs } = this.options;
    let delay = this.options.retryDelayMs ?? 1000;
    while (!this.abort.signal.aborted) {
      try {
        await this.sync();
        break;
      } catch (err) {
        // Loaded but the CA injection failed: serve now, the periodic pass injects again.
        if (this.current()) {
          logger.error({ err }, "CA injection failed; retrying on the next check");
          break;
        }
        logger.error({ err, retryInMs: delay }, "cannot load the webhook certificate");
        await this.options.clock.sleep(delay, this.abort.signal);
        delay = Math.min(delay * 2, checkIntervalMs);
      }
    }
    const cert = this.current();
    if (!cert) throw new Error("certificate manager stopped before a certificate was loaded");
    void this.periodic();
    return cert;
  }

  private async periodic(): Promise<void> {
    while (!this.abort.signal.aborted) {
      await this.options.clock.sleep(this.options.checkIntervalMs, this.abort.signal);
      if (this.abort.signal.aborted) return;
      try {
        await this.sync();
      } catch (err) {
        this.options.logger.error({ err }, "certificate check failed; keeping the current certificate");
      }
    }
  }

  stop(): void {
    this.abort.abort();
  }
}
