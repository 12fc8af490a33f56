/**
 * The CRI log format: records parsed into whole lines, and a line formatted for the terminal.
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
 * records are joined into whole lines here rather than written out as they come. Files are
 * read by `container_log.ts` and followed by `container_log_follow.ts`.
 *
 * @module
 */

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
  const { lines, rest } = parseRecords(text, final, false);
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

type Stream = LogLine["stream"];

/** Matches Go's RFC3339 and RFC3339Nano times (what `time.Parse` accepts for them). */
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

/** One record of a line still waiting for its `F` record. */
interface Pending {
  time: string;
  parts: string[];
  /** The raw records with their index in the text, for `rest`. */
  records: { index: number; raw: string }[];
  /** The line may lack its start: its first records are before the text (see `parseRecords`). */
  uncertain: boolean;
}

/** What {@linkcode parseRecords} found. */
export interface Parsed {
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
export function parseRecords(text: string, final: boolean, cut: boolean): Parsed {
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
