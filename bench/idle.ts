/**
 * Figure 4: an agent's CPU, memory and CRI calls per pass while idle, before any pod and with
 * its pods converged, and with them converged while `/metrics` is scraped every 15 s (as a
 * Prometheus would: the resource metrics are read from the runtime at each scrape).
 *
 * @module
 */
import { type BenchAgent, callsBetween, cpuSeconds, statusBytes } from "./agent.ts";
import type { Bench } from "./context.ts";
import { manifest, podName } from "./settings.ts";
import { pods, range } from "./stats.ts";
import { progress, sleep } from "./run_control.ts";

/** What the agent used over one idle window. */
export interface IdleWindow {
  seconds: number;
  cpuPercent: number;
  rssBytes: number;
  passes: number;
  /** The passes' CRI calls by method: the stats calls of the reads of `/metrics` left out. */
  calls: Map<string, number>;
  /** The stats calls of the reads of `/metrics` counted in the window, by method. */
  stats: Map<string, number>;
  /**
   * The reads of `/metrics` whose calls are counted in the window: the one that opens it (a
   * read's calls come after its text) and the scrapes in it; the closing read's are not.
   */
  reads: number;
}

/** The idle figures. */
export interface IdleResult {
  pods: number;
  /** The same agent before any pod: what the runtime and the loop cost alone. */
  empty: IdleWindow;
  /** The first window after the pods converged (the runtime's and V8's after-work included). */
  first: IdleWindow;
  /** The window after that: the steady state. */
  converged: IdleWindow;
  /** A third window, with `/metrics` scraped every {@linkcode SCRAPE_EVERY_MS}. */
  scraped: IdleWindow & { scrapes: number };
  /** VmHWM: the peak since the agent started, starting the pods included. */
  peakRssBytes: number;
}

/** How often the scraped window scrapes `/metrics`: Prometheus's usual interval. */
export const SCRAPE_EVERY_MS = 15_000;

/**
 * The agent's CPU, RSS and CRI calls over `seconds` of idling; with `scrape`, `/metrics` is
 * fetched at the window's start and every {@linkcode SCRAPE_EVERY_MS} in it (counted in `scrape`).
 * The window's counts take in the calls of the read that opens it and of the scrapes, not of the
 * read that closes it.
 */
async function idleWindow(
  b: Bench,
  agent: BenchAgent,
  seconds: number,
  scrape?: { count: number },
): Promise<IdleWindow> {
  const m0 = await agent.metrics();
  const cpu0 = await cpuSeconds(agent.pid, b.ticks);
  const t0 = performance.now();
  if (scrape) {
    for (let at = 0; at < seconds * 1000; at += SCRAPE_EVERY_MS) {
      await sleep(Math.max(0, at - (performance.now() - t0)));
      await agent.metrics();
      scrape.count++;
    }
  }
  await sleep(Math.max(0, seconds * 1000 - (performance.now() - t0)));
  const cpu1 = await cpuSeconds(agent.pid, b.ticks);
  const elapsed = (performance.now() - t0) / 1000;
  const rssBytes = await statusBytes(agent.pid, "VmRSS");
  const m1 = await agent.metrics(); // after the CPU reading: its own cost stays out
  const counts = callsBetween(m0, m1);
  return {
    seconds: elapsed,
    cpuPercent: ((cpu1 - cpu0) / elapsed) * 100,
    rssBytes,
    passes: counts.passes,
    calls: counts.byMethod,
    stats: counts.stats,
    reads: 1 + (scrape?.count ?? 0),
  };
}

/** Measures one agent idle before any pod, then twice with `--idle-pods` pods converged. */
export async function idle(b: Bench): Promise<IdleResult> {
  const instance = "idle";
  const n = b.options.idlePods;
  const seconds = b.options.idleSeconds;
  const agent = await b.startAgent(instance, undefined); // the default --interval, 2s
  const d = b.dirs(instance);
  const files = range(n).map((i) => ({
    path: `${d.manifests}/${podName("idle", i)}.yaml`,
    text: manifest(podName("idle", i), b.rc.busyboxImage),
  }));
  try {
    progress(`idle: no pods yet; measuring for ${seconds} s`);
    const empty = await idleWindow(b, agent, seconds);
    progress(`idle: starting ${pods(n)}`);
    await b.writeAndWait(instance, files, n);
    // Converged: two whole passes after every container runs (the first may still fetch statuses).
    const now = (await agent.metrics()).passes;
    await agent.waitForPasses(now + 2);
    progress(`idle: ${pods(n)} converged; measuring for ${seconds} s, twice`);
    const first = await idleWindow(b, agent, seconds);
    const converged = await idleWindow(b, agent, seconds);
    progress(`idle: measuring for ${seconds} s while /metrics is scraped every 15 s`);
    const scrape = { count: 0 };
    const scraped = { ...await idleWindow(b, agent, seconds, scrape), scrapes: scrape.count };
    const peakRssBytes = await statusBytes(agent.pid, "VmHWM");
    progress(`idle: removing ${pods(n)}`);
    await b.deleteAndWait(instance, files.map((f) => f.path));
    return { pods: n, empty, first, converged, scraped, peakRssBytes };
  } finally {
    await b.stopAgent(agent);
  }
}
