/**
 * A {@linkcode Clock} moved by hand: its timers fire when a test advances it, never on their
 * own, so code that waits (the agent's loop) is tested without sleeping.
 *
 * @module
 */
import type { Clock } from "../lib/base/clock.ts";

interface Timer {
  at: number;
  fn: () => void;
}

/** A clock whose time moves only when `advance` moves it. */
export class HandClock implements Clock {
  #now = 0;
  #epoch: number;
  #nextId = 1;
  readonly #timers = new Map<number, Timer>();

  /** Starts at monotonic time 0 and wall time `epochMs` (default 2026-11-27 12:00 UTC). */
  constructor(epochMs = Date.UTC(2026, 10, 27, 12, 0, 0)) {
    this.#epoch = epochMs;
  }

  now(): number {
    return this.#now;
  }

  epochMs(): number {
    return this.#epoch + this.#now;
  }

  schedule(fn: () => void, ms: number): () => void {
    if (ms === Infinity) return () => {};
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return () => this.#timers.delete(id);
  }

  /** How many timers wait to fire. */
  get pending(): number {
    return this.#timers.size;
  }

  /** In how many milliseconds the next timer fires; undefined when none waits. */
  nextIn(): number | undefined {
    let at: number | undefined;
    for (const t of this.#timers.values()) if (at === undefined || t.at < at) at = t.at;
    return at === undefined ? undefined : at - this.#now;
  }

  /**
   * Moves time `ms` forward, firing each timer that falls due, in order, each at its own time;
   * promise callbacks run before each timer and at the end.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + Math.max(0, ms);
    while (true) {
      await settle();
      let next: [number, Timer] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
    }
    this.#now = end;
    await settle();
  }

  /** Moves time to wall time `epochMs` (never back), as {@linkcode advance}. */
  advanceTo(epochMs: number): Promise<void> {
    return this.advance(epochMs - this.epochMs());
  }

  /** Moves time to the next timer and fires it (with any due at the same time); false when none waits. */
  async fireNext(): Promise<boolean> {
    await settle();
    const ms = this.nextIn();
    if (ms === undefined) return false;
    await this.advance(ms);
    return true;
  }

  /** Lets promise callbacks run, time standing still. */
  settle(): Promise<void> {
    return settle();
  }
}

/** One turn of the event loop: every queued promise callback runs. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
