/**
 * The log checks: how often a pass checks the running containers' logs for rotation, and the
 * planned rotations run within the pass (not as pod flights: they change no pod). A log that
 * cannot be rotated is logged by the executor; the next check tries again.
 *
 * @module
 */
import type { RotateLogs } from "./actions.ts";
import { execute } from "./executor.ts";
import type { ExecutorOptions } from "./executor_options.ts";

/** How often container logs are checked for rotation, unless told otherwise: kubelet's default. */
export const LOG_CHECK_INTERVAL_MS = 10_000;

/** When the logs were last checked, and the check's interval. */
export class LogChecks {
  readonly #intervalMs: number;
  #checkedAt = -Infinity;

  /** Checks at most once per `intervalMs` (default {@linkcode LOG_CHECK_INTERVAL_MS}). */
  constructor(intervalMs = LOG_CHECK_INTERVAL_MS) {
    this.#intervalMs = intervalMs;
  }

  /**
   * Whether a pass at `now` checks the logs, and if so counts the check as made: at most once
   * per interval (the next pass after that much time), since a stat of every running
   * container's log each pass would be most of an idle pass's cost.
   */
  due(now: number): boolean {
    if (now - this.#checkedAt < this.#intervalMs) return false;
    this.#checkedAt = now;
    return true;
  }
}

/** Runs the planned log rotations one after another. */
export async function runRotations(rotations: RotateLogs[], o: ExecutorOptions): Promise<void> {
  if (rotations.length > 0) await execute(rotations, o);
}
