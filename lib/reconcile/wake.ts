/**
 * The loop's wake-up flag: a poke asks for a pass, now or after a delay; pokes while a pass runs
 * are remembered, so no change is missed, and pokes within a delay coalesce into one wake-up.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";

/** A wake-up flag whose delays run on a {@linkcode Clock}. */
export class Wake {
  readonly #clock: Clock;
  #pending = false;
  #resolve: (() => void) | undefined;
  #cancelDebounce: (() => void) | undefined;
  #debounceAt = 0;
  #cancelSleep: (() => void) | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * Wakes the loop, now or after `delayMs`; pokes within a delay coalesce, and the earliest
   * time asked for wins.
   */
  poke(delayMs = 0): void {
    if (delayMs > 0) {
      const at = this.#clock.now() + delayMs;
      if (this.#cancelDebounce !== undefined && this.#debounceAt <= at) return;
      this.#cancelDebounce?.();
      this.#debounceAt = at;
      this.#cancelDebounce = this.#clock.schedule(() => {
        this.#cancelDebounce = undefined;
        this.poke();
      }, delayMs);
      return;
    }
    // A pass now reads everything a pass asked for later would: that one is not needed.
    this.#cancelDebounce?.();
    this.#cancelDebounce = undefined;
    this.#pending = true;
    this.#resolve?.();
  }

  /** Resolves at the next poke (at once when one came since the last wait). */
  wait(): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#resolve = () => {
        this.#resolve = undefined;
        this.#pending = false;
        resolve();
      };
    });
  }

  /** Resolves after `ms`, or at the next poke. */
  sleep(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#cancelSleep = this.#clock.schedule(() => {
        this.#cancelSleep = undefined;
        this.#resolve = undefined;
        resolve();
      }, ms);
      this.#resolve = () => {
        this.#cancelSleep?.();
        this.#cancelSleep = undefined;
        this.#resolve = undefined;
        this.#pending = false;
        resolve();
      };
    });
  }

  /** Cancels its timers and ends a wait or sleep in progress. */
  close(): void {
    this.#cancelDebounce?.();
    this.#cancelDebounce = undefined;
    this.#cancelSleep?.();
    this.#cancelSleep = undefined;
    this.#resolve?.();
  }
}
