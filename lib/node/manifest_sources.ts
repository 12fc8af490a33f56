/**
 * What the passes read manifests from: the manifest directory and, with `--manifest-url`, the
 * document at that URL, appended after the directory's files as one more entry named by its
 * URL. Files win a conflict over the URL (the first declaration wins, and files come first);
 * both places are reported. Everything downstream (the last known good, conflicts, ConfigMaps
 * and Secrets) treats the URL's entry as a file. Until a valid document stands for the URL
 * (fetched, or kept from before), the read is partial: no pod is removed from any source, since
 * the URL may declare the pods another URL, or a file, used to (a changed URL, a file moved to
 * the URL, a first start with the server down).
 *
 * @module
 */
import type { Scan } from "../manifest/source.ts";
import type { UrlSource } from "./url_source.ts";

/** What the passes read manifests from. */
export interface PassSource {
  /** The manifest directory (watched for changes). */
  readonly dir: string;
  /** True when a missing directory is fine (another source may be all there is). */
  readonly dirOptional?: boolean;
  /** One read of every source; cancelled work started by it stops with `signal`. */
  scan(signal?: AbortSignal): Promise<Scan>;
  /** When a pass should run for the source's own work (epoch ms), if ever. */
  wakeAt?(now: number): number | undefined;
  /** Why the agent is degraded by a source (its pods run from a kept document), if it is. */
  degraded?(): string | undefined;
  /** Asks `poke` for a pass when a source changed on its own; undefined stops asking. */
  wakeWith?(poke: (() => void) | undefined): void;
}

/** The manifest directory and the document of `--manifest-url`, read as one. */
export class ManifestSources implements PassSource {
  readonly #directory: { readonly dir: string; scan(): Promise<Scan> };
  /** The URL's source. */
  readonly url: UrlSource;
  readonly dirOptional = true;

  constructor(directory: { readonly dir: string; scan(): Promise<Scan> }, url: UrlSource) {
    this.#directory = directory;
    this.url = url;
  }

  get dir(): string {
    return this.#directory.dir;
  }

  /**
   * The directory's scan with the URL's entry after its files (and, for an invalid entry, its
   * last valid document), partial while no valid document stands for the URL; starts a poll of
   * the URL when one is due, without waiting for it.
   */
  async scan(signal?: AbortSignal): Promise<Scan> {
    const scan = await this.#directory.scan();
    await this.url.load();
    this.url.poll(signal);
    const { manifest, lastValid } = this.url.entry();
    const valid = new Map(scan.lastValid);
    if (lastValid) valid.set(this.url.url, lastValid);
    const why = this.url.unanswered();
    if (why !== undefined) {
      return {
        ...scan,
        manifests: [...scan.manifests, manifest],
        lastValid: valid,
        partial: `${why}; no pod is removed until it serves a valid document`,
        keptBecause: new Map([[this.url.url, why]]),
      };
    }
    return {
      ...scan,
      manifests: [...scan.manifests, manifest],
      lastValid: valid,
      independent: new Set([this.url.url]),
    };
  }

  wakeAt(now: number): number | undefined {
    return this.url.wakeAt(now);
  }

  degraded(): string | undefined {
    return this.url.degraded();
  }

  wakeWith(poke: (() => void) | undefined): void {
    this.url.wakeWith(poke);
  }
}
