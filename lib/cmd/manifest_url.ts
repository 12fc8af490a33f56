/**
 * `--manifest-url` opened for a command: its HTTP client (Deno's roots, the system's bundle
 * and `--manifest-url-ca`) and its source, for the agent, `tinylet check` and `tinylet plan`.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { Logger } from "../base/log.ts";
import type { AgentMetrics } from "../base/metrics.ts";
import { manifestUrlClient, systemBundlePaths } from "../manifest/url_client.ts";
import { UrlSource } from "../node/url_source.ts";
import type { ManifestUrlConfig } from "./url_flags.ts";

/** The source of `--manifest-url`; disposing it closes its HTTP client. */
export interface OpenedUrl extends Disposable {
  source: UrlSource;
}

/** What the source is opened with besides the flags. */
export interface OpenUrlOptions {
  /** `--root`: where the last valid document is kept; nowhere when absent (`check`). */
  root?: string;
  /** Whether a new valid document is written under `root` (default true; `plan` only reads). */
  keep?: boolean;
  log?: Logger;
  metrics?: AgentMetrics;
  /** When polls are due, the fetch's timeout, the times recorded (default the system's). */
  clock?: Clock;
}

/**
 * Opens `--manifest-url`. Throws an error naming `--manifest-url-ca` when that file cannot be
 * read or holds no certificate.
 */
export async function openUrlSource(
  config: ManifestUrlConfig,
  options: OpenUrlOptions = {},
): Promise<OpenedUrl> {
  const client = await manifestUrlClient(config.ca, systemBundlePaths(Deno.env));
  const source = new UrlSource({
    url: config.fetchUrl,
    headers: config.headers,
    intervalMs: config.intervalMs,
    insecure: config.insecure,
    client,
    ...options,
  });
  return { source, [Symbol.dispose]: () => client.close() };
}
