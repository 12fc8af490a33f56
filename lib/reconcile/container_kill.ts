/**
 * Killing one running container (a failed liveness or startup probe, a failed postStart
 * hook), as kubelet's `killContainer` does: the preStop hook first when the request has one,
 * then `StopContainer` with the grace period left; a container already gone counts as
 * stopped. The restart policy decides what follows.
 *
 * @module
 */
import type { KillContainer } from "./actions.ts";
import {
  callOptions,
  event,
  type ExecutorOptions,
  idempotent,
  runHook,
} from "./executor_options.ts";

/** The least grace a container killed after its preStop hook gets, in seconds, as kubelet gives. */
export const MIN_KILL_GRACE_SECONDS = 2;

/** Stops the container of `a`; resolves when the runtime has stopped it (or has no such container). */
export async function killContainer(a: KillContainer, o: ExecutorOptions): Promise<void> {
  const now = o.now ?? Date.now;
  const probe = a.reason !== "FailedPostStartHook";
  if (probe) {
    o.log.warn(a.message, { pod: a.key });
    event(o, a.key, "Unhealthy", a.message, true);
  }
  const t0 = now();
  // A failed preStop hook does not keep the container from being stopped.
  if (a.preStop && a.target) await runHook(o, a.preStop, a.target, a.gracePeriodSeconds);
  // A stopping agent leaves the container as it is.
  o.signal?.throwIfAborted();
  // A probe kill gives what is left of the grace period after the hook, at least 2 s; a
  // container whose postStart hook failed gets the pod's grace period as it is.
  const grace = probe
    ? Math.max(MIN_KILL_GRACE_SECONDS, a.gracePeriodSeconds - Math.floor((now() - t0) / 1000))
    : a.gracePeriodSeconds;
  await idempotent(o.cri.stopContainer(a.containerId, grace, callOptions(o)));
  if (probe) event(o, a.key, "Killing", `Stopped container ${a.container}`);
}
