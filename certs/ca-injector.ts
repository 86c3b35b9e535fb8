// Puts the CA bundle into every webhook configuration labelled bulkhead.dev/inject-ca=true, so the
// apiserver trusts the serving certificate. Only webhooks that call this installation's Service
// (or a URL: a webhook run outside the cluster) and whose caBundle differs are patched, so two
// installations in one cluster never overwrite each other's CA.
import type * as k8s from "@kubernetes/client-node";
import { INJECT_CA_LABEL, TRUE } from "../api/labels.js";
import type { JsonPatchOperation } from "../api/admission.js";

export interface WebhookConfigPatcher {
  /** Injects `caBundlePem`; returns "Kind/name" of each configuration it patched. */
  injectCaBundle(caBundlePem: string): Promise<string[]>;
}

export interface WebhookEntry {
  name: string;
  clientConfig?: { caBundle?: string; url?: string; service?: { name?: string; namespace?: string } };
}

/** The Service the apiserver calls this webhook through. */
export interface ServiceRef {
  name: string;
  namespace: string;
}

export function callsService(webhook: WebhookEntry, service: ServiceRef): boolean {
  const target = webhook.clientConfig?.service;
  if (!target) return webhook.clientConfig?.url !== undefined;
  return target.name === service.name && target.namespace === service.namespace;
}

/**
 * JSON patch that sets clientConfig.caBundle (base64 PEM) on each webhook where it differs. Each
 * write is guarded by a `test` of the webhook's name, so a configuration changed between our read
 * and our patch fails the patch (422) instead of writing the bundle into the wrong webhook.
 */
export function caBundlePatch(
  webhooks: readonly WebhookEntry[],
  caBundleBase64: string,
  service: ServiceRef,
): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  webhooks.forEach((webhook, i) => {
    if (!callsService(webhook, service) || webhook.clientConfig?.caBundle === caBundleBase64) return;
    ops.push({ op: "test", path: `/webhooks/${i}/name`, value: webhook.name });
    ops.push({ op: "add", path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundleBase64 });
  });
  return ops;
}

type Kind = "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration";

export function kubeWebhookConfigPatcher(
  api: k8s.AdmissionregistrationV1Api,
  service: ServiceRef,
): WebhookConfigPatcher {
  const labelSelector = `${INJECT_CA_LABEL}=${TRUE}`;
  const list = async (): Promise<Array<{ kind: Kind; name: string; webhooks: WebhookEntry[] }>> => {
    const [mutating, validating] = await Promise.all([
      api.listMutatingWebhookConfiguration({ labelSelector }),
      api.listValidatingWebhookConfiguration({ labelSelector }),
    ]);
    return [
      ...mutating.items.map((c) => ({
        kind: "MutatingWebhookConfiguration" as const,
        name: c.metadata?.name ?? "",
        webhooks: (c.webhooks ?? []) as WebhookEntry[],
      })),
      ...validating.items.map((c) => ({
        kind: "ValidatingWebhookConfiguration" as const,
        name: c.metadata?.name ?? "",
        webhooks: (c.webhooks ?? []) as WebhookEntry[],
      })),
    ];
  };
  return {
    async injectCaBundle(caBundlePem) {
      const b64 = Buffer.from(caBundlePem, "utf8").toString("base64");
      const patchedNames: string[] = [];
      const failures: string[] = [];
      // One configuration failing (a concurrent edit, say) must not keep the CA from the others.
      for (const config of await list()) {
        const body = caBundlePatch(config.webhooks, b64, service);
        if (body.length === 0) continue;
        try {
          if (config.kind === "MutatingWebhookConfiguration")
            await api.patchMutatingWebhookConfiguration({ name: config.name, body });
          else await api.patchValidatingWebhookConfiguration({ name: config.name, body });
          patchedNames.push(`${config.kind}/${config.name}`);
        } catch (err) {
          failures.push(`${config.kind}/${config.name}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      if (failures.length > 0) throw new Error(`CA bundle not injected into ${failures.join("; ")}`);
      return patchedNames;
    },
  };
}
