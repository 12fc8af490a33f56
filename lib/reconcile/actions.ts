/**
 * The actions a plan is made of, each with its reason: what the executor is asked to do to
 * one pod (or to one left-over container).
 *
 * @module
 */
import type { DesiredPod } from "../translate/desired_pod.ts";
import type { KillRequest } from "./kills.ts";
import type { ContainerLog } from "../node/log_rotation.ts";

/** One container to create and start, in a list that runs in order. */
export interface ContainerStart {
  name: string;
  /** The CRI attempt: 0 for the first instance, one more for each restart. */
  restartCount: number;
}

/** Run a new sandbox, then create and start `start` in order. */
export interface CreatePod {
  type: "createPod";
  key: string;
  reason: string;
  pod: DesiredPod;
  attempt: number;
  start: ContainerStart[];
}

/** Create and start containers, in order, in a running sandbox. */
export interface StartContainers {
  type: "startContainers";
  key: string;
  reason: string;
  pod: DesiredPod;
  sandboxId: string;
  attempt: number;
  start: ContainerStart[];
}

/** Start a container that was created but never started. */
export interface StartCreated {
  type: "startCreated";
  key: string;
  reason: string;
  containerId: string;
  container: string;
}

/** Remove dead container instances beyond the newest one of each container, with their logs. */
export interface RemoveContainers {
  type: "removeContainers";
  key: string;
  reason: string;
  containers: { id: string; logPath: string }[];
}

/** Stop the containers gracefully (in groups, in order), then stop and remove the sandbox. */
export interface DeletePod {
  type: "deletePod";
  key: string;
  reason: string;
  sandboxId: string;
  namespace: string;
  name: string;
  uid: string;
  /** Container ids in stop order: regular containers, then sidecars in reverse order. */
  stopGroups: string[][];
  /** The name of each container id, for its preStop hook. */
  containerNames: Record<string, string>;
  gracePeriodSeconds: number;
  /**
   * Also remove the pod's state and log directories. False when another
   * sandbox of the same pod UID stays or replaces this one.
   */
  removeState: boolean;
  /**
   * The observer found the pod's identity fit to name host paths (its state directory, read
   * for preStop hooks, and its directories). False for a sandbox tinylet did not make: it is
   * stopped and removed by id only.
   */
  hostPaths: boolean;
}

/**
 * Stop one running container (a failed liveness or startup probe, a failed postStart hook):
 * its preStop hook first when it has one, then `StopContainer`; the restart policy follows.
 */
export interface KillContainer extends KillRequest {
  type: "killContainer";
}

/** Rotate the logs of a pod's running containers that reached the size limit. */
export interface RotateLogs {
  type: "rotateLogs";
  key: string;
  reason: string;
  logs: ContainerLog[];
}

/**
 * Remove a container of ours whose sandbox the runtime did not list, once the runtime says
 * that sandbox is gone (it may have been created after the sandboxes were listed).
 */
export interface RemoveOrphan {
  type: "removeOrphan";
  key: string;
  reason: string;
  containerId: string;
  sandboxId: string;
}

/** The actions whose success moves their pod forward: only these reset its failure backoff and clear its error. */
const POD_STEPS: ReadonlySet<string> = new Set([
  "createPod",
  "startContainers",
  "startCreated",
  "deletePod",
  "removeContainers",
]);

/**
 * Whether an action of type `type` moves its pod forward (`createPod`, `startContainers`,
 * `startCreated`, `deletePod`, `removeContainers`); a kill, a left-over container's removal
 * and a log rotation do not.
 */
export function movesPod(type: string): boolean {
  return POD_STEPS.has(type);
}

/**
 * What an upkeep action (a kill, a left-over container's removal, a log rotation) works on,
 * as a key of its own: `kill/<containerId>` for a kill, the action's key otherwise.
 */
export function upkeepTarget(a: { type: string; key: string; containerId?: string }): string {
  return a.type === "killContainer" ? `kill/${a.containerId}` : a.key;
}
