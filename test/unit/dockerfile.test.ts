// The image cannot be built here (no Docker engine), so this keeps the Dockerfile honest: what it
// copies is what tsconfig.build.json compiles, what it runs is what tsc emits for the real entry
// points, and the chart's Deployments start files that exist in the image.
import { existsSync, readdirSync, readFileSync } from "node:fs";
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

/** The file `tsc -p tsconfig.build.json` emits for a source file (rootDir "." → outDir). */
function emittedFor(source: string): string {
  expect(tsconfig.compilerOptions.rootDir).to.equal(".");
  return join(tsconfig.compilerOptions.outDir, source.replace(/\.ts$/, ".js"));
}
/** The source file that compiles to `dist/x/y.js`, if it is inside the build's include list. */
function sourceOf(emitted: string): string {
  const prefix = `${tsconfig.compilerOptions.outDir}/`;
  expect(emitted.startsWith(prefix), `${emitted} is not under ${prefix}`).to.equal(true);
  const source = emitted.slice(prefix.length).replace(/\.js$/, ".ts");
  expect(tsconfigBuild.include, `${source} is not compiled by tsconfig.build.json`).to.include(source.split("/")[0]);
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

  it("ships production dependencies and dist/ only, as a non-root user", () => {
    expect(steps(runtime, "RUN").some((r) => r.startsWith("npm ci --omit=dev"))).to.equal(true);
    expect(steps(runtime, "COPY")).to.include(`--from=${build.name} /app/dist ./dist`);
    expect(
      steps(runtime, "COPY")
        .filter((c) => !c.startsWith("--from"))
        .join(" "),
    ).not.to.match(/\b(api|adapters|webhook|reconciler|test)\b/);
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
