// /healthz (the process runs), /readyz (caches synced), /metrics (Prometheus).
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

export interface ProbeState {
  ready(): boolean;
  leader(): boolean;
}

export function startProbeServer(registry: Registry, probes: ProbeState, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET") {
      res.writeHead(405).end();
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end(probes.leader() ? "ok (leader)\n" : "ok (standby)\n");
    } else if (path === "/readyz") {
      const ready = probes.ready();
      res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(ready ? "ready\n" : "caches not synced\n");
    } else if (path === "/metrics") {
      registry
        .metrics()
        .then((text) => res.writeHead(200, { "content-type": registry.contentType }).end(text))
        .catch((err: Error) => res.writeHead(500).end(err.message));
    } else {
      res.writeHead(404).end("not found\n");
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
