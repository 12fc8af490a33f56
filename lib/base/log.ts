/**
 * Structured logging: concise text lines for a terminal, or JSON lines for
 * journald and log shippers.
 *
 * Text from outside (file names, errors, probe output) never reaches the
 * terminal raw: in text lines the message and every field value have their
 * control characters escaped (see `escape.ts`), and a value is quoted when it
 * holds whitespace, `"`, `=` or `\`, so it cannot forge a line or a field.
 * JSON lines escape DEL and C1 characters too, which `JSON.stringify` leaves
 * raw.
 *
 * @module
 */
import { logfmtValue, printable, terminalJson } from "./escape.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
export type LogFields = Record<string, unknown>;

export const LOG_LEVELS: readonly LogLevel[] = [
  "debug",
  "info",
  "warn",
  "error",
];
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** Where the agent's events go. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  format?: LogFormat;
  level?: LogLevel;
  /** Receives each finished line (without the newline); defaults to stderr. */
  write?: (line: string) => void;
  now?: () => Date;
}

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
}

/** A field value of a text line: bare or quoted, its control characters escaped. */
function textValue(v: unknown): string {
  const s = v instanceof Error ? v.message : typeof v === "string" ? v : JSON.stringify(v);
  return logfmtValue(s ?? String(v));
}

/** A logger writing `format` lines at `level` and above. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? "text";
  const min = LOG_LEVELS.indexOf(options.level ?? "info");
  const write = options.write ?? writeStderr;
  const now = options.now ?? (() => new Date());
  const emit = (level: LogLevel, message: string, fields: LogFields = {}) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    const time = now().toISOString();
    if (format === "json") {
      const clean: LogFields = {};
      for (const [k, v] of Object.entries(fields)) {
        clean[k] = v instanceof Error ? v.message : v;
      }
      write(terminalJson({ time, level, msg: message, ...clean }));
      return;
    }
    const extra = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => ` ${printable(k)}=${textValue(v)}`)
      .join("");
    write(`${time} ${level.toUpperCase().padEnd(5)} ${printable(message)}${extra}`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
