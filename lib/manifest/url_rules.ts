/**
 * The rules of `--manifest-url`, checked before any connection is made: which URLs are fetched
 * (`https://`, or `http://` to a loopback address unless `--insecure-manifest-url`), the headers
 * of `--manifest-url-header` in kubelet's syntax, and the limits of one fetch.
 *
 * @module
 */

/** The default of `--manifest-url-interval`: kubelet's 20 s. */
export const MANIFEST_URL_INTERVAL_MS = 20_000;
/** The shortest `--manifest-url-interval`. */
export const MANIFEST_URL_MIN_INTERVAL_MS = 1_000;
/** How long one fetch may take, its redirects and body included. */
export const MANIFEST_URL_TIMEOUT_MS = 10_000;

/** The headers sent with every fetch, as `[name, value]` pairs in the order given. */
export type UrlHeaders = readonly (readonly [string, string])[];

/** A flag of `--manifest-url` that cannot be used; the message names the flag and the fix. */
export class ManifestUrlFlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ManifestUrlFlagError";
  }
}

/** RFC 9110's `token`: what a header name may be made of. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** The headers tinylet sets itself, for polls that cost little when nothing changed. */
const OWN_HEADERS = new Set(["if-none-match", "if-modified-since"]);
const HEADER_EXAMPLE = "--manifest-url-header 'Authorization:Bearer TOKEN,X-Node:web-1'";

/**
 * The headers of every `--manifest-url-header` value, in kubelet's syntax: comma-separated
 * `NAME:VALUE` pairs (split at the first colon, both sides trimmed, empty pairs skipped), the
 * flag repeatable; several values of one name are kept in the order given. Throws
 * {@linkcode ManifestUrlFlagError} for a pair without a colon, a name that is not an HTTP
 * token, a value holding a control character, or a header tinylet sets itself.
 */
export function parseUrlHeaders(values: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const value of values) {
    for (const pair of value.split(",")) {
      if (pair.trim() === "") continue;
      const colon = pair.indexOf(":");
      if (colon < 0) {
        throw new ManifestUrlFlagError(
          `--manifest-url-header: ${
            JSON.stringify(pair)
          } is not NAME:VALUE; write comma-separated pairs, e.g. ${HEADER_EXAMPLE}`,
        );
      }
      const name = pair.slice(0, colon).trim();
      const text = pair.slice(colon + 1).trim();
      if (!TOKEN.test(name)) {
        throw new ManifestUrlFlagError(
          `--manifest-url-header: ${
            JSON.stringify(name)
          } is not a header name; use letters, digits and !#$%&'*+-.^_\`|~, e.g. ${HEADER_EXAMPLE}`,
        );
      }
      if (OWN_HEADERS.has(name.toLowerCase())) {
        throw new ManifestUrlFlagError(
          `--manifest-url-header: leave out ${name}: tinylet sends it itself, so that a poll of an unchanged document costs one small answer`,
        );
      }
      // deno-lint-ignore no-control-regex
      if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(text)) {
        throw new ManifestUrlFlagError(
          `--manifest-url-header: the value of ${name} holds a control character; remove it`,
        );
      }
      out.push([name, text]);
    }
  }
  return out;
}

/** Whether `source` (a pod's recorded source) names a URL (`--manifest-url`), not a file. */
export function isUrlSource(source: string): boolean {
  return /^https?:\/\//.test(source);
}

/**
 * Whether `hostname` (as `URL.hostname` gives it: IPv4 numbers normalized, IPv6 in brackets)
 * is a loopback address: `localhost`, 127.0.0.0/8 or `[::1]`.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  if (host === "localhost" || host === "[::1]") return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** What stands for a query's value in a URL as shown. */
export const REDACTED = "<redacted>";

/**
 * `url` as shown and recorded (the pods' source, every message, the kept document): without
 * its fragment and user info, each non-empty value of its query replaced by `<redacted>`, the
 * parameters' names kept (a part without `=` counts as a value):
 * `https://git.example/raw/pods.yaml?private_token=abc&ref=main` becomes
 * `https://git.example/raw/pods.yaml?private_token=<redacted>&ref=<redacted>`. A URL without a
 * query shows as itself. Tokens in a URL's query thus never reach a log or a label; the
 * whole URL is used only to fetch. Showing a shown URL again changes nothing.
 */
export function shownUrl(url: URL | string): string {
  const u = new URL(url);
  const search = u.search;
  u.username = "";
  u.password = "";
  u.hash = "";
  u.search = "";
  const base = u.href;
  if (search === "") return base;
  const parts = search.slice(1).split("&").map((part) => {
    const eq = part.indexOf("=");
    if (eq < 0) return part === "" ? part : REDACTED;
    return eq === part.length - 1 ? part : `${part.slice(0, eq)}=${REDACTED}`;
  });
  return `${base}?${parts.join("&")}`;
}

/**
 * `text` with every form of each of `urls` in it (the whole URL, without its fragment, and its
 * query alone) replaced by its shown form ({@linkcode shownUrl}): for messages that quote a URL,
 * such as the errors of Deno's fetch.
 */
export function redactUrls(text: string, urls: readonly URL[]): string {
  const pairs: [string, string][] = [];
  for (const url of urls) {
    const shown = shownUrl(url);
    const bare = new URL(url.href);
    bare.hash = "";
    pairs.push([url.href, shown], [bare.href, shown]);
    const q = shown.indexOf("?");
    if (url.search.length > 1) pairs.push([url.search, q < 0 ? "" : shown.slice(q)]);
  }
  // The longest first: a whole URL before its query alone.
  pairs.sort((a, b) => b[0].length - a[0].length);
  let out = text;
  for (const [secret, shown] of pairs) {
    if (secret !== shown) out = out.replaceAll(secret, shown);
  }
  return out;
}

/**
 * Why `url` may not be fetched, or undefined: it is not `http://` or `https://`, it carries a
 * user name or password, or it is plain `http://` to a host that is not a loopback address and
 * `insecure` (`--insecure-manifest-url`) is not given.
 */
export function urlRefusal(url: URL, insecure: boolean): string | undefined {
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return `Use an https:// URL: ${shownUrl(url)} is ${url.protocol.replace(/:$/, "")}://`;
  }
  if (url.username !== "" || url.password !== "") {
    return `Take the credentials out of the URL ${
      shownUrl(url)
    }: send them as a header, e.g. ${HEADER_EXAMPLE}`;
  }
  if (url.protocol === "http:" && !insecure && !isLoopbackHost(url.hostname)) {
    return `Use https:// for ${
      shownUrl(url)
    }: plain http:// is accepted for loopback addresses only, since whoever can change the document runs anything as root on this node; pass --insecure-manifest-url to accept it anyway`;
  }
  return undefined;
}

/**
 * The URL of `--manifest-url`, parsed and judged by {@linkcode urlRefusal}. Throws
 * {@linkcode ManifestUrlFlagError} naming the flag and what to write.
 */
export function parseManifestUrl(text: string, insecure: boolean): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ManifestUrlFlagError(
      `--manifest-url: ${
        JSON.stringify(text.replace(/\?.*$/s, `?${REDACTED}`))
      } is not a URL; write it whole, e.g. https://config.example.com/nodes/web.yaml`,
    );
  }
  const refusal = urlRefusal(url, insecure);
  if (refusal !== undefined) throw new ManifestUrlFlagError(`--manifest-url: ${refusal}`);
  return url;
}
