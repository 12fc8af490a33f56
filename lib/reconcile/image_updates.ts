/**
 * The agent's auto-update checks: every `--auto-update-interval` (or at once when asked), the
 * tags of the annotated pods' running containers are pulled again through the runtime, so its
 * mirrors, trust and credentials apply; a pod whose tag now names another image gets a
 * replacement request, which the planner carries out (the images that moved are pulled by then).
 *
 * A check runs beside the passes, never inside one: a slow registry delays no pod. Its pulls
 * are the one change to the runtime made outside the executor's steps: they can move a tag in
 * the runtime's image store, but create, start, stop or remove no sandbox or container. A request
 * names the sandbox that runs the old image and is dropped once that sandbox is gone; no check
 * starts while one is pending, so each update is found, said and counted once. A pod whose
 * replacement did not bring it to the resolved images is not replaced again for them.
 *
 * @module
 */
import type { Logger } from "../base/log.ts";
import type { DesiredState } from "./desired.ts";
import type { ObservedState } from "./observe.ts";
import type { PodEvent } from "./executor_options.ts";
import {
  autoUpdates,
  checked,
  containerVerdicts,
  imagesToCheck,
  type PodUpdate,
  podUpdates,
  shortId,
  updateReason,
} from "./auto_update.ts";

/** The file `tinylet auto-update` writes to have the agent check now: `<root>/auto-update-request`. */
export function autoUpdateRequestPath(root: string): string {
  return `${root}/auto-update-request`;
}

/** The default of `--auto-update-interval`: one hour. */
export const AUTO_UPDATE_INTERVAL_MS = 3_600_000;

/** A planned replacement of a pod's sandbox, for the planner. */
export interface Replacement {
  /** The sandbox that runs the old images. */
  sandboxId: string;
  /** Why, for the plan's reasons: which image moved, from which id to which. */
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
  /** The request file of `tinylet auto-update`, taken at each pass; none when absent. */
  requestFile?: string;
  /** Counts one pod update. */
  onUpdate?(u: PodUpdate): void | Promise<void>;
  /** Asks for a pass: a check found something to do. */
  poke?(): void;
  /**
   * The tag `image` of container `container` of pod `key`, rolled back from its new image,
   * names `id` now, not the one that failed: the pod may try it. (Each check resolves the tags
   * of such containers too.)
   */
  onTagMoved?(key: string, container: string, image: string, id: string): Promise<void>;
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
  /** The sandboxes the last pass listed. */
  #listed: ReadonlySet<string> = new Set();
  /** By pod, the images its last replacement was for (see {@linkcode targetOf}). */
  readonly #replacedFor = new Map<string, string>();
  /** By pod, the target it was found stuck on, said once. */
  readonly #stuck = new Map<string, string>();

  constructor(options: ImageUpdatesOptions) {
    this.#o = options;
  }

  /**
   * Takes the request `tinylet auto-update` left, if any (the file is removed): the next check
   * is then due now. Called by each pass before {@linkcode afterObserve}.
   */
  async takeRequest(): Promise<void> {
    const file = this.#o.requestFile;
    if (!file) return;
    try {
      await Deno.remove(file);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        this.#o.log.warn(`Cannot take the auto-update request ${file}: ${errorText(err)}`);
      }
      return;
    }
    this.#o.log.info("Checking the images of auto-update pods now (tinylet auto-update)");
    this.#dueAt = 0;
  }

  /** Makes the next check due now (SIGUSR1) and asks for a pass. */
  checkNow(): void {
    this.#dueAt = 0;
    this.#o.poke?.();
  }

  /**
   * When a pass should run for the next check (epoch ms): its due time, when an annotated
   * pod is declared and that time is still ahead; otherwise the passes' own ticks suffice.
   */
  wakeAt(desired: DesiredState, now: number): number | undefined {
    if (this.#dueAt <= now || ![...desired.pods.values()].some(checked)) return undefined;
    return this.#dueAt;
  }

  /** Resolves when the check that runs now (if any) has finished. */
  settled(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  /** The sandboxes a replacement request names: their containers' exits are no crashes. */
  replacing(): ReadonlySet<string> {
    return new Set([...this.#replacements.values()].map((r) => r.sandboxId));
  }

  /**
   * Called by each pass with what it read and listed: forgets the requests whose sandbox is
   * gone, and starts a check when one is due, an annotated pod runs and no replacement is
   * pending. Returns the requests for the planner.
   */
  afterObserve(
    desired: DesiredState,
    observed: ObservedState,
    signal?: AbortSignal,
  ): ReadonlyMap<string, Replacement> {
    this.#listed = new Set(
      [...observed.pods.values()].flatMap((list) => list.map((o) => o.sandbox.id)),
    );
    for (const [key, r] of this.#replacements) {
      if (!this.#listed.has(r.sandboxId)) this.#replacements.delete(key);
    }
    for (const map of [this.#replacedFor, this.#stuck]) {
      for (const key of map.keys()) if (!desired.pods.has(key)) map.delete(key);
    }
    const due = this.#o.now() >= this.#dueAt;
    if (due && !this.#running && this.#replacements.size === 0 && !signal?.aborted) {
      const images = imagesToCheck(desired, observed);
      // Nothing runs that could be updated: the check waits until something does.
      if (images.length > 0) {
        this.#dueAt = this.#o.now() + this.#o.intervalMs;
        this.#running = this.#check(images, desired, observed, signal)
          .catch((err) => this.#o.log.error(`Auto-update check failed: ${errorText(err)}`))
          .finally(() => {
            this.#running = undefined;
            // Asked for again while this one ran: the next pass starts it.
            if (this.#o.now() >= this.#dueAt) this.#o.poke?.();
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
        const message = errorText(err);
        resolved.set(image, new Error(message));
        if (this.#failing.get(image) !== message) this.#checkFailed(desired, image, message);
        this.#failing.set(image, message);
      }
    }
    const verdicts = containerVerdicts(desired, observed, resolved);
    const updates = podUpdates(verdicts);
    let requested = 0;
    for (const u of updates) {
      // The sandbox went while the registry was asked (replaced, or removed): nothing to do.
      if (!this.#listed.has(u.sandboxId) || this.#replacements.has(u.key)) continue;
      if (this.#repeats(u)) continue;
      const reason = updateReason(u);
      // Told before the planner may act on it: the new images are watched from now.
      await o.onUpdate?.(u);
      this.#replacements.set(u.key, { sandboxId: u.sandboxId, reason });
      this.#replacedFor.set(u.key, targetOf(u));
      requested++;
      o.log.info(`Updating pod ${u.key}: ${reason}`, {
        pod: u.key,
        images: u.containers.map((c) => `${c.container}=${shortId(c.latest)}`).join(","),
      });
      o.onEvent?.({
        pod: u.key,
        type: "Normal",
        reason: "ImageUpdate",
        message: `New image found, the pod is replaced: ${reason}`,
      });
    }
    // A rolled-back image's tag that names another one now: its pod tries it.
    for (const v of verdicts) {
      if (v.outcome !== "retry") continue;
      await o.onTagMoved?.(v.key, v.container, v.image, v.latest!);
      requested++;
    }
    o.log.debug("Checked images for updates", { images: images.length, updates: requested });
    if (requested > 0) o.poke?.();
  }

  /**
   * Whether `u` asks again for what the last replacement of its pod already did: the new
   * sandbox still differs from the same resolved images, so a replacement would not help (the
   * runtime names images in a way the check cannot compare). Said once; the pod is replaced
   * again only when a tag moves on.
   */
  #repeats(u: PodUpdate): boolean {
    const target = targetOf(u);
    if (this.#replacedFor.get(u.key) !== target) return false;
    if (this.#stuck.get(u.key) !== target) {
      this.#stuck.set(u.key, target);
      this.#o.log.warn(
        `Pod ${u.key} still differs from the images its replacement was for (${
          updateReason(u)
        }): it is not replaced again until a tag moves`,
      );
    }
    return true;
  }

  /** Says a failed check of `image`, in the log and on each annotated pod that uses it. */
  #checkFailed(desired: DesiredState, image: string, message: string): void {
    this.#o.log.warn(`Cannot check image ${image} for updates: ${message}`);
    for (const d of desired.pods.values()) {
      const held = Object.values(d.rolledBack?.images ?? {}).some((f) => f.image === image);
      if (!held && !(autoUpdates(d) && d.containers.some((c) => c.image === image))) continue;
      this.#o.onEvent?.({
        pod: d.key,
        type: "Warning",
        reason: "ImageUpdateCheckFailed",
        message: `Cannot check image ${image} for updates: ${message}`,
      });
    }
  }
}

/** What a replacement is for: each updated container with the image id its tag named. */
function targetOf(u: PodUpdate): string {
  return u.containers.map((c) => `${c.container}=${c.latest}`).join(",");
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
