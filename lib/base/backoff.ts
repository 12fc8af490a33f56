/**
 * Exponential backoff per key, as kubelet's: 10 s doubling to 300 s, reset
 * after 10 minutes without a new failure. Time comes in as arguments, so the
 * planner and its tests drive it by hand.
 *
 * @module
 */

/** The shape of a backoff. */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** A failure this long after the previous one starts over at `initialMs`. */
  resetAfterMs: number;
}

/** kubelet's crash-loop and image-pull backoff. */
export const KUBELET_BACKOFF: BackoffPolicy = {
  initialMs: 10_000,
  maxMs: 300_000,
  resetAfterMs: 600_000,
};

interface Entry {
  /** The current delay. */
  delayMs: number;
  lastFailureAt: number;
  /** What failed last (a container id, an error text), so one failure is counted once. */
  cause: string;
}

/** Backoff state for many keys. */
export class Backoff {
  readonly #policy: BackoffPolicy;
  readonly #entries = new Map<string, Entry>();

  constructor(policy: BackoffPolicy = KUBELET_BACKOFF) {
    this.#policy = policy;
  }

  /**
   * Records a failure of `key` at `at` (milliseconds). The same `cause` twice
   * counts once. Returns when the next try is allowed.
   */
  fail(key: string, at: number, cause: string): number {
    const p = this.#policy;
    const e = this.#entries.get(key);
    if (e && e.cause === cause) return e.lastFailureAt + e.delayMs;
    const delayMs = !e || at - e.lastFailureAt > p.resetAfterMs
      ? p.initialMs
      : Math.min(e.delayMs * 2, p.maxMs);
    this.#entries.set(key, { delayMs, lastFailureAt: at, cause });
    return at + delayMs;
  }

  /** When the next try of `key` is allowed; undefined when it is not backing off. */
  until(key: string): number | undefined {
    const e = this.#entries.get(key);
    return e ? e.lastFailureAt + e.delayMs : undefined;
  }

  /** The current delay of `key` in milliseconds (0 when none). */
  delay(key: string): number {
    return this.#entries.get(key)?.delayMs ?? 0;
  }

  /** Forgets `key` (it succeeded for good, or is gone). */
  reset(key: string): void {
    this.#entries.delete(key);
  }

  /** Forgets every key for which `keep` is false. */
  prune(keep: (key: string) => boolean): void {
    for (const key of [...this.#entries.keys()]) if (!keep(key)) this.#entries.delete(key);
  }

  /** Forgets entries whose last failure is older than the reset time. */
  expire(now: number): void {
    for (const [key, e] of this.#entries) {
      if (now - e.lastFailureAt > this.#policy.resetAfterMs) this.#entries.delete(key);
    }
  }
}
