import { expect } from "chai";
import { parseDuration, parseSize, parseWebhookConfig } from "../../webhook/config.js";

describe("webhook config", () => {
  it("fills every default from an empty environment", () => {
    const config = parseWebhookConfig({});
    expect(config).to.deep.include({
      kubeconfig: undefined,
      namespace: "bulkhead-system",
      port: 8443,
      host: "0.0.0.0",
      serviceName: "bulkhead-webhook",
      certSecret: "bulkhead-webhook-tls",
      certDir: undefined,
      certRenewBeforeMs: 720 * 3600 * 1000,
      reconcilerUsername: "system:serviceaccount:bulkhead-system:bulkhead-reconciler",
      defaultLeakProtection: "enforce",
      maxInFlight: 512,
      inFlightBodyBytes: undefined,
      headersTimeoutMs: 10_000,
      bodyTimeoutMs: 10_000,
      idleTimeoutMs: 120_000,
      cacheMaxStalenessMs: 300_000,
      eventWindowMs: 600_000,
      eventMaxKeys: 1000,
      logLevel: "info",
    });
  });

  it("reads the variables the chart sets; empty strings count as unset", () => {
    const config = parseWebhookConfig({
      BULKHEAD_WEBHOOK_PORT: "9443",
      BULKHEAD_CERT_DIR: "/etc/bulkhead/certs",
      BULKHEAD_CERT_RENEW_BEFORE: "48h",
      BULKHEAD_DEFAULT_LEAK_PROTECTION: "pin",
      KUBECONFIG: "",
    });
    expect(config.port).to.equal(9443);
    expect(config.certDir).to.equal("/etc/bulkhead/certs");
    expect(config.certRenewBeforeMs).to.equal(48 * 3600 * 1000);
    expect(config.defaultLeakProtection).to.equal("pin");
    expect(config.kubeconfig).to.equal(undefined);
  });

  const bad: Array<[env: Record<string, string>, message: RegExp]> = [
    [{ BULKHEAD_WEBHOOK_PORT: "70000" }, /BULKHEAD_WEBHOOK_PORT/],
    [{ BULKHEAD_WEBHOOK_PORT: "https" }, /BULKHEAD_WEBHOOK_PORT/],
    [{ BULKHEAD_CERT_RENEW_BEFORE: "a month" }, /BULKHEAD_CERT_RENEW_BEFORE: "a month" is not a duration/],
    [
      { BULKHEAD_CERT_RENEW_BEFORE: "9000h" },
      /BULKHEAD_CERT_RENEW_BEFORE: must be shorter than BULKHEAD_CERT_VALIDITY/,
    ],
    [{ BULKHEAD_DEFAULT_LEAK_PROTECTION: "strict" }, /BULKHEAD_DEFAULT_LEAK_PROTECTION/],
    [{ LOG_LEVEL: "verbose" }, /LOG_LEVEL/],
    [{ BULKHEAD_MAX_IN_FLIGHT: "0" }, /BULKHEAD_MAX_IN_FLIGHT/],
    [{ BULKHEAD_IN_FLIGHT_BODY_BYTES: "lots" }, /BULKHEAD_IN_FLIGHT_BODY_BYTES: "lots" is not a size/],
    [{ BULKHEAD_BODY_TIMEOUT: "soon" }, /BULKHEAD_BODY_TIMEOUT/],
    [
      { BULKHEAD_IDLE_TIMEOUT: "60s" },
      /BULKHEAD_IDLE_TIMEOUT: must be longer than the apiserver's 90s idle keep-alive/,
    ],
    [{ BULKHEAD_CACHE_MAX_STALENESS: "a while" }, /BULKHEAD_CACHE_MAX_STALENESS/],
  ];
  for (const [env, message] of bad) {
    it(`rejects ${JSON.stringify(env)} naming the variable`, () => {
      expect(() => parseWebhookConfig(env)).to.throw(message);
    });
  }

  it("reads the resource limits the chart sets", () => {
    const config = parseWebhookConfig({
      BULKHEAD_MAX_IN_FLIGHT: "16",
      BULKHEAD_IN_FLIGHT_BODY_BYTES: "16MiB",
      BULKHEAD_HEADERS_TIMEOUT: "5s",
      BULKHEAD_BODY_TIMEOUT: "2s",
      BULKHEAD_IDLE_TIMEOUT: "95s",
      BULKHEAD_CACHE_MAX_STALENESS: "1m",
    });
    expect(config).to.deep.include({
      maxInFlight: 16,
      inFlightBodyBytes: 16 * 1024 * 1024,
      headersTimeoutMs: 5000,
      bodyTimeoutMs: 2000,
      idleTimeoutMs: 95_000,
      cacheMaxStalenessMs: 60_000,
    });
  });

  for (const [text, bytes] of [
    ["1048576b", 1048576],
    ["512KiB", 512 * 1024],
    ["16mib", 16 * 1024 * 1024],
    ["1GiB", 1024 ** 3],
    ["3mb", undefined],
    ["0b", undefined],
  ] as const) {
    it(`parseSize(${JSON.stringify(text)}) → ${bytes}`, () => expect(parseSize(text)).to.equal(bytes));
  }

  it("lists every bad variable at once", () => {
    expect(() => parseWebhookConfig({ BULKHEAD_WEBHOOK_PORT: "0", LOG_LEVEL: "loud" })).to.throw(
      /BULKHEAD_WEBHOOK_PORT[\s\S]*LOG_LEVEL/,
    );
  });

  const durations: Array<[string, number | undefined]> = [
    ["720h", 720 * 3600_000],
    ["1h30m", 5400_000],
    ["90s", 90_000],
    ["500ms", 500],
    ["7d", 7 * 86_400_000],
    ["0s", undefined],
    ["", undefined],
    ["1.5h", undefined],
    ["h", undefined],
    ["10", undefined],
    ["-1h", undefined],
  ];
  for (const [text, ms] of durations) {
    it(`parseDuration(${JSON.stringify(text)}) → ${ms}`, () => expect(parseDuration(text)).to.equal(ms));
  }
});
