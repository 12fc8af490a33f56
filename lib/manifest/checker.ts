/**
 * The findings of one manifest document, each an error or a warning at a field path, and the
 * typed readers that report them: a required or optional string, a list of strings, and the
 * `labels` and `annotations` mappings with the API server's rules for their keys and values.
 *
 * @module
 */
import { dns1123SubdomainError } from "./pod.ts";
import { isRecord, q, typeName } from "./values.ts";
import type { FieldPath } from "./yaml.ts";

export type Severity = "error" | "warning";

/** One problem found in a document, at a field path (empty for the document). */
export interface Finding {
  severity: Severity;
  path: FieldPath;
  message: string;
}

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * The most bytes the keys and values of a pod's annotations may total: the API
 * server's `TotalAnnotationSizeLimitB`. Exactly this many is allowed.
 */
export const MAX_ANNOTATION_BYTES = 256 * 1024;

const utf8 = new TextEncoder();

function utf8Length(s: string): number {
  return utf8.encode(s).length;
}

function qualifiedNameError(key: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && dns1123SubdomainError(prefix)) {
    return "has a prefix that is not a DNS-1123 subdomain";
  }
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return "must be a qualified name: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, with an optional DNS prefix and '/'";
  }
  return undefined;
}

/** `tinylet`, `tinylet/*` and `io.kubernetes.*`, in any case (annotation keys may be any case). */
function isReservedKey(key: string): boolean {
  const k = key.toLowerCase();
  return k === "tinylet" || k.startsWith("tinylet/") || k.startsWith("io.kubernetes.");
}

/** Collects the findings of one document; the caller positions them in the text. */
export class Checker {
  readonly findings: Finding[] = [];

  report(severity: Severity, path: FieldPath, message: string): void {
    this.findings.push({ severity, path, message });
  }

  error(path: FieldPath, message: string): void {
    this.report("error", path, message);
  }

  warn(path: FieldPath, message: string): void {
    this.report("warning", path, message);
  }

  get failed(): boolean {
    return this.findings.some((f) => f.severity === "error");
  }

  /** Warns about every key of `obj` not in `known`. */
  unknownKeys(
    obj: Record<string, unknown>,
    path: FieldPath,
    known: readonly string[],
    hint = "",
  ) {
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) {
        this.warn([...path, key], `Ignoring unknown field ${q(key)}${hint}`);
      }
    }
  }

  string(
    obj: Record<string, unknown>,
    path: FieldPath,
    key: string,
    required: boolean,
  ) {
    const v = obj[key];
    if (v === undefined || v === null) {
      if (required) {
        this.error([...path, key], `Add the required field ${q(key)}`);
      }
      return undefined;
    }
    if (typeof v !== "string") {
      this.error(
        [...path, key],
        `Write ${q(key)} as a string: it is ${typeName(v)}`,
      );
      return undefined;
    }
    if (required && v === "") {
      this.error([...path, key], `Set ${q(key)}: it is empty`);
      return undefined;
    }
    return v;
  }

  stringList(
    obj: Record<string, unknown>,
    path: FieldPath,
    key: string,
  ): string[] | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) {
      this.error(
        [...path, key],
        `Write ${q(key)} as a list of strings, e.g. ["sh", "-c", "..."]: it is ${typeName(v)}`,
      );
      return undefined;
    }
    const out: string[] = [];
    v.forEach((item, i) => {
      if (typeof item === "string") out.push(item);
      else if (typeof item === "number" || typeof item === "boolean") {
        this.error(
          [...path, key, i],
          `Quote ${q(item)}: list items of ${q(key)} must be strings`,
        );
      } else {
        this.error(
          [...path, key, i],
          `Write item ${i} of ${q(key)} as a string: it is ${typeName(item)}`,
        );
      }
    });
    return out;
  }

  stringMap(
    obj: Record<string, unknown>,
    path: FieldPath,
    key: "labels" | "annotations",
  ): Record<string, string> | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (!isRecord(v)) {
      this.error(
        [...path, key],
        `Write ${q(key)} as a mapping of strings: it is ${typeName(v)}`,
      );
      return undefined;
    }
    const out: Record<string, string> = {};
    let bytes = 0;
    for (const [k, value] of Object.entries(v)) {
      const at = [...path, key, k];
      // Annotation keys are qualified names in any case, as the API server has them.
      const keyProblem = qualifiedNameError(key === "annotations" ? k.toLowerCase() : k);
      if (keyProblem) {
        this.error(at, `Rename the key ${q(k)}: it ${keyProblem}`);
      } else if (isReservedKey(k)) {
        this.error(
          at,
          `Rename the key ${
            q(k)
          }: keys "tinylet", "tinylet/*" and "io.kubernetes.*" are reserved for the agent`,
        );
      }
      if (typeof value !== "string") {
        this.error(
          at,
          `Quote the value of ${q(k)}: ${key} values must be strings, it is ${typeName(value)}`,
        );
        continue;
      }
      if (key === "labels" && (value.length > 63 || !LABEL_VALUE.test(value))) {
        this.error(
          at,
          `Change the label value ${
            q(value)
          }: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
        );
        continue;
      }
      bytes += utf8Length(k) + utf8Length(value);
      out[k] = value;
    }
    if (key === "annotations" && bytes > MAX_ANNOTATION_BYTES) {
      this.error(
        [...path, key],
        `Shrink the annotations: their keys and values total ${bytes} bytes, more than the limit of ${MAX_ANNOTATION_BYTES} (256 KiB)`,
      );
    }
    return out;
  }
}
