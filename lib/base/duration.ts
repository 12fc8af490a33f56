/**
 * Go duration syntax (`500ms`, `1.5s`, `-1m30s`, `+5s`), as the original agent's flags took it:
 * the grammar of Go's `time.ParseDuration`, `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` or a bare `0`,
 * read into int64 nanoseconds with Go's rounding and Go's overflow errors. What a timer can hold
 * is the flag layer's business ({@linkcode durationFlag}).
 *
 * @module
 */

/** Nanoseconds per unit, as Go's `unitMap`. */
const UNIT_NS: ReadonlyMap<string, bigint> = new Map([
  ["ns", 1n],
  ["us", 1_000n],
  ["µs", 1_000n], // U+00B5 MICRO SIGN
  ["μs", 1_000n], // U+03BC GREEK SMALL LETTER MU
  ["ms", 1_000_000n],
  ["s", 1_000_000_000n],
  ["m", 60_000_000_000n],
  ["h", 3_600_000_000_000n],
]);

const TWO_63 = 1n << 63n;
/** The largest duration Go can hold, 2^63−1 ns. */
export const MAX_DURATION_NS = TWO_63 - 1n;
/** The largest delay a timer holds: past it, setTimeout and setInterval fire after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";

/** Parses a Go duration into int64 nanoseconds; throws with what is wrong, the text quoted. */
export function parseDurationNs(text: string): bigint {
  const bad = (why: string) => new Error(`invalid duration ${JSON.stringify(text)}: ${why}`);
  const USE = "use a number and a unit (ns, us, ms, s, m, h), e.g. 500ms, 2s, 1m30s";
  let s = text;
  let negative = false;
  if (s[0] === "-" || s[0] === "+") {
    negative = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0n;
  if (s === "") throw bad(text === "" ? "it is empty" : USE);
  const tooLong = () =>
    bad(`it is out of range: the longest is ${formatDurationNs(MAX_DURATION_NS)}`);
  let total = 0n;
  let i = 0;
  while (i < s.length) {
    if (!(s[i] === "." || isDigit(s[i]))) throw bad(USE);
    // The whole part, exactly; past 2^63 is an overflow.
    const start = i;
    let whole = 0n;
    while (isDigit(s[i])) {
      whole = whole * 10n + BigInt(s.charCodeAt(i) - 48);
      if (whole > TWO_63) throw tooLong();
      i++;
    }
    const hasWhole = i > start;
    // The fraction: digits past what 2^63 holds are dropped, as Go drops them.
    let fraction = 0n;
    let scale = 1;
    let hasFraction = false;
    if (s[i] === ".") {
      i++;
      const fracStart = i;
      let overflow = false;
      while (isDigit(s[i])) {
        if (!overflow) {
          const next = fraction * 10n + BigInt(s.charCodeAt(i) - 48);
          if (fraction > (TWO_63 - 1n) / 10n || next > TWO_63) overflow = true;
          else {
            fraction = next;
            scale *= 10;
          }
        }
        i++;
      }
      hasFraction = i > fracStart;
    }
    if (!hasWhole && !hasFraction) throw bad(USE);
    const unitStart = i;
    while (i < s.length && !(s[i] === "." || isDigit(s[i]))) i++;
    if (i === unitStart) throw bad(`it has no unit: ${USE}`);
    const unitText = s.slice(unitStart, i);
    const unit = UNIT_NS.get(unitText);
    if (unit === undefined) {
      throw bad(`the unit ${JSON.stringify(unitText)} is not ns, us, µs, ms, s, m or h`);
    }
    if (whole > TWO_63 / unit) throw tooLong();
    let value = whole * unit;
    if (fraction > 0n) {
      // Go adds float64(f) * (float64(unit) / scale), truncated: the same doubles here.
      value += BigInt(Math.trunc(Number(fraction) * (Number(unit) / scale)));
      if (value > TWO_63) throw tooLong();
    }
    total += value;
    if (total > TWO_63) throw tooLong();
  }
  if (negative) return -total;
  if (total > MAX_DURATION_NS) throw tooLong();
  return total;
}

/** Parses a Go duration into milliseconds (fractional below 1 ms); throws with what is wrong. */
export function parseDuration(text: string): number {
  return nsToMs(parseDurationNs(text));
}

function nsToMs(ns: bigint): number {
  const whole = ns / 1_000_000n;
  return Number(whole) + Number(ns - whole * 1_000_000n) / 1e6;
}

/** Formats nanoseconds as Go's `Duration.String`: `1.5s`, `1m30s`, `500ms`, `2h0m0s`, `-5s`. */
export function formatDurationNs(ns: bigint): string {
  if (ns === 0n) return "0s";
  const sign = ns < 0n ? "-" : "";
  const u = ns < 0n ? -ns : ns;
  const fixed = (value: bigint, digits: number) => {
    const div = 10n ** BigInt(digits);
    const frac = (value % div).toString().padStart(digits, "0").replace(/0+$/, "");
    return `${value / div}${frac ? `.${frac}` : ""}`;
  };
  if (u < 1_000n) return `${sign}${u}ns`;
  if (u < 1_000_000n) return `${sign}${fixed(u, 3)}µs`;
  if (u < 1_000_000_000n) return `${sign}${fixed(u, 6)}ms`;
  const h = u / 3_600_000_000_000n;
  const m = (u / 60_000_000_000n) % 60n;
  const s = fixed(u % 60_000_000_000n, 9);
  if (h > 0n) return `${sign}${h}h${m}m${s}s`;
  if (m > 0n) return `${sign}${m}m${s}s`;
  return `${sign}${s}s`;
}

/** Formats milliseconds in Go style: `2s`, `1m30s`, `500ms`. */
export function formatDuration(ms: number): string {
  const whole = Math.trunc(ms);
  return formatDurationNs(
    BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6)),
  );
}

/** What a duration flag accepts. */
export interface DurationBounds {
  /** The shortest value, in milliseconds; shorter ones (zero and negative included) are refused. */
  minMs: number;
}

/**
 * Reads the value of a duration flag into milliseconds: Go's syntax, then the flag's bounds and
 * what a timer can hold (2^31−1 ms, 596h31m23.647s). Throws with the flag, the value and the limit.
 */
export function durationFlag(flag: string, text: string, bounds: DurationBounds): number {
  const where = `--${flag}: ${JSON.stringify(text)}`;
  let ns: bigint;
  try {
    ns = parseDurationNs(text);
  } catch (err) {
    throw new Error(`--${flag}: ${(err as Error).message}`);
  }
  const min = formatDuration(bounds.minMs);
  if (ns < 0n) throw new Error(`${where} is negative: give ${min} or more`);
  const ms = nsToMs(ns);
  if (ms < bounds.minMs) throw new Error(`${where} is shorter than ${min}`);
  if (ms > MAX_TIMER_MS) {
    throw new Error(
      `${where} is longer than a timer can hold: the longest is ${formatDuration(MAX_TIMER_MS)}`,
    );
  }
  return ms;
}
