/**
 * Reading a container's log in the CRI log format (`container_log_format.ts`) for
 * `tinylet logs`: the whole log or its last lines, with its rotated files
 * (`<log>.<YYYYMMDD-hhmmss>`, made by `log_rotation.ts`) read first when asked. A short tail
 * of a big log reads little of it.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { type LogLine, parseRecords } from "./container_log_format.ts";

/**
 * Reads the log at `path` and returns its last `tail` lines (all of them when
 * `tail` is undefined; none for 0). With `includeRotated`, the log's rotated
 * files (`<log>.<YYYYMMDD-hhmmss>` beside it) are read first, oldest first, as
 * if they and the log were one file, so a line split by a rotation is joined. A
 * missing log gives [] (or, with `includeRotated`, the rotated files' lines).
 *
 * With `tail`, the files are read backwards from the end in growing chunks
 * (64 KiB, then doubling) until `tail` whole lines are known, so a short tail of
 * a big log reads little of it. Without `tail` the files are read whole.
 *
 * The files are parsed with `final` (see `parseCriLog` in `container_log_format.ts`): a line still
 * partial at the end of the log is returned as it is. Throws a `RangeError` for a
 * `tail` that is not a whole number of 0 or more, and an `Error` whose `cause` is
 * the file system error when a file exists but cannot be read.
 */
export async function readCriLog(
  path: string,
  options: { tail?: number; includeRotated?: boolean } = {},
): Promise<LogLine[]> {
  const { tail, includeRotated = false } = options;
  if (tail !== undefined && (!Number.isSafeInteger(tail) || tail < 0)) {
    throw new RangeError(`Pass a whole number of 0 or more as the tail: got "${tail}"`);
  }
  if (tail === 0) return [];
  const paths = includeRotated ? [...await rotatedFiles(path), path] : [path];
  if (tail === undefined) return await readAll(paths);
  return await readTail(paths, tail);
}

const NEWLINE = 0x0a;
const FIRST_CHUNK = 64 * 1024;

/** The rotated files of `path` (`<basename>.<YYYYMMDD-hhmmss>` beside it), oldest first. */
async function rotatedFiles(path: string): Promise<string[]> {
  const dir = dirname(path);
  const prefix = `${basename(path)}.`;
  const paths: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const suffix = entry.name.slice(prefix.length);
      if (entry.isFile && entry.name.startsWith(prefix) && /^\d{8}-\d{6}$/.test(suffix)) {
        paths.push(join(dir, entry.name));
      }
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw new Error(`Check the permissions of "${dir}": listing the rotated logs failed`, {
      cause: error,
    });
  }
  // The timestamps are fixed-width, so name order is age order.
  return paths.sort();
}

/** Opens `path` for reading, or gives undefined when nothing is there. */
export async function openLog(path: string): Promise<Deno.FsFile | undefined> {
  try {
    return await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw readError(path, error);
  }
}

/** The error for a log file that exists but cannot be read, with the file system error as its cause. */
export function readError(path: string, cause: unknown): Error {
  return new Error(`Check the permissions of "${path}": reading the container log failed`, {
    cause,
  });
}

/** Every line of `paths` taken as one file. */
async function readAll(paths: string[]): Promise<LogLine[]> {
  const decoder = new TextDecoder();
  let text = "";
  for (const path of paths) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      // A rotated file may be pruned, or the log renamed, between listing and reading.
      if (error instanceof Deno.errors.NotFound) continue;
      throw readError(path, error);
    }
    if (text !== "" && !text.endsWith("\n")) text += "\n"; // a file cut short mid-record
    text += decoder.decode(bytes);
  }
  return parseRecords(text, true, false).lines;
}

/**
 * The last `tail` lines of `paths` taken as one file, read backwards in growing
 * chunks. After each chunk the bytes read so far are parsed from their first
 * record boundary on; once `tail` lines that cannot lack their start are known
 * (or the start of the oldest file is reached) they are the answer.
 */
async function readTail(paths: string[], tail: number): Promise<LogLine[]> {
  const decoder = new TextDecoder();
  /** The bytes read so far, newest first. */
  const chunks: Uint8Array[] = [];
  let chunkSize = FIRST_CHUNK;
  for (let i = paths.length - 1; i >= 0; i--) {
    const path = paths[i] as string;
    const file = await openLog(path);
    if (file === undefined) continue;
    try {
      let end = (await file.stat()).size;
      let last = true;
      while (end > 0) {
        const start = Math.max(0, end - chunkSize);
        const chunk = await readRange(file, start, end);
        // A file cut short mid-record must not run into the newer one.
        if (last && chunks.length > 0 && chunk.at(-1) !== NEWLINE) {
          chunks.push(Uint8Array.of(NEWLINE));
        }
        chunks.push(chunk);
        last = false;
        end = start;
        chunkSize *= 2;
        const bytes = concatNewestFirst(chunks);
        if (end === 0 && i === 0) break;
        const boundary = bytes.indexOf(NEWLINE);
        if (boundary < 0) continue;
        const text = decoder.decode(bytes.subarray(boundary + 1));
        const { lines, lastUncertain } = parseRecords(text, true, true);
        if (lines.length - (lastUncertain + 1) >= tail) return lines.slice(-tail);
      }
    } catch (error) {
      throw readError(path, error);
    } finally {
      file.close();
    }
  }
  // The start of the oldest file was reached: every line is whole.
  return parseRecords(decoder.decode(concatNewestFirst(chunks)), true, false).lines.slice(-tail);
}

/** Reads bytes `start` to `end` of `file`, fewer when it was truncated meanwhile. */
async function readRange(file: Deno.FsFile, start: number, end: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(end - start);
  await file.seek(start, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < buffer.length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return buffer.subarray(0, filled);
}

/** The chunks, given newest first, as one array oldest first. */
function concatNewestFirst(chunks: Uint8Array[]): Uint8Array {
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const bytes = new Uint8Array(total);
  let offset = total;
  for (const chunk of chunks) {
    offset -= chunk.length;
    bytes.set(chunk, offset);
  }
  return bytes;
}
