/**
 * A pod's metadata as the downward API shows it, with the rules of kubelet's
 * `pkg/fieldpath` (`ExtractFieldPathAsString`, `FormatMap`): `metadata.name`,
 * `metadata.namespace`, `metadata.uid`, `metadata.labels` and
 * `metadata.annotations` (one `key="value"` line per entry, in key order, the
 * value quoted as Go's `strconv.Quote` does), and the single-key forms
 * `metadata.labels['KEY']` and `metadata.annotations['KEY']` (the value as
 * written, empty when the key is absent).
 *
 * @module
 */

/** What the downward API can show of a pod. */
export interface PodFacts {
  name: string;
  namespace: string;
  uid: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** The paths the downward API shows, for messages. */
const SHOWN_FIELD_PATHS =
  "metadata.name, metadata.namespace, metadata.uid, metadata.labels, metadata.annotations, " +
  "metadata.labels['KEY'] or metadata.annotations['KEY']";

/** A pod field's text, or why the path names no field the downward API shows. */
export type FieldValue = { ok: true; value: string } | { ok: false; message: string };

/**
 * The field `fieldPath` of `pod`, as kubelet's `ExtractFieldPathAsString`
 * renders it. The message of a failure names the path, never a value.
 */
export function podFieldValue(pod: PodFacts, fieldPath: string): FieldValue {
  try {
    return { ok: true, value: fieldValue(pod, fieldPath) };
  } catch (error) {
    if (error instanceof FieldPathError) return { ok: false, message: error.message };
    throw error;
  }
}

class FieldPathError extends Error {}

function fieldValue(pod: PodFacts, fieldPath: string): string {
  const subscripted = splitSubscript(fieldPath);
  if (subscripted) {
    const [path, key] = subscripted;
    if (path !== "metadata.labels" && path !== "metadata.annotations") {
      throw new FieldPathError(
        `fieldPath "${fieldPath}" does not support subscript: use one of ${SHOWN_FIELD_PATHS}`,
      );
    }
    // kubelet checks annotation keys lowercased, label keys as written.
    const problem = qualifiedNameProblem(path === "metadata.labels" ? key : key.toLowerCase());
    if (problem) throw new FieldPathError(`invalid key subscript in ${fieldPath}: ${problem}`);
    const map = path === "metadata.labels" ? pod.labels : pod.annotations;
    return Object.hasOwn(map, key) ? map[key]! : "";
  }
  switch (fieldPath) {
    case "metadata.annotations":
      return formatMap(pod.annotations);
    case "metadata.labels":
      return formatMap(pod.labels);
    case "metadata.name":
      return pod.name;
    case "metadata.namespace":
      return pod.namespace;
    case "metadata.uid":
      return pod.uid;
  }
  throw new FieldPathError(`unsupported fieldPath: ${fieldPath}: use one of ${SHOWN_FIELD_PATHS}`);
}

/** `metadata.labels['k']` → `["metadata.labels", "k"]`, as kubelet splits it; else undefined. */
function splitSubscript(fieldPath: string): [string, string] | undefined {
  if (!fieldPath.endsWith("']")) return undefined;
  const inner = fieldPath.slice(0, -2);
  const open = inner.indexOf("['");
  if (open <= 0) return undefined;
  return [inner.slice(0, open), inner.slice(open + 2)];
}

const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `key` is no qualified name (`[prefix/]name`, as label keys are), or undefined. */
function qualifiedNameProblem(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.length > 2) return "a qualified name has at most one '/'";
  const name = parts.at(-1)!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix === "") return "prefix part must be non-empty";
    if (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) {
      return "prefix part must be a lowercase DNS-1123 subdomain";
    }
  }
  if (name === "") return "name part must be non-empty";
  if (name.length > 63) return "name part must be no more than 63 characters";
  if (!NAME_PART.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', " +
      "and must start and end with an alphanumeric character";
  }
  return undefined;
}

/**
 * Labels or annotations as kubelet's `fieldpath.FormatMap` writes them: one
 * `key="value"` line per entry in key order, the value quoted as Go's `%q`
 * does, no newline after the last.
 */
export function formatMap(map: Record<string, string>): string {
  return Object.keys(map).sort(compareCodePoints)
    .map((key) => `${key}=${goQuote(map[key]!)}`).join("\n");
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
const SHORT_ESCAPES: Record<string, string> = {
  "\x07": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
};

/** `text` quoted as Go's `strconv.Quote` does it (a lone surrogate as U+FFFD, as UTF-8 has it). */
export function goQuote(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (char === '"' || char === "\\") out += "\\" + char;
    else if (code >= 0xd800 && code <= 0xdfff) out += "\ufffd";
    else if (char === " " || PRINTABLE.test(char)) out += char;
    else if (SHORT_ESCAPES[char] !== undefined) out += SHORT_ESCAPES[char];
    else if (code < 0x20 || code === 0x7f) out += "\\x" + hex(code, 2);
    else if (code < 0x10000) out += "\\u" + hex(code, 4);
    else out += "\\U" + hex(code, 8);
  }
  return out + '"';
}

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, "0");
}

/** Orders strings as Go does: by UTF-8 bytes, which is by code points (not UTF-16 units). */
export function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}
