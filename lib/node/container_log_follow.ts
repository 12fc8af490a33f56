/**
 * Following a container's log like `tail -F` for `tinylet logs -f`: polling for what is
 * appended, across rotations (the runtime reopens a fresh file) and truncations in place,
 * lines parsed as `container_log_format.ts` says.
 *
 * @module
 */

import { sleep } from "../base/timer.ts";
import { type LogLine, parseCriLog } from "./container_log_format.ts";
import { openLog, readError } from "./container_log.ts";

/**
 * Follows the log at `path` like `tail -F`, calling `onLine` for each line
 * appended to it, until `signal` aborts; then returns, with its file closed and
 * its timer cleared.
 *
 * It starts at the current end of the log (print what is already there with
 * `readCriLog` of `container_log.ts` first) or, when there is no log yet, at the start of
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

const NEWLINE = 0x0a;
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
