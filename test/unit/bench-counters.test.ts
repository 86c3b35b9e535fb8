import { expect } from "chai";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clientOf, requestsByClient } from "../../bench/rollout/audit.js";
import { sumRequests } from "../../bench/rollout/apiserver-counters.js";

describe("bench: apiserver counters and the audit log by client", () => {
  const metrics = [
    "# HELP apiserver_request_total x",
    'apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 12',
    'apiserver_request_total{code="201",component="apiserver",dry_run="All",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 5',
    'apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="eviction",verb="POST",version="v1"} 3',
    'apiserver_request_total{code="409",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 7',
  ].join("\n");

  for (const [what, match, want] of [
    [
      "pod creates (not dry-run, not evictions, not refused)",
      { resource: "pods", subresource: "", verb: "POST", code: "201", dry_run: "" },
      12,
    ],
    ["evictions", { resource: "pods", subresource: "eviction", verb: "POST", code: "201" }, 3],
    ["nothing matching", { resource: "nodes" }, 0],
  ] as const) {
    it(`sums ${what}`, () => expect(sumRequests(metrics, match)).to.equal(want));
  }

  for (const [user, agent, want] of [
    ["system:serviceaccount:kube-system:statefulset-controller", "", "kube-controller-manager/statefulset-controller"],
    ["system:serviceaccount:bulkhead-system:bulkhead-reconciler", "", "bulkhead-system/bulkhead-reconciler"],
    ["system:kube-scheduler", "", "kube-scheduler"],
    ["kwok-controller", "", "kwok"],
    ["bulkhead-admin", "node-fetch/1.0 (x)", "admin (node-fetch)"],
  ] as const) {
    it(`names ${user} as ${want}`, () =>
      expect(clientOf({ user: { username: user }, userAgent: agent })).to.equal(want));
  }

  it("counts each request once by audit ID, from a byte offset, with its conflicts", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "bench-audit-")), "audit.log");
    const ev = (id: string, stage: string, verb: string, user: string, code?: number) =>
      JSON.stringify({
        auditID: id,
        stage,
        verb,
        user: { username: user },
        responseStatus: code ? { code } : undefined,
      });
    const before = `${ev("0", "ResponseComplete", "get", "kwok-controller", 200)}\n`;
    writeFileSync(
      file,
      before +
        [
          ev("1", "ResponseStarted", "watch", "kwok-controller"),
          ev("1", "ResponseComplete", "watch", "kwok-controller", 200),
          ev("2", "ResponseComplete", "update", "system:serviceaccount:bulkhead-system:bulkhead-reconciler", 409),
          ev("3", "ResponseComplete", "update", "system:serviceaccount:bulkhead-system:bulkhead-reconciler", 200),
          "not json",
        ].join("\n"),
    );
    const byClient = await requestsByClient(file, Buffer.byteLength(before));
    expect(byClient).to.deep.equal([
      {
        client: "bulkhead-system/bulkhead-reconciler",
        requests: 2,
        byVerb: { update: 2 },
        conflicts: 1,
        tooManyRequests: 0,
      },
      { client: "kwok", requests: 1, byVerb: { watch: 1 }, conflicts: 0, tooManyRequests: 0 },
    ]);
  });
});
