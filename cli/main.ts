#!/usr/bin/env node
// kubectl-sroll: wires the real kubeconfig, terminal and timers into the CLI and exits with its code.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";
import type { CliDeps, Output } from "./deps.js";
import { connectCluster } from "./kube-cluster.js";
import { runCli } from "./program.js";
import { barProgress, lineProgress } from "./progress.js";

const ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/** 20 random letters and digits, like the seed's rolloutIdentity (GbTdWjQYgiiToKdoWDLN). */
function randomIdentity(): string {
  return [...randomBytes(20)].map((b) => ALPHABET[b % ALPHABET.length]).join("");
}

function output(stream: NodeJS.WriteStream): Output {
  return { write: (text) => void stream.write(text), isTTY: stream.isTTY === true };
}

// `kubectl sroll list | head`: the reader went away; that is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => process.exit(err.code === "EPIPE" ? 0 : 1));
}

const interrupt = new AbortController();
process.once("SIGINT", () => interrupt.abort());

const deps: CliDeps = {
  stdout: output(process.stdout),
  stderr: output(process.stderr),
  colour: process.stdout.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== "dumb",
  readFile: (path) => readFile(path, "utf8"),
  connect: connectCluster,
  randomIdentity,
  now: () => new Date(),
  sleep: (ms, signal) => delay(ms, undefined, { signal }).catch(() => undefined),
  interrupt: interrupt.signal,
  progress: () =>
    process.stderr.isTTY ? barProgress(process.stderr) : lineProgress(output(process.stderr), () => new Date()),
  pollIntervalMs: 1000,
};

const code = await runCli(process.argv.slice(2), deps);
// Let stdout drain (a pipe may be slow) before exiting with the code.
process.stdout.write("", () => process.exit(code));
