import { expect } from "chai";
import jsonpatch from "fast-json-patch";
import type { AdmissionRequest, AdmissionDecision, JsonPatchOperation, Operation } from "../../api/admission.js";
import { mutateStatefulSet, validateStatefulSet, type StatefulSetLike } from "../../api/statefulset-policy.js";

const RECONCILER = "system:serviceaccount:bulkhead-system:bulkhead-reconciler";
const OWNER = [
  { apiVersion: "bulkhead.dev/v1alpha1", kind: "StatefulsetRollout", name: "web", uid: "u1", controller: true },
];

interface StsOptions {
  managed?: boolean;
  owned?: boolean;
  /** null: no updateStrategy at all. */
  strategy?: { type?: string; rollingUpdate?: unknown } | null;
  image?: string;
  templateManagedLabel?: boolean;
  annotations?: Record<string, string>;
}

function sts(o: StsOptions = {}): StatefulSetLike {
  const labels: Record<string, string> =
    o.managed === false ? { app: "web" } : { app: "web", "bulkhead.dev/managed": "true" };
  const templateLabels: Record<string, string> = o.templateManagedLabel
    ? { app: "web", "bulkhead.dev/managed": "true" }
    : { app: "web" };
  const spec: Record<string, unknown> = {
    replicas: 3,
    selector: { matchLabels: { app: "web" } },
    template: {
      metadata: { labels: templateLabels },
      spec: { containers: [{ name: "c", image: o.image ?? "web:1" }] },
    },
  };
  if (o.strategy !== null) spec.updateStrategy = o.strategy ?? { type: "OnDelete" };
  return {
    metadata: {
      name: "web",
      namespace: "shop",
      labels,
      ...(o.annotations ? { annotations: o.annotations } : {}),
      ...(o.owned ? { ownerReferences: OWNER } : {}),
    },
    spec: spec as StatefulSetLike["spec"],
  };
}

function request(operation: Operation, object: unknown, oldObject?: unknown, username = "alice"): AdmissionRequest {
  return {
    uid: "uid-1",
    kind: { group: "apps", version: "v1", kind: "StatefulSet" },
    resource: { group: "apps", version: "v1", resource: "statefulsets" },
    namespace: "shop",
    name: "web",
    operation,
    userInfo: { username },
    object,
    ...(oldObject !== undefined ? { oldObject } : {}),
  };
}

function patchOf(response: AdmissionDecision): JsonPatchOperation[] {
  return response.patch ? (JSON.parse(Buffer.from(response.patch, "base64").toString()) as JsonPatchOperation[]) : [];
}

function applyPatch(object: unknown, ops: JsonPatchOperation[]): StatefulSetLike {
  return jsonpatch.applyPatch(structuredClone(object), ops as jsonpatch.Operation[]).newDocument as StatefulSetLike;
}

describe("mutateStatefulSet", () => {
  const cases: Array<{ name: string; req: AdmissionRequest; expectPatch: boolean }> = [
    {
      name: "CREATE managed RollingUpdate",
      req: request("CREATE", sts({ strategy: { type: "RollingUpdate" } })),
      expectPatch: true,
    },
    {
      name: "CREATE managed RollingUpdate with partition",
      req: request("CREATE", sts({ strategy: { type: "RollingUpdate", rollingUpdate: { partition: 2 } } })),
      expectPatch: true,
    },
    { name: "CREATE managed, no updateStrategy", req: request("CREATE", sts({ strategy: null })), expectPatch: true },
    {
      name: "UPDATE managed RollingUpdate",
      req: request("UPDATE", sts({ strategy: { type: "RollingUpdate" } }), sts()),
      expectPatch: true,
    },
    {
      name: "already OnDelete, labelled and annotated",
      req: request("CREATE", sts({ templateManagedLabel: true, annotations: { "bulkhead.dev/max-unavailable": "1" } })),
      expectPatch: false,
    },
    {
      name: "unmanaged RollingUpdate",
      req: request("CREATE", sts({ managed: false, strategy: { type: "RollingUpdate" } })),
      expectPatch: false,
    },
    { name: "DELETE", req: request("DELETE", undefined, sts()), expectPatch: false },
    {
      name: "managed without spec",
      req: request("CREATE", { metadata: { name: "web", labels: { "bulkhead.dev/managed": "true" } } }),
      expectPatch: false,
    },
    {
      name: "scale subresource",
      req: { ...request("UPDATE", sts({ strategy: { type: "RollingUpdate" } }), sts()), subResource: "scale" },
      expectPatch: false,
    },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.expectPatch ? "patched" : "no patch"}`, () => {
      const response = mutateStatefulSet(c.req);
      expect(response, "a decision carries no uid (the kernel sets it)").not.to.have.property("uid");
      expect(response.allowed).to.equal(true);
      expect(response.patch !== undefined).to.equal(c.expectPatch);
      if (c.expectPatch) {
        const result = applyPatch(c.req.object, patchOf(response));
        expect(result.spec?.updateStrategy).to.deep.equal({ type: "OnDelete" });
        expect(result.spec?.template?.metadata?.labels).to.include({ "bulkhead.dev/managed": "true", app: "web" });
        expect(result.metadata?.annotations?.["bulkhead.dev/max-unavailable"]).to.be.a("string");
      }
    });
  }

  it("defaults the max-unavailable annotation to 25% and keeps a user's value", () => {
    const defaulted = applyPatch(sts(), patchOf(mutateStatefulSet(request("CREATE", sts()))));
    expect(defaulted.metadata?.annotations).to.deep.equal({ "bulkhead.dev/max-unavailable": "25%" });
    const kept = sts({ annotations: { "bulkhead.dev/max-unavailable": "2", other: "x" } });
    const result = applyPatch(kept, patchOf(mutateStatefulSet(request("CREATE", kept))));
    expect(result.metadata?.annotations).to.deep.equal({ "bulkhead.dev/max-unavailable": "2", other: "x" });
  });

  it("drops rollingUpdate.partition", () => {
    const object = sts({ strategy: { type: "RollingUpdate", rollingUpdate: { partition: 2 } } });
    const result = applyPatch(object, patchOf(mutateStatefulSet(request("CREATE", object))));
    expect(result.spec?.updateStrategy).to.deep.equal({ type: "OnDelete" });
  });

  it("creates template metadata when the template has none", () => {
    const object = sts();
    delete object.spec!.template!.metadata;
    const result = applyPatch(object, patchOf(mutateStatefulSet(request("CREATE", object))));
    expect(result.spec?.template?.metadata?.labels).to.deep.equal({ "bulkhead.dev/managed": "true" });
  });

  it("does not change the request object", () => {
    const object = sts({ strategy: { type: "RollingUpdate" } });
    const before = structuredClone(object);
    mutateStatefulSet(request("CREATE", object));
    expect(object).to.deep.equal(before);
  });

  it("rejects a missing object with 400", () => {
    const response = mutateStatefulSet(request("CREATE", undefined));
    expect(response.allowed).to.equal(false);
    expect(response.status?.code).to.equal(400);
    expect(response.status?.message).to.match(/request\.object is missing/);
  });
});

describe("validateStatefulSet", () => {
  const facts = (rolloutExists = true) => ({ reconcilerUsername: RECONCILER, rolloutExists });
  const managedOwned = sts({ owned: true, templateManagedLabel: true });
  const changedTemplate = sts({ owned: true, templateManagedLabel: true, image: "web:2" });

  const cases: Array<{
    name: string;
    req: AdmissionRequest;
    rolloutExists?: boolean;
    allowed: boolean;
    message?: RegExp;
    warning?: RegExp;
  }> = [
    {
      name: "unmanaged RollingUpdate",
      req: request("CREATE", sts({ managed: false, strategy: { type: "RollingUpdate" } })),
      allowed: true,
    },
    {
      name: "unmanaged template change",
      req: request("UPDATE", sts({ managed: false, image: "web:2" }), sts({ managed: false })),
      allowed: true,
    },
    {
      name: "CREATE managed OnDelete by the reconciler",
      req: request("CREATE", managedOwned, undefined, RECONCILER),
      allowed: true,
    },
    {
      name: "CREATE managed RollingUpdate",
      req: request("CREATE", sts({ strategy: { type: "RollingUpdate" } })),
      allowed: false,
      message: /updateStrategy RollingUpdate.*must use OnDelete/,
    },
    {
      name: "UPDATE managed RollingUpdate with partition",
      req: request(
        "UPDATE",
        sts({ owned: true, strategy: { type: "RollingUpdate", rollingUpdate: { partition: 1 } } }),
        managedOwned,
        RECONCILER,
      ),
      allowed: false,
      message: /updateStrategy RollingUpdate/,
    },
    {
      name: "managed, updateStrategy missing",
      req: request("CREATE", sts({ strategy: null })),
      allowed: false,
      message: /defaults it to RollingUpdate/,
    },
    {
      name: "template change by a user on a rollout-owned StatefulSet",
      req: request("UPDATE", changedTemplate, managedOwned, "alice"),
      allowed: false,
      message: /kubectl edit sroll web -n shop/,
    },
    {
      name: "template change by the reconciler",
      req: request("UPDATE", changedTemplate, managedOwned, RECONCILER),
      allowed: true,
    },
    {
      name: "replicas change by a user on a rollout-owned StatefulSet",
      req: request("UPDATE", { ...managedOwned, spec: { ...managedOwned.spec, replicas: 5 } }, managedOwned, "alice"),
      allowed: true,
    },
    {
      name: "user drops the owner reference and changes the template",
      req: request("UPDATE", sts({ templateManagedLabel: true, image: "web:2" }), managedOwned, "alice"),
      allowed: false,
      message: /owned by StatefulsetRollout web/,
    },
    {
      name: "user drops only the owner reference (step one of the bypass)",
      req: request("UPDATE", sts({ templateManagedLabel: true }), managedOwned, "alice"),
      allowed: false,
      message: /only the Bulkhead reconciler may remove or change that ownerReference.*keep running, unowned/,
    },
    {
      name: "user makes the owner reference a non-controller one",
      req: request(
        "UPDATE",
        {
          ...managedOwned,
          metadata: { ...managedOwned.metadata, ownerReferences: [{ ...OWNER[0], controller: false }] },
        },
        managedOwned,
        "alice",
      ),
      allowed: false,
      message: /may remove or change that ownerReference/,
    },
    {
      name: "user swaps in another rollout's owner reference",
      req: request(
        "UPDATE",
        {
          ...managedOwned,
          metadata: { ...managedOwned.metadata, ownerReferences: [{ ...OWNER[0], name: "other", uid: "u2" }] },
        },
        managedOwned,
        "alice",
      ),
      allowed: false,
      message: /owned by StatefulsetRollout web/,
    },
    {
      name: "the garbage collector orphans it (kubectl delete --cascade=orphan)",
      req: request(
        "UPDATE",
        sts({ templateManagedLabel: true }),
        managedOwned,
        "system:serviceaccount:kube-system:generic-garbage-collector",
      ),
      allowed: true,
    },
    {
      name: "the controller manager (no per-controller credentials) orphans it",
      req: request("UPDATE", sts({ templateManagedLabel: true }), managedOwned, "system:kube-controller-manager"),
      allowed: true,
    },
    {
      name: "the reconciler's finalizer drops the owner reference",
      req: request("UPDATE", sts({ templateManagedLabel: true }), managedOwned, RECONCILER),
      allowed: true,
    },
    {
      name: "the reconciler adds its owner reference (adoption)",
      req: request("UPDATE", managedOwned, sts({ templateManagedLabel: true }), RECONCILER),
      allowed: true,
    },
    {
      name: "user removes the managed label from a rollout-owned StatefulSet",
      req: request("UPDATE", sts({ managed: false, owned: true, templateManagedLabel: true }), managedOwned, "alice"),
      allowed: false,
      message:
        /removing the bulkhead\.dev\/managed label.*kubectl delete sroll web -n shop\): the StatefulSet, its pods and its PDB keep running, unowned/,
    },
    {
      name: "reconciler removes the managed label",
      req: request("UPDATE", sts({ managed: false, owned: true }), managedOwned, RECONCILER),
      allowed: true,
    },
    {
      name: "template change on a managed StatefulSet with no owner",
      req: request("UPDATE", sts({ image: "web:2" }), sts(), "alice"),
      rolloutExists: false,
      allowed: true,
      warning: /no StatefulsetRollout exists/,
    },
    {
      name: "managed, no owner, but a rollout names it",
      req: request("CREATE", sts()),
      rolloutExists: true,
      allowed: true,
    },
    {
      name: "managed, no rollout at all",
      req: request("CREATE", sts()),
      rolloutExists: false,
      allowed: true,
      warning: /nothing replaces its pods/,
    },
    {
      name: "bad max-unavailable annotation",
      req: request("CREATE", sts({ annotations: { "bulkhead.dev/max-unavailable": "lots" } })),
      allowed: false,
      message: /bulkhead\.dev\/max-unavailable: "lots" is not a budget/,
    },
    {
      name: "zero max-unavailable annotation",
      req: request("CREATE", sts({ annotations: { "bulkhead.dev/max-unavailable": "0" } })),
      allowed: false,
      message: /"0" allows no pod to be disrupted/,
    },
    {
      name: "zero percent max-unavailable annotation",
      req: request("CREATE", sts({ annotations: { "bulkhead.dev/max-unavailable": "0%" } })),
      allowed: false,
      message: /"0%" allows no pod to be disrupted/,
    },
    {
      name: "good percent annotation",
      req: request("CREATE", sts({ annotations: { "bulkhead.dev/max-unavailable": "10%" } })),
      allowed: true,
    },
    { name: "DELETE", req: request("DELETE", undefined, managedOwned), allowed: true },
    {
      name: "status subresource",
      req: { ...request("UPDATE", changedTemplate, managedOwned), subResource: "status" },
      allowed: true,
    },
    {
      name: "missing object",
      req: request("CREATE", undefined),
      allowed: false,
      message: /request\.object is missing/,
    },
    {
      name: "UPDATE missing oldObject",
      req: request("UPDATE", managedOwned),
      allowed: false,
      message: /request\.oldObject is missing/,
    },
    { name: "object is an array", req: request("CREATE", [1, 2]), allowed: false, message: /not an object/ },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.allowed ? "allowed" : "denied"}`, () => {
      const response = validateStatefulSet(c.req, facts(c.rolloutExists ?? true));
      expect(response, "a decision carries no uid (the kernel sets it)").not.to.have.property("uid");
      expect(response.allowed, response.status?.message).to.equal(c.allowed);
      expect(response.patch).to.equal(undefined);
      if (c.message) expect(response.status?.message).to.match(c.message);
      if (c.warning) expect(response.warnings?.join("\n")).to.match(c.warning);
      else expect(response.warnings).to.equal(undefined);
    });
  }

  it("says what deleting the owning rollout does, by its deletionPolicy", () => {
    const req = request(
      "UPDATE",
      sts({ managed: false, owned: true, templateManagedLabel: true }),
      managedOwned,
      "alice",
    );
    const orphan = validateStatefulSet(req, { ...facts(), ownerDeletionPolicy: "Orphan" }).status?.message ?? "";
    const cascade = validateStatefulSet(req, { ...facts(), ownerDeletionPolicy: "Delete" }).status?.message ?? "";
    expect(orphan).to.match(/keep running, unowned \(it has deletionPolicy: Orphan\)/);
    expect(cascade).to.match(
      /would also DELETE the StatefulSet, its pods and its PDB.*set spec\.deletionPolicy: Orphan/,
    );
    expect(`${orphan}${cascade}`).not.to.match(
      /to stop managing it, delete the rollout \(kubectl delete sroll web -n shop\)\.$/,
    );
  });

  it("the mutated object always passes the updateStrategy rule", () => {
    const object = sts({ strategy: { type: "RollingUpdate", rollingUpdate: { partition: 3 } } });
    const mutated = applyPatch(object, patchOf(mutateStatefulSet(request("CREATE", object))));
    expect(validateStatefulSet(request("CREATE", mutated), facts()).allowed).to.equal(true);
  });
});
