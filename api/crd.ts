// Builds the CustomResourceDefinition from the zod schema, so the CRD's OpenAPI schema is
// never hand-copied. Kubernetes wants a "structural" schema: every node typed, no
// additionalProperties beside properties, no $schema; this file converts zod's JSON Schema.
import { z } from "zod";
import { GROUP, KIND, PLURAL, SHORT_NAME, SINGULAR, VERSION } from "./labels.js";
import { PERCENT_PATTERN, rolloutSpecSchema, rolloutStatusSchema } from "./rollout.js";

type JsonSchema = { [key: string]: unknown };

const SAFE_INT = Number.MAX_SAFE_INTEGER;

/** Turns zod's JSON Schema into a Kubernetes structural schema (recursively). */
export function toStructural(node: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "$schema" || key === "additionalProperties" || key === "propertyNames" || key === "default") continue;
    if ((key === "minimum" && value === -SAFE_INT) || (key === "maximum" && value === SAFE_INT)) continue;
    if (key === "properties") {
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, JsonSchema>).map(([name, child]) => [name, toStructural(child)]),
      );
    } else if (key === "items" || key === "anyOf") {
      out[key] = Array.isArray(value)
        ? value.map((v) => toStructural(v as JsonSchema))
        : toStructural(value as JsonSchema);
    } else {
      out[key] = value;
    }
  }
  // Structural schemas forbid types inside anyOf except the bare int-or-string pair, so the
  // branch validations (minimum, pattern) become one CEL rule with a message people can act on.
  if (node["x-kubernetes-int-or-string"] === true) {
    out.anyOf = [{ type: "integer" }, { type: "string" }];
    out["x-kubernetes-validations"] = [
      {
        rule: `type(self) == int ? self >= 1 : self.matches('${PERCENT_PATTERN}')`,
        message: 'must be a positive integer or a percent from "1%" to "100%": a budget of 0 would block every wave',
      },
    ];
  }
  // Defaults are applied by the apiserver too, so `kubectl get -o yaml` shows what Bulkhead uses.
  if ("default" in node && node.default !== undefined) out.default = node.default;
  // zod emits a record as additionalProperties; a structural schema keeps the string map.
  const extra = node.additionalProperties;
  if (
    node.type === "object" &&
    !node.properties &&
    extra &&
    typeof extra === "object" &&
    Object.keys(extra).length > 0
  ) {
    out.additionalProperties = toStructural(extra as JsonSchema);
  }
  return out;
}

function schemaFor(schema: z.ZodType): JsonSchema {
  return toStructural(z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema);
}

export function buildCrd(): Record<string, unknown> {
  const spec = schemaFor(rolloutSpecSchema);
  const status = schemaFor(rolloutStatusSchema);
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: SINGULAR, shortNames: [SHORT_NAME] },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: "Phase", type: "string", jsonPath: ".status.phase" },
            { name: "Percent", type: "integer", jsonPath: ".spec.percent" },
            { name: "Updated", type: "integer", jsonPath: ".status.updatedReplicas" },
            { name: "Ready", type: "integer", jsonPath: ".status.readyReplicas" },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: "A rollout of one StatefulSet: percent-based, phased, pausable, reversible, leak-protected.",
              required: ["spec"],
              properties: {
                apiVersion: { type: "string" },
                kind: { type: "string" },
                metadata: { type: "object" },
                spec,
                status,
              },
            },
          },
        },
      ],
    },
  };
}
