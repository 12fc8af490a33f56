/**
 * A reconciler on the fake runtime reading its manifest directory and a `--manifest-url`
 * (`UrlSource`) on the fixture's hand clock, with the passes that fetch and read the URL, and the
 * small pods and views the URL's tests share.
 *
 * @module
 */
import type { AgentMetrics } from "../lib/base/metrics.ts";
import { ManifestSources } from "../lib/node/manifest_sources.ts";
import { UrlSource } from "../lib/node/url_source.ts";
import type { Reconciler } from "../lib/reconcile/reconciler.ts";
import { FIXTURE_IMAGE, type ReconcilerFixture, reconcilerFixture } from "./reconciler_fixture.ts";

/** The interval the URL is polled at unless told otherwise: `--manifest-url-interval`'s 20 s. */
export const URL_POLL_MS = 20_000;

/** What a pass returns. */
export type PassResult = Awaited<ReturnType<Reconciler["pass"]>>;

/** A reconciler reading the directory and a URL, and the passes around the URL's fetches. */
export interface UrlFixture {
  f: ReconcilerFixture;
  url: UrlSource;
  /**
   * A pass that starts the poll, the clock moved `waitMs` while the poll runs (the fetch's
   * timeout runs on it), and a pass that reads what it brought, whose result it returns.
   */
  sync(waitMs?: number): Promise<PassResult>;
  /** The next poll: the clock moved one interval, then {@linkcode UrlFixture.sync}. */
  next(waitMs?: number): Promise<PassResult>;
}

/** Options of {@linkcode urlFixture}: the source's, and the fixture's status file. */
export interface UrlFixtureOptions {
  metrics?: AgentMetrics;
  /** One fetch's timeout (default the source's, 10 s). */
  timeoutMs?: number;
  /** The poll interval (default {@linkcode URL_POLL_MS}). */
  intervalMs?: number;
  /** Whether the fixture writes its status file. */
  statusFile?: boolean;
}

/** A reconciler fixture whose passes read its directory and `url` (its source named `url`). */
export async function urlFixture(url: string, o: UrlFixtureOptions = {}): Promise<UrlFixture> {
  const intervalMs = o.intervalMs ?? URL_POLL_MS;
  let source: UrlSource | undefined;
  const f = await reconcilerFixture({
    ...(o.metrics ? { metrics: o.metrics } : {}),
    ...(o.statusFile ? { statusFile: true } : {}),
    sources: (directory, { root, clock, log }) => {
      source = new UrlSource({
        url,
        root,
        log,
        clock,
        intervalMs,
        ...(o.metrics ? { metrics: o.metrics } : {}),
        ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
      });
      return new ManifestSources(directory, source);
    },
  });
  const made = source!;
  const sync = async (waitMs = 0) => {
    await f.reconciler.pass();
    if (waitMs > 0) await f.clock.advance(waitMs);
    await made.settled();
    return await f.reconciler.pass();
  };
  return {
    f,
    url: made,
    sync,
    next: async (waitMs = 0) => {
      await f.clock.advance(intervalMs);
      return await sync(waitMs);
    },
  };
}

/** A short-form pod of one container of the fixture's image, with `args`. */
export function urlPod(name: string, args = "serve"): string {
  return `name: ${name}\ncontainers:\n  - name: app\n    image: ${FIXTURE_IMAGE}\n    args: [${args}]\n`;
}

/** The pods the fake runs: name → its source annotation. */
export async function runningSources(f: ReconcilerFixture): Promise<Record<string, string>> {
  const list = await f.cri.listPodSandbox({ state: "SANDBOX_READY" });
  return Object.fromEntries(
    list.map((s) => [s.metadata.name, s.annotations["tinylet/source"] ?? ""]).sort(),
  );
}
