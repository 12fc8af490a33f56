/**
 * Removing a container of ours whose sandbox was not listed. The sandboxes are listed
 * before the containers, so a container created in between (by a flight starting a pod)
 * looks orphaned: the runtime is asked about the sandbox first, and only a sandbox it says
 * is gone lets the container be removed.
 *
 * @module
 */
import { isNotFound } from "../runtime/errors.ts";
import type { RemoveOrphan } from "./actions.ts";
import { callOptions, type ExecutorOptions } from "./executor_options.ts";

/**
 * Removes the container of `a` when its sandbox is gone; returns whether it removed it: false
 * (changing nothing) when the sandbox exists, and when the runtime no longer has the container
 * (the removal is done all the same).
 */
export async function removeOrphan(a: RemoveOrphan, o: ExecutorOptions): Promise<boolean> {
  const opts = callOptions(o);
  try {
    await o.cri.podSandboxStatus(a.sandboxId, opts);
    return false;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    await o.cri.removeContainer(a.containerId, opts);
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
  return true;
}
