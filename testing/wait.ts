/**
 * Polling with a deadline, for tests against the real runtime (which changes
 * state on its own time). Never a fixed sleep.
 *
 * @module
 */

/** Options of {@linkcode waitFor}. */
export interface WaitOptions {
  /** Give up after this many milliseconds (default 20 000). */
  timeoutMs?: number;
  /**
   * The pause between calls in milliseconds (default 25), or a function of the milliseconds
   * elapsed since `since` that returns it.
   */
  everyMs?: number | ((elapsedMs: number) => number);
  /** When the clock of `everyMs` started, as `performance.now()` (default: the call). */
  since?: number;
  /** Stops the wait (it then throws the signal's reason), a pause included. */
  signal?: AbortSignal;
}

/** Calls `probe` every `everyMs` until it returns a value other than `undefined` or `false`; throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string | (() => string),
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 20_000, everyMs = 25, since = performance.now(), signal }: WaitOptions = {},
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (true) {
    signal?.throwIfAborted();
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline) {
      const name = typeof what === "string" ? what : what();
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${name}`, { cause: last });
    }
    const pause = typeof everyMs === "number" ? everyMs : everyMs(performance.now() - since);
    await pauseFor(pause, signal);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pauseFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
