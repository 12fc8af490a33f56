/**
 * Time driven by hand, for code that waits days: timers fire when a test moves the clock, not
 * when the wall clock gets there.
 *
 * @module
 */

import { MAX_TIMER_MS } from "../lib/base/duration.ts";

/**
 * Time driven by hand: replaces `setTimeout`, `clearTimeout` and `performance.now` (not
 * `Date.now`) until disposed. A delay past 2^31-1 ms fires after 1 ms, as Deno's own timers do, so code that
 * hands such a delay to a raw timer is caught.
 */
export class HandDrivenTime implements Disposable {
  #now = 0;
  #nextId = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  readonly #real = {
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
    now: performance.now,
  };

  constructor() {
    globalThis.setTimeout = ((fn: () => void, ms = 0) => {
      const delay = ms > MAX_TIMER_MS ? 1 : Math.max(0, ms);
      const id = this.#nextId++;
      this.#timers.set(id, { at: this.#now + delay, fn });
      return id;
    }) as unknown as typeof setTimeout;
    globalThis.clearTimeout = ((id?: number) => {
      if (id !== undefined) this.#timers.delete(id);
    }) as unknown as typeof clearTimeout;
    performance.now = () => this.#now;
  }

  /** Moves time `ms` forward, firing each timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    while (true) {
      await this.#settle();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
    }
    this.#now = end;
    await this.#settle();
  }

  /** Lets promise callbacks run (one real turn of the event loop). */
  #settle(): Promise<void> {
    return new Promise((resolve) => this.#real.setTimeout(resolve, 0));
  }

  [Symbol.dispose](): void {
    globalThis.setTimeout = this.#real.setTimeout;
    globalThis.clearTimeout = this.#real.clearTimeout;
    performance.now = this.#real.now;
  }
}
