/**
 * The `rotateLogs` action: the size check, rename and pruning of `lib/node/log_rotation.ts`,
 * with the runtime asked to reopen each rotated log (`ReopenContainerLog`; a container
 * already gone counts as reopened). A log that cannot be rotated is logged, not failed: the
 * next check tries again.
 *
 * @module
 */
import { DEFAULT_ROTATION, rotateLogs } from "../node/log_rotation.ts";
import type { RotateLogs } from "./actions.ts";
import { callOptions, type ExecutorOptions, idempotent } from "./executor_options.ts";

/** Rotates the logs of `a` that reached the size limit; returns how many were rotated. */
export async function rotateContainerLogs(a: RotateLogs, o: ExecutorOptions): Promise<number> {
  const { rotated, errors } = await rotateLogs(
    a.logs,
    o.logRotation ?? DEFAULT_ROTATION,
    (id) => idempotent(o.cri.reopenContainerLog(id, callOptions(o))),
    new Date((o.now ?? Date.now)()),
  );
  for (const r of rotated) o.log.debug(`Rotated ${r.rotatedTo}`);
  for (const e of errors) {
    o.log.warn(`Cannot rotate the log of container ${e.containerId}: ${e.error.message}`);
  }
  return rotated.length;
}
