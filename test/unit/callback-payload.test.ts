// Callback decisions (api/callback-payload.ts: due, allow-list, outcome), retry timing
// (adapters/callbacks/backoff.ts), the signature, and the callback/Consul config parsers, table-driven.
import { expect } from "chai";
import { createHmac } from "node:crypto";
import { backoffDelayMs, retryAfterMs } from "../../adapters/callbacks/backoff.js";
import { callbackOptionsFromEnv } from "../../adapters/callbacks/config.js";
import { callbackSignedString, signCallback, verifyCallbackSignature } from "../../adapters/callbacks/signature.js";
import { consulBaseUrl, consulOptionsFromEnv } from "../../adapters/consul/config.js";
import {
  buildCallbackPayload,
  CALLBACK_CONDITION,
  callbackDestination,
  callbackDue,
  callbackDueSince,
  callbackIdempotencyKey,
  callbackStillWanted,
  parseAllowedCallbackPrefix,
  statusWithCallbackOutcome,
} from "../../api/callback-payload.js";
import { parseRollout, type RolloutPhase, type StatefulsetRollout } from "../../api/rollout.js";
import { loadConfig } from "../../reconciler/config.js";

function rollout(opts: {
  phase?: RolloutPhase;
  bapi?: boolean;
  last?: string;
  lastError?: string;
  replicas?: number;
}): StatefulsetRollout {
  const parsed = parseRollout({
    metadata: { name: "web", namespace: "shop" },
    spec: {
      statefulset: {
        spec: { ...(opts.replicas !== undefined ? { replicas: opts.replicas } : {}), selector: {}, template: {} },
      },
      ...(opts.bapi === false ? {} : { bapi: { bapiUrl: "http://bapi.local/cb", stageId: "s1" } }),
    },
    status: {
      ...(opts.phase ? { phase: opts.phase } : {}),
      ...(opts.last ? { lastCallbackStageId: opts.last } : {}),
      ...(opts.lastError ? { lastCallbackError: opts.lastError } : {}),
    },
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

describe("callbackDue", () => {
  const cases: Array<[string, Parameters<typeof rollout>[0], boolean]> = [
    ["done, never sent", { phase: "RolloutDone" }, true],
    ["failed, never sent", { phase: "RolloutFailed" }, true],
    ["done, sent for this stage", { phase: "RolloutDone", last: "s1" }, false],
    ["done, sent for an earlier stage", { phase: "RolloutDone", last: "s0" }, true],
    ["still progressing", { phase: "Progressing" }, false],
    ["paused", { phase: "Paused" }, false],
    ["no phase yet", {}, false],
    ["no bapi", { phase: "RolloutDone", bapi: false }, false],
    ["failed for good for this stage", { phase: "RolloutDone", lastError: "s1: HTTP 404 (not retried)" }, false],
    ["failed for good for an earlier stage", { phase: "RolloutDone", lastError: "s0: HTTP 404 (not retried)" }, true],
    [
      "an error naming a stage that merely starts like this one",
      { phase: "RolloutDone", lastError: "s10: timeout" },
      true,
    ],
  ];
  for (const [name, opts, want] of cases) it(name, () => expect(callbackDue(rollout(opts))).to.equal(want));
});

describe("buildCallbackPayload", () => {
  it("is undefined unless terminal with a bapi stage", () => {
    expect(buildCallbackPayload(rollout({ phase: "Progressing" }), "t")).to.equal(undefined);
    expect(buildCallbackPayload(rollout({ phase: "RolloutDone", bapi: false }), "t")).to.equal(undefined);
  });
  it("defaults replicas to 1 and counts to 0, and omits absent optional fields", () => {
    expect(buildCallbackPayload(rollout({ phase: "RolloutFailed" }), "2026-01-01T00:00:00Z")).to.deep.equal({
      stageId: "s1",
      namespace: "shop",
      name: "web",
      phase: "RolloutFailed",
      percent: 100,
      replicas: 1,
      updatedReplicas: 0,
      readyReplicas: 0,
      finishedAt: "2026-01-01T00:00:00Z",
    });
  });
});

describe("callbackIdempotencyKey", () => {
  const cases: Array<[Parameters<typeof callbackIdempotencyKey>[0], string]> = [
    [{ stageId: "s1", rolloutIdentity: "abc", phase: "RolloutDone" }, "s1/abc/RolloutDone"],
    [{ stageId: "s1", phase: "RolloutFailed" }, "s1/-/RolloutFailed"],
    [{ stageId: "a/b", rolloutIdentity: "x y\n", phase: "RolloutDone" }, "a%2Fb/x%20y%0A/RolloutDone"],
  ];
  for (const [input, want] of cases) it(want, () => expect(callbackIdempotencyKey(input)).to.equal(want));
});

describe("backoffDelayMs (equal jitter)", () => {
  const cases: Array<[number, number, number]> = [
    // retry, random, want (base 500, max 8000)
    [1, 0, 250],
    [1, 0.999999, 500],
    [2, 0, 500],
    [3, 0.5, 1500],
    [5, 1, 8000],
    [9, 0, 4000],
  ];
  for (const [retry, r, want] of cases) {
    it(`retry ${retry}, random ${r} -> ${want}`, () =>
      expect(backoffDelayMs(retry, 500, 8000, () => r)).to.equal(want));
  }
});

describe("retryAfterMs", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  const cases: Array<[string | null, number | undefined]> = [
    ["3", 3000],
    [" 0 ", 0],
    ["Thu, 01 Jan 2026 00:00:05 GMT", 5000],
    ["Wed, 31 Dec 2025 23:00:00 GMT", 0],
    ["soon", undefined],
    [null, undefined],
  ];
  for (const [header, want] of cases) it(String(header), () => expect(retryAfterMs(header, now)).to.equal(want));
});

describe("callback signature", () => {
  const body = '{"a":1}';
  const fields = { timestamp: 1700000000, namespace: "shop", name: "web", idempotencyKey: "s1/r-1/RolloutDone", body };
  const sig = signCallback("secret-0123456789abcdef", fields);
  const base = {
    secret: "secret-0123456789abcdef",
    body,
    signature: sig,
    timestamp: "1700000000",
    namespace: "shop",
    name: "web",
    idempotencyKey: "s1/r-1/RolloutDone",
    nowSeconds: 1700000010,
  };
  const cases: Array<[string, Partial<typeof base>, boolean]> = [
    ["valid", {}, true],
    ["body changed", { body: '{"a":2}' }, false],
    ["timestamp changed", { timestamp: "1700000001" }, false],
    ["another namespace claims it", { namespace: "other-team" }, false],
    ["another rollout claims it", { name: "api" }, false],
    ["another stage claims it", { idempotencyKey: "s2/r-1/RolloutDone" }, false],
    ["another identity claims it", { idempotencyKey: "s1/r-2/RolloutDone" }, false],
    ["too old", { nowSeconds: 1700000000 + 301 }, false],
    ["wrong secret", { secret: "other" }, false],
    ["missing signature", { signature: "" }, false],
    ["garbage timestamp", { timestamp: "12a" }, false],
  ];
  for (const [name, over, want] of cases)
    it(name, () => expect(verifyCallbackSignature({ ...base, ...over })).to.equal(want));
  it("is sha256=<64 hex>", () => expect(sig).to.match(/^sha256=[0-9a-f]{64}$/));
  it("signs the documented string (docs/callbacks.md)", () => {
    expect(callbackSignedString(fields)).to.equal('v1\n1700000000\nshop\nweb\ns1/r-1/RolloutDone\n{"a":1}');
    expect(sig).to.equal(
      `sha256=${createHmac("sha256", "secret-0123456789abcdef").update(callbackSignedString(fields)).digest("hex")}`,
    );
  });
  it("a missing namespace, name or key header does not verify", () => {
    for (const missing of ["namespace", "name", "idempotencyKey"] as const) {
      expect(verifyCallbackSignature({ ...base, [missing]: undefined })).to.equal(false);
    }
  });
});

describe("callbackOptionsFromEnv", () => {
  it("defaults", () => expect(callbackOptionsFromEnv({})).to.deep.equal({ attemptTimeoutMs: 5000 }));
  it("names a bad field", () =>
    expect(() => callbackOptionsFromEnv({ BULKHEAD_CALLBACK_TIMEOUT_MS: "soon" })).to.throw(
      /BULKHEAD_CALLBACK_TIMEOUT_MS/,
    ));
  it("rejects a short secret", () =>
    expect(() => callbackOptionsFromEnv({ BULKHEAD_CALLBACK_SECRET: "short" })).to.throw(/BULKHEAD_CALLBACK_SECRET/));
});

describe("callback allow-list: parseAllowedCallbackPrefix", () => {
  const cases: Array<[string, { origin: string; path: string } | RegExp]> = [
    ["https://release.example.com/hooks/", { origin: "https://release.example.com", path: "/hooks/" }],
    ["https://Release.Example.com:443/hooks", { origin: "https://release.example.com", path: "/hooks" }],
    ["http://10.0.0.1:8080", { origin: "http://10.0.0.1:8080", path: "/" }],
    ["release.example.com", /not a URL/],
    ["ftp://release.example.com/", /only http and https/],
    ["https://user:pw@release.example.com/", /user:password/],
    ["https://release.example.com/?x=1", /no query or fragment/],
    ["https://release.example.com/#top", /no query or fragment/],
  ];
  for (const [text, want] of cases) {
    it(text, () => {
      const got = parseAllowedCallbackPrefix(text);
      if (want instanceof RegExp) expect(got.ok ? "accepted" : got.error).to.match(want);
      else expect(got).to.deep.equal({ ok: true, value: want });
    });
  }
});

describe("callback allow-list: callbackDestination", () => {
  const prefixes = ["https://release.example.com/hooks", "http://127.0.0.1:9000/cb/"].map((t) => {
    const p = parseAllowedCallbackPrefix(t);
    if (!p.ok) throw new Error(p.error);
    return p.value;
  });
  const cases: Array<[string, boolean]> = [
    ["https://release.example.com/hooks", true],
    ["https://release.example.com/hooks/stage?x=1", true],
    ["https://RELEASE.example.com:443/hooks/a", true],
    ["https://release.example.com/hooksx", false],
    ["https://release.example.com/other", false],
    ["https://release.example.com/hooks/../admin", false],
    ["https://release.example.com/hooks/%2e%2e/admin", false],
    ["http://release.example.com/hooks", false],
    ["https://release.example.com:8443/hooks", false],
    ["https://release.example.com.evil.io/hooks", false],
    ["https://evil.io/hooks?https://release.example.com/hooks", false],
    ["https://user:pw@release.example.com/hooks", false],
    ["http://127.0.0.1:9000/cb/x", true],
    ["http://127.0.0.1:9000/cb", false],
    ["http://127.0.0.1:9001/cb/x", false],
    ["http://localhost:9000/cb/x", false],
    ["http://169.254.169.254/latest/meta-data", false],
    ["not a url", false],
  ];
  for (const [url, want] of cases)
    it(`${url} -> ${want ? "allowed" : "refused"}`, () =>
      expect(callbackDestination(url, prefixes).allowed).to.equal(want));
  it("an empty list disables callbacks and says how to enable them", () => {
    const got = callbackDestination("https://release.example.com/hooks", []);
    expect(got.allowed).to.equal(false);
    if (!got.allowed) expect(got.reason).to.match(/callback\.allowedUrlPrefixes is empty/);
  });
  it("a refusal names the allowed prefixes", () => {
    const got = callbackDestination("http://10.0.0.5/x", prefixes);
    if (got.allowed) throw new Error("allowed");
    expect(got.reason).to.include("https://release.example.com/hooks").and.include("http://10.0.0.5/x");
  });
});

describe("callbackStillWanted", () => {
  const live = rollout({ phase: "RolloutDone" });
  const cases: Array<[string, StatefulsetRollout, Parameters<typeof callbackStillWanted>[1], boolean]> = [
    ["same stage, phase, identity", live, { stageId: "s1", phase: "RolloutDone" }, true],
    [
      "delivered meanwhile",
      rollout({ phase: "RolloutDone", last: "s1" }),
      { stageId: "s1", phase: "RolloutDone" },
      false,
    ],
    ["another stage now", live, { stageId: "s0", phase: "RolloutDone" }, false],
    ["another phase now", live, { stageId: "s1", phase: "RolloutFailed" }, false],
    ["another identity", live, { stageId: "s1", rolloutIdentity: "r-9", phase: "RolloutDone" }, false],
    ["restarted (not terminal)", rollout({ phase: "Progressing" }), { stageId: "s1", phase: "RolloutDone" }, false],
  ];
  for (const [name, r, payload, want] of cases) it(name, () => expect(callbackStillWanted(r, payload)).to.equal(want));
});

describe("statusWithCallbackOutcome", () => {
  const now = "2026-01-01T00:00:00.000Z";
  it("delivered: records the stage id, clears its old error, condition True", () => {
    const { status, event } = statusWithCallbackOutcome(
      { phase: "RolloutDone", lastCallbackError: "s1: HTTP 500" },
      "s1",
      { kind: "delivered", httpStatus: 202, attempts: 3 },
      now,
    );
    expect(status.lastCallbackStageId).to.equal("s1");
    expect(status.lastCallbackError).to.equal(undefined);
    expect(status.conditions).to.deep.equal([
      {
        type: CALLBACK_CONDITION,
        status: "True",
        reason: "Delivered",
        message: "stage s1: HTTP 202 after 3 attempt(s)",
        lastTransitionTime: now,
      },
    ]);
    expect(event).to.deep.equal({
      type: "Normal",
      reason: "CallbackSent",
      note: "stage s1: HTTP 202 after 3 attempt(s)",
    });
  });
  it("failed: records the error class for the stage, keeps other conditions", () => {
    const complete = {
      type: "Complete",
      status: "True" as const,
      reason: "Done",
      lastTransitionTime: "2025-12-31T00:00:00.000Z",
    };
    const { status, event } = statusWithCallbackOutcome(
      { phase: "RolloutDone", conditions: [complete] },
      "s1",
      { kind: "failed", error: "HTTP 503; gave up", attempts: 7 },
      now,
    );
    expect(status.lastCallbackError).to.equal("s1: HTTP 503; gave up");
    expect(status.lastCallbackStageId).to.equal(undefined);
    expect(status.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`)).to.deep.equal([
      "Complete=True/Done",
      "CallbackDelivered=False/DeliveryFailed",
    ]);
    expect(event.reason).to.equal("CallbackFailed");
  });
  it("refused: never sent, says why", () => {
    const { status, event } = statusWithCallbackOutcome(
      { phase: "RolloutFailed" },
      "s1",
      { kind: "refused", reason: "not allowed" },
      now,
    );
    expect(status.lastCallbackError).to.equal("s1: not sent: not allowed");
    expect(status.conditions?.[0]).to.include({ status: "False", reason: "DestinationNotAllowed" });
    expect(event).to.include({ type: "Warning", reason: "CallbackRefused" });
  });
  it("keeps lastTransitionTime while the condition's status does not change", () => {
    const first = statusWithCallbackOutcome({}, "s1", { kind: "failed", error: "x", attempts: 1 }, now).status;
    const second = statusWithCallbackOutcome(
      first,
      "s2",
      { kind: "failed", error: "y", attempts: 1 },
      "2026-02-01T00:00:00.000Z",
    ).status;
    expect(second.conditions?.[0]?.lastTransitionTime).to.equal(now);
  });
  it("callbackDueSince is when the rollout became terminal", () => {
    expect(
      callbackDueSince({
        conditions: [
          { type: "Complete", status: "False", lastTransitionTime: "a" },
          { type: "Failed", status: "True", lastTransitionTime: "b" },
        ],
      }),
    ).to.equal("b");
    expect(callbackDueSince({})).to.equal(undefined);
  });
});

describe("reconciler config: callbacks", () => {
  it("defaults: no prefix (callbacks off), 10 min retry age, 4 at once, 1000 queued", () => {
    expect(loadConfig({}).callbacks).to.deep.equal({
      allowList: [],
      maxRetryAgeMs: 600_000,
      concurrency: 4,
      maxQueued: 1000,
    });
  });
  it("parses a comma-separated allow-list", () => {
    const got = loadConfig({ BULKHEAD_CALLBACK_ALLOWED_URL_PREFIXES: "https://a.example/hooks/, http://10.0.0.1:8080" })
      .callbacks.allowList;
    expect(got).to.deep.equal([
      { origin: "https://a.example", path: "/hooks/" },
      { origin: "http://10.0.0.1:8080", path: "/" },
    ]);
  });
  it("names the bad field and entry", () => {
    expect(() => loadConfig({ BULKHEAD_CALLBACK_ALLOWED_URL_PREFIXES: "https://a.example/,a.example" })).to.throw(
      /BULKHEAD_CALLBACK_ALLOWED_URL_PREFIXES: "a.example" is not a URL/,
    );
    expect(() => loadConfig({ BULKHEAD_CALLBACK_MAX_RETRY_AGE_SECONDS: "1" })).to.throw(
      /BULKHEAD_CALLBACK_MAX_RETRY_AGE_SECONDS/,
    );
  });
});

describe("Consul config", () => {
  const cases: Array<[string, boolean, string]> = [
    ["127.0.0.1:8500", false, "http://127.0.0.1:8500"],
    ["consul.service:8501", true, "https://consul.service:8501"],
    ["https://consul.example", false, "https://consul.example:443"],
    ["http://[::1]:8500", false, "http://[::1]:8500"],
  ];
  for (const [addr, ssl, want] of cases)
    it(`${addr} (ssl ${ssl})`, () => expect(consulBaseUrl(addr, ssl)).to.equal(want));
  it("rejects a unix socket and a path", () => {
    expect(() => consulBaseUrl("unix:///var/run/consul.sock", false)).to.throw(/CONSUL_HTTP_ADDR/);
    expect(() => consulBaseUrl("http://c:8500/v1", false)).to.throw(/path/);
  });
  it("reads the token, CA and timeout", () => {
    expect(
      consulOptionsFromEnv({
        CONSUL_HTTP_ADDR: "c:8501",
        CONSUL_HTTP_SSL: "true",
        CONSUL_HTTP_TOKEN: "t",
        CONSUL_CACERT: "/ca.pem",
      }),
    ).to.deep.equal({
      baseUrl: "https://c:8501",
      token: "t",
      caCertPath: "/ca.pem",
      timeoutMs: 5000,
    });
  });
  it("names a bad field", () =>
    expect(() => consulOptionsFromEnv({ CONSUL_HTTP_SSL: "yes" })).to.throw(/CONSUL_HTTP_SSL/));
});
