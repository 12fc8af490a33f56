/**
 * The crash-loop backoff: each exited container that will restart counts as one failure of
 * its container, so a crashing container restarts after 10 s, 20 s, ... up to 300 s.
 *
 * @module
 */
import { Backoff } from "../base/backoff.ts";
import type { PodEvent } from "./executor_options.ts";
import type { DesiredState } from "./desired.ts";
import type { ObservedState } from "./observe.ts";
import { restartKey, shouldRestart } from "./plan.ts";
import { KEYS } from "../runtime/labels.ts";
import { envReplacement } from "./deletion_plan.ts";

/** The containers' restart backoff. */
export class CrashLoop {
  readonly #backoff = new Backoff();

  /** When container `key` (`<uid>/<name>`) may restart again; undefined when not backing off. */
  until(key: string): number | undefined {
    return this.#backoff.until(key);
  }

  /**
   * Counts each exited container that will restart as one failure (once per container
   * instance), telling a new back-off as an event; forgets the containers no longer desired.
   * `now` stands for an exit time the runtime did not give. Only sandboxes of the pod's current
   * spec count, and not those in `skip` (being replaced): a container stopped by a replacement
   * did not crash.
   */
  record(
    desired: DesiredState,
    observed: ObservedState,
    now: () => number,
    onEvent: (e: PodEvent) => void,
    { skip = new Set() }: { skip?: ReadonlySet<string> } = {},
  ): void {
    const live = new Set<string>();
    for (const pod of desired.pods.values()) {
      const sandboxes = (observed.pods.get(pod.key) ?? []).filter((o) =>
        o.sandbox.annotations[KEYS.specHash] === pod.hash && !skip.has(o.sandbox.id) &&
        // A sandbox replaced for a new env is stopped, not crashed.
        envReplacement(pod, o) === undefined
      );
      for (const c of pod.containers) {
        const key = restartKey(pod.uid, c.name);
        live.add(key);
        const instances = sandboxes.flatMap((o) =>
          o.containers.filter((x) => x.metadata.name === c.name)
        );
        const latest = instances.at(-1);
        const status = latest ? observed.exited.get(latest.id) : undefined;
        if (!latest || !status) continue;
        if (!shouldRestart(c, pod.restartPolicy, status.exitCode)) continue;
        const at = status.finishedAt > 0 ? status.finishedAt / 1e6 : now();
        const before = this.#backoff.until(key);
        const until = this.#backoff.fail(key, at, latest.id);
        if (until !== before) {
          onEvent({
            pod: pod.key,
            type: "Warning",
            reason: "BackOff",
            message: `Container ${c.name} exited with code ${status.exitCode}; back-off ${
              Math.round(this.#backoff.delay(key) / 1000)
            } s before restart ${latest.metadata.attempt + 1}`,
          });
        }
      }
    }
    this.#backoff.prune((key) => live.has(key));
  }
}
