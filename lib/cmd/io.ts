/**
 * What the commands write to: standard output and standard error, one line at a time,
 * so tests can capture both.
 *
 * @module
 */

/** Where a command writes: lines to standard output and to standard error. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
}
