// Pods created ≈ pods replaced, for the benchmarks: a run that created more pods than it
// replaced measured the simulator, not the rollout (hack/kwok/README.md, "Deletion by name").
//
//   const churn = await watchPodChurn(kc, ns);        // before the template change
//   ...roll N pods...
//   const c = await churn.finish();                   // after every pod is Ready
//   const problem = podChurnProblem(c, { replaced: N });
//   if (problem) throw new Error(problem);            // fail the run, do not publish it
//   row += ` | ${formatPodChurn(c)}`;                 // "created 100 / replaced 100"
import type { KubeConfig } from "@kubernetes/client-node";
import { describeRecreations, PodChurnWatch, type PodChurnReport } from "../../test/e2e/support/pod-churn.js";

export type { PodChurnReport } from "../../test/e2e/support/pod-churn.js";

export interface PodChurnRun {
  /** Waits until the watch has seen every pod of the namespace, stops it and reports. */
  finish(): Promise<PodChurnReport>;
}

/** Starts counting pod incarnations in `namespace` (default: all); pods that exist now do not count. */
export async function watchPodChurn(kc: KubeConfig, namespace?: string): Promise<PodChurnRun> {
  const watch = await PodChurnWatch.start(kc, { namespace });
  return {
    async finish() {
      try {
        await watch.settle({ namespace });
        return watch.report({ namespace });
      } finally {
        watch.stop();
      }
    },
  };
}

export interface PodChurnExpectation {
  /** Pods the run should have replaced (a rollout of N pods: N). */
  replaced: number;
  /** Extra creations the run may make by design (default 0), e.g. pods it deletes on purpose. */
  allowance?: number;
}

/** Why the run is not valid, or undefined when pods created ≈ pods replaced. */
export function podChurnProblem(c: PodChurnReport, want: PodChurnExpectation): string | undefined {
  const allowance = want.allowance ?? 0;
  if (!c.complete) return "the pod watch lost history (410 Gone): pod creations cannot be counted for this run";
  if (c.created > want.replaced + allowance || c.recreated.length > allowance) {
    return (
      `created ${c.created} pods for ${want.replaced} replaced (allowance ${allowance}); ` +
      `${c.recreated.length} recreated on the same revision: ${describeRecreations(c.recreated)}. ` +
      "The simulator deleted pods nobody asked it to delete: see hack/kwok/README.md"
    );
  }
  if (c.created < want.replaced) return `created ${c.created} pods but ${want.replaced} should have been replaced`;
  return undefined;
}

/** One cell for a results table: "created 100 / replaced 100". */
export function formatPodChurn(c: PodChurnReport): string {
  return `created ${c.created} / replaced ${c.replaced}${c.recreated.length ? ` (+${c.recreated.length} same-revision)` : ""}`;
}
