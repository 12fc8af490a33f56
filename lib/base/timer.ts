/**
 * Timers of any length. Deno (as browsers and Node) fires a timer whose delay is past
 * 2^31−1 ms (24.8 days) after 1 ms instead; a delay that comes from a manifest (a probe's
 * `periodSeconds`) can be that long, so it is waited for in segments a timer holds.
 *
 * @module
 */
import { MAX_TIMER_MS } from "./duration.ts";

/**
 * Runs `fn` once after `ms` (any finite length; `Infinity` never), in segments of at most
 * `segmentMs`; returns a canceller.
 */
export function scheduleAfter(fn: () => void, ms: number, segmentMs = MAX_TIMER_MS): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let cancelled = false;
  const due = performance.now() + Math.max(0, ms);
  const arm = () => {
    if (cancelled || ms === Infinity) return;
    const left = due - performance.now();
    if (left > segmentMs) {
      timer = setTimeout(arm, segmentMs);
    } else {
      timer = setTimeout(() => {
        if (!cancelled) fn();
      }, Math.max(0, left));
    }
  };
  arm();
  return () => {
    cancelled = true;
    clearTimeout(timer);
  };
}

/**
 * Resolves after `ms` (any length, as {@linkcode scheduleAfter}), or at once when `signal`
 * aborts; leaves no timer or listener behind.
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      cancel();
      signal.removeEventListener("abort", done);
      resolve();
    };
    const cancel = scheduleAfter(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Waits for `work` for at most `ms` (any length, as {@linkcode scheduleAfter}): true when it
 * resolved in time, false when the time ran out first (the work goes on, unwaited for); rejects
 * when `work` rejects in time. With `from`, the `ms` count from when `from` aborts (at once if
 * it has), and until then the wait is for `work` alone. The time is counted by `schedule`
 * (a clock's timer; {@linkcode scheduleAfter} by default). Leaves no timer or listener behind.
 */
export function within(
  work: Promise<unknown>,
  ms: number,
  from?: AbortSignal,
  schedule: (fn: () => void, ms: number) => () => void = scheduleAfter,
): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    let cancel: (() => void) | undefined;
    const arm = () => cancel ??= schedule(() => resolve(false), ms);
    if (!from || from.aborted) arm();
    else from.addEventListener("abort", arm, { once: true });
    work.then(() => resolve(true), reject).finally(() => {
      from?.removeEventListener("abort", arm);
      cancel?.();
    });
  });
}
