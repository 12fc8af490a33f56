/**
 * Getting images as kubelet does: the pull policy, one pull of an image at a
 * time however many pods want it, and a backoff after a failed pull.
 *
 * @module
 */
import { Backoff } from "../base/backoff.ts";
import type { AuthConfig, CallOptions, Cri, Image } from "../runtime/cri.ts";
import type { PullPolicy } from "../manifest/types.ts";

/** Why a container could not get its image, with kubelet's reasons. */
export class ImagePullError extends Error {
  readonly reason: "ErrImagePull" | "ImagePullBackOff" | "ErrImageNeverPull";
  readonly image: string;
  constructor(
    reason: ImagePullError["reason"],
    image: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "ImagePullError";
    this.reason = reason;
    this.image = image;
  }
}

/** What the puller needs. */
export interface ImagePullerOptions {
  cri: Cri;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** Registry credentials for an image. */
  auth?: (image: string) => Promise<AuthConfig | undefined>;
  /**
   * Told when a pull starts and ends; a pull cancelled through its signal ends with neither
   * "pulled" nor "failed".
   */
  onPull?: (image: string, outcome: "started" | "pulled" | "failed", detail: string) => void;
}

/** Gets images for containers. */
export class ImagePuller {
  readonly #o: ImagePullerOptions;
  readonly #backoff = new Backoff();
  readonly #inflight = new Map<string, Promise<void>>();
  readonly #lastError = new Map<string, string>();

  constructor(options: ImagePullerOptions) {
    this.#o = options;
  }

  /**
   * Makes `image` present under `policy` and returns its status (after a pull,
   * only when `needUser`: to check runAsNonRoot). Throws {@linkcode ImagePullError}.
   */
  async ensure(
    image: string,
    policy: PullPolicy,
    needUser: boolean,
    opts: CallOptions = {},
  ): Promise<Image | null> {
    const cri = this.#o.cri;
    const present = await cri.imageStatus({ image }, opts);
    if (policy === "Never") {
      if (present) return present;
      throw new ImagePullError(
        "ErrImageNeverPull",
        image,
        `Image "${image}" is not present and its imagePullPolicy is Never: import the image into the runtime, or change the policy`,
      );
    }
    if (present && policy === "IfNotPresent") return present;
    await this.#pull(image, opts);
    return needUser ? await cri.imageStatus({ image }, opts) : null;
  }

  async #pull(image: string, opts: CallOptions): Promise<void> {
    const now = this.#o.now();
    const until = this.#backoff.until(image);
    if (until !== undefined && until > now) {
      throw new ImagePullError(
        "ImagePullBackOff",
        image,
        `Back-off pulling image "${image}": next try in ${Math.ceil((until - now) / 1000)} s (${
          this.#lastError.get(image) ?? "it failed"
        })`,
      );
    }
    let flight = this.#inflight.get(image);
    if (!flight) {
      flight = this.#doPull(image, opts).finally(() => this.#inflight.delete(image));
      this.#inflight.set(image, flight);
    }
    await flight;
  }

  async #doPull(image: string, opts: CallOptions): Promise<void> {
    this.#o.onPull?.(image, "started", "");
    try {
      const auth = await this.#o.auth?.(image);
      await this.#o.cri.pullImage({ image }, auth, undefined, opts);
    } catch (err) {
      // A pull cancelled (the agent stops) did not fail: no backoff, no error, nothing to report.
      if (opts.signal?.aborted) throw err;
      const detail = err instanceof Error ? err.message : String(err);
      this.#lastError.set(image, detail);
      const until = this.#backoff.fail(image, this.#o.now(), `${this.#o.now()}:${detail}`);
      this.#o.onPull?.(image, "failed", detail);
      throw new ImagePullError(
        "ErrImagePull",
        image,
        `Failed to pull image "${image}": ${detail} (next try in ${
          Math.ceil((until - this.#o.now()) / 1000)
        } s)`,
        { cause: err },
      );
    }
    this.#backoff.reset(image);
    this.#lastError.delete(image);
    this.#o.onPull?.(image, "pulled", "");
  }

  /** When the earliest image backoff ends; undefined when none. */
  nextRetryAt(now: number): number | undefined {
    this.#backoff.expire(now);
    let at: number | undefined;
    for (const image of this.#lastError.keys()) {
      const u = this.#backoff.until(image);
      if (u !== undefined && u > now && (at === undefined || u < at)) at = u;
    }
    return at;
  }
}
