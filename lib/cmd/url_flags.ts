/**
 * The flags of `--manifest-url`, read into its settings: the URL (judged before any
 * connection), the headers in kubelet's syntax, the poll interval, the CA file and
 * `--insecure-manifest-url`. The flags that qualify the URL are refused without it.
 *
 * @module
 */
import { resolve } from "node:path";
import { durationFlag } from "../base/duration.ts";
import {
  MANIFEST_URL_INTERVAL_MS,
  MANIFEST_URL_MIN_INTERVAL_MS,
  ManifestUrlFlagError,
  parseManifestUrl,
  parseUrlHeaders,
  shownUrl,
} from "../manifest/url_rules.ts";

/** The settings of `--manifest-url`. */
export interface ManifestUrlConfig {
  /**
   * The URL as shown (`shownUrl`: its query's values redacted, no fragment): what the pods from
   * it record as their source, what every message and the kept document name.
   */
  url: string;
  /** The whole URL as given, its query's values included: used only to fetch. */
  fetchUrl: string;
  /** `--manifest-url-header`, as `[name, value]` pairs in the order given. */
  headers: [string, string][];
  /** `--manifest-url-interval` (default 20 s). */
  intervalMs: number;
  /** `--manifest-url-ca`, absolute; undefined: Deno's roots and the system's bundle only. */
  ca: string | undefined;
  /** `--insecure-manifest-url`: plain http:// to any host. */
  insecure: boolean;
}

/** The flags read here, as `node:util` `parseArgs` gives them. */
export interface UrlFlagValues {
  "manifest-url"?: string;
  "manifest-url-header"?: string[];
  "manifest-url-interval"?: string;
  "manifest-url-ca"?: string;
  "insecure-manifest-url"?: boolean;
}

/**
 * The settings of `--manifest-url`, or undefined without it. Throws an `Error` whose message
 * names the flag and what to write (the caller makes it a usage error).
 */
export function manifestUrlConfig(v: UrlFlagValues, cwd: string): ManifestUrlConfig | undefined {
  const text = v["manifest-url"];
  if (text === undefined) {
    const stray = (["manifest-url-header", "manifest-url-interval", "manifest-url-ca"] as const)
      .find((flag) => v[flag] !== undefined) ??
      (v["insecure-manifest-url"] ? "insecure-manifest-url" : undefined);
    if (stray !== undefined) {
      throw new ManifestUrlFlagError(
        `--${stray} qualifies --manifest-url: give --manifest-url URL too, or leave it out`,
      );
    }
    return undefined;
  }
  const insecure = v["insecure-manifest-url"] ?? false;
  const url = parseManifestUrl(text, insecure);
  const interval = v["manifest-url-interval"];
  const ca = v["manifest-url-ca"];
  if (ca === "") throw new ManifestUrlFlagError("--manifest-url-ca: the path is empty");
  return {
    url: shownUrl(url),
    fetchUrl: url.href,
    headers: parseUrlHeaders(v["manifest-url-header"] ?? []),
    intervalMs: interval === undefined
      ? MANIFEST_URL_INTERVAL_MS
      : durationFlag("manifest-url-interval", interval, { minMs: MANIFEST_URL_MIN_INTERVAL_MS }),
    ca: ca === undefined ? undefined : resolve(cwd, ca),
    insecure,
  };
}
