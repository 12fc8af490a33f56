/**
 * What a test makes the fake's calls do before they run: fail with an error, answer after a
 * delay, or hang, for the next calls of one method. A wait honours the call's deadline and
 * signal as the real runtime does (DeadlineExceeded, Cancelled) and is recorded with how it
 * ended.
 *
 * @module
 */
import type { CallOptions } from "../lib/runtime/cri.ts";
import { CriError } from "../lib/runtime/errors.ts";
import { DEFAULT_TIMEOUT_MS } from "../lib/runtime/grpc.ts";
import { scheduleAfter } from "../lib/base/timer.ts";

/** An injected delay or hang that a call waited on, and how the wait ended. */
export interface InjectedWait {
  method: string;
  /** The call's deadline as the fake took it: milliseconds from the call's start. */
  timeoutMs: number;
  /**
   * Unset while the call waits; `elapsed` when the delay ran to its end, `deadline` when the
   * call's deadline cut it, `cancelled` when the call's signal aborted it.
   */
  ended?: "elapsed" | "deadline" | "cancelled";
}

/** What the fake should do on the next calls of one method. */
export interface Injection {
  /** Reject with this error. */
  error?: Error;
  /**
   * Answer after this many milliseconds; past the call's deadline (its `timeoutMs`, else the
   * real client's default, {@linkcode DEFAULT_TIMEOUT_MS}), DeadlineExceeded at the deadline.
   */
  delayMs?: number;
  /**
   * Never answer: the call waits until its signal aborts (then Cancelled) or until its
   * deadline passes, as `delayMs` (then DeadlineExceeded).
   */
  hang?: boolean;
  /** How many calls this applies to (default 1; Infinity for all). */
  times?: number;
}

/** The pending injections of each method, and the waits they made. */
export class Injections {
  /** The injected delays and hangs that calls waited on, in order. */
  readonly waits: InjectedWait[] = [];
  readonly #byMethod = new Map<string, Injection[]>();

  /** The next calls of `method` fail or wait as `injection` says. */
  add(method: string, injection: Injection): void {
    const list = this.#byMethod.get(method) ?? [];
    list.push({ times: 1, ...injection });
    this.#byMethod.set(method, list);
  }

  /** Removes every pending injection. */
  clear(): void {
    this.#byMethod.clear();
  }

  /**
   * Applies the next injection of `method`, if any: waits as it says (within the call's
   * deadline, else the real client's default), then throws its error.
   */
  async apply(method: string, opts?: CallOptions): Promise<void> {
    const list = this.#byMethod.get(method);
    const injection = list?.[0];
    if (!list || !injection) return;
    injection.times = (injection.times ?? 1) - 1;
    if (injection.times <= 0) list.shift();
    const timeoutMs = opts?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (injection.hang) {
      const wait: InjectedWait = { method, timeoutMs };
      this.waits.push(wait);
      try {
        await abortableDelay(timeoutMs, opts?.signal);
      } catch {
        wait.ended = "cancelled";
        throw cancelled(method, opts?.signal);
      }
      wait.ended = "deadline";
      throw new CriError("DeadlineExceeded", method, `${method}: context deadline exceeded`);
    }
    if (injection.delayMs) {
      const wait: InjectedWait = { method, timeoutMs };
      this.waits.push(wait);
      try {
        await abortableDelay(Math.min(injection.delayMs, timeoutMs), opts?.signal);
      } catch {
        wait.ended = "cancelled";
        throw cancelled(method, opts?.signal);
      }
      wait.ended = injection.delayMs > timeoutMs ? "deadline" : "elapsed";
      if (injection.delayMs > timeoutMs) {
        throw new CriError(
          "DeadlineExceeded",
          method,
          `${method}: context deadline exceeded`,
        );
      }
    }
    if (injection.error) throw injection.error;
  }
}

/** The error of a call whose signal aborted. */
export function cancelled(method: string, signal: AbortSignal | undefined): CriError {
  return new CriError("Cancelled", method, `${method}: context canceled`, {
    cause: signal?.reason,
  });
}

/**
 * Waits `ms` (any length, timer-safe; `Infinity`: until `signal` aborts); rejects when
 * `signal` aborts.
 */
export function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const cancel = scheduleAfter(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      cancel();
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
