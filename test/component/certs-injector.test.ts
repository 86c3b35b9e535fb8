// kubeWebhookConfigPatcher against a fake AdmissionregistrationV1Api that applies JSON patches
// (with their `test` guards) as the apiserver does.
import type * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import jsonpatch from "fast-json-patch";
import { kubeWebhookConfigPatcher } from "../../certs/ca-injector.js";

type Config = {
  metadata: { name: string; labels?: Record<string, string> };
  webhooks: Array<{ name: string; clientConfig: Record<string, unknown> }>;
};

function fakeApi(mutating: Config[], validating: Config[], refuse: Set<string> = new Set()) {
  const patches: string[] = [];
  const labelled = (configs: Config[], selector: string) => {
    const [key, value] = selector.split("=");
    return { items: configs.filter((c) => c.metadata.labels?.[key!] === value) };
  };
  const patch =
    (configs: Config[], kind: string) =>
    async ({ name, body }: { name: string; body: jsonpatch.Operation[] }) => {
      if (refuse.has(name)) throw Object.assign(new Error(`${kind} "${name}" is forbidden`), { code: 403 });
      const index = configs.findIndex((c) => c.metadata.name === name);
      configs[index] = jsonpatch.applyPatch(structuredClone(configs[index]!), body, true).newDocument;
      patches.push(`${kind}/${name}`);
      return configs[index];
    };
  const api = {
    listMutatingWebhookConfiguration: async ({ labelSelector }: { labelSelector: string }) =>
      labelled(mutating, labelSelector),
    listValidatingWebhookConfiguration: async ({ labelSelector }: { labelSelector: string }) =>
      labelled(validating, labelSelector),
    patchMutatingWebhookConfiguration: patch(mutating, "mutating"),
    patchValidatingWebhookConfiguration: patch(validating, "validating"),
  };
  return { api: api as unknown as k8s.AdmissionregistrationV1Api, patches };
}

const INJECT = { "bulkhead.dev/inject-ca": "true" };
const ours = { name: "bulkhead-webhook", namespace: "bulkhead-system" };
const svc = (namespace = "bulkhead-system") => ({ service: { name: "bulkhead-webhook", namespace, path: "/x" } });

describe("certs: CA injection into webhook configurations", () => {
  it("patches our labelled configurations only, and nothing on the second pass", async () => {
    const mutating: Config[] = [
      {
        metadata: { name: "bulkhead", labels: INJECT },
        webhooks: [
          { name: "sts", clientConfig: svc() },
          { name: "pod", clientConfig: svc() },
        ],
      },
      { metadata: { name: "unlabelled" }, webhooks: [{ name: "x", clientConfig: svc() }] },
    ];
    const validating: Config[] = [
      {
        metadata: { name: "bulkhead", labels: INJECT },
        webhooks: [{ name: "pdb", clientConfig: { ...svc(), caBundle: "old" } }],
      },
    ];
    const { api, patches } = fakeApi(mutating, validating);
    const patcher = kubeWebhookConfigPatcher(api, ours);
    const pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    expect(await patcher.injectCaBundle(pem)).to.deep.equal([
      "MutatingWebhookConfiguration/bulkhead",
      "ValidatingWebhookConfiguration/bulkhead",
    ]);
    const b64 = Buffer.from(pem).toString("base64");
    expect(mutating[0]!.webhooks.map((w) => w.clientConfig.caBundle)).to.deep.equal([b64, b64]);
    expect(validating[0]!.webhooks[0]!.clientConfig.caBundle).to.equal(b64);
    expect(mutating[1]!.webhooks[0]!.clientConfig.caBundle).to.equal(undefined);
    expect(await patcher.injectCaBundle(pem)).to.deep.equal([]);
    expect(patches).to.have.length(2);
  });

  it("leaves another installation's webhooks alone and reports a refused patch after trying the rest", async () => {
    const mutating: Config[] = [
      {
        metadata: { name: "team-b", labels: INJECT },
        webhooks: [{ name: "sts", clientConfig: { ...svc("team-b"), caBundle: "theirs" } }],
      },
      { metadata: { name: "locked", labels: INJECT }, webhooks: [{ name: "sts", clientConfig: svc() }] },
    ];
    const validating: Config[] = [
      { metadata: { name: "bulkhead", labels: INJECT }, webhooks: [{ name: "pdb", clientConfig: svc() }] },
    ];
    const { api, patches } = fakeApi(mutating, validating, new Set(["locked"]));
    const error = await kubeWebhookConfigPatcher(api, ours)
      .injectCaBundle("PEM")
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(error?.message).to.equal(
      'CA bundle not injected into MutatingWebhookConfiguration/locked: mutating "locked" is forbidden',
    );
    expect(patches).to.deep.equal(["validating/bulkhead"]);
    expect(mutating[0]!.webhooks[0]!.clientConfig.caBundle).to.equal("theirs");
  });
});
