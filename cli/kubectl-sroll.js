#!/usr/bin/env node
// The kubectl-sroll executable, for kubectl's plugin lookup (any `kubectl-sroll` on PATH).
// From a git checkout it runs the TypeScript source through tsx, so it is never stale; an
// installed package (no sources, no tsx) runs the compiled dist/cli/main.js. Plain JavaScript
// that any Node runs, so that an older `node` first on PATH gets a clear message, or hands over
// to the Node the checkout pins (node_modules/.bin/node).
import { spawnSync } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import process from "node:process";
import { fileURLToPath, URL } from "node:url";

const NEEDED_MAJOR = 24;
const self = fileURLToPath(import.meta.url);
const source = new URL("./main.ts", import.meta.url);
const compiled = new URL("../dist/cli/main.js", import.meta.url);
const pinnedNode = fileURLToPath(new URL("../node_modules/.bin/node", import.meta.url));

const major = Number(process.versions.node.split(".")[0]);
if (major < NEEDED_MAJOR) {
  const pinned = existsSync(pinnedNode) ? realpathSync(pinnedNode) : undefined;
  if (pinned && pinned !== realpathSync(process.execPath)) {
    // Ctrl-C reaches both processes; this one waits for the child to finish its own handling.
    process.on("SIGINT", () => {});
    const child = spawnSync(pinned, [self, ...process.argv.slice(2)], { stdio: "inherit" });
    process.exit(child.status ?? (child.signal === "SIGINT" ? 130 : 1));
  }
  process.stderr.write(
    `kubectl-sroll needs Node ${NEEDED_MAJOR} or newer; ${process.execPath} is ${process.version}\n`,
  );
  process.exit(1);
}

async function tsxRegister() {
  try {
    return (await import("tsx/esm/api")).register;
  } catch {
    return undefined;
  }
}

const register = existsSync(fileURLToPath(source)) ? await tsxRegister() : undefined;
if (register) {
  register();
  await import(source.href);
} else if (existsSync(fileURLToPath(compiled))) {
  await import(compiled.href);
} else {
  process.stderr.write("kubectl-sroll: not built: run `npm run build` (or `npm install` in the checkout for tsx)\n");
  process.exit(1);
}
