// Puts the CA bundle into every webhook configuration labelled bulkhead.dev/inject-ca=true, so the
// apiserver trusts the serving certificate. Only webhooks whose caBundle differs are patched.
import type * as k8s from "@kubernetes/client-node";
import { INJECT_CA_LABEL, TRUE } from "../api/labels.js";
import type { JsonPatchOperation } from "../api/admission.js";

export interface WebhookConfigPatcher {
  /** Injects `caBundlePem`; returns "Kind/name" of each configuration it patched. */
  injectCaBundle(caBundlePem: string): Promise<string[]>;
}

export interface WebhookEntry {
  name: string;
  clientConfig?: { caBundle?: string };
}

/**
 * JSON patch that sets clientConfig.caBundle (base64 PEM) on each webhook where it differs. Each
 * write is guarded by a `test` of the webhook's name, so a configuration changed between our read
 * and our patch fails the patch (422) instead of writing the bundle into the wrong webhook.
 */
export function caBundlePatch(webhooks: readonly WebhookEntry[], caBundleBase64: string): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  webhooks.forEach((webhook, i) => {
    if (webhook.clientConfig?.caBundle === caBundleBase64) return;
    ops.push({ op: "test", path: `/webhooks/${i}/name`, value: webhook.name });
    if (!webhook.clientConfig) ops.push({ op: "add", path: `/webhooks/${i}/clientConfig`, value: { caBundle: caBundleBase64 } });
    else ops.push({ op: "add", path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundleBase64 });
  });
  return ops;
}

export function kubeWebhookConfigPatcher(api: k8s.AdmissionregistrationV1Api): WebhookConfigPatcher {
  const labelSelector = `${INJECT_CA_LABEL}=${TRUE}`;
  return {
    async injectCaBundle(caBundlePem) {
      const b64 = Buffer.from(caBundlePem, "utf8").toString("base64");
      const patchedNames: string[] = [];
      const mutating = await api.listMutatingWebhookConfiguration({ labelSelector });
      for (const config of mutating.items) {
        const ops = caBundlePatch((config.webhooks ?? []) as WebhookEntry[], b64);
        if (ops.length === 0) continue;
        await api.patchMutatingWebhookConfiguration({ name: config.metadata!.name!, body: ops });
        patchedNames.push(`MutatingWebhookConfiguration/${config.metadata!.name}`);
      }
      const validating = await api.listValidatingWebhookConfiguration({ labelSelector });
      for (const config of validating.items) {
        const ops = caBundlePatch((config.webhooks ?? []) as WebhookEntry[], b64);
        if (ops.length === 0) continue;
        await api.patchValidatingWebhookConfiguration({ name: config.metadata!.name!, body: ops });
        patchedNames.push(`ValidatingWebhookConfiguration/${config.metadata!.name}`);
      }
      return patchedNames;
    },
  };
}
