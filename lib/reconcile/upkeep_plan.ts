/**
 * The planned upkeep of the runtime that no manifest asks for: removing containers of ours
 * whose sandbox is not listed, and rotating the logs of running containers. Pure.
 *
 * @module
 */
import type { ObservedState } from "./observe.ts";
import type { ContainerLog } from "../node/log_rotation.ts";
import type { RemoveOrphan, RotateLogs } from "./actions.ts";
import { KEYS, LABEL_INSTANCE, LABEL_MANAGED } from "../runtime/labels.ts";
import { podKey } from "../manifest/pod.ts";

/** The key of the removal of left-over container `containerId`: its own, never a pod's. */
export function orphanKey(containerId: string): string {
  return `orphan/${containerId}`;
}

/** The removal of each container of ours whose sandbox was not listed, each under its own key. */
export function orphanRemovals(observed: ObservedState): RemoveOrphan[] {
  const removals: RemoveOrphan[] = [];
  for (const c of observed.orphans) {
    // Never a container without the ownership labels, whatever listed it.
    if (c.labels[LABEL_MANAGED] !== "true" || !c.labels[LABEL_INSTANCE]) continue;
    const namespace = c.labels[KEYS.podNamespace];
    const name = c.labels[KEYS.podName];
    const of = namespace && name ? ` of pod ${podKey(namespace, name)}` : "";
    removals.push({
      type: "removeOrphan",
      key: orphanKey(c.id),
      reason: `its sandbox ${c.podSandboxId.slice(0, 12)}${of} is not listed`,
      containerId: c.id,
      sandboxId: c.podSandboxId,
    });
  }
  return removals;
}

/**
 * A log rotation for each pod with running containers that have a log path, except in the
 * sandboxes being deleted (`deleted`, by id).
 */
export function logRotations(observed: ObservedState, deleted: ReadonlySet<string>): RotateLogs[] {
  const byPod = new Map<string, ContainerLog[]>();
  for (const [key, list] of observed.pods) {
    for (const o of list) {
      if (deleted.has(o.sandbox.id)) continue;
      for (const c of o.containers) {
        const logPath = observed.statuses.get(c.id)?.logPath;
        if (c.state !== "CONTAINER_RUNNING" || !logPath) continue;
        byPod.set(key, [...(byPod.get(key) ?? []), { containerId: c.id, logPath }]);
      }
    }
  }
  return [...byPod].map(([key, logs]) => ({
    type: "rotateLogs",
    key,
    reason: "the log check is due",
    logs,
  }));
}
