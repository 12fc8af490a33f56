/**
 * Walks a value against a {@linkcode Schema}: wrong types, values out of range or not
 * allowed, missing required fields, unknown fields (with a "did you mean" hint) and fields
 * read but not applied, each reported at its field path; and a container's resource
 * requests against its limits.
 *
 * @module
 */
import { cpuMillis, memoryBytes, parseQuantity } from "./quantity.ts";
import type { Reporter } from "./reporter.ts";
import type { ObjectSchema, Schema } from "./schema.ts";
import { isRecord, q, typeName } from "./values.ts";
import type { FieldPath } from "./yaml.ts";

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        prev[j]! + 1,
        cur[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** Checks `value` against `schema`, reporting every problem under `path`. */
export function checkSchema(schema: Schema, value: unknown, path: FieldPath, r: Reporter): void {
  if (value === null || value === undefined) return;
  const field = String(path.at(-1) ?? "value");
  switch (schema.t) {
    case "any":
      return;
    case "string": {
      if (typeof value !== "string") {
        const hint = typeof value === "number" || typeof value === "boolean"
          ? `Quote ${q(value)}: ${q(field)} must be a string`
          : `Write ${q(field)} as a string: it is ${typeName(value)}`;
        r.error(path, hint);
        return;
      }
      if (schema.enum && !schema.enum.includes(value)) {
        const allowed = schema.enum.filter((e) => e !== "").map((e) => q(e)).join(", ");
        r.error(path, `Set ${q(field)} to one of ${allowed}: it is ${q(value)}`);
        return;
      }
      const bad = schema.check?.(value, field);
      if (bad) r.error(path, bad);
      return;
    }
    case "int": {
      if (typeof value !== "number" || !Number.isSafeInteger(value)) {
        r.error(path, `Write ${q(field)} as a whole number: it is ${q(value)}`);
        return;
      }
      if (schema.min !== undefined && value < schema.min) {
        r.error(path, `Set ${q(field)} to ${schema.min} or more: it is ${value}`);
      } else if (schema.max !== undefined && value > schema.max) {
        r.error(path, `Set ${q(field)} to ${schema.max} or less: it is ${value}`);
      } else {
        const bad = schema.check?.(value, field);
        if (bad) r.error(path, bad);
      }
      return;
    }
    case "bool":
      if (typeof value !== "boolean") {
        r.error(path, `Write ${q(field)} as true or false: it is ${q(value)}`);
      }
      return;
    case "quantity":
      if (typeof value !== "string" && typeof value !== "number") {
        r.error(
          path,
          `Write ${q(field)} as a quantity such as "250m" or "64Mi": it is ${typeName(value)}`,
        );
        return;
      }
      try {
        parseQuantity(value);
      } catch (err) {
        r.error(path, (err as Error).message);
      }
      return;
    case "stringList":
      if (!Array.isArray(value)) {
        r.error(path, `Write ${q(field)} as a list of strings: it is ${typeName(value)}`);
        return;
      }
      value.forEach((item, i) => {
        if (typeof item !== "string") {
          r.error(
            [...path, i],
            typeof item === "number" || typeof item === "boolean"
              ? `Quote ${q(item)}: the items of ${q(field)} must be strings`
              : `Write item ${i} of ${q(field)} as a string: it is ${typeName(item)}`,
          );
        }
      });
      return;
    case "list":
      if (!Array.isArray(value)) {
        r.error(path, `Write ${q(field)} as a list: it is ${typeName(value)}`);
        return;
      }
      value.forEach((item, i) => checkSchema(schema.of, item, [...path, i], r));
      return;
    case "map":
      if (!isRecord(value)) {
        r.error(path, `Write ${q(field)} as a mapping: it is ${typeName(value)}`);
        return;
      }
      for (const [k, v] of Object.entries(value)) checkSchema(schema.of, v, [...path, k], r);
      return;
    case "object":
      checkObject(schema, value, path, r);
      return;
  }
}

function checkObject(schema: ObjectSchema, value: unknown, path: FieldPath, r: Reporter): void {
  const field = String(path.at(-1) ?? "document");
  if (!isRecord(value)) {
    r.error(path, `Write ${q(field)} as a mapping: it is ${typeName(value)}`);
    return;
  }
  for (const key of schema.required ?? []) {
    if (value[key] === undefined || value[key] === null) {
      r.error([...path, key], `Add the required field ${q(key)}`);
    } else if (value[key] === "") {
      r.error([...path, key], `Set ${q(key)}: it is empty`);
    }
  }
  const known = Object.keys(schema.fields);
  for (const [key, v] of Object.entries(value)) {
    const sub = schema.fields[key];
    if (sub) {
      checkSchema(sub, v, [...path, key], r);
      continue;
    }
    const why = schema.unsupported?.[key];
    if (why !== undefined) {
      if (v !== null) r.warn([...path, key], `Ignoring ${q(key)}: ${why}`);
      continue;
    }
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase()) ??
      known.find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
    r.warn(
      [...path, key],
      `Ignoring unknown field ${q(key)}${near ? ` (did you mean ${q(near)}?)` : ""}`,
    );
  }
}

/** Checks a requested and a limited amount of one resource: both parse, and request ≤ limit. */
export function checkResources(
  resources: { requests?: Record<string, unknown>; limits?: Record<string, unknown> } | undefined,
  path: FieldPath,
  r: Reporter,
): void {
  if (!resources) return;
  for (const kind of ["requests", "limits"] as const) {
    for (const name of Object.keys(resources[kind] ?? {})) {
      if (name === "cpu" || name === "memory") continue;
      r.warn(
        [...path, kind, name],
        name === "ephemeral-storage" || name.startsWith("hugepages-")
          ? `Ignoring ${q(name)}: only cpu and memory are applied`
          : `Ignoring unknown resource ${q(name)}: only cpu and memory are applied`,
      );
    }
  }
  for (const [name, measure] of [["cpu", cpuMillis], ["memory", memoryBytes]] as const) {
    const req = resources.requests?.[name];
    const lim = resources.limits?.[name];
    if (req === undefined || lim === undefined) continue;
    try {
      if (measure(req as string | number) > measure(lim as string | number)) {
        r.error(
          [...path, "requests", name],
          `Lower the ${name} request to at most the limit: ${q(req)} is more than ${q(lim)}`,
        );
      }
    } catch {
      // Reported by the schema check.
    }
  }
}
