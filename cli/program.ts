// The `kubectl-sroll` command tree. runCli never throws and never exits the process: it
// returns the exit code, so tests drive it with fake deps and main.ts calls process.exit.
import { Command, CommanderError } from "commander";
import { registerActions } from "./commands/actions.js";
import { registerHistory } from "./commands/history.js";
import { registerList } from "./commands/list.js";
import { registerRender } from "./commands/render.js";
import { registerStatus } from "./commands/status.js";
import type { CliDeps } from "./deps.js";
import { registerDashboard } from "./dashboard/command.js";
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "./errors.js";
import { Session } from "./session.js";
import type { GlobalOptions } from "./session.js";

export const VERSION = "0.1.0";

function buildProgram(deps: CliDeps, setExit: (code: number) => void): Command {
  const program = new Command("kubectl-sroll");
  let session: Session | undefined;
  const currentSession = (): Session => (session ??= new Session(deps, program.opts<GlobalOptions>()));

  program
    .description(
      "Drive Bulkhead StatefulsetRollouts: list, watch, pause, resume, promote, roll back, retry, render and apply.",
    )
    .version(VERSION, "--version", "print the version")
    .option("--kubeconfig <file>", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    .option("--context <name>", "kubeconfig context to use")
    .option("-n, --namespace <namespace>", 'namespace (default: the context\'s, else "default")')
    .helpCommand(true)
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError(true)
    .showHelpAfterError("(add --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => deps.stdout.write(text),
      writeErr: (text) => deps.stderr.write(text),
    })
    // Sub-commands made by .command() inherit the output, exit and help settings above.
    .addHelpText(
      "after",
      `
Used as a kubectl plugin: every command also runs as "kubectl sroll ...".

Examples:
  kubectl sroll list -A
  kubectl sroll status web-dev -w
  kubectl sroll pause web-dev && kubectl sroll resume web-dev
  kubectl sroll promote web-dev            # next of spec.phases
  kubectl sroll rollback web-dev
  kubectl sroll history web-dev
  kubectl sroll dashboard                  # live web UI on http://127.0.0.1:3100/
  kubectl sroll render bedrock.yaml --stage dev --image app=registry.example/app:1.2`,
    );

  registerList(program, currentSession);
  registerStatus(program, currentSession, setExit);
  registerHistory(program, currentSession);
  registerActions(program, currentSession);
  registerDashboard(program, currentSession, setExit);
  registerRender(program, currentSession);
  return program;
}

export async function runCli(argv: string[], deps: CliDeps): Promise<number> {
  let exitCode = EXIT_OK;
  const program = buildProgram(deps, (code) => {
    exitCode = code;
  });
  if (argv.length === 0) {
    deps.stderr.write(program.helpInformation());
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; commander has printed the message.
      if (err.exitCode === 0) return EXIT_OK;
      return EXIT_USAGE;
    }
    if (err instanceof CliError) {
      deps.stderr.write(`error: ${err.message}\n`);
      return err.exitCode;
    }
    // A bug, not a user mistake: still one line, with enough to report it.
    deps.stderr.write(`error: unexpected failure: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_FAILED;
  }
}
