/**
 * Parts of the pass built from its options: the image puller (its pulls logged), the
 * rollbacks (their state under `<--root>/rollback/`) and the auto-update checks.
 *
 * @module
 */
import { ImagePuller } from "../node/images.ts";
import { RollbackStore } from "../node/rollback_state.ts";
import type { PodEvent } from "./executor_options.ts";
import type { PassOptions } from "./pass_options.ts";
import { Rollbacks } from "./rollbacks.ts";
import { AUTO_UPDATE_INTERVAL_MS, autoUpdateRequestPath, ImageUpdates } from "./image_updates.ts";

/** The pass's image puller: each pull started, done or failed is logged. */
export function imagePullerOf(options: PassOptions, now: () => number): ImagePuller {
  return new ImagePuller({
    cri: options.cri,
    now,
    ...(options.registryAuth ? { auth: options.registryAuth } : {}),
    onPull: (image, outcome, detail) => {
      if (outcome === "started") options.log.info(`Pulling image ${image}`);
      else if (outcome === "pulled") options.log.info(`Pulled image ${image}`);
      else options.log.warn(`Failed to pull image ${image}: ${detail}`);
    },
  });
}

/** The pass's rollbacks, with `--rollback-window` and the metric. */
export function rollbacksOf(
  options: PassOptions,
  now: () => number,
  onEvent: (e: PodEvent) => void,
): Rollbacks {
  return new Rollbacks({
    store: new RollbackStore(options.root),
    windowMs: options.rollbackWindowMs ?? 0,
    log: options.log,
    now,
    onEvent,
    onRollback: () => options.metrics?.rollbacks.inc(),
  });
}

/** The pass's auto-update checks: pulls through its puller, updates watched by its rollbacks. */
export function imageUpdatesOf(
  options: PassOptions,
  parts: {
    now: () => number;
    images: ImagePuller;
    rollbacks: Rollbacks;
    onEvent: (e: PodEvent) => void;
    poke: () => void;
  },
): ImageUpdates {
  const { images, rollbacks } = parts;
  return new ImageUpdates({
    intervalMs: options.autoUpdateIntervalMs ?? AUTO_UPDATE_INTERVAL_MS,
    resolve: (image, signal) => images.refresh(image, signal ? { signal } : {}),
    now: parts.now,
    log: options.log,
    onEvent: parts.onEvent,
    onUpdate: (u) => {
      options.metrics?.imageUpdates.inc();
      const ids = u.containers.map((c) => [c.container, c.latest ?? ""] as const);
      return rollbacks.expectImages(u.key, Object.fromEntries(ids));
    },
    poke: parts.poke,
    requestFile: autoUpdateRequestPath(options.root),
    onTagMoved: (key, container, image, id) => rollbacks.tagMoved(key, container, image, id),
  });
}
