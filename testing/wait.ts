/**
 * Polling with a deadline, for tests against the real runtime (which changes
 * state on its own time). Never a fixed sleep.
 *
 * @module
 */

/** Calls `probe` every `everyMs` until it returns a value other than `undefined` or `false`; throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string | (() => string),
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 20_000, everyMs = 25 }: {
    timeoutMs?: number;
    everyMs?: number;
  } = {},
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (true) {
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
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
