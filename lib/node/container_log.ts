/**
 * Reading container logs in the CRI log format, for printing them (`tinylet
 * logs`) and following them (`-f`).
 *
 * containerd writes one record per line:
 *
 * ```text
 * 2026-03-04T05:06:07.123456789Z stdout P hello,
 * 2026-03-04T05:06:07.123456790Z stdout F  world
 * ```
 *
 * that is `<RFC3339Nano time> <stdout|stderr> <tag> <text>`, the tag being `P`
 * (a partial line, continued by the next record of the same stream) or `F` (the
 * line ends here), possibly followed by more tags after a `:` as kubelet allows
 * (`F:x`). The two records above make the one line "hello, world". Logs are
 * rotated by `./log_rotation.ts`: `<log>` is renamed to
 * `<log>.<YYYYMMDD-hhmmss>` and the runtime reopens a fresh `<log>`.
 *
 * Mirrors kubelet's `pkg/kubelet/kuberuntime/logs/logs.go`, except that partial
 * records are joined into whole lines here rather than written out as they come.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { sleep } from "../base/timer.ts";

/** One line of container output, partial records joined. */
export interface LogLine {
  /**
   * The time of the line's first record, exactly as written in the file
   * (RFC3339Nano). Empty for a malformed record, which has none.
   */
  time: string;
  stream: "stdout" | "stderr";
  /** The line without its newline; spaces, tabs and carriage returns kept as written. */
  text: string;
}

/**
 * Parses CRI log text into lines, joining each `P` record with the following
 * records of the same stream up to its `F` record. A joined line comes out where
 * its `F` record is, so a full stderr line written while a stdout line is still
 * partial comes out first. A record whose text is empty (`<time> stdout F `) is
 * an empty line.
 *
 * A malformed record (no valid timestamp, stream or `P`/`F` tag, an empty line
 * included) is kept as a stdout line of its raw text with an empty `time`, never
 * thrown away; it does not end a partial line in progress.
 *
 * With `final` false (the default), the text is taken as a chunk of a file still
 * being written: a last record without its newline and the records of a partial
 * line still waiting for its `F` record are held back in `rest`, in file order,
 * for the caller to prepend to the next chunk. With `final` true, `rest` is empty:
 * a last record without its newline is parsed as it is, and each partial line
 * still waiting (the file ends mid-line) is returned as a line, after the others.
 */
export function parseCriLog(text: string, final = false): { lines: LogLine[]; rest: string } {
  const { lines, rest } = parse(text, final, false);
  return { lines, rest };
}

/**
 * Formats a line for the terminal: its text, or with `timestamps` its time as
 * written in the file, a space and its text. A malformed line has no time and is
 * always printed as its text alone. No newline is added.
 */
export function formatLogLine(line: LogLine, timestamps: boolean): string {
  return timestamps && line.time !== "" ? `${line.time} ${line.text}` : line.text;
}

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
 * The files are parsed with `final` (see {@linkcode parseCriLog}): a line still
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

/**
 * Follows the log at `path` like `tail -F`, calling `onLine` for each line
 * appended to it, until `signal` aborts; then returns, with its file closed and
 * its timer cleared.
 *
 * It starts at the current end of the log (print what is already there with
 * {@linkcode readCriLog} first) or, when there is no log yet, at the start of
 * the log once it appears. It polls every 100 ms: reads what was appended, then
 * looks at the file now at `path`. When that is another file (another inode: the
 * log was rotated and the runtime reopened it), it reads the rest of the old file
 * through the handle it still holds, then the new file from its start; a line
 * left partial at the end of the old file is joined with its end in the new one.
 * While no file is at `path` (renamed, not reopened yet) it keeps reading the old
 * one. When the file shrank below what was read (truncated in place), it reads
 * again from its start.
 *
 * A partial line still waiting for its `F` record when `signal` aborts is not
 * passed to `onLine`. An error thrown by `onLine` stops following and is
 * rethrown; so is an error reading the log, with the file system error as its
 * `cause`.
 */
export async function followCriLog(
  path: string,
  onLine: (line: LogLine) => void,
  signal: AbortSignal,
): Promise<void> {
  const follower = new Follower(path, onLine, signal);
  try {
    await follower.run();
  } finally {
    follower.close();
  }
}

// --- parsing ---

type Stream = LogLine["stream"];

/** Matches Go's RFC3339 and RFC3339Nano times (what `time.Parse` accepts for them). */
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

/** One record of a line still waiting for its `F` record. */
interface Pending {
  time: string;
  parts: string[];
  /** The raw records with their index in the text, for `rest`. */
  records: { index: number; raw: string }[];
  /** The line may lack its start: its first records are before the text (see `parse`). */
  uncertain: boolean;
}

interface Parsed {
  lines: LogLine[];
  rest: string;
  /**
   * The index of the last line in `lines` that may lack its start, or -1. Only
   * with `cut`: the first line of each stream then ends with an `F` record whose
   * `P` records may be before the text.
   */
  lastUncertain: number;
}

/** A record's parts, or undefined when it is malformed. */
function parseRecord(
  raw: string,
): { time: string; stream: Stream; partial: boolean; text: string } | undefined {
  const timeEnd = raw.indexOf(" ");
  if (timeEnd < 0) return undefined;
  const streamEnd = raw.indexOf(" ", timeEnd + 1);
  if (streamEnd < 0) return undefined;
  const tagEnd = raw.indexOf(" ", streamEnd + 1);
  const time = raw.slice(0, timeEnd);
  const stream = raw.slice(timeEnd + 1, streamEnd);
  // "<time> <stream> F" without the space before an empty text is accepted too.
  const tags = raw.slice(streamEnd + 1, tagEnd < 0 ? raw.length : tagEnd);
  const tag = tags.split(":", 1)[0];
  if (!TIME.test(time) || (stream !== "stdout" && stream !== "stderr")) return undefined;
  if (tag !== "P" && tag !== "F") return undefined;
  const text = tagEnd < 0 ? "" : raw.slice(tagEnd + 1);
  return { time, stream, partial: tag === "P", text };
}

/**
 * Parses records into lines (see {@linkcode parseCriLog}). With `cut`, the text
 * starts somewhere in a file rather than at its start (its first record begins
 * right after a newline), and `lastUncertain` says which lines may lack their start.
 */
function parse(text: string, final: boolean, cut: boolean): Parsed {
  const raws = text.split("\n");
  // The segment after the last newline is a record still being written, or "".
  const unterminated = raws.pop() ?? "";
  if (final && unterminated !== "") raws.push(unterminated);

  const lines: LogLine[] = [];
  const pending = new Map<Stream, Pending>();
  /** The streams whose first line has ended (only tracked with `cut`). */
  const bounded = new Set<Stream>();
  let lastUncertain = -1;

  raws.forEach((raw, index) => {
    const record = parseRecord(raw);
    if (record === undefined) {
      lines.push({ time: "", stream: "stdout", text: raw });
      return;
    }
    const { stream } = record;
    let line = pending.get(stream);
    if (line === undefined) {
      line = { time: record.time, parts: [], records: [], uncertain: cut && !bounded.has(stream) };
      pending.set(stream, line);
    }
    line.parts.push(record.text);
    line.records.push({ index, raw });
    if (record.partial) return;
    pending.delete(stream);
    bounded.add(stream);
    if (line.uncertain) lastUncertain = lines.length;
    lines.push({ time: line.time, stream, text: line.parts.join("") });
  });

  if (final) {
    // The log ends mid-line: the lines still partial come out as they are.
    for (const [stream, line] of pending) {
      if (line.uncertain) lastUncertain = lines.length;
      lines.push({ time: line.time, stream, text: line.parts.join("") });
    }
    return { lines, rest: "", lastUncertain };
  }
  const held = [...pending.values()].flatMap((line) => line.records)
    .sort((a, b) => a.index - b.index)
    .map((record) => `${record.raw}\n`);
  return { lines, rest: held.join("") + unterminated, lastUncertain };
}

// --- reading ---

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
async function openLog(path: string): Promise<Deno.FsFile | undefined> {
  try {
    return await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw readError(path, error);
  }
}

function readError(path: string, cause: unknown): Error {
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
  return parse(text, true, false).lines;
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
        const { lines, lastUncertain } = parse(text, true, true);
        if (lines.length - (lastUncertain + 1) >= tail) return lines.slice(-tail);
      }
    } catch (error) {
      throw readError(path, error);
    } finally {
      file.close();
    }
  }
  // The start of the oldest file was reached: every line is whole.
  return parse(decoder.decode(concatNewestFirst(chunks)), true, false).lines.slice(-tail);
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

// --- following ---

const POLL_MS = 100;
const READ_SIZE = 64 * 1024;

/** The state of one {@linkcode followCriLog}. */
class Follower {
  readonly #path: string;
  readonly #onLine: (line: LogLine) => void;
  readonly #signal: AbortSignal;
  readonly #decoder = new TextDecoder();
  readonly #buffer = new Uint8Array(READ_SIZE);
  /** The file being read, or undefined while there is none. */
  #file: Deno.FsFile | undefined;
  /** The inode of `#file` (null where the platform has none). */
  #ino: number | null = null;
  /** How far `#file` was read. */
  #position = 0;
  /** The bytes of a record whose newline was not read yet. */
  #carry: Uint8Array = new Uint8Array(0);
  /** The records of lines still partial, as `parseCriLog` holds them back. */
  #rest = "";

  constructor(path: string, onLine: (line: LogLine) => void, signal: AbortSignal) {
    this.#path = path;
    this.#onLine = onLine;
    this.#signal = signal;
  }

  async run(): Promise<void> {
    if (this.#signal.aborted) return;
    if (await this.#open()) {
      this.#position = await this.#seekEnd();
    }
    while (!this.#signal.aborted) {
      await this.#pass();
      await sleep(POLL_MS, this.#signal);
    }
  }

  /** Releases the file. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  /** One poll: read what was appended, then look for a rotation or a truncation. */
  async #pass(): Promise<void> {
    if (this.#file === undefined) {
      if (!await this.#open()) return;
    }
    await this.#drain();
    if (this.#signal.aborted) return;
    const now = await this.#statPath();
    if (now === undefined) return; // renamed and not reopened yet: keep the old file
    if (now.ino !== null && this.#ino !== null && now.ino !== this.#ino) {
      // Rotated: finish the old file, then read the new one from its start.
      await this.#drain();
      if (this.#carry.length > 0) {
        // The old file ends mid-record; its end will not come in the new one.
        this.#emit(`${this.#decoder.decode(this.#carry)}\n`);
        this.#carry = new Uint8Array(0);
      }
      this.close();
      if (this.#signal.aborted || !await this.#open()) return;
      await this.#drain();
    } else if (now.size < this.#position) {
      // Truncated in place: read it again from the start.
      await this.#seekStart();
    }
  }

  /** Opens the file at the path from its start; false when there is none. */
  async #open(): Promise<boolean> {
    const file = await openLog(this.#path);
    if (file === undefined) return false;
    this.#file = file;
    this.#position = 0;
    this.#carry = new Uint8Array(0);
    try {
      this.#ino = (await file.stat()).ino;
    } catch (error) {
      throw readError(this.#path, error);
    }
    return true;
  }

  async #seekEnd(): Promise<number> {
    try {
      return await (this.#file as Deno.FsFile).seek(0, Deno.SeekMode.End);
    } catch (error) {
      throw readError(this.#path, error);
    }
  }

  async #seekStart(): Promise<void> {
    try {
      await (this.#file as Deno.FsFile).seek(0, Deno.SeekMode.Start);
    } catch (error) {
      throw readError(this.#path, error);
    }
    this.#position = 0;
    this.#carry = new Uint8Array(0);
  }

  async #statPath(): Promise<Deno.FileInfo | undefined> {
    try {
      return await Deno.stat(this.#path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw readError(this.#path, error);
    }
  }

  /** Reads `#file` to its end, passing every whole line on. */
  async #drain(): Promise<void> {
    const file = this.#file as Deno.FsFile;
    while (!this.#signal.aborted) {
      let n: number | null;
      try {
        n = await file.read(this.#buffer);
      } catch (error) {
        throw readError(this.#path, error);
      }
      if (n === null || n === 0) return;
      this.#position += n;
      this.#take(this.#buffer.subarray(0, n));
    }
  }

  /** Adds read bytes; the records they complete are parsed. */
  #take(bytes: Uint8Array): void {
    const joined = new Uint8Array(this.#carry.length + bytes.length);
    joined.set(this.#carry);
    joined.set(bytes, this.#carry.length);
    const end = joined.lastIndexOf(NEWLINE) + 1;
    this.#carry = joined.slice(end);
    if (end > 0) this.#emit(this.#decoder.decode(joined.subarray(0, end)));
  }

  /** Parses whole records (`text` ends with a newline) after the held-back ones. */
  #emit(text: string): void {
    const { lines, rest } = parseCriLog(this.#rest + text);
    this.#rest = rest;
    for (const line of lines) this.#onLine(line);
  }
}
