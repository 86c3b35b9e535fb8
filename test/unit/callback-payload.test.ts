// Callback decisions (api/callback-payload.ts), retry timing (adapters/callbacks/backoff.ts) and
// the signature/Consul config parsers, table-driven.
import { expect } from "chai";
import { backoffDelayMs, retryAfterMs } from "../../adapters/callbacks/backoff.js";
import { callbackOptionsFromEnv } from "../../adapters/callbacks/config.js";
import { signCallback, verifyCallbackSignature } from "../../adapters/callbacks/signature.js";
import { consulBaseUrl, consulOptionsFromEnv } from "../../adapters/consul/config.js";
import { buildCallbackPayload, callbackDue, callbackIdempotencyKey } from "../../api/callback-payload.js";
import { parseRollout, type RolloutPhase, type StatefulsetRollout } from "../../api/rollout.js";

function rollout(opts: { phase?: RolloutPhase; bapi?: boolean; last?: string; replicas?: number }): StatefulsetRollout {
  const parsed = parseRollout({
    metadata: { name: "web", namespace: "shop" },
    spec: {
      statefulset: { spec: { ...(opts.replicas !== undefined ? { replicas: opts.replicas } : {}), selector: {}, template: {} } },
      ...(opts.bapi === false ? {} : { bapi: { bapiUrl: "http://bapi.local/cb", stageId: "s1" } }),
    },
    status: { ...(opts.phase ? { phase: opts.phase } : {}), ...(opts.last ? { lastCallbackStageId: opts.last } : {}) },
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
    it(`retry ${retry}, random ${r} -> ${want}`, () => expect(backoffDelayMs(retry, 500, 8000, () => r)).to.equal(want));
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
  const sig = signCallback("secret-0123456789abcdef", 1700000000, body);
  const base = { secret: "secret-0123456789abcdef", body, signature: sig, timestamp: "1700000000", nowSeconds: 1700000010 };
  const cases: Array<[string, Partial<typeof base>, boolean]> = [
    ["valid", {}, true],
    ["body changed", { body: '{"a":2}' }, false],
    ["timestamp changed", { timestamp: "1700000001" }, false],
    ["too old", { nowSeconds: 1700000000 + 301 }, false],
    ["wrong secret", { secret: "other" }, false],
    ["missing signature", { signature: "" }, false],
    ["garbage timestamp", { timestamp: "12a" }, false],
  ];
  for (const [name, over, want] of cases) it(name, () => expect(verifyCallbackSignature({ ...base, ...over })).to.equal(want));
  it("is sha256=<64 hex>", () => expect(sig).to.match(/^sha256=[0-9a-f]{64}$/));
});

describe("callbackOptionsFromEnv", () => {
  it("defaults", () => expect(callbackOptionsFromEnv({})).to.deep.include({ attemptTimeoutMs: 5000, maxAttempts: 5, totalBudgetMs: 30000 }));
  it("names a bad field", () => expect(() => callbackOptionsFromEnv({ BULKHEAD_CALLBACK_TIMEOUT_MS: "soon" })).to.throw(/BULKHEAD_CALLBACK_TIMEOUT_MS/));
  it("rejects a short secret", () => expect(() => callbackOptionsFromEnv({ BULKHEAD_CALLBACK_SECRET: "short" })).to.throw(/BULKHEAD_CALLBACK_SECRET/));
});

describe("Consul config", () => {
  const cases: Array<[string, boolean, string]> = [
    ["127.0.0.1:8500", false, "http://127.0.0.1:8500"],
    ["consul.service:8501", true, "https://consul.service:8501"],
    ["https://consul.example", false, "https://consul.example:443"],
    ["http://[::1]:8500", false, "http://[::1]:8500"],
  ];
  for (const [addr, ssl, want] of cases) it(`${addr} (ssl ${ssl})`, () => expect(consulBaseUrl(addr, ssl)).to.equal(want));
  it("rejects a unix socket and a path", () => {
    expect(() => consulBaseUrl("unix:///var/run/consul.sock", false)).to.throw(/CONSUL_HTTP_ADDR/);
    expect(() => consulBaseUrl("http://c:8500/v1", false)).to.throw(/path/);
  });
  it("reads the token, CA and timeout", () => {
    expect(consulOptionsFromEnv({ CONSUL_HTTP_ADDR: "c:8501", CONSUL_HTTP_SSL: "true", CONSUL_HTTP_TOKEN: "t", CONSUL_CACERT: "/ca.pem" })).to.deep.equal({
      baseUrl: "https://c:8501",
      token: "t",
      caCertPath: "/ca.pem",
      timeoutMs: 5000,
    });
  });
  it("names a bad field", () => expect(() => consulOptionsFromEnv({ CONSUL_HTTP_SSL: "yes" })).to.throw(/CONSUL_HTTP_SSL/));
});
