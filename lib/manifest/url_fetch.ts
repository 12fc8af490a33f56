/**
 * One fetch of the document of `--manifest-url`: a conditional GET (`If-None-Match` with the
 * ETag, `If-Modified-Since` with the Last-Modified of the document held), the headers of
 * `--manifest-url-header`, redirects followed by hand (each hop judged by the URL rules before
 * it is connected to, none from https:// to http://), a body of at most 1 MiB (reading stops
 * past it), one timeout for the whole fetch, and TLS verified by the client given
 * (`url_client.ts`). Every failure is a {@linkcode ManifestUrlError} whose message names the
 * URL and what to do, the URL as shown (`shownUrl`: its query's values redacted), however the
 * error came about: the whole URL is used only to fetch.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import { MAX_MANIFEST_BYTES } from "../base/safe_read.ts";
import { scheduleAfter } from "../base/timer.ts";
import {
  MANIFEST_URL_TIMEOUT_MS,
  redactUrls,
  shownUrl,
  type UrlHeaders,
  urlRefusal,
} from "./url_rules.ts";

/** A fetch function as Deno's: with an HTTP client of its own. */
export type FetchFunction = (
  input: URL,
  init: RequestInit & { client?: Deno.HttpClient },
) => Promise<Response>;

/** How to fetch. */
export interface FetchOptions {
  /** Sent with every request to the URL's own origin (not to another a redirect leads to). */
  headers?: UrlHeaders;
  /** The ETag of the document held: sent as `If-None-Match`. */
  etag?: string;
  /**
   * The Last-Modified of the document held: sent as `If-Modified-Since`. Give only one that
   * {@linkcode Fetched} returned: it holds one only when it is a safe validator.
   */
  lastModified?: string;
  /** `--insecure-manifest-url`: plain http:// to any host. */
  insecure?: boolean;
  /** The HTTP client (its trusted CAs); Deno's default client when absent. */
  client?: Deno.HttpClient;
  /** The whole fetch's timeout, redirects and body included (default 10 s). */
  timeoutMs?: number;
  /** The timer the timeout is counted on (default the system's). */
  schedule?: Clock["schedule"];
  /** The largest body accepted (default 1 MiB, as a manifest file). */
  maxBytes?: number;
  /** Cancels the fetch: it then rejects with the signal's reason, which is no failure. */
  signal?: AbortSignal;
  /** The fetch function (default Deno's). */
  fetch?: FetchFunction;
}

/** What a fetch brought: a document (new or the same bytes again), or "not modified". */
export type Fetched =
  | {
    kind: "document";
    text: string;
    etag: string | undefined;
    /**
     * The Last-Modified, when it may be sent back as `If-Modified-Since`: at least 1 s older
     * than the answer's Date. One of the same second as the answer, or with no Date to judge
     * it by, is left out: a change within that second would keep the same Last-Modified and be
     * answered 304 (the next fetch is unconditional then, and its body is compared).
     */
    lastModified: string | undefined;
    /** Body bytes received. */
    bytes: number;
  }
  | { kind: "unchanged"; bytes: 0 };

/** A fetch that failed; the message names the URL (as shown) and what to do. */
export class ManifestUrlError extends Error {
  /** The URL of `--manifest-url`, as shown. */
  readonly url: string;
  /** Body bytes received before it failed. */
  readonly bytes: number;
  constructor(url: string, message: string, bytes = 0, options?: ErrorOptions) {
    super(message, options);
    this.name = "ManifestUrlError";
    this.url = url;
    this.bytes = bytes;
  }
}

const MAX_REDIRECTS = 5;
/** How much older than the answer's Date a Last-Modified must be to serve as a validator. */
const SETTLED_MS = 1_000;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Fetches `url`. Resolves with the document (status 200; `kind: "document"`, even when its
 * bytes are the same as before) or `unchanged` (304 to a conditional request). Rejects with a
 * {@linkcode ManifestUrlError} for a refused URL (before any connection), a connection or TLS
 * failure, the timeout, any other status, a body over the limit, one that is not UTF-8, or one
 * that is empty or only whitespace; with the signal's reason when `signal` aborted it.
 */
export async function fetchManifestUrl(url: string, o: FetchOptions = {}): Promise<Fetched> {
  const first = URL.parse(url);
  if (first === null) {
    throw new ManifestUrlError(
      "",
      "Give --manifest-url a whole URL, e.g. https://config.example.com/nodes/web.yaml",
    );
  }
  const timeoutMs = o.timeoutMs ?? MANIFEST_URL_TIMEOUT_MS;
  const timer = new AbortController();
  const cancelTimeout = (o.schedule ?? scheduleAfter)(() => timer.abort(), timeoutMs);
  const signal = o.signal ? AbortSignal.any([o.signal, timer.signal]) : timer.signal;
  const shown = shownUrl(first);
  // Every URL this fetch went to, for what Deno's errors quote of them.
  const got = { bytes: 0, hops: [first] };
  try {
    return await fetchHops(shown, o, signal, got);
  } catch (err) {
    if (o.signal?.aborted) throw o.signal.reason ?? err;
    const cause = redactedError(err, got.hops);
    if (timer.signal.aborted) {
      throw new ManifestUrlError(
        shown,
        `Check that ${shown} answers: it did not answer within ${seconds(timeoutMs)}`,
        got.bytes,
        { cause },
      );
    }
    if (err instanceof ManifestUrlError) throw err;
    throw new ManifestUrlError(shown, connectionMessage(shown, cause), got.bytes, { cause });
  } finally {
    cancelTimeout();
  }
}

async function fetchHops(
  url: string,
  o: FetchOptions,
  signal: AbortSignal,
  got: { bytes: number; hops: URL[] },
): Promise<Fetched> {
  const fail = (message: string) => new ManifestUrlError(url, message, got.bytes);
  let at = got.hops[0]!;
  const origin = at.origin;
  for (let hop = 0;; hop++) {
    const refusal = urlRefusal(at, o.insecure ?? false);
    if (refusal !== undefined) {
      throw fail(hop === 0 ? refusal : `${refusal} (redirected from ${url})`);
    }
    const from = got.hops[hop - 1];
    if (from?.protocol === "https:" && at.protocol === "http:") {
      throw fail(
        `Check the server of ${url}: it redirected from https:// to plain http:// (${
          shownUrl(at)
        }); a redirect may not leave https://, since whoever sees plain http:// can change the document`,
      );
    }
    const headers = new Headers();
    // Credentials given for the URL go to its origin only, as a browser's would not follow a
    // redirect to another host either.
    if (at.origin === origin) {
      for (const [name, value] of o.headers ?? []) headers.append(name, value);
    }
    if (o.etag !== undefined) headers.set("if-none-match", o.etag);
    if (o.lastModified !== undefined) headers.set("if-modified-since", o.lastModified);
    const res = await (o.fetch ?? fetch)(at, {
      headers,
      redirect: "manual",
      signal,
      ...(o.client ? { client: o.client } : {}),
    });
    const where = hop === 0 ? "" : ` (redirected to ${shownUrl(at)})`;
    if (REDIRECTS.has(res.status)) {
      await res.body?.cancel();
      const location = res.headers.get("location");
      if (location === null) {
        throw fail(
          `Check the server of ${url}: it answered ${res.status} without a Location${where}`,
        );
      }
      if (hop >= MAX_REDIRECTS) {
        throw fail(`Check the server of ${url}: it redirected more than ${MAX_REDIRECTS} times`);
      }
      const next = URL.parse(location, at);
      if (next === null) {
        throw fail(`Check the server of ${url}: it redirected to a Location that is not a URL`);
      }
      got.hops.push(at = next);
      continue;
    }
    if (res.status === 304) {
      await res.body?.cancel();
      if (o.etag === undefined && o.lastModified === undefined) {
        throw fail(
          `Check the server of ${url}: it answered 304 Not Modified to a request that was not conditional${where}`,
        );
      }
      return { kind: "unchanged", bytes: 0 };
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw fail(
        `Check the server of ${url}: it answered HTTP ${res.status}${
          res.statusText ? ` ${res.statusText}` : ""
        }${where}, not 200`,
      );
    }
    const text = await readBody(url, res, o.maxBytes ?? MAX_MANIFEST_BYTES, got);
    return {
      kind: "document",
      text,
      etag: res.headers.get("etag") ?? undefined,
      lastModified: settled(res.headers.get("last-modified"), res.headers.get("date")),
      bytes: got.bytes,
    };
  }
}

/** `lastModified` when it is at least 1 s older than the answer's `date`, else undefined. */
function settled(lastModified: string | null, date: string | null): string | undefined {
  if (lastModified === null || date === null) return undefined;
  const age = Date.parse(date) - Date.parse(lastModified);
  return age >= SETTLED_MS ? lastModified : undefined;
}

/**
 * `err` and its causes as errors of the same names whose messages quote `urls` as shown only
 * (Deno's fetch errors quote the URL they were asked for, its query whole).
 */
function redactedError(err: unknown, urls: readonly URL[]): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  const copy = new Error(
    redactUrls(e.message, urls),
    e.cause === undefined ? undefined : { cause: redactedError(e.cause, urls) },
  );
  copy.name = e.name;
  return copy;
}

/**
 * The body of `res` as UTF-8 text: refused past `max` bytes (said by Content-Length, or
 * counted while reading, which stops there), when it is not UTF-8, or empty or whitespace only.
 */
async function readBody(
  url: string,
  res: Response,
  max: number,
  got: { bytes: number },
): Promise<string> {
  const tooLarge = () =>
    new ManifestUrlError(
      url,
      `Shrink the document at ${url}: it has more than ${max} bytes (${mib(max)})`,
      got.bytes,
    );
  const length = Number(res.headers.get("content-length") ?? NaN);
  if (length > max) {
    await res.body?.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      got.bytes += value.length;
      if (got.bytes > max) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(got.bytes);
  let off = 0;
  for (const c of chunks) {
    bytes.set(c, off);
    off += c.length;
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new ManifestUrlError(
      url,
      `Serve the document at ${url} as UTF-8 text: it is binary or in another encoding`,
      got.bytes,
    );
  }
  if (text.trim() === "") {
    throw new ManifestUrlError(
      url,
      `Fix the document at ${url}: it is empty (${got.bytes} bytes), and an empty answer removes no pod`,
      got.bytes,
    );
  }
  return text;
}

/** What a failed connection says: the innermost cause, without the wrapping of Deno's fetch. */
function connectionMessage(url: string, err: unknown): string {
  let detail = err instanceof Error ? err.message : String(err);
  for (let e: unknown = err; e instanceof Error; e = e.cause) detail = e.message;
  detail = detail
    .replace(/^error sending request for url \((?:[^)]|\)(?!: ))*\): /, "")
    .replace(/^client error \((?:Connect|SendRequest)\): /, "")
    .replace(/ \(os error \d+\)/, "");
  if (/certificate|tls|handshake/i.test(detail)) {
    return `Check the certificate of ${url}: ${detail}; for a private CA, pass --manifest-url-ca FILE`;
  }
  return `Check that ${url} is reachable: ${detail}`;
}

function seconds(ms: number): string {
  return `${ms / 1000} s`;
}

function mib(bytes: number): string {
  return bytes === MAX_MANIFEST_BYTES ? "1 MiB" : `${bytes} bytes`;
}
