/**
 * The agent's auto-update checks: every `--auto-update-interval` (or at once when asked), the
 * tags of the annotated pods' running containers are pulled again through the runtime, so its
 * mirrors, trust and credentials apply; a pod whose tag now names another image gets a
 * replacement request, which the planner carries out (the new image is already pulled by then).
 *
 * A check runs beside the passes, never inside one: a slow registry delays no pod. A request
 * names the sandbox that runs the old image and is dropped once that sandbox is gone, so each
 * sandbox is replaced at most once per check.
 *
 * @module
 */
import type { Logger } from "../base/log.ts";
import type { DesiredState } from "./desired.ts";
import type { ObservedState } from "./observe.ts";
import type { PodEvent } from "./executor_options.ts";
import {
  autoUpdates,
  containerVerdicts,
  imagesToCheck,
  type PodUpdate,
  podUpdates,
  shortId,
  updateReason,
} from "./auto_update.ts";

/** A planned replacement of a pod's sandbox, for the planner. */
export interface Replacement {
  sandboxId: string;
  reason: string;
}

/** What the checks need. */
export interface ImageUpdatesOptions {
  /** Milliseconds between checks. */
  intervalMs: number;
  /** Pulls `image` and returns the image id its tag names now. */
  resolve(image: string, signal?: AbortSignal): Promise<string>;
  /** Milliseconds since the epoch. */
  now(): number;
  log: Logger;
  onEvent?(e: PodEvent): void;
  /** Counts one pod update. */
  onUpdate?(u: PodUpdate): void;
  /** Asks for a pass: a check found something to do. */
  poke?(): void;
}

/** The auto-update checks of one agent, and the replacements they asked for. */
export class ImageUpdates {
  readonly #o: ImageUpdatesOptions;
  /** When the next check is due (epoch ms); the first is due at once. */
  #dueAt = 0;
  #running: Promise<void> | undefined;
  readonly #replacements = new Map<string, Replacement>();
  /** The images whose last check failed, with the message: said once until it changes. */
  readonly #failing = new Map<string, string>();

  constructor(options: ImageUpdatesOptions) {
    this.#o = options;
  }

  /** Makes the next check due now (`tinylet auto-update`, SIGUSR1). */
  checkNow(): void {
    this.#dueAt = 0;
    this.#o.poke?.();
  }

  /**
   * When a pass should run for the next check (epoch ms): its due time, when an annotated
   * pod is declared and that time is still ahead; otherwise the passes' own ticks suffice.
   */
  wakeAt(desired: DesiredState, now: number): number | undefined {
    if (this.#dueAt <= now || ![...desired.pods.values()].some(autoUpdates)) return undefined;
    return this.#dueAt;
  }

  /** Resolves when the check that runs now (if any) has finished. */
  settled(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  /**
   * Called by each pass with what it read and listed: forgets the requests whose sandbox is
   * gone, and starts a check when one is due and an annotated pod runs. Returns the requests
   * for the planner.
   */
  afterObserve(
    desired: DesiredState,
    observed: ObservedState,
    signal?: AbortSignal,
  ): ReadonlyMap<string, Replacement> {
    const listed = new Set(
      [...observed.pods.values()].flatMap((list) => list.map((o) => o.sandbox.id)),
    );
    for (const [key, r] of this.#replacements) {
      if (!listed.has(r.sandboxId)) this.#replacements.delete(key);
    }
    if (!this.#running && !signal?.aborted && this.#o.now() >= this.#dueAt) {
      const images = imagesToCheck(desired, observed);
      // Nothing runs that could be updated: the check waits until something does.
      if (images.length > 0) {
        this.#dueAt = this.#o.now() + this.#o.intervalMs;
        this.#running = this.#check(images, desired, observed, signal).finally(() => {
          this.#running = undefined;
        });
      }
    }
    return this.#replacements;
  }

  async #check(
    images: string[],
    desired: DesiredState,
    observed: ObservedState,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const o = this.#o;
    const resolved = new Map<string, string | Error>();
    // One image at a time: a check is background work, and the registry may be the host's own.
    for (const image of images) {
      if (signal?.aborted) return;
      try {
        resolved.set(image, await o.resolve(image, signal));
        if (this.#failing.delete(image)) {
          o.log.info(`Checking image ${image} for updates works again`);
        }
      } catch (err) {
        if (signal?.aborted) return;
        const message = err instanceof Error ? err.message : String(err);
        resolved.set(image, new Error(message));
        if (this.#failing.get(image) !== message) {
          o.log.warn(`Cannot check image ${image} for updates: ${message}`);
        }
        this.#failing.set(image, message);
      }
    }
    const updates = podUpdates(containerVerdicts(desired, observed, resolved));
    for (const u of updates) {
      if (this.#replacements.get(u.key)?.sandboxId === u.sandboxId) continue;
      const reason = updateReason(u);
      this.#replacements.set(u.key, { sandboxId: u.sandboxId, reason });
      o.log.info(`Updating pod ${u.key}: ${reason}`, {
        pod: u.key,
        images: u.containers.map((c) => `${c.container}=${shortId(c.latest)}`).join(","),
      });
      o.onEvent?.({
        pod: u.key,
        type: "Normal",
        reason: "ImageUpdate",
        message: `Replacing the pod: ${reason}`,
      });
      o.onUpdate?.(u);
    }
    o.log.debug("Checked images for updates", { images: images.length, updates: updates.length });
    if (updates.length > 0) o.poke?.();
  }
}
