/**
 * How the manifest checks look at parsed YAML values and name them in messages: mapping or
 * not, empty or not, their type in words, a value quoted so control characters show, and a
 * copy without the keys written as null.
 *
 * @module
 */

/** True for a mapping (a plain object, not a list or null). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Null, `""`, `{}` or `[]`: a field written out with nothing in it. */
export function isEmpty(v: unknown): boolean {
  return v === null || v === "" || (Array.isArray(v) && v.length === 0) ||
    (isRecord(v) && Object.keys(v).length === 0);
}

/** JSON-quotes a value for a message, so control characters show. */
export function q(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

/** What `v` is, in words: `null`, `a list`, `a mapping`, `a number`, ... */
export function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `a ${typeof v}`;
}

/**
 * Drops object keys whose value is null, at every depth: in a manifest,
 * `field: ~` means the same as leaving the field out, so both hash alike.
 */
export function withoutNulls<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutNulls) as T;
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== null) out[k] = withoutNulls(v);
  }
  return out as T;
}

/** The mappings among the items of a list, each with its index; none when `v` is no list. */
export function records(v: unknown): [Record<string, unknown>, number][] {
  return Array.isArray(v)
    ? v.flatMap((
      item,
      i,
    ) => (isRecord(item) ? [[item, i] as [Record<string, unknown>, number]] : []))
    : [];
}
