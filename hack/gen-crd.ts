// Writes the CRD generated from api/rollout.ts into the chart. `make crd` runs it;
// test/unit/crd.test.ts fails when the committed file is stale.
import { writeFileSync } from "node:fs";
import { stringify } from "yaml";
import { buildCrd } from "../api/crd.js";

export const CRD_PATH = "charts/bulkhead/crds/statefulsetrollouts.bulkhead.dev.yaml";
export const CRD_HEADER = "# Generated from api/rollout.ts by `make crd`. Do not edit.\n";

// YAML 1.1 output quotes words such as "off" that kubectl would otherwise read as booleans.
writeFileSync(CRD_PATH, CRD_HEADER + stringify(buildCrd(), { version: "1.1" }));
console.log(`wrote ${CRD_PATH}`);
