/**
 * The agent's loop. A start, a file event or a tick only says "look again": the loop runs one
 * pass at a time (never two at once), coalesces bursts of events, backs off while the runtime
 * is unreachable, and sleeps until the next pass asked for. Every timer runs on its clock.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { Logger } from "../base/log.ts";
import { within } from "../base/timer.ts";
import type { Flights } from "./flights.ts";
import { isFinished, type Watch } from "./watcher.ts";
import { Wake } from "./wake.ts";

/**
 * A file being written (created or modified, not yet closed) is read this many milliseconds
 * after the first such event, so a pass does not read it half written; events within it are
 * one pass. A finished write (the writer closed the file), a rename into place and a delete
 * are acted on at once.
 */
export const DEBOUNCE_MS = 50;
/**
 * While pods wait for a free flight slot, a finishing flight starts the next one itself, and
 * asks for a pass (to publish the new state) at most this often; so does a flight that ends
 * while other pods' flights still run and leaves its own pod nothing to do next.
 */
export const QUEUED_PASS_DELAY_MS = 1_000;
/** While the runtime is unreachable, the first retry waits this long, doubling each time... */
export const RUNTIME_BACKOFF_MIN_MS = 250;
/** ...up to this long. */
export const RUNTIME_BACKOFF_MAX_MS = 5_000;
/**
 * When the loop stops, how long cancelled work (flights, probes) gets to unwind before the
 * status file says the agent stopped: everything is cancelled through the signal, so this
 * only bounds what cannot be (a hung file system).
 */
export const STOP_GRACE_MS = 1_500;

/** What one pass tells the loop. */
export interface PassOutcome {
  /** False when the runtime could not be listed. */
  runtimeReachable: boolean;
  /** When the pass wants to run again at the latest, in wall-clock milliseconds. */
  wakeAt: number | undefined;
  /** The actions the pass started; none when absent. */
  actions?: readonly unknown[];
}

/** What the loop runs and waits with. */
export interface LoopOptions {
  clock: Clock;
  log: Logger;
  /** Milliseconds between safety-net passes. */
  intervalMs: number;
  /** One pass whose flights run on without it. */
  pass(signal: AbortSignal): Promise<PassOutcome>;
  /** The flights the passes start: a finishing one wakes the loop. */
  flights: Flights;
  /** Makes the watch of the manifest directory, which calls `onEvent` for each event. */
  watch(onEvent: (event?: Deno.FsEvent) => void): Watch;
  /** A watch event came. */
  onWatchEvent?: () => void;
  /** Stops the probes; resolves when they have unwound. */
  stopProbes(): Promise<void>;
  /** The loop starts; `poke` wakes it for a pass, until it ends. */
  onStart?: (poke: () => void) => void;
  /** The loop ended, its work unwound (or the grace over): resolves when that is published. */
  onStopped?: () => Promise<void>;
  /**
   * Run once, after the first pass that left the agent idle: the runtime answered, the pass
   * started nothing, and no flight runs or waits for a slot. The loop waits for it before it
   * sleeps; a failure is logged at debug and ignored.
   */
  onFirstIdle?: () => Promise<void>;
}

/** Runs passes until `signal` aborts: one at start, then on file events, ticks and wake times. */
export async function runLoop(o: LoopOptions, signal: AbortSignal): Promise<void> {
  const { clock, flights } = o;
  const wake = new Wake(clock);
  o.onStart?.(() => wake.poke());
  let cancelTick = () => {};
  const tick = () => {
    cancelTick = clock.schedule(() => {
      wake.poke();
      tick();
    }, o.intervalMs);
  };
  tick();
  const watcher = o.watch((event) => {
    o.onWatchEvent?.();
    // The queue was planned from the files as they were: the next pass plans it again.
    flights.clearQueue();
    wake.poke(event && isFinished(event) ? 0 : DEBOUNCE_MS);
  });
  // Probes stop with the loop at once: they hold no pass, but their runs are in flight.
  let probesStopped: Promise<void> | undefined;
  const onAbort = () => {
    probesStopped ??= o.stopProbes();
    wake.poke();
  };
  signal.addEventListener("abort", onAbort);
  flights.onDone = (later) => wake.poke(later ? QUEUED_PASS_DELAY_MS : 0);
  let backoff = RUNTIME_BACKOFF_MIN_MS;
  let onFirstIdle = o.onFirstIdle;
  try {
    while (!signal.aborted) {
      await watcher.ensure();
      const r = await o.pass(signal);
      if (signal.aborted) break;
      if (onFirstIdle && r.runtimeReachable && !r.actions?.length && flights.idle) {
        const run = onFirstIdle;
        onFirstIdle = undefined;
        try {
          await run();
        } catch (err) {
          o.log.debug(`Work after the first idle pass failed: ${(err as Error)?.message ?? err}`);
        }
        if (signal.aborted) break;
      }
      if (r.runtimeReachable) {
        backoff = RUNTIME_BACKOFF_MIN_MS;
        if (r.wakeAt === undefined) await wake.wait();
        else await wake.sleep(Math.max(0, r.wakeAt - clock.epochMs()));
      } else {
        o.log.debug("Runtime unreachable, retrying", { inMs: backoff });
        await wake.sleep(backoff);
        backoff = Math.min(backoff * 2, RUNTIME_BACKOFF_MAX_MS);
      }
    }
  } finally {
    cancelTick();
    signal.removeEventListener("abort", onAbort);
    wake.close();
    await watcher.close();
    flights.clearQueue();
    // Stopped again, whatever the signal's stop missed included.
    const probesDone = Promise.all([probesStopped, o.stopProbes()]);
    // In-flight work was cancelled through the signal; let it unwind, within a bound.
    await within(
      Promise.allSettled([flights.settled(), probesDone]),
      STOP_GRACE_MS,
      undefined,
      (fn, ms) => clock.schedule(fn, ms),
    );
    flights.onDone = undefined;
    await o.onStopped?.();
  }
}
