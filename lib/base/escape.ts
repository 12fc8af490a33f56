/**
 * What tinylet prints for people shows terminal control characters, never
 * obeys them. Text from outside (file names, what the runtime answers, probe
 * output from inside a container, error messages) can hold ESC, BEL, CSI
 * (U+009B) and the like; printed raw, they retitle the terminal, hide or
 * rewrite lines, or forge a log line. Every C0 character (U+0000 to U+001F),
 * DEL (U+007F) and every C1 character (U+0080 to U+009F) is shown as a
 * visible escape instead, as kubectl has done since CVE-2021-25743.
 *
 * The container's own byte stream (`tinylet logs`, `tinylet exec`) is not
 * escaped: it is passed through, as `kubectl logs` and `kubectl exec` do.
 *
 * @module
 */

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
// deno-lint-ignore no-control-regex
const HAS_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const SHORT: Readonly<Record<string, string>> = { "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/**
 * The visible escape of one control character: `\t`, `\n` and `\r`; `\xNN`
 * for the other C0 characters and DEL; `\u00NN` for C1 characters, which
 * are code points, not bytes (U+009B is written as two bytes in UTF-8).
 */
function escapeControl(c: string): string {
  const short = SHORT[c];
  if (short) return short;
  const code = c.charCodeAt(0);
  const hex = code.toString(16).padStart(2, "0");
  return code < 0x80 ? `\\x${hex}` : `\\u00${hex}`;
}

/** True when `text` holds a C0, DEL or C1 character. */
export function hasControl(text: string): boolean {
  return HAS_CONTROL.test(text);
}

/**
 * `text` for a terminal: every C0, DEL and C1 character as a visible escape
 * (`ESC` as `\x1b`, CSI as `\u009b`, a tab as `\t`), so a value can neither
 * drive the terminal nor break a table row or a line.
 *
 * Backslashes are left as they are, so escaping is idempotent: text escaped
 * once (by this function, or JSON-quoted in a manifest problem) is not
 * escaped again when a whole line passes through it. Like kubectl's, the
 * result is for reading, not for reversing.
 */
export function printable(text: string): string {
  return text.replace(CONTROL, escapeControl);
}

/**
 * A value of a `key=value` text log line: bare when it is non-empty and holds
 * no whitespace, `"`, `=`, `\` or control character; otherwise in double
 * quotes, with `"` and `\` escaped once and control characters as in
 * {@linkcode printable}. One pass, so nothing is escaped twice, and a quoted
 * value reads back unambiguously.
 */
export function logfmtValue(text: string): string {
  if (/^[^\s"=\\]+$/.test(text) && !hasControl(text)) return text;
  return `"${
    text.replace(
      // deno-lint-ignore no-control-regex
      /["\\\u0000-\u001f\u007f-\u009f]/g,
      (c) => (c === '"' || c === "\\" ? `\\${c}` : escapeControl(c)),
    )
  }"`;
}

/**
 * `JSON.stringify(value, null, space)` that is safe on a terminal too:
 * JSON.stringify escapes C0 characters but leaves DEL and C1 characters
 * (CSI, U+009B, among them) raw. They are written as `\u007f` and `\u009b`,
 * which any JSON parser reads back as the same string.
 */
export function terminalJson(value: unknown, space?: number): string {
  return JSON.stringify(value, null, space).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u00${c.charCodeAt(0).toString(16)}`,
  );
}

/**
 * YAML written by `toYaml` made safe on a terminal. The YAML writer puts
 * every string that holds a non-printable character in double quotes and
 * escapes its C0 characters there, but leaves DEL and C1 characters raw; in
 * a double-quoted scalar `\x7f` and `\x9b` read back as the same character.
 */
export function terminalYaml(yaml: string): string {
  return yaml.replace(
    /[\u007f-\u009f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16)}`,
  );
}

/** Where a command writes lines for people: standard output and standard error. */
export interface LineWriter {
  out(line: string): void;
  err(line: string): void;
}

/**
 * `io` with every line passed through {@linkcode printable}: what a command
 * prints for people cannot carry a control character, whichever value it
 * interpolates. Machine output (`-o json`) and the container's own stream
 * go to the original `io`.
 */
export function printableIo<T extends LineWriter>(io: T): T {
  const escaped: T = Object.create(io);
  escaped.out = (line: string) => io.out(printable(line));
  escaped.err = (line: string) => io.err(printable(line));
  return escaped;
}
