// Where the shared certificate pair lives: a Kubernetes Secret, behind a small interface so the
// create/renew race logic is tested with a fake. Writes are optimistic (resourceVersion).
import type * as k8s from "@kubernetes/client-node";
import type { CertificatePair } from "./pair.js";

export interface StoredPair {
  pair: CertificatePair;
  resourceVersion: string;
}

/** Another writer got there first (HTTP 409: AlreadyExists on create, Conflict on replace). */
export class SecretConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretConflictError";
  }
}

export interface SecretStore {
  /** The stored pair, or undefined when the Secret does not exist. Missing keys read as "". */
  read(): Promise<StoredPair | undefined>;
  /** Creates the Secret; SecretConflictError if it already exists. */
  create(pair: CertificatePair): Promise<StoredPair>;
  /** Replaces the Secret at `resourceVersion`; SecretConflictError if it changed since. */
  replace(pair: CertificatePair, resourceVersion: string): Promise<StoredPair>;
}

const KEYS = { cert: "tls.crt", key: "tls.key", caBundle: "ca.crt", caKey: "ca.key" } as const;

function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

function decode(secret: k8s.V1Secret): StoredPair {
  const data = secret.data ?? {};
  const field = (k: string) => Buffer.from(data[k] ?? "", "base64").toString("utf8");
  return {
    pair: { cert: field(KEYS.cert), key: field(KEYS.key), caBundle: field(KEYS.caBundle), caKey: field(KEYS.caKey) },
    resourceVersion: secret.metadata?.resourceVersion ?? "",
  };
}

function encode(pair: CertificatePair): Record<string, string> {
  const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
  return {
    [KEYS.cert]: b64(pair.cert),
    [KEYS.key]: b64(pair.key),
    [KEYS.caBundle]: b64(pair.caBundle),
    [KEYS.caKey]: b64(pair.caKey),
  };
}

export function kubeSecretStore(core: k8s.CoreV1Api, namespace: string, name: string): SecretStore {
  const body = (pair: CertificatePair, resourceVersion?: string): k8s.V1Secret => ({
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/tls",
    metadata: {
      name,
      namespace,
      labels: { "app.kubernetes.io/managed-by": "bulkhead-webhook" },
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    data: encode(pair),
  });
  const conflict = (err: unknown, what: string): never => {
    if (statusCode(err) === 409) throw new SecretConflictError(`Secret ${namespace}/${name} ${what}`);
    throw err;
  };
  return {
    async read() {
      try {
        return decode(await core.readNamespacedSecret({ name, namespace }));
      } catch (err) {
        if (statusCode(err) === 404) return undefined;
        throw err;
      }
    },
    async create(pair) {
      try {
        return decode(await core.createNamespacedSecret({ namespace, body: body(pair) }));
      } catch (err) {
        return conflict(err, "already exists");
      }
    },
    async replace(pair, resourceVersion) {
      try {
        return decode(await core.replaceNamespacedSecret({ name, namespace, body: body(pair, resourceVersion) }));
      } catch (err) {
        return conflict(err, "changed since it was read");
      }
    },
  };
}
