/**
 * Kill requests: containers that must be stopped because a liveness or startup probe failed
 * or their postStart hook failed. Whoever finds the failure records a request here; the
 * planner turns each request whose container still runs into a `killContainer` action, and
 * the executor carries it out. A request is forgotten once its container no longer runs.
 *
 * @module
 */
import type { HandlerSpec } from "../manifest/types.ts";
import type { ProbeTarget } from "../probe/probes.ts";
import type { ObservedState } from "./observe.ts";

/** Why a container is killed, as kubelet names it. */
export type KillReason = "LivenessProbe" | "StartupProbe" | "FailedPostStartHook";

/** One container to stop, and how. */
export interface KillRequest {
  /** The pod's key (`namespace/name`). */
  key: string;
  containerId: string;
  /** The container's name in the pod. */
  container: string;
  reason: KillReason;
  /** Says why, for the logs and the pod's events. */
  message: string;
  /** How long the container gets to stop, the preStop hook included. */
  gracePeriodSeconds: number;
  /** The preStop hook to run before the stop (probe kills). */
  preStop?: HandlerSpec;
  /** Where the preStop hook goes. */
  target?: ProbeTarget;
}

/** The kill requests not yet carried out, one per container (the first recorded wins). */
export class KillRequests {
  readonly #byId = new Map<string, { request: KillRequest; at: number }>();
  readonly #now: () => number;

  /**
   * `now` is the monotonic clock the listings' `listedAt` is read on (the agent's clock's
   * `now`), so a request can be told to come before or after a listing.
   */
  constructor(now: () => number) {
    this.#now = now;
  }

  /** Records a request; a second one for the same container is ignored. */
  record(request: KillRequest): void {
    if (this.#byId.has(request.containerId)) return;
    this.#byId.set(request.containerId, { request, at: this.#now() });
  }

  /**
   * The requests not yet carried out. Those recorded before `observed` was listed whose
   * container it does not list as running are forgotten first: their container stopped or
   * is gone, and there is nothing left to kill. A request recorded after the listing began
   * stays until a listing can tell.
   */
  pending(observed: ObservedState): KillRequest[] {
    const running = new Set<string>();
    for (const list of observed.pods.values()) {
      for (const o of list) {
        for (const c of o.containers) if (c.state === "CONTAINER_RUNNING") running.add(c.id);
      }
    }
    const listedAt = observed.listedAt ?? Infinity;
    for (const [id, { at }] of [...this.#byId]) {
      if (at < listedAt && !running.has(id)) this.#byId.delete(id);
    }
    return [...this.#byId.values()].map((r) => r.request);
  }
}
