/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4), for tests that check
 * what `/metrics` serves. It follows the format where the format is exact and is stricter where
 * the format is loose, so that a sloppy line fails a test instead of being read somehow:
 *
 * - the text ends with a newline, has no blank line, no `\r`, and no comment other than
 *   `# HELP` and `# TYPE`;
 * - each family has one HELP and one TYPE line, both before its first sample, and its lines are
 *   together: a family that comes back after another began is an error;
 * - a sample is `name{label="value",...} value [timestamp]`, one space apart; label names are
 *   `[a-zA-Z_][a-zA-Z0-9_]*`, not repeated, with no trailing comma and no empty braces; label
 *   values escape only `\\`, `\"` and `\n`;
 * - a value is a decimal or exponent float, `NaN`, `+Inf` or `-Inf`; a timestamp is an integer
 *   (milliseconds since the epoch); a counter's value is not negative;
 * - a sample belongs to the family it follows (`_bucket` with `le`, `_sum`, `_count` for a
 *   histogram; the name, `_sum`, `_count` for a summary), and no series appears twice.
 *
 * @module
 */

/** One sample line. */
export interface PromSample {
  /** The sample's own name (a histogram's `x_bucket`, `x_sum`, `x_count`). */
  name: string;
  labels: Record<string, string>;
  value: number;
  /** Milliseconds since the epoch, when the line has one. */
  timestampMs?: number;
}

/** One family: its HELP, TYPE and samples, in the order of the text. */
export interface PromFamily {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  samples: PromSample[];
}

/** A line the parser refused: which line, and why. */
export class PrometheusTextError extends Error {
  constructor(readonly line: number, readonly text: string, reason: string) {
    super(`Line ${line} is not Prometheus text: ${reason}: ${JSON.stringify(text)}`);
    this.name = "PrometheusTextError";
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const FLOAT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/** The escaped text `s` (HELP: `\\`, `\n`; label values also `\"`), or the reason it is not. */
function unescape(s: string, quotes: boolean): string | Error {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '"' && quotes) return new Error("an unescaped quote in a label value");
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const next = s[++i];
    if (next === "\\") out += "\\";
    else if (next === "n") out += "\n";
    else if (next === '"' && quotes) out += '"';
    else return new Error(`an unknown escape "\\${next ?? ""}"`);
  }
  return out;
}

/** A value: a float, `NaN`, `+Inf` or `-Inf`. */
function parseValue(s: string): number | undefined {
  if (s === "NaN") return NaN;
  if (s === "+Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  return FLOAT.test(s) ? Number(s) : undefined;
}

/** The label set `{...}` at the start of `s`: the labels and the rest after `}`. */
function parseLabels(s: string): { labels: Record<string, string>; rest: string } | Error {
  const labels: Record<string, string> = {};
  let i = 1; // after "{"
  if (s[i] === "}") return new Error("empty braces");
  while (true) {
    const eq = s.indexOf("=", i);
    if (eq < 0) return new Error("a label without =");
    const name = s.slice(i, eq);
    if (!LABEL_NAME.test(name)) return new Error(`a bad label name "${name}"`);
    if (name.startsWith("__")) return new Error(`a reserved label name "${name}"`);
    if (name in labels) return new Error(`the label "${name}" twice`);
    if (s[eq + 1] !== '"') return new Error(`the value of "${name}" is not quoted`);
    let j = eq + 2;
    while (j < s.length && s[j] !== '"') j += s[j] === "\\" ? 2 : 1;
    if (j >= s.length) return new Error(`the value of "${name}" is not closed`);
    const value = unescape(s.slice(eq + 2, j), true);
    if (value instanceof Error) return value;
    labels[name] = value;
    const after = s[j + 1];
    if (after === "}") return { labels, rest: s.slice(j + 2) };
    if (after !== ",") return new Error(`"," or "}" expected after the value of "${name}"`);
    i = j + 2;
    if (s[i] === "}") return new Error("a trailing comma");
  }
}

/** The family a sample named `name` belongs to, given the family `f` it follows. */
function belongs(f: PromFamily, s: PromSample): string | undefined {
  const suffix = s.name.slice(f.name.length);
  if (!s.name.startsWith(f.name)) return `it follows the family "${f.name}"`;
  if (f.type === "histogram") {
    if (suffix === "_bucket") return "le" in s.labels ? undefined : "a bucket without le";
    return suffix === "_sum" || suffix === "_count" ? undefined : "not a histogram's sample";
  }
  if (f.type === "summary") {
    return ["", "_sum", "_count"].includes(suffix) ? undefined : "not a summary's sample";
  }
  return suffix === "" ? undefined : `it follows the family "${f.name}"`;
}

/** Parses `text`, or throws a {@linkcode PrometheusTextError} naming the first bad line. */
export function parsePrometheus(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  if (!text.endsWith("\n")) throw new PrometheusTextError(0, text.slice(-40), "no final newline");
  const lines = text.slice(0, -1).split("\n");
  const series = new Set<string>();
  /** Headers seen of the family being read, before it is complete. */
  let open: { name: string; help?: string; type?: PromFamily["type"] } | undefined;
  let current: PromFamily | undefined;
  const closed = new Set<string>();
  lines.forEach((line, index) => {
    const n = index + 1;
    const fail = (reason: string): never => {
      throw new PrometheusTextError(n, line, reason);
    };
    if (line === "") fail("a blank line");
    if (line.includes("\r")) fail("a carriage return");
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return fail("a comment other than HELP or TYPE");
      const [, kind, name, rest] = m as unknown as [string, "HELP" | "TYPE", string, string];
      if (!METRIC_NAME.test(name)) fail(`a bad metric name "${name}"`);
      if (current?.name === name) fail(`a second ${kind}`);
      if (closed.has(name)) fail(`the family "${name}" is split`);
      if (open && open.name !== name) fail(`the family "${open.name}" lacks HELP or TYPE`);
      open ??= { name };
      if (current) closed.add(current.name);
      current = undefined;
      if (kind === "HELP") {
        if (open.help !== undefined) fail("a second HELP");
        const help = unescape(rest, false);
        if (help instanceof Error) fail(help.message);
        open.help = help as string;
      } else {
        if (open.type !== undefined) fail("a second TYPE");
        if (!TYPES.has(rest)) fail(`an unknown type "${rest}"`);
        open.type = rest as PromFamily["type"];
      }
      if (open.help !== undefined && open.type !== undefined) {
        current = { name: open.name, help: open.help, type: open.type, samples: [] };
        families.set(current.name, current);
        open = undefined;
      }
      return;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd < 0) return fail("no value");
    if (nameEnd === 0) return fail("no sample name");
    const name = line.slice(0, nameEnd);
    if (!METRIC_NAME.test(name)) fail(`a bad metric name "${name}"`);
    let labels: Record<string, string> = {};
    let rest = line.slice(nameEnd);
    if (rest.startsWith("{")) {
      const parsed = parseLabels(rest);
      if (parsed instanceof Error) return fail(parsed.message);
      ({ labels, rest } = parsed);
    }
    const fields = rest.split(" ");
    if (
      fields[0] !== "" || fields.length < 2 || fields.length > 3 ||
      fields.slice(1).includes("")
    ) {
      fail("not one space, a value and an optional timestamp");
    }
    const value = parseValue(fields[1]!);
    if (value === undefined) fail(`a bad value "${fields[1]}"`);
    const sample: PromSample = { name, labels, value: value! };
    if (fields[2] !== undefined) {
      if (!/^-?\d+$/.test(fields[2])) fail(`a timestamp that is not an integer "${fields[2]}"`);
      sample.timestampMs = Number(fields[2]);
    }
    if (!current) return fail(`a sample before its family's HELP and TYPE`);
    const wrong = belongs(current, sample);
    if (wrong) fail(wrong);
    if (current.type === "counter" && !(sample.value >= 0)) fail("a negative counter");
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) fail("a series twice");
    series.add(key);
    current.samples.push(sample);
  });
  if (open) throw new PrometheusTextError(lines.length, "", `"${open.name}" lacks HELP or TYPE`);
  return families;
}

/** The family `name` of `families`; throws naming those there are when it is missing. */
export function familyOf(families: Map<string, PromFamily>, name: string): PromFamily {
  const f = families.get(name);
  if (!f) throw new Error(`No family "${name}"; there are: ${[...families.keys()].join(", ")}`);
  return f;
}

/**
 * The one sample of family `name` whose labels are exactly `labels`; throws naming the family's
 * samples when there is none.
 */
export function sampleOf(
  families: Map<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): PromSample {
  const f = familyOf(families, name);
  const want = JSON.stringify(Object.entries(labels).sort());
  const found = f.samples.find((s) => JSON.stringify(Object.entries(s.labels).sort()) === want);
  if (!found) {
    throw new Error(
      `No sample of "${name}" labelled ${want}; it has: ${JSON.stringify(f.samples)}`,
    );
  }
  return found;
}
