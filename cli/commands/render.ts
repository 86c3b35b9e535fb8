// `render FILE` and `apply FILE`: a service config file (docs/config-format.md) → StatefulsetRollout.
import type { Command } from "commander";
import { Option } from "commander";
import { stringify } from "yaml";
import { isNotFound, isConflict } from "../../adapters/kube/client.js";
import { applyPlan } from "../actions-plan.js";
import type { JsonObject } from "../actions-plan.js";
import { rolloutSpecSchema } from "../../api/rollout.js";
import {
  clusterAllowed,
  loadServiceConfig,
  parseImageFlags,
  renderServiceConfig,
  stageNames,
} from "../service-config.js";
import type { RenderedRollout, RenderOptions } from "../service-config.js";
import { parsePercent } from "../actions-plan.js";
import { apiError, CliError, rolloutRef, usageError } from "../errors.js";
import { formatObject, toLoaded } from "../session.js";
import type { ObjectFormat, Session } from "../session.js";

export interface RenderFlags {
  stage?: string;
  service?: string;
  image?: string[];
  percent?: string;
  rolloutIdentity?: string;
  callbackUrl?: string;
  stageId?: string;
  output?: ObjectFormat;
}

export interface ApplyFlags extends RenderFlags {
  dryRun?: boolean;
  ignoreClusters?: boolean;
}

async function readConfig(session: Session, file: string): Promise<string> {
  try {
    return await session.deps.readFile(file);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === "ENOENT") throw new CliError(`${file}: no such file`);
    if (code === "EISDIR") throw new CliError(`${file}: is a directory, not a config file`);
    throw new CliError(`${file}: cannot read it (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** The namespace when neither -n nor the stage names one: the context's, if a kubeconfig loads. */
function fallbackNamespace(session: Session): string {
  try {
    return session.cluster().defaultNamespace;
  } catch {
    return "default";
  }
}

export async function renderFile(session: Session, file: string, flags: RenderFlags): Promise<RenderedRollout[]> {
  const images = parseImageFlags(flags.image ?? []);
  if (!images.ok) throw usageError(images.error);
  let percent: number | undefined;
  if (flags.percent !== undefined) {
    const parsed = parsePercent(flags.percent);
    if (!parsed.ok) throw usageError(`--percent: ${parsed.error}`);
    percent = parsed.value;
  }
  if ((flags.callbackUrl === undefined) !== (flags.stageId === undefined)) {
    throw usageError("--callback-url and --stage-id go together: the callback names the release stage it reports on");
  }
  if (flags.callbackUrl !== undefined && !/^https?:\/\/\S+$/.test(flags.callbackUrl)) {
    throw usageError(`--callback-url ${flags.callbackUrl}: expected an http(s) URL`);
  }
  const loaded = loadServiceConfig(await readConfig(session, file), file);
  if (!loaded.ok) throw new CliError(loaded.errors.join("\n"));
  let stage = flags.stage;
  if (stage === undefined) {
    const stages = stageNames(loaded.value.config);
    if (stages.length !== 1) throw usageError(`${file} defines stages ${stages.join(", ")}: choose one with --stage`);
    stage = stages[0] as string;
  }
  const options: RenderOptions = {
    stage,
    images: images.value,
    ...(flags.service !== undefined ? { service: flags.service } : {}),
    ...(session.globals.namespace !== undefined ? { namespace: session.globals.namespace } : {}),
    defaultNamespace: fallbackNamespace(session),
    ...(percent !== undefined ? { percent } : {}),
    ...(flags.rolloutIdentity !== undefined ? { rolloutIdentity: flags.rolloutIdentity } : {}),
    ...(flags.callbackUrl !== undefined && flags.stageId !== undefined
      ? { bapi: { bapiUrl: flags.callbackUrl, stageId: flags.stageId } }
      : {}),
  };
  const rendered = renderServiceConfig(loaded.value, options);
  if (!rendered.ok) throw new CliError(rendered.errors.join("\n"));
  for (const note of rendered.value.notes) session.err(`note: ${note}\n`);
  return rendered.value.rollouts;
}

export async function renderCommand(session: Session, file: string, flags: RenderFlags): Promise<void> {
  const rollouts = await renderFile(session, file, flags);
  const objects = rollouts.map((r) => r.rollout);
  if (flags.output === "json") {
    session.out(
      objects.length === 1
        ? formatObject(objects[0], "json")
        : formatObject({ apiVersion: "v1", kind: "List", items: objects }, "json"),
    );
  } else {
    session.out(objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n"));
  }
}

/** Compares specs as the API stores them: with the schema's defaults filled in. */
function specWithDefaults(spec: JsonObject): JsonObject {
  const parsed = rolloutSpecSchema.safeParse(spec);
  return parsed.success ? (parsed.data as JsonObject) : spec;
}

async function applyOne(session: Session, rendered: RenderedRollout, flags: ApplyFlags): Promise<void> {
  const manifest = rendered.rollout as unknown as JsonObject & { spec: JsonObject; metadata: JsonObject };
  const name = String(manifest.metadata.name);
  const namespace = String(manifest.metadata.namespace);
  const what = rolloutRef(namespace, name);
  const cluster = session.cluster();
  if (!flags.ignoreClusters && !clusterAllowed(rendered, cluster.clusterName)) {
    throw new CliError(
      `${rendered.stageLocation}: stage clusters are ${(rendered.clusters ?? []).join(", ")}, but the current context's cluster is ` +
        `"${cluster.clusterName ?? "(none)"}": pick a context with --context, or pass --ignore-clusters`,
    );
  }
  const identity = session.deps.randomIdentity();
  for (let attempt = 1; ; attempt++) {
    let existingRaw: unknown;
    try {
      existingRaw = await cluster.rollouts.get(namespace, name);
    } catch (err) {
      if (!isNotFound(err)) throw apiError(err, { what });
    }
    const existing = existingRaw === undefined ? undefined : toLoaded(existingRaw, what).rollout;
    const plan = applyPlan(existing, manifest, identity, specWithDefaults);
    const suffix = flags.dryRun ? " (dry run)" : "";
    try {
      if (plan.action === "unchanged") {
        if (flags.output) session.out(formatObject(existingRaw, flags.output));
        else session.out(`statefulsetrollout.bulkhead.dev/${name} unchanged${suffix}\n`);
        return;
      }
      if (plan.action === "create") {
        const created = flags.dryRun ? plan.object : await cluster.rollouts.create(namespace, plan.object);
        if (flags.output) session.out(formatObject(created, flags.output));
        else
          session.out(
            `statefulsetrollout.bulkhead.dev/${name} created${suffix} (rollout identity ${String(plan.object.spec && (plan.object.spec as JsonObject).rolloutIdentity)})\n`,
          );
        return;
      }
      const updated = flags.dryRun ? plan.object : await cluster.rollouts.replace(namespace, name, plan.object);
      if (flags.output) {
        session.out(formatObject(updated, flags.output));
      } else {
        const headline = plan.newRollout
          ? "configured: new rollout"
          : "configured: settings only, the rollout continues";
        session.out(
          [`statefulsetrollout.bulkhead.dev/${name} ${headline}${suffix}`, ...plan.changes.map((c) => `  ${c}`)].join(
            "\n",
          ) + "\n",
        );
      }
      return;
    } catch (err) {
      // Someone wrote it in between (or created it first): decide again on what is there now.
      if (isConflict(err) && attempt < 3) continue;
      throw apiError(err, { what });
    }
  }
}

export async function applyCommand(session: Session, file: string, flags: ApplyFlags): Promise<void> {
  if (flags.stage === undefined) throw usageError("apply needs --stage: it writes to the cluster, so say which stage");
  const rollouts = await renderFile(session, file, flags);
  for (const rendered of rollouts) await applyOne(session, rendered, flags);
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function addRenderOptions(command: Command): Command {
  return command
    .option("--service <name>", "render only this service (default: every StatefulSet service with the stage)")
    .option(
      "--image <name=ref>",
      "image reference for images.<name> (repeatable); wins over images.<name>.image",
      collect,
    )
    .option(
      "--percent <percent>",
      "initial spec.percent (default: the stage's first phase, the last with auto_promote_seconds, else 100)",
    )
    .option("--rollout-identity <id>", "spec.rolloutIdentity (default for apply: a random one for a new rollout)")
    .option("--callback-url <url>", "release-API callback URL (spec.bapi.bapiUrl); with --stage-id")
    .option("--stage-id <id>", "release stage id the callback reports (spec.bapi.stageId)");
}

export function registerRender(program: Command, session: () => Session): void {
  addRenderOptions(
    program
      .command("render")
      .description("Render a service config file (bedrock.yaml style) into StatefulsetRollout YAML")
      .argument("<file>", "the service config file (see docs/config-format.md)")
      .option("--stage <stage>", "the stage to render (needed when the file has more than one)"),
  )
    .addOption(new Option("-o, --output <format>", "output format").choices(["yaml", "json"]).default("yaml"))
    .addHelpText(
      "after",
      `
The namespace is -n, else the stage's namespace, else the context's namespace, else "default".
A Dockerfile is not built: each image needs images.<name>.image in the file or --image.

Examples:
  kubectl sroll render bedrock.yaml --stage dev --image bedrock-tester=registry.example/bedrock-tester:1.4
  kubectl sroll render service.yaml --stage prod -o json | jq .spec.phases
  kubectl sroll render service.yaml --stage dev | kubectl apply -f -`,
    )
    .action((file: string, flags: RenderFlags) => renderCommand(session(), file, flags));

  addRenderOptions(
    program
      .command("apply")
      .description("Render a service config file for a stage and create or update its StatefulsetRollout(s)")
      .argument("<file>", "the service config file (see docs/config-format.md)")
      .option("--stage <stage>", "the stage to apply (required)"),
  )
    .option("--dry-run", "show what would be created or changed, write nothing")
    .option("--ignore-clusters", "apply even if the context's cluster is not in the stage's clusters")
    .addOption(new Option("-o, --output <format>", "print the written object(s)").choices(["yaml", "json"]))
    .addHelpText(
      "after",
      `
A changed StatefulSet (a new image, say) starts a new rollout: at the first phase, unpaused,
with a new rollout identity. Re-applying the same StatefulSet only changes settings and keeps
the rollout's percent, pause and identity, so applying twice never restarts a rollout.
The stage's clusters must include the current context's cluster (see --ignore-clusters).

Examples:
  kubectl sroll apply bedrock.yaml --stage dev --image bedrock-tester=registry.example/bedrock-tester:1.5
  kubectl sroll apply service.yaml --stage prod --context prod-east --dry-run
  kubectl sroll apply service.yaml --stage dev && kubectl sroll status api-dev -w`,
    )
    .action((file: string, flags: ApplyFlags) => applyCommand(session(), file, flags));
}
