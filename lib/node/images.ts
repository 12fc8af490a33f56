/**
 * Getting images as kubelet does: the pull policy, one pull of an image at a
 * time however many pods want it, each matching credential tried in turn, and
 * a backoff after a failed pull. No secret of the credentials reaches an
 * error, a log line or the backoff's record.
 *
 * @module
 */
import { Backoff } from "../base/backoff.ts";
import type { AuthConfig, CallOptions, Cri, Image } from "../runtime/cri.ts";
import { CriError } from "../runtime/errors.ts";
import type { PullPolicy } from "../manifest/types.ts";
import { redactCredentials } from "./registry_auth.ts";

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
  /**
   * The registry credentials to try for an image, in order (empty: pull without any). The
   * first pull that succeeds ends the tries; the image fails when every one failed.
   */
  auth?: (image: string) => Promise<AuthConfig[]>;
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
      await this.#pullWithEach(image, opts);
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

  /**
   * Pulls `image` with each of its credentials in turn until one succeeds, or once without any
   * when it has none. Throws the one failure, or an AggregateError of all of them, in the order
   * tried (`findCriError` takes the last runtime error among them), whose message names each try;
   * errors of tries with credentials are copies with every secret of the credentials replaced
   * by `***` (a runtime error keeps its kind, not its transport's error, which may quote the
   * request).
   */
  async #pullWithEach(image: string, opts: CallOptions): Promise<string> {
    const auths = (await this.#o.auth?.(image)) ?? [];
    if (auths.length === 0) {
      return await this.#o.cri.pullImage({ image }, undefined, undefined, opts);
    }
    const failures: Error[] = [];
    for (const auth of auths) {
      try {
        return await this.#o.cri.pullImage({ image }, auth, undefined, opts);
      } catch (err) {
        const safe = redactedError(err, auths);
        if (opts.signal?.aborted) throw safe;
        failures.push(safe);
      }
    }
    if (failures.length === 1) throw failures[0];
    throw new AggregateError(
      failures,
      failures.map((e, i) =>
        `with credentials ${i + 1} of ${failures.length} (${describe(auths[i])}): ${e.message}`
      ).join("; "),
    );
  }

  /**
   * Pulls `image` again, whatever is present and whatever backoff its pulls are in, and returns
   * the image id its name resolves to now (an auto-update check). Credentials are tried as for
   * any pull, and no secret reaches the error; a failure here starts no backoff for the
   * containers that use the image.
   */
  refresh(image: string, opts: CallOptions = {}): Promise<string> {
    return this.#pullWithEach(image, opts);
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

/** `err` as an Error whose message holds no secret of `auths`, of the same kind. */
function redactedError(err: unknown, auths: readonly AuthConfig[]): Error {
  const message = redactCredentials(err instanceof Error ? err.message : String(err), auths);
  if (err instanceof CriError) return new CriError(err.kind, err.method, message);
  const copy = new Error(message);
  if (err instanceof Error) copy.name = err.name;
  return copy;
}

/** Which credentials a try used, without their secret: the user name, else the kind of token. */
function describe(auth: AuthConfig | undefined): string {
  if (auth?.username) return `user ${JSON.stringify(auth.username)}`;
  if (auth?.identityToken) return "an identity token";
  if (auth?.registryToken) return "a registry token";
  return "no user name";
}
