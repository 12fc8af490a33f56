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

/**
 * Whether `hostname` (as `URL.hostname` gives it: IPv4 numbers normalized, IPv6 in brackets)
 * is a loopback address: `localhost`, 127.0.0.0/8 or `[::1]`.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  if (host === "localhost" || host === "[::1]") return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Why `url` may not be fetched, or undefined: it is not `http://` or `https://`, it carries a
 * user name or password, or it is plain `http://` to a host that is not a loopback address and
 * `insecure` (`--insecure-manifest-url`) is not given.
 */
export function urlRefusal(url: URL, insecure: boolean): string | undefined {
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return `Use an https:// URL: ${url.href} is ${url.protocol.replace(/:$/, "")}://`;
  }
  if (url.username !== "" || url.password !== "") {
    return `Take the credentials out of the URL ${
      redacted(url)
    }: send them as a header, e.g. ${HEADER_EXAMPLE}`;
  }
  if (url.protocol === "http:" && !insecure && !isLoopbackHost(url.hostname)) {
    return `Use https:// for ${url.href}: plain http:// is accepted for loopback addresses only, since whoever can change the document runs anything as root on this node; pass --insecure-manifest-url to accept it anyway`;
  }
  return undefined;
}

/** `url` with its password (if any) replaced, for messages. */
function redacted(url: URL): string {
  if (url.password === "") return url.href;
  const copy = new URL(url.href);
  copy.password = "REDACTED";
  return copy.href;
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
        JSON.stringify(text)
      } is not a URL; write it whole, e.g. https://config.example.com/nodes/web.yaml`,
    );
  }
  const refusal = urlRefusal(url, insecure);
  if (refusal !== undefined) throw new ManifestUrlFlagError(`--manifest-url: ${refusal}`);
  return url;
}
