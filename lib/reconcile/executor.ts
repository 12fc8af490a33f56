/**
 * The executor: applies a plan, pod by pod (in order within a pod, concurrently across
 * pods), and records one result per action instead of stopping at the first failure. Each
 * action's steps live in their own module (`pod_start.ts`, `pod_teardown.ts`,
 * `container_kill.ts`, `orphan_removal.ts`, `log_rotation_step.ts`). Those steps, with the
 * image puller and the hook handlers they call, are the only code of the reconcile loop that
 * changes the runtime, with one exception: the auto-update checks (`image_updates.ts`) pull
 * tags again (the puller's `refresh`) in the background, beside the passes, which can move a
 * tag in the runtime's image store. A check is kept out of the executor because a slow
 * registry must not hold a pod's flight; it creates, starts, stops or removes no sandbox or
 * container, and the replacement it asks for is planned, then carried out here. The observer
 * only lists and asks for statuses, and the probes only run their handlers. A replacement (a
 * pod's sandbox removed, then the pod created again) gets its new images first
 * (`pre_pull.ts`): a pull that fails stops nothing.
 *
 * @module
 */
import type { Action } from "./plan.ts";
import type { ExecutorOptions } from "./executor_options.ts";
import { createPod, type Prefetched, startContainers, startCreated } from "./pod_start.ts";
import { deletePod, removeContainers } from "./pod_teardown.ts";
import { killContainer } from "./container_kill.ts";
import { removeOrphan } from "./orphan_removal.ts";
import { rotateContainerLogs } from "./log_rotation_step.ts";
import { pullImagesFirst, replacementOf } from "./pre_pull.ts";

/** The outcome of one action. */
export interface ActionResult {
  action: Action;
  error?: Error;
  ms: number;
}

/**
 * Runs `actions`; the actions of one pod in order, stopping that pod at its first failure. A
 * pod that is replaced gets the images of its new spec before any of its actions runs: when
 * one cannot be had, none runs, and the failure is its `createPod`'s.
 */
export async function execute(
  actions: Action[],
  options: ExecutorOptions,
): Promise<ActionResult[]> {
  const byPod = new Map<string, Action[]>();
  for (const a of actions) {
    const list = byPod.get(a.key) ?? [];
    list.push(a);
    byPod.set(a.key, list);
  }
  const queues = [...byPod.values()];
  const results: ActionResult[] = [];
  const worker = async () => {
    for (let q = queues.shift(); q; q = queues.shift()) {
      const { images, failed } = await prePull(q, options);
      if (failed) {
        results.push(failed);
        continue;
      }
      for (const action of q) {
        const r = await runAction(action, options, images);
        results.push(r);
        if (r.error) break;
      }
    }
  };
  const n = Math.max(1, Math.min(options.parallel, queues.length));
  await Promise.all(Array.from({ length: n }, worker));
  return results;
}

/**
 * When `flight` is a replacement, the images of its new spec, or the failed result of its
 * `createPod` when they could not be had; nothing for any other flight.
 */
async function prePull(
  flight: Action[],
  o: ExecutorOptions,
): Promise<{ images?: Prefetched; failed?: ActionResult }> {
  const create = replacementOf(flight);
  if (!create) return {};
  const started = performance.now();
  try {
    return { images: await pullImagesFirst(create, o) };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    return { failed: { action: create, error, ms: performance.now() - started } };
  }
}

async function runAction(
  action: Action,
  o: ExecutorOptions,
  pulled?: Prefetched,
): Promise<ActionResult> {
  const started = performance.now();
  const fields = { pod: action.key, reason: action.reason };
  try {
    switch (action.type) {
      case "createPod":
        await createPod(action, o, pulled);
        o.log.info(`Started pod ${action.key}`, { ...fields, file: action.pod.source });
        break;
      case "deletePod":
        await deletePod(action, o);
        o.log.info(`Removed pod ${action.key}`, fields);
        break;
      case "startContainers":
        await startContainers(action, o);
        o.log.info(
          `Started ${
            action.start.map((s) => `container ${s.name}`).join(", ")
          } of pod ${action.key}`,
          fields,
        );
        break;
      case "startCreated":
        await startCreated(action, o);
        o.log.info(`Started container ${action.container} of pod ${action.key}`, fields);
        break;
      case "removeContainers":
        await removeContainers(action, o);
        o.log.debug(`Removed ${action.containers.length} dead container(s) of pod ${action.key}`);
        break;
      case "killContainer":
        await killContainer(action, o);
        o.log.debug(`Killed container ${action.container} of pod ${action.key}`, fields);
        break;
      case "removeOrphan":
        if (await removeOrphan(action, o)) {
          o.log.info(`Removed left-over container ${action.containerId.slice(0, 12)}`, fields);
        }
        break;
      case "rotateLogs":
        await rotateContainerLogs(action, o);
        break;
    }
    return { action, ms: performance.now() - started };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    return { action, error, ms: performance.now() - started };
  }
}
