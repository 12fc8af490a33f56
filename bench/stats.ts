/**
 * Medians, percentiles and the way the bench prints milliseconds and pod counts.
 *
 * @module
 */

/** `[0, 1, ..., n - 1]`. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function sorted(values: number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** The median of `values`. */
export function median(values: number[]): number {
  const s = sorted(values);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile: of 10 samples, p95 is the largest. */
export function percentile(values: number[], p: number): number {
  const s = sorted(values);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** Milliseconds with three significant figures or more: `412 ms`, `20.5 ms`, `1.25 ms`. */
export function ms(value: number): string {
  if (value >= 100) return `${Math.round(value)} ms`;
  if (value >= 10) return `${value.toFixed(1)} ms`;
  return `${value.toFixed(2)} ms`;
}

/** The median, and the range when there is more than one value. */
export function msSpread(values: number[]): string {
  if (values.length < 2) return ms(median(values));
  const s = sorted(values);
  return `${ms(median(values))} (${ms(s[0]!)} to ${ms(s.at(-1)!)})`;
}

/** `ok` when a target is met, else `MISSED`. */
export function verdict(ok: boolean): string {
  return ok ? "ok" : "MISSED";
}

/** "1 pod", "20 pods". */
export function pods(n: number): string {
  return n === 1 ? "1 pod" : `${n} pods`;
}
