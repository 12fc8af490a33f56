/**
 * The clock the agent's loop reads and sets its timers on: a monotonic time for intervals, the
 * wall time for timestamps, and one-shot timers. The system clock is the real one; tests hand a
 * clock they move themselves.
 *
 * @module
 */
import { scheduleAfter } from "./timer.ts";

/** Time, read and waited for. */
export interface Clock {
  /** Milliseconds on a monotonic clock: for intervals, delays and deadlines. */
  now(): number;
  /** Milliseconds since the epoch: for timestamps and the runtime's times. */
  epochMs(): number;
  /** Runs `fn` once after `ms` (any length; `Infinity` never); returns a canceller. */
  schedule(fn: () => void, ms: number): () => void;
}

/** The system's clocks (`performance.now`, `Date.now`) and timers of any length. */
export const SYSTEM_CLOCK: Clock = {
  now: () => performance.now(),
  epochMs: () => Date.now(),
  schedule: (fn, ms) => scheduleAfter(fn, ms),
};
