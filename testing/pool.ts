/**
 * A bounded worker pool: runs an async function over a list, at most N at a
 * time, so a few-core machine's runtime is not asked for everything at once.
 *
 * @module
 */

/** Runs `fn` on each item, at most `width` at once; throws the first error after all stopped. */
export async function pool<T, R>(
  items: T[],
  width: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  if (failure) throw failure.error;
  return out;
}
