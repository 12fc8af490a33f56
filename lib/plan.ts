/**
 * The planner: from what should run and what runs, the actions that close
 * the gap, each with a reason. Pure: no I/O, no clock, no randomness.
 *
 * @module
 */
import type { Container } from "./cri.ts";
import type { DesiredState } from "./desired.ts";
import type { ObservedPod, ObservedState } from "./observe.ts";
import { DEFAULT_GRACE_PERIOD_SECONDS } from "./pod.ts";
import { type DesiredPod, K } from "./translate.ts";

/** Run a new sandbox and all the pod's containers. */
export interface CreatePod {
  type: "createPod";
  key: string;
  reason: string;
  pod: DesiredPod;
  attempt: number;
}

/** Stop the containers gracefully, then stop and remove the sandbox. */
export interface DeletePod {
  type: "deletePod";
  key: string;
  reason: string;
  sandboxId: string;
  namespace: string;
  name: string;
  uid: string;
  containerIds: string[];
  gracePeriodSeconds: number;
  /**
   * Also remove the pod's state and log directories. False when another
   * sandbox of the same pod UID stays or replaces this one.
   */
  removeState: boolean;
}

/** Create and start one container in a running sandbox. */
export interface CreateContainer {
  type: "createContainer";
  key: string;
  reason: string;
  pod: DesiredPod;
  sandboxId: string;
  attempt: number;
  container: string;
}

/** Start a container that was created but never started. */
export interface StartContainer {
  type: "startContainer";
  key: string;
  reason: string;
  containerId: string;
  container: string;
}

export type Action = CreatePod | DeletePod | CreateContainer | StartContainer;

function gracePeriodOf(containers: Container[]): number {
  let grace: number | undefined;
  for (const c of containers) {
    const v = Number(c.annotations[K.gracePeriod]);
    if (Number.isFinite(v) && v >= 0) grace = Math.max(grace ?? 0, v);
  }
  return grace ?? DEFAULT_GRACE_PERIOD_SECONDS;
}

function deletion(
  o: ObservedPod,
  reason: string,
  removeState = true,
): DeletePod {
  return {
    type: "deletePod",
    key: o.key,
    reason,
    sandboxId: o.sandbox.id,
    namespace: o.sandbox.metadata.namespace,
    name: o.sandbox.metadata.name,
    uid: o.sandbox.metadata.uid,
    removeState,
    containerIds: o.containers.map((c) => c.id),
    gracePeriodSeconds: gracePeriodOf(o.containers),
  };
}

function short(hash: string | undefined): string {
  return hash ? hash.replace(/^v1:/, "").slice(0, 12) : "none";
}

function planPod(
  d: DesiredPod,
  observed: ObservedPod[],
  actions: Action[],
): void {
  const current = observed.filter((o) => o.sandbox.annotations[K.specHash] === d.hash);
  for (const o of observed) {
    if (current.includes(o)) continue;
    const oldSource = o.sandbox.annotations[K.source];
    const why = oldSource && oldSource !== d.source
      ? `its spec changed and it is now declared in ${d.source}`
      : `its spec changed in ${d.source} (${short(o.sandbox.annotations[K.specHash])} → ${
        short(d.hash)
      })`;
    actions.push(deletion(o, `replace: ${why}`));
  }
  const ready = current.filter((o) => o.sandbox.state === "SANDBOX_READY");
  const keep = ready.at(-1);
  for (const o of current) {
    if (o === keep) continue;
    actions.push(
      deletion(
        o,
        o.sandbox.state === "SANDBOX_READY"
          ? "a newer sandbox of the same pod is running"
          : "its sandbox is not ready",
        false,
      ),
    );
  }
  if (!keep) {
    const attempt = current.reduce(
      (n, o) => Math.max(n, o.sandbox.metadata.attempt + 1),
      0,
    );
    const reason = current.length > 0
      ? "its sandbox is not ready"
      : observed.length > 0
      ? `its spec changed in ${d.source}`
      : `declared in ${d.source}`;
    actions.push({ type: "createPod", key: d.key, reason, pod: d, attempt });
    return;
  }
  for (const c of d.containers) {
    const instances = keep.containers.filter((oc) => oc.metadata.name === c.name);
    if (instances.length === 0) {
      actions.push({
        type: "createContainer",
        key: d.key,
        reason: `container "${c.name}" is missing`,
        pod: d,
        sandboxId: keep.sandbox.id,
        attempt: keep.sandbox.metadata.attempt,
        container: c.name,
      });
      continue;
    }
    if (instances.some((oc) => oc.state === "CONTAINER_RUNNING")) continue;
    const created = instances.find((oc) => oc.state === "CONTAINER_CREATED");
    if (created) {
      actions.push({
        type: "startContainer",
        key: d.key,
        reason: `container "${c.name}" was created but not started`,
        containerId: created.id,
        container: c.name,
      });
    }
    // An exited container is left as it is.
  }
}

/**
 * The actions that bring `observed` to `desired`. Actions of one pod come in
 * the order they must run (deletions before the creation that replaces them).
 */
export function plan(desired: DesiredState, observed: ObservedState): Action[] {
  const actions: Action[] = [];
  for (const d of desired.pods.values()) {
    planPod(d, observed.pods.get(d.key) ?? [], actions);
  }
  for (const [key, list] of observed.pods) {
    if (desired.pods.has(key)) continue;
    for (const o of list) {
      const source = o.sandbox.annotations[K.source] ?? "";
      if (!desired.complete || desired.keepSources.has(source)) continue;
      const reason = desired.files.has(source)
        ? `no longer declared in ${source}`
        : `its file ${source || "(unknown)"} was deleted`;
      actions.push(deletion(o, reason));
    }
  }
  return actions;
}
