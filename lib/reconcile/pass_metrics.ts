/**
 * What the metrics count of each pass: passes and their duration, whether the runtime
 * answered, the manifest files in error, the pods by phase, their containers' restarts, and
 * their containers' exits the runtime reports as `OOMKilled`.
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
  ooms?: OomEvents,
): void {
  m.passes.inc();
  m.passDuration.observe(seconds);
  m.runtimeUp.set({}, r.runtimeReachable ? 1 : 0);
  m.manifestErrors.set(
    {},
    new Set(r.problems.filter((p) => p.severity === "error").map((p) => p.file)).size,
  );
  ooms?.count(m, r.pods);
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

/**
 * Counts each container exit the runtime reports as `OOMKilled` once
 * (`container_oom_events_total`), from the pods' views: a container's current state and its
 * last termination. Exits that ended before `sinceMs` (the agent's start) are not counted: they
 * were not observed running, and a restarted agent would count them again.
 */
export class OomEvents {
  readonly #seen = new Set<string>();
  constructor(readonly sinceMs: number) {}

  count(m: AgentMetrics, pods: readonly PodView[]): void {
    const now = new Set<string>();
    for (const p of pods) {
      for (const c of p.containers) {
        const exits = [
          ...(c.state === "terminated" ? [{ reason: c.reason, finishedAt: c.finishedAt }] : []),
          ...(c.lastTermination ? [c.lastTermination] : []),
        ];
        for (const e of exits) {
          if (e.reason !== "OOMKilled" || !e.finishedAt) continue;
          if (Date.parse(e.finishedAt) < this.sinceMs) continue;
          const key = `${p.namespace}/${p.name}/${c.name}/${e.finishedAt}`;
          now.add(key);
          if (this.#seen.has(key)) continue;
          this.#seen.add(key);
          m.oomEvents.inc({ namespace: p.namespace, pod: p.name, container: c.name });
        }
      }
    }
    // What no view shows any more is forgotten: it cannot be seen again.
    for (const key of this.#seen) if (!now.has(key)) this.#seen.delete(key);
  }
}
