/**
 * Bytes read in pieces (a stream, a file read a chunk at a time, a probe's answer) made into one
 * array.
 *
 * @module
 */

/** `chunks` as one array: the only chunk itself when there is one, else a copy of them all. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
