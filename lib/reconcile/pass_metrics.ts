/**
 * What the metrics count of each pass: passes and their duration, whether the runtime
 * answered, the manifest files in error, the pods by phase and their containers' restarts.
 *
 * @module
 */
import type { AgentMetrics } from "../base/metrics.ts";
import type { Problem } from "../manifest/parse.ts";
import type { PodView } from "./status.ts";

/** Counts pass `r`, which took `seconds`, in `m`. */
export function countPass(
  m: AgentMetrics,
  r: { runtimeReachable: boolean; problems: Problem[]; pods: PodView[] },
  seconds: number,
): void {
  m.passes.inc();
  m.passDuration.observe(seconds);
  m.runtimeUp.set({}, r.runtimeReachable ? 1 : 0);
  m.manifestErrors.set(
    {},
    new Set(r.problems.filter((p) => p.severity === "error").map((p) => p.file)).size,
  );
  m.pods.reset();
  m.restarts.reset();
  for (const p of r.pods) {
    m.pods.inc({ phase: p.phase });
    for (const c of p.containers) {
      m.restarts.set(
        { namespace: p.namespace, pod: p.name, container: c.name },
        c.restartCount,
      );
    }
  }
}
