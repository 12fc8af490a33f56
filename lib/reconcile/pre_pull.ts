/**
 * Images first on a replacement: a flight that removes a pod's sandbox and then creates the
 * pod again (its spec changed, its env changed, an auto-update) gets every image of the new
 * spec, under its pull policy and runAsNonRoot, before the old sandbox is touched. A pull that
 * fails leaves the old pod running; the failure is the `createPod`'s, reported as a new pod's
 * failed pull is (`ErrImagePull`, then `ImagePullBackOff`), and the pod tries again after its
 * failure backoff.
 *
 * @module
 */
import type { CreatePod } from "./actions.ts";
import { callOptions, event, type ExecutorOptions } from "./executor_options.ts";
import type { Action } from "./plan.ts";
import { imageKey as key, type Prefetched } from "./pod_start.ts";

/**
 * The `createPod` of `flight` (one pod's actions, in order) when the flight removes a sandbox
 * of the same pod before it: a replacement. Undefined for any other flight, a new pod's
 * included.
 */
export function replacementOf(flight: readonly Action[]): CreatePod | undefined {
  const create = flight.findIndex((a) => a.type === "createPod");
  const a = flight[create];
  if (a?.type !== "createPod") return undefined;
  const removes = flight.slice(0, create).some((d) => d.type === "deletePod" && d.key === a.key);
  return removes ? a : undefined;
}

/**
 * Gets the images of every container of `a`'s pod (init containers and sidecars included),
 * each image once per pull policy and runAsNonRoot, all at once. Throws the failure of the
 * first container, in the pod's order, whose image could not be had (an `ImagePullError`),
 * after the `Failed` event a container's failed pull has. Returns the images had, for the
 * creation to find them there (an image pulled Always is not pulled twice).
 */
export async function pullImagesFirst(a: CreatePod, o: ExecutorOptions): Promise<Prefetched> {
  const opts = callOptions(o);
  const pulls: Prefetched = new Map();
  for (const c of a.pod.containers) {
    if (pulls.has(key(c))) continue;
    const p = o.images.ensure(c.image, c.pullPolicy, c.runAsNonRoot, opts);
    p.catch(() => {}); // awaited below, in the pod's order; never unhandled meanwhile
    pulls.set(key(c), p);
  }
  for (const c of a.pod.containers) {
    try {
      await pulls.get(key(c));
    } catch (err) {
      event(o, a.key, "Failed", `Container ${c.name}: ${(err as Error).message}`, true);
      throw err;
    }
  }
  return pulls;
}
