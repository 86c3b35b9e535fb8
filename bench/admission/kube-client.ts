// CPU per API request through client-node, both ends in this process: an HTTPS stand-in
// apiserver (RSA-2048 serving certificate, a 6 KB StatefulsetRollout as the answer) and the
// client reading it the way the webhook's pinning live read does. The library's own KubeConfig
// (a new agent, connection and TLS handshake per request) side by side with
// SharedConnectionKubeConfig (adapters/kube/client.ts: kept-alive connections), alternating.
// Usage: npx tsx bench/admission/kube-client.ts [REQUESTS per round, default 400] [ROUNDS, default 3]
import * as k8s from "@kubernetes/client-node";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { SharedConnectionKubeConfig } from "../../adapters/kube/client.js";
import { generateCertificatePair } from "../../certs/generate.js";

const requests = Number(process.argv[2] ?? 400);
const rounds = Number(process.argv[3] ?? 3);
if (!Number.isInteger(requests) || requests < 1 || !Number.isInteger(rounds) || rounds < 1)
  throw new Error("usage: kube-client.ts [REQUESTS >= 1] [ROUNDS >= 1]");

const day = 24 * 3600 * 1000;
const pair = generateCertificatePair(
  { serviceName: "stand-in", namespace: "bench" },
  { caValidityMs: day, servingValidityMs: day },
);
// About the size of a 1,000-pod rollout as stored (bench/RESULTS.md "Status size": ~6 KB).
const rollout = JSON.stringify({
  apiVersion: "bulkhead.io/v1alpha1",
  kind: "StatefulsetRollout",
  metadata: { name: "r", namespace: "bench", resourceVersion: "1" },
  spec: { statefulSetName: "bench", maxUnavailable: "10%" },
  status: { updatedOrdinals: Array.from({ length: 1000 }, (_, i) => i) },
});
let connections = 0;
const server = createServer({ cert: pair.cert, key: pair.key }, (req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(rollout);
  });
});
server.on("secureConnection", () => connections++);
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

function client(kc: k8s.KubeConfig): k8s.CustomObjectsApi {
  kc.loadFromOptions({
    clusters: [{ name: "stand-in", server: url, caData: Buffer.from(pair.caBundle).toString("base64") }],
    users: [{ name: "webhook", token: "t" }],
    contexts: [{ name: "stand-in", cluster: "stand-in", user: "webhook" }],
    currentContext: "stand-in",
  });
  return kc.makeApiClient(k8s.CustomObjectsApi);
}

async function measure(api: k8s.CustomObjectsApi): Promise<{ cpuUs: number; connections: number }> {
  const read = () =>
    api.getNamespacedCustomObject({
      group: "bulkhead.io",
      version: "v1alpha1",
      namespace: "bench",
      plural: "statefulsetrollouts",
      name: "r",
    });
  await read();
  const before = connections;
  const cpu = process.cpuUsage();
  for (let i = 0; i < requests; i++) await read();
  const used = process.cpuUsage(cpu);
  return { cpuUs: (used.user + used.system) / requests, connections: connections - before };
}

const perRequest = client(new k8s.KubeConfig());
const shared = client(new SharedConnectionKubeConfig());
console.log(
  `node ${process.version}, ${requests} sequential reads per round, ${rounds} rounds, both ends in one process`,
);
for (let round = 1; round <= rounds; round++) {
  const a = await measure(perRequest);
  const b = await measure(shared);
  console.log(
    `round ${round}: library KubeConfig ${a.cpuUs.toFixed(0)} µs CPU/request (${a.connections} TLS connections); ` +
      `shared ${b.cpuUs.toFixed(0)} µs CPU/request (${b.connections} TLS connections); ratio ${(a.cpuUs / b.cpuUs).toFixed(1)}×`,
  );
}
server.closeAllConnections();
server.close();
// The library's agents keep their idle sockets open for a while; do not wait for them.
process.exit(0);
