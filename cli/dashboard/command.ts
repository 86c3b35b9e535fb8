// `kubectl sroll dashboard`: a local web UI for rollouts, served by this process with the user's
// kubeconfig (their RBAC applies; nothing runs in the cluster). Runs until Ctrl-C.
import { isIP } from "node:net";
import type { Command } from "commander";
import { systemClock } from "../../adapters/clock.js";
import { CliError, EXIT_OK, usageError } from "../errors.js";
import type { Session } from "../session.js";
import { startDashboard } from "./server.js";

export interface DashboardFlags {
  port: string;
  address: string;
  allNamespaces?: boolean;
}

export const DEFAULT_PORT = 3100;
export const DEFAULT_ADDRESS = "127.0.0.1";

const LOOPBACK = new Set(["127.0.0.1", "::1"]);

export function parsePort(text: string): number {
  const port = /^\d{1,5}$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw usageError(`--port ${text}: expected a port number from 0 to 65535 (0 picks a free one)`);
  return port;
}

export async function runDashboard(session: Session, flags: DashboardFlags): Promise<number> {
  if (flags.allNamespaces && session.globals.namespace !== undefined)
    throw usageError("-A shows every namespace; it cannot be combined with -n");
  const port = parsePort(flags.port);
  const host = flags.address.trim();
  if (isIP(host) === 0) throw usageError(`--address ${flags.address}: expected an IP address, e.g. 127.0.0.1`);
  const cluster = session.cluster();
  if (!cluster.watchDashboard)
    throw new CliError("this connection cannot watch the cluster, so the dashboard cannot run");
  const namespace = flags.allNamespaces ? undefined : session.namespace();
  const feed = cluster.watchDashboard(namespace);
  let dashboard;
  try {
    dashboard = await startDashboard({
      feed,
      cluster,
      namespace,
      host,
      port,
      randomIdentity: session.deps.randomIdentity,
      now: session.deps.now,
      // The CLI's deps carry no Clock (cli/deps.ts), so the real one is wired here.
      clock: systemClock,
    });
  } catch (err) {
    await feed.stop();
    const code = (err as { code?: unknown }).code;
    if (code === "EADDRINUSE")
      throw new CliError(`${host}:${port} is in use: pick another with --port (or --port 0 for any free one)`);
    if (code === "EADDRNOTAVAIL") throw new CliError(`--address ${host} is not an address of this machine`);
    throw err;
  }
  if (!LOOPBACK.has(host)) {
    session.err(
      `warning: listening on ${host}: anyone who can reach it can see your rollouts and act on them with your credentials\n`,
    );
  }
  const scope = namespace === undefined ? "all namespaces" : `namespace ${namespace}`;
  session.out(`Bulkhead dashboard for ${scope}: ${dashboard.url}\n(Ctrl-C to stop)\n`);
  const interrupt = session.deps.interrupt;
  if (!interrupt.aborted)
    await new Promise<void>((resolve) => interrupt.addEventListener("abort", () => resolve(), { once: true }));
  await dashboard.close();
  await feed.stop();
  session.err("dashboard stopped\n");
  return EXIT_OK;
}

export function registerDashboard(program: Command, session: () => Session, setExit: (code: number) => void): void {
  program
    .command("dashboard")
    .description("Open a live web dashboard of rollouts on this machine (your kubeconfig, your RBAC)")
    .option("--port <port>", "port to listen on (0: any free one)", String(DEFAULT_PORT))
    .option(
      "--address <ip>",
      "address to listen on; anything but loopback exposes your credentials' powers",
      DEFAULT_ADDRESS,
    )
    .option("-A, --all-namespaces", "show rollouts in every namespace")
    .addHelpText(
      "after",
      `
Pages update live from watches. Actions (pause, resume, promote, rollback, retry) ask for
confirmation and are decided exactly as the commands of the same name decide them.

Examples:
  kubectl sroll dashboard                 # http://127.0.0.1:3100/, current namespace
  kubectl sroll dashboard -A --port 8080  # every namespace`,
    )
    .action(async (flags: DashboardFlags) => setExit(await runDashboard(session(), flags)));
}
