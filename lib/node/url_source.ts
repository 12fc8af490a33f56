/**
 * The document of `--manifest-url` as one more manifest "file", named by its URL. It is polled
 * beside the passes, never inside one: a pass starts a fetch when one is due (every
 * `--manifest-url-interval`) and reads what the last fetch left. Polls are conditional, so an
 * unchanged document costs one small answer.
 *
 * The fetched text follows the rules of a file: parsed by `parseManifest` (no rule on Secrets'
 * permissions: the transport protects them), and when it is invalid, or the fetch fails
 * (unreachable, an HTTP error, the timeout, TLS, over 1 MiB, empty), the entry is invalid and
 * its last valid document stands for it, so its pods keep running. That document is kept under
 * `<root>/manifest-url/` and read at start: an agent restarted while the server is down runs
 * the same pods; with none fetched or kept, it holds back every removal (`ManifestSources`).
 * Its status (up or failing, why, since when, what it declares) is logged once per change,
 * counted in the metrics and told to `/healthz`, the URL named as shown (`shownUrl`: its
 * query's values redacted); the whole URL is used only to fetch.
 *
 * @module
 */
import { type Clock, SYSTEM_CLOCK } from "../base/clock.ts";
import type { Logger } from "../base/log.ts";
import type { AgentMetrics } from "../base/metrics.ts";
import { type Manifest, parseManifest } from "../manifest/parse.ts";
import {
  type Fetched,
  type FetchFunction,
  fetchManifestUrl,
  ManifestUrlError,
} from "../manifest/url_fetch.ts";
import {
  MANIFEST_URL_INTERVAL_MS,
  redactUrls,
  shownUrl,
  type UrlHeaders,
} from "../manifest/url_rules.ts";
import { UrlDocumentStore } from "./url_document.ts";

/** What the source works with. */
export interface UrlSourceOptions {
  /** The whole URL, judged already (see `parseManifestUrl`): used only to fetch. */
  url: string;
  headers?: UrlHeaders;
  /** Milliseconds between polls (default 20 s). */
  intervalMs?: number;
  /** `--insecure-manifest-url`. */
  insecure?: boolean;
  /** The HTTP client (its CAs); the caller closes it. */
  client?: Deno.HttpClient;
  /** `--root`: the last valid document is read from and kept under it; nowhere when absent. */
  root?: string;
  /** Whether a new valid document is written under `root` (default true; `plan` only reads). */
  keep?: boolean;
  log?: Logger;
  /** When polls are due, the fetch's timeout, the times recorded (default the system's). */
  clock?: Clock;
  metrics?: AgentMetrics;
  /** One fetch's timeout (default 10 s). */
  timeoutMs?: number;
  /** The fetch function (default Deno's). */
  fetch?: FetchFunction;
}

/** The last valid document. */
interface Good {
  manifest: Manifest;
  text: string;
  etag: string | undefined;
  lastModified: string | undefined;
  /** When it was fetched (epoch ms). */
  fetchedAt: number;
}

/** Where the source stands. */
export interface UrlStatus {
  /** `unfetched` until a fetch ended; then `ok`, or `failing` with why. */
  state: "unfetched" | "ok" | "failing";
  /** Why it fails, naming the URL and what to do. */
  reason?: string;
  /** When the last valid document was fetched (epoch ms), if there is one. */
  fetchedAt?: number;
  /** When a fetch last succeeded (a document or 304), if one did since start. */
  lastSuccessAt?: number;
  /** What the last valid document declares, e.g. "2 pods and 1 ConfigMap or Secret". */
  declares?: string;
}

/** The document of `--manifest-url`, polled. */
export class UrlSource {
  /** The URL as shown (`shownUrl`): the pods' source, the entry's name, in every message. */
  readonly url: string;
  readonly #fetchUrl: URL;
  readonly #o: UrlSourceOptions;
  readonly #clock: Clock;
  readonly #store: UrlDocumentStore | undefined;
  #good: Good | undefined;
  /** The last document fetched, when it is invalid (its problems are the entry's). */
  #invalid: Manifest | undefined;
  /** The text of `#invalid`: the same bytes again are not parsed again. */
  #invalidText: string | undefined;
  #failure: string | undefined;
  #fetched = false;
  #lastSuccessAt: number | undefined;
  /** When the next poll is due, on the clock's monotonic time. */
  #dueAt = -Infinity;
  #running: Promise<void> | undefined;
  /**
   * Whether the fetch that runs asks for a pass when it ends: it changed the entry, or a pass
   * asked when to wake while it ran and learnt nothing.
   */
  #wake = false;
  #loaded: Promise<void> | undefined;
  #poke: (() => void) | undefined;
  /** The status line last logged. */
  #said: string | undefined;

  constructor(options: UrlSourceOptions) {
    this.#o = options;
    this.#fetchUrl = new URL(options.url);
    this.url = shownUrl(this.#fetchUrl);
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#store = options.root === undefined ? undefined : new UrlDocumentStore(options.root);
    options.metrics?.manifestUrlUp.set({}, 0);
  }

  /** Asks `poke` for a pass at the end of a fetch that changed the entry or that a pass awaited. */
  wakeWith(poke: (() => void) | undefined): void {
    this.#poke = poke;
  }

  /** Reads the kept document once (later calls wait for the first): it seeds the last valid. */
  load(): Promise<void> {
    return this.#loaded ??= this.#load();
  }

  async #load(): Promise<void> {
    if (!this.#store) return;
    const { document, warning } = await this.#store.read(this.url);
    if (warning !== undefined) this.#o.log?.warn(warning);
    if (this.#good) return;
    const manifest = document && parseManifest(this.url, document.text);
    if (manifest && !manifest.valid) {
      this.#o.log?.warn(
        `Ignoring the kept document of ${this.url} in ${this.#store.file}: it is no longer valid (see tinylet check --manifest-url ${this.url})`,
      );
    }
    if (!document || !manifest?.valid) {
      this.#o.log?.info(
        `No valid document of ${this.url} is kept in ${this.#store.file}: no pod is removed, from any source, until it serves one`,
      );
      return;
    }
    this.#good = {
      manifest,
      text: document.text,
      etag: document.etag,
      lastModified: document.lastModified,
      fetchedAt: document.fetchedAt,
    };
    this.#o.log?.info(
      `Running the pods of the document of ${this.url} kept in ${this.#store.file} (fetched at ${
        iso(document.fetchedAt)
      }: ${declares(manifest)}) until it is fetched again`,
    );
  }

  /** Starts a fetch in the background when one is due and none runs. */
  poll(signal?: AbortSignal): void {
    if (this.#running || signal?.aborted || this.#clock.now() < this.#dueAt) return;
    this.#start(signal);
  }

  /** Fetches now (or waits for the fetch that runs) and resolves when it has ended. */
  async fetchNow(signal?: AbortSignal): Promise<void> {
    await this.load();
    if (!this.#running) this.#start(signal);
    await this.#running;
  }

  /** Resolves when the fetch that runs now, if any, has ended. */
  settled(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  /**
   * When the next poll is due (epoch ms, the clock's now and the time left, not the pass's
   * earlier time); undefined while a fetch runs: its end asks for a pass, which learns it then.
   */
  wakeAt(_now: number): number | undefined {
    if (!this.#running) return this.#clock.epochMs() + Math.max(0, this.#dueAt - this.#clock.now());
    this.#wake = true;
    return undefined;
  }

  #start(signal: AbortSignal | undefined): void {
    this.#dueAt = this.#clock.now() + (this.#o.intervalMs ?? MANIFEST_URL_INTERVAL_MS);
    const run = this.#fetch(signal)
      .catch((err) => this.#o.log?.error(`Fetching ${this.url} failed: ${this.#messageOf(err)}`))
      .finally(() => {
        if (this.#running === run) this.#running = undefined;
        if (this.#wake && !signal?.aborted) this.#poke?.();
        this.#wake = false;
      });
    this.#running = run;
  }

  /**
   * The entry for the pass: the last document fetched when it is valid; otherwise an invalid
   * entry (the document's problems, or none for a failed fetch: the status says why) with the
   * last valid document, if any, standing for it.
   */
  entry(): { manifest: Manifest; lastValid: Manifest | undefined } {
    if (this.#fetched && this.#failure === undefined && this.#good) {
      return { manifest: this.#good.manifest, lastValid: undefined };
    }
    const manifest: Manifest = this.#invalid ??
      { file: this.url, pods: [], objects: [], problems: [], valid: false };
    return { manifest, lastValid: this.#good?.manifest };
  }

  /** Where the source stands. */
  status(): UrlStatus {
    const good = this.#good;
    return {
      state: !this.#fetched ? "unfetched" : this.#failure === undefined ? "ok" : "failing",
      ...(this.#failure !== undefined ? { reason: this.#failure } : {}),
      ...(good ? { fetchedAt: good.fetchedAt, declares: declares(good.manifest) } : {}),
      ...(this.#lastSuccessAt !== undefined ? { lastSuccessAt: this.#lastSuccessAt } : {}),
    };
  }

  /**
   * Why no valid document stands for the URL (none was fetched, none is kept): why its last
   * fetch failed, or that it has not answered yet; undefined once one does.
   */
  unanswered(): string | undefined {
    if (this.#good) return undefined;
    return this.#failure ?? `${this.url} has not answered yet`;
  }

  /** Why the agent is degraded by the URL (its pods run from a kept document), or undefined. */
  degraded(): string | undefined {
    if (this.#fetched && this.#failure === undefined) return undefined;
    return `${this.#failure ?? `${this.url} has not answered yet`}; ${this.#kept()}`;
  }

  #kept(): string {
    const good = this.#good;
    return good
      ? `running the pods of its last good document (fetched at ${iso(good.fetchedAt)}: ${
        declares(good.manifest)
      })`
      : "no valid document of it was fetched yet and none is kept: no pod is removed, from any source, until it serves one";
  }

  async #fetch(signal: AbortSignal | undefined): Promise<void> {
    const o = this.#o;
    const good = this.#good;
    let got: Fetched;
    try {
      got = await fetchManifestUrl(this.#fetchUrl.href, {
        ...(o.headers ? { headers: o.headers } : {}),
        ...(good?.etag !== undefined ? { etag: good.etag } : {}),
        ...(good?.lastModified !== undefined ? { lastModified: good.lastModified } : {}),
        ...(o.insecure !== undefined ? { insecure: o.insecure } : {}),
        ...(o.client ? { client: o.client } : {}),
        ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
        ...(o.fetch ? { fetch: o.fetch } : {}),
        schedule: (fn, ms) => this.#clock.schedule(fn, ms),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (signal?.aborted) return; // the agent stops: no failure
      const e = err instanceof ManifestUrlError
        ? err
        : new ManifestUrlError(this.url, `Cannot fetch ${this.url}: ${this.#messageOf(err)}`);
      this.#count("failed", e.bytes);
      this.#invalid = undefined;
      this.#settle(e.message);
      return;
    }
    const now = this.#clock.epochMs();
    if (got.kind === "unchanged" || got.text === good?.text) {
      this.#count("unchanged", got.bytes);
      if (good && got.kind === "document") {
        await this.#revalidate(good, got.etag, got.lastModified);
      }
      this.#lastSuccessAt = now;
      o.metrics?.manifestUrlLastSuccess.set({}, now / 1000);
      this.#invalid = undefined;
      this.#settle(undefined, false);
      return;
    }
    const manifest = got.text === this.#invalidText && this.#invalid
      ? this.#invalid
      : parseManifest(this.url, got.text);
    if (!manifest.valid) {
      this.#count("failed", got.bytes);
      this.#invalid = manifest;
      this.#invalidText = got.text;
      const errors = manifest.problems.filter((p) => p.severity === "error").length;
      this.#settle(
        `Fix the document at ${this.url}: it has ${errors} error${
          errors === 1 ? "" : "s"
        } (see tinylet check --manifest-url ${this.url})`,
      );
      return;
    }
    this.#count("changed", got.bytes);
    const fresh: Good = {
      manifest,
      text: got.text,
      etag: got.etag,
      lastModified: got.lastModified,
      fetchedAt: now,
    };
    await this.#keep(fresh);
    this.#good = fresh;
    this.#invalid = undefined;
    this.#lastSuccessAt = now;
    o.metrics?.manifestUrlLastSuccess.set({}, now / 1000);
    this.#settle(undefined, true, got.bytes);
  }

  /** The same bytes under new validators: kept with them, so a restart's first poll is cheap. */
  async #revalidate(good: Good, etag: string | undefined, lastModified: string | undefined) {
    if (good.etag === etag && good.lastModified === lastModified) return;
    good.etag = etag;
    good.lastModified = lastModified;
    await this.#keep(good);
  }

  /** Writes `good` under `--root`; a failure is logged, the document is used all the same. */
  async #keep(good: Good): Promise<void> {
    if (!this.#store || this.#o.keep === false) return;
    try {
      await this.#store.write({
        url: this.url,
        text: good.text,
        fetchedAt: good.fetchedAt,
        ...(good.etag !== undefined ? { etag: good.etag } : {}),
        ...(good.lastModified !== undefined ? { lastModified: good.lastModified } : {}),
      });
    } catch (err) {
      this.#o.log?.warn(this.#messageOf(err));
    }
  }

  /** The message of `err`, the whole URL in it as shown. */
  #messageOf(err: unknown): string {
    return redactUrls(err instanceof Error ? err.message : String(err), [this.#fetchUrl]);
  }

  #count(result: "changed" | "unchanged" | "failed", bytes: number): void {
    const m = this.#o.metrics;
    if (!m) return;
    m.manifestUrlFetches.inc({ result });
    m.manifestUrlBytes.inc({}, bytes);
    m.manifestUrlUp.set({}, result === "failed" ? 0 : 1);
  }

  /**
   * Records a fetch's end: failing with `failure`, or up (`changed`: with a new document of
   * `bytes`). Logs the status when it changed, and asks for a pass when the entry changed.
   */
  #settle(failure: string | undefined, changed = false, bytes = 0): void {
    const before = this.#failure;
    const wasFetched = this.#fetched;
    this.#fetched = true;
    this.#failure = failure;
    const log = this.#o.log;
    let line: string;
    if (failure !== undefined) {
      line = `${failure}; ${this.#kept()}`;
      if (line !== this.#said) log?.warn(line, { url: this.url });
    } else if (changed) {
      line = `Fetched a new document from ${this.url}: ${
        declares(this.#good!.manifest)
      } (${bytes} bytes)`;
      log?.info(line, { url: this.url });
    } else {
      line = `${this.url} answers: its document is unchanged (fetched at ${
        iso(this.#good!.fetchedAt)
      }: ${declares(this.#good!.manifest)})`;
      if (before !== undefined || !wasFetched) log?.info(line, { url: this.url });
    }
    this.#said = line;
    if (changed || failure !== before || !wasFetched) this.#wake = true;
  }
}

/** What a document declares: "2 pods", "1 pod and 1 ConfigMap or Secret". */
export function declares(m: Manifest): string {
  const pods = `${m.pods.length} pod${m.pods.length === 1 ? "" : "s"}`;
  const n = m.objects.length;
  if (n === 0) return pods;
  return `${pods} and ${n} ${n === 1 ? "ConfigMap or Secret" : "ConfigMaps and Secrets"}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
