// The image cannot be built here (no Docker engine), so this keeps the Dockerfile honest: what it
// copies is what tsconfig.build.json compiles, what it runs is the package's bundle of the real
// entry points (which loads without node_modules), and the chart's Deployments start files that
// exist in the image.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  steps: Instruction[];
}

/** Dockerfile instructions grouped by stage; comments dropped, continuation lines joined. */
function parseDockerfile(text: string): Stage[] {
  const logical = text
    .replace(/\\\r?\n/g, " ")
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const stages: Stage[] = [];
  for (const line of logical) {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`cannot parse Dockerfile line: ${line}`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (op === "FROM") {
      const [from, as, name] = args.split(/\s+/);
      stages.push({ from: from!, ...(as?.toUpperCase() === "AS" && name ? { name } : {}), steps: [] });
    } else {
      if (stages.length === 0) throw new Error(`${op} before FROM`);
      stages.at(-1)!.steps.push({ op, args });
    }
  }
  return stages;
}

const dockerfile = parseDockerfile(readFileSync("Dockerfile", "utf8"));
const pkg = JSON.parse(readFileSync("package.json", "utf8")) as {
  engines: { node: string };
  scripts: Record<string, string>;
  bin?: Record<string, string>;
  devDependencies: Record<string, string>;
};
const tsconfigBuild = JSON.parse(readFileSync("tsconfig.build.json", "utf8")) as { include: string[] };
const tsconfig = JSON.parse(readFileSync("tsconfig.json", "utf8")) as {
  compilerOptions: { outDir: string; rootDir: string };
};
const build = dockerfile[0]!;
const runtime = dockerfile.at(-1)!;
const steps = (stage: Stage, op: string) => stage.steps.filter((s) => s.op === op).map((s) => s.args);
const execForm = (args: string) => JSON.parse(args) as string[];

/** The bundle script's entry points and flags (`esbuild a.ts b.ts --flag ...`). */
const bundleWords = (pkg.scripts.bundle ?? "").split(/\s+/);
const bundleEntries = bundleWords.filter((w) => w.endsWith(".ts"));
const BUNDLE_OUT = "dist/bundle";

/** The file the image runs for an entry point: the bundle's (outdir dist/bundle) copied to dist/. */
function emittedFor(source: string): string {
  expect(bundleEntries, `${source} is an entry point of the bundle`).to.include(source);
  return join("dist", source.replace(/\.ts$/, ".js"));
}
/** The entry point that bundles to `dist/x/y.js` in the image; it must also be type-checked by tsc. */
function sourceOf(emitted: string): string {
  expect(emitted.startsWith("dist/"), `${emitted} is not under dist/`).to.equal(true);
  const source = emitted.slice("dist/".length).replace(/\.js$/, ".ts");
  expect(tsconfigBuild.include, `${source} is not compiled by tsconfig.build.json`).to.include(source.split("/")[0]);
  expect(bundleEntries, `${source} is not an entry point of the bundle`).to.include(source);
  return source;
}

/** `args: [...]` of each container in the chart's Deployment templates. */
function chartEntryPoints(): Map<string, string> {
  const dir = "charts/bulkhead/templates";
  const found = new Map<string, string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith("-deployment.yaml"))) {
    const m = /^\s*args:\s*(\[.*\])\s*$/m.exec(readFileSync(join(dir, file), "utf8"));
    if (!m) throw new Error(`${file} sets no args`);
    found.set(file, execForm(m[1]!)[0]!);
  }
  return found;
}

describe("Dockerfile", () => {
  it("builds on the slim image of the Node major the project pins", () => {
    const major = /(\d+)/.exec(pkg.engines.node)![1];
    expect(/(\d+)/.exec(pkg.devDependencies.node!)![1], "package.json node devDependency").to.equal(major);
    for (const stage of dockerfile) expect(stage.from).to.equal(`node:${major}-slim`);
    expect(dockerfile.length, "multi-stage").to.be.greaterThan(1);
  });

  it("compiles with the package's build script, which is tsc -p tsconfig.build.json", () => {
    expect(pkg.scripts.build).to.equal("tsc -p tsconfig.build.json");
    const runs = steps(build, "RUN");
    expect(
      runs.some((r) => /^npm ci\b/.test(r) && !r.includes("--omit=dev")),
      "npm ci with dev dependencies",
    ).to.equal(true);
    expect(runs).to.include("npm run build");
  });

  it("bundles each process with esbuild into dist/bundle, after tsc has type-checked it", () => {
    expect(bundleWords[0]).to.equal("esbuild");
    expect(bundleEntries.sort()).to.deep.equal(["reconciler/main.ts", "webhook/main.ts"]);
    expect(bundleWords).to.include.members([
      "--bundle",
      "--minify",
      "--platform=node",
      "--format=esm",
      `--outdir=${BUNDLE_OUT}`,
    ]);
    expect(pkg.devDependencies.esbuild, "esbuild is a devDependency").to.be.a("string");
    const runs = steps(build, "RUN");
    expect(runs.indexOf("npm run bundle"), "npm run bundle after npm run build").to.be.greaterThan(
      runs.indexOf("npm run build"),
    );
  });

  it("copies exactly the folders tsconfig.build.json compiles, plus the package and tsconfig files", () => {
    const sources = steps(build, "COPY")
      .filter((c) => !c.startsWith("--from"))
      .flatMap((c) => c.split(/\s+/).slice(0, -1));
    expect(sources.filter((s) => !/\.json$/.test(s)).sort()).to.deep.equal([...tsconfigBuild.include].sort());
    expect(sources).to.include.members(["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json"]);
    for (const s of sources) expect(existsSync(s), `${s} exists`).to.equal(true);
  });

  it("does not ignore anything it copies", () => {
    const ignored = readFileSync(".dockerignore", "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    const copied = steps(build, "COPY").flatMap((c) => c.split(/\s+/).slice(0, -1));
    for (const pattern of ignored) {
      const re = new RegExp(`^${pattern.replace(/\./g, "\\.").replace(/\*/g, "[^/]*")}$`);
      for (const c of copied) expect(re.test(c), `.dockerignore "${pattern}" hides ${c}`).to.equal(false);
    }
  });

  it("ships the bundles and package.json only (no node_modules), as a non-root user", () => {
    expect(steps(runtime, "RUN"), "nothing installed at run time").to.deep.equal([]);
    expect(steps(runtime, "COPY")).to.deep.equal(["package.json ./", `--from=${build.name} /app/${BUNDLE_OUT} ./dist`]);
    const user = steps(runtime, "USER").at(-1);
    expect(user, "USER").to.match(/^(node|[1-9]\d*)(:\d+)?$/);
    expect(steps(runtime, "WORKDIR").at(-1)).to.equal("/app");
  });

  it("runs node, with the webhook as the default command", () => {
    expect(execForm(steps(runtime, "ENTRYPOINT").at(-1)!)).to.deep.equal(["node"]);
    expect(execForm(steps(runtime, "CMD").at(-1)!)).to.deep.equal([emittedFor("webhook/main.ts")]);
  });

  it("runs as the user the chart's securityContext expects", () => {
    const uid = Number(steps(runtime, "USER").at(-1)!.split(":")[0]);
    const values = readFileSync("charts/bulkhead/values.yaml", "utf8");
    expect(values).to.match(new RegExp(`runAsUser: ${uid}\\b`));
  });
});

describe("entry points the image runs", () => {
  it("the chart starts the webhook and the reconciler from dist/", () => {
    expect([...chartEntryPoints().entries()].sort()).to.deep.equal([
      ["reconciler-deployment.yaml", emittedFor("reconciler/main.ts")],
      ["webhook-deployment.yaml", emittedFor("webhook/main.ts")],
    ]);
  });

  it("every file the chart and the CMD start is compiled from a source that exists", () => {
    const started = [...chartEntryPoints().values(), execForm(steps(runtime, "CMD").at(-1)!)[0]!];
    for (const emitted of started) {
      const source = sourceOf(emitted);
      expect(existsSync(source), `${emitted} is built from ${source}, which does not exist`).to.equal(true);
    }
  });

  it("package.json bin entries exist; compiled ones come from existing sources (the image runs none of them)", () => {
    for (const [name, target] of Object.entries(pkg.bin ?? {})) {
      const file = target.replace(/^\.\//, "");
      if (file.startsWith(`${tsconfig.compilerOptions.outDir}/`))
        expect(existsSync(sourceOf(file)), `${name}: source of ${file}`).to.equal(true);
      else
        expect(readFileSync(file, "utf8"), `${name}: ${file} is a node launcher`).to.match(/^#!\/usr\/bin\/env node\n/);
    }
  });
});

describe("the bundle (npm run bundle)", function () {
  this.timeout(120_000);
  let out: string;
  let externals: string[];
  before(() => {
    out = mkdtempSync(join(tmpdir(), "bulkhead-bundle-"));
    const metafile = join(out, "meta.json");
    const script = pkg.scripts.bundle!.replace(`--outdir=${BUNDLE_OUT}`, `--outdir=${out} --metafile=${metafile}`);
    const run = spawnSync(script, {
      shell: true,
      encoding: "utf8",
      env: { ...process.env, PATH: `${join(process.cwd(), "node_modules/.bin")}:${process.env.PATH}` },
    });
    expect(run.status, run.stderr).to.equal(0);
    // As in the image: package.json's "type": "module" beside the bundles, no node_modules.
    writeFileSync(join(out, "package.json"), '{"type":"module"}');
    const meta = JSON.parse(readFileSync(metafile, "utf8")) as {
      outputs: Record<string, { imports: { path: string; external?: boolean }[] }>;
    };
    externals = Object.values(meta.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  it("imports nothing from node_modules at run time but Node's own modules", () => {
    // ws loads these optional native helpers in a try/catch and works without them.
    const optional = ["bufferutil", "utf-8-validate"];
    expect([...new Set(externals.filter((p) => !isBuiltin(p) && !optional.includes(p)))]).to.deep.equal([]);
  });

  // Every module is loaded and evaluated before main reads its configuration, so a bad
  // configuration's exit proves the bundle runs without node_modules (pino, ws, client-node...).
  for (const [entry, env, message] of [
    ["webhook/main.js", { BULKHEAD_WEBHOOK_PORT: "0" }, "invalid webhook configuration"],
    ["reconciler/main.js", { LOG_LEVEL: "bogus" }, "invalid reconciler configuration"],
  ] as const) {
    it(`${entry} loads all its modules and reaches its configuration check`, () => {
      const run = spawnSync(process.execPath, [join(out, entry)], {
        cwd: out,
        encoding: "utf8",
        env: { PATH: process.env.PATH, ...env },
        timeout: 60_000,
      });
      expect(run.stderr + run.stdout).to.include(message);
      expect(run.status).to.not.equal(0);
    });
  }
});
