#!/usr/bin/env node
// The kubectl-sroll executable, for kubectl's plugin lookup (any `kubectl-sroll` on PATH).
// From a git checkout it runs the TypeScript source through tsx, so it is never stale; an
// installed package (no sources, no tsx) runs the compiled dist/cli/main.js.
import { existsSync } from "node:fs";
import process from "node:process";
import { fileURLToPath, URL } from "node:url";

const source = new URL("./main.ts", import.meta.url);
const compiled = new URL("../dist/cli/main.js", import.meta.url);

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
