import { expect } from "chai";
import fjp from "fast-json-patch";
import {
  claimName,
  podFromTemplate,
  rewritePodToRevision,
  templateFromRevisionData,
  type PodJson,
  type PodTemplate,
  type StatefulSetShape,
} from "../../api/pod-rewrite.js";

const set: StatefulSetShape = {
  name: "web",
  namespace: "shop",
  uid: "uid-1",
  serviceName: "web-headless",
  volumeClaimTemplates: [{ metadata: { name: "data" } }],
};

const container = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: "app",
  image: "registry.example/app:v1",
  imagePullPolicy: "IfNotPresent",
  terminationMessagePath: "/dev/termination-log",
  env: [{ name: "MODE", value: "blue" }],
  volumeMounts: [{ name: "data", mountPath: "/data" }],
  ...over,
});

const template = (spec: Record<string, unknown> = {}, meta: PodTemplate["metadata"] = {}): PodTemplate => ({
  metadata: { labels: { app: "web", "bulkhead.dev/managed": "true" }, ...meta },
  spec: { containers: [container()], restartPolicy: "Always", dnsPolicy: "ClusterFirst", ...spec },
});

const oldTemplate = template();

/** Stands in for built-in admission: ServiceAccount token volume and mounts, default tolerations, priority. */
function admitted(pod: PodJson): PodJson {
  const p = structuredClone(pod);
  const spec = p.spec as Record<string, unknown> & { containers: Array<Record<string, unknown>>; volumes?: unknown[] };
  spec.serviceAccountName = "default";
  spec.volumes = [
    ...(spec.volumes ?? []),
    { name: "kube-api-access-abcde", projected: { sources: [{ serviceAccountToken: { path: "token" } }] } },
  ];
  for (const c of spec.containers) {
    c.volumeMounts = [
      ...((c.volumeMounts as unknown[]) ?? []),
      { name: "kube-api-access-abcde", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true },
    ];
  }
  spec.tolerations = [
    { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
  ];
  spec.priority = 0;
  return p;
}

describe("templateFromRevisionData", () => {
  it("takes the template out of the controller's strategic-merge patch and drops $patch", () => {
    const r = templateFromRevisionData({ spec: { template: { ...oldTemplate, $patch: "replace" } } });
    expect(r).to.deep.equal({ ok: true, value: oldTemplate });
  });
  const bad: Array<[string, unknown]> = [
    ["null", null],
    ["an array", []],
    ["no spec", { metadata: {} }],
    ["no template", { spec: { replicas: 3 } }],
    ["a DaemonSet-like template.spec of the wrong type", { spec: { template: { spec: "x" } } }],
  ];
  for (const [name, data] of bad) {
    it(`rejects ${name} with a message`, () => {
      const r = templateFromRevisionData(data);
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.error).to.match(/ControllerRevision/);
    });
  }
});

describe("podFromTemplate", () => {
  it("builds the pod the StatefulSet controller makes: identity, storage, owner, revision", () => {
    const pod = podFromTemplate(
      template(
        {
          volumes: [
            { name: "data", emptyDir: {} },
            { name: "cfg", configMap: { name: "c" } },
          ],
        },
        { annotations: { a: "1" } },
      ),
      set,
      3,
      "web-old",
    );
    expect(pod.metadata).to.deep.include({ name: "web-3", generateName: "web-", namespace: "shop" });
    expect(pod.metadata?.labels).to.deep.equal({
      app: "web",
      "bulkhead.dev/managed": "true",
      "statefulset.kubernetes.io/pod-name": "web-3",
      "apps.kubernetes.io/pod-index": "3",
      "controller-revision-hash": "web-old",
    });
    expect(pod.metadata?.annotations).to.deep.equal({ a: "1" });
    expect(pod.metadata?.ownerReferences).to.deep.equal([
      {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        name: "web",
        uid: "uid-1",
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(pod.spec?.hostname).to.equal("web-3");
    expect(pod.spec?.subdomain).to.equal("web-headless");
    // The claim template's volume replaces the template volume of the same name, and comes first.
    expect(pod.spec?.volumes).to.deep.equal([
      { name: "data", persistentVolumeClaim: { claimName: "data-web-3" } },
      { name: "cfg", configMap: { name: "c" } },
    ]);
    expect(claimName("data", "web-3")).to.equal("data-web-3");
  });

  it("does not share objects with the template", () => {
    const t = template();
    const pod = podFromTemplate(t, set, 0, "r");
    (pod.spec?.containers as Array<{ image: string }>)[0]!.image = "changed";
    pod.metadata!.labels!.app = "changed";
    expect((t.spec?.containers as Array<{ image: string }>)[0]!.image).to.equal("registry.example/app:v1");
    expect(t.metadata?.labels?.app).to.equal("web");
  });

  it("omits an empty subdomain and volumes when there are none", () => {
    const pod = podFromTemplate(template(), { name: "web", namespace: "shop" }, 0, "r");
    expect(pod.spec).to.not.have.property("subdomain");
    expect(pod.spec).to.not.have.property("volumes");
    expect(pod.metadata).to.not.have.property("ownerReferences");
  });
});

describe("rewritePodToRevision", () => {
  const cases: Array<[name: string, newTemplate: PodTemplate]> = [
    ["changed image", template({ containers: [container({ image: "registry.example/app:v2" })] })],
    [
      "changed env",
      template({
        containers: [
          container({
            env: [
              { name: "MODE", value: "green" },
              { name: "EXTRA", value: "1" },
            ],
          }),
        ],
      }),
    ],
    ["removed env", template({ containers: [container({ env: undefined })] })],
    [
      "added container",
      template({
        containers: [
          container(),
          container({ name: "sidecar", image: "registry.example/sidecar:v1", volumeMounts: [] }),
        ],
      }),
    ],
    ["added init container", template({ initContainers: [container({ name: "init" })] })],
    [
      "changed volumes",
      template({
        volumes: [
          { name: "cfg", configMap: { name: "cfg-v2" } },
          { name: "tmp", emptyDir: {} },
        ],
      }),
    ],
    ["template volume shadowed by a claim template", template({ volumes: [{ name: "data", emptyDir: {} }] })],
    [
      "changed labels and annotations",
      template(
        {},
        {
          labels: { app: "web", tier: "gold", "bulkhead.dev/managed": "true" },
          annotations: { "checksum/config": "abc" },
        },
      ),
    ],
    ["changed pod-level fields", template({ terminationGracePeriodSeconds: 5, nodeSelector: { disk: "ssd" } })],
  ];
  for (const [name, newTemplate] of cases) {
    it(`${name}: the result is exactly the pod the controller makes from the old template`, () => {
      const incoming = podFromTemplate(newTemplate, set, 2, "web-new");
      const r = rewritePodToRevision({
        pod: incoming,
        set,
        ordinal: 2,
        fromTemplate: newTemplate,
        fromRevision: "web-new",
        toTemplate: oldTemplate,
        toRevision: "web-old",
      });
      expect(r.ok).to.equal(true);
      if (!r.ok) return;
      const expected = podFromTemplate(oldTemplate, set, 2, "web-old");
      expect(r.value.pod).to.deep.equal(expected);
      expect(r.value.operations).to.have.length.greaterThan(0);
      // The patch, applied as the apiserver would, gives the same pod.
      expect(
        fjp.applyPatch(structuredClone(incoming), r.value.operations as fjp.Operation[], true, false).newDocument,
      ).to.deep.equal(expected);
    });

    it(`${name}: what admission added to the pod survives the rewrite`, () => {
      const incoming = admitted(podFromTemplate(newTemplate, set, 2, "web-new"));
      const r = rewritePodToRevision({
        pod: incoming,
        set,
        ordinal: 2,
        fromTemplate: newTemplate,
        fromRevision: "web-new",
        toTemplate: oldTemplate,
        toRevision: "web-old",
      });
      expect(r.ok).to.equal(true);
      if (!r.ok) return;
      expect(r.value.pod).to.deep.equal(admitted(podFromTemplate(oldTemplate, set, 2, "web-old")));
    });
  }

  it("keeps the identity: name, pod-name and pod-index labels, hostname, subdomain, claim names", () => {
    const newTemplate = cases[0]![1];
    const incoming = admitted(podFromTemplate(newTemplate, set, 7, "web-new"));
    const r = rewritePodToRevision({
      pod: incoming,
      set,
      ordinal: 7,
      fromTemplate: newTemplate,
      fromRevision: "web-new",
      toTemplate: oldTemplate,
      toRevision: "web-old",
    });
    if (!r.ok) throw new Error(r.error);
    const paths = r.value.operations.map((o) => o.path);
    expect(paths).to.have.members(["/metadata/labels/controller-revision-hash", "/spec/containers/0/image"]);
    expect(r.value.pod.metadata?.name).to.equal("web-7");
    expect(r.value.pod.spec?.volumes).to.deep.include({
      name: "data",
      persistentVolumeClaim: { claimName: "data-web-7" },
    });
  });

  it("keeps the managed label when the old template predates Bulkhead", () => {
    const unmanagedOld = template({}, { labels: { app: "web" } });
    const newTemplate = template({ containers: [container({ image: "registry.example/app:v2" })] });
    const incoming = podFromTemplate(newTemplate, set, 1, "web-new");
    const r = rewritePodToRevision({
      pod: incoming,
      set,
      ordinal: 1,
      fromTemplate: newTemplate,
      fromRevision: "web-new",
      toTemplate: unmanagedOld,
      toRevision: "web-old",
    });
    if (!r.ok) throw new Error(r.error);
    expect(r.value.pod.metadata?.labels?.["bulkhead.dev/managed"]).to.equal("true");
    expect(r.value.pod.metadata?.labels?.["controller-revision-hash"]).to.equal("web-old");
  });

  it("gives no operations when the templates are the same and the revision already matches", () => {
    const incoming = admitted(podFromTemplate(oldTemplate, set, 0, "web-old"));
    const r = rewritePodToRevision({
      pod: incoming,
      set,
      ordinal: 0,
      fromTemplate: oldTemplate,
      fromRevision: "web-old",
      toTemplate: oldTemplate,
      toRevision: "web-old",
    });
    expect(r).to.deep.equal({ ok: true, value: { pod: incoming, operations: [] } });
  });

  it("does not change the admitted pod object", () => {
    const newTemplate = cases[0]![1];
    const incoming = podFromTemplate(newTemplate, set, 2, "web-new");
    const before = structuredClone(incoming);
    rewritePodToRevision({
      pod: incoming,
      set,
      ordinal: 2,
      fromTemplate: newTemplate,
      fromRevision: "web-new",
      toTemplate: oldTemplate,
      toRevision: "web-old",
    });
    expect(incoming).to.deep.equal(before);
  });

  it("refuses, with a message, a pod that does not have the shape of its claimed template", () => {
    const newTemplate = template({ containers: [container({ image: "registry.example/app:v2" })] });
    const incoming = podFromTemplate(newTemplate, set, 2, "web-new");
    (incoming.spec as { containers: unknown[] }).containers = [];
    const r = rewritePodToRevision({
      pod: incoming,
      set,
      ordinal: 2,
      fromTemplate: newTemplate,
      fromRevision: "web-new",
      toTemplate: oldTemplate,
      toRevision: "web-old",
    });
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.error).to.match(/does not have the shape/);
  });
});
