/**
 * The bench's interruption (SIGINT or SIGTERM ends every wait and pause early), its pauses,
 * its polling, and its progress lines on stderr.
 *
 * @module
 */
import { pauseFor, waitFor } from "../testing/wait.ts";
import { pollDelay } from "./settings.ts";

/** Aborted when the bench is asked to stop: every wait then throws "Interrupted". */
export const interrupted = new AbortController();

/** Stops every wait and pause of the bench. */
export function interrupt(): void {
  interrupted.abort(new Error("Interrupted"));
}

/** Prints a progress line to stderr. */
export function progress(line: string): void {
  console.error(`bench: ${line}`);
}

/** Pauses for `ms`; ends early (and the next wait throws) when the bench is interrupted. */
export function sleep(ms: number): Promise<void> {
  interrupted.signal.throwIfAborted();
  return pauseFor(ms, interrupted.signal);
}

/**
 * Calls `probe` until it returns true, `pollDelay` apart (or every `everyMs`); throws after
 * `timeoutMs`. `since` is when the clock started (default: now).
 */
export async function poll(
  what: string,
  probe: () => Promise<boolean>,
  { everyMs, timeoutMs = 60_000, since = performance.now() }: {
    everyMs?: number;
    timeoutMs?: number;
    since?: number;
  } = {},
): Promise<void> {
  await waitFor(what, probe, {
    timeoutMs,
    everyMs: everyMs ?? pollDelay,
    since,
    signal: interrupted.signal,
  });
}

/** The message of `err`, and of each error in its `cause` chain. */
export function errorMessage(err: unknown): string {
  const parts: string[] = [];
  for (let e = err; e !== undefined && parts.length < 5; e = (e as Error).cause) {
    parts.push(e instanceof Error ? e.message : String(e));
    if (!(e instanceof Error)) break;
  }
  return parts.join(": ");
}
