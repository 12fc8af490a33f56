/**
 * Manifest files: text in, `v1` Pods, ConfigMaps, Secrets and positioned problems out.
 * Accepts the original short form (`name`, `namespace`, `containers`), `apiVersion: v1` /
 * `kind: Pod`, `kind: ConfigMap` and `kind: Secret`, in YAML or JSON, several per file; a pod
 * is judged by `pod_document.ts`, a ConfigMap or Secret by `config_objects.ts`, and their
 * findings are placed at their line and column here. Given the file's mode, a Secret in a
 * file its group or others can read is refused here too, for `ManifestSource` and `check`
 * alike.
 *
 * @module
 */
import { printable } from "../base/escape.ts";
import { Checker, type Severity } from "./checker.ts";
import {
  checkConfigMap,
  checkSecret,
  type ConfigMapObject,
  type SecretObject,
} from "./config_objects.ts";
import { checkDocument } from "./pod_document.ts";
import type { Pod } from "./pod.ts";
import { isRecord, q } from "./values.ts";
import { type FieldPath, parseYamlStream, type Position } from "./yaml.ts";

/** Text that may declare a ConfigMap or Secret (loosely: a false match only holds more). */
const OBJECT_KIND = /\bkind["']?\s*:\s*["']?(ConfigMap|Secret)\b/;

/** One problem in a manifest, with where it is and what to do. */
export interface Problem extends Position {
  file: string;
  severity: Severity;
  /** The field path, e.g. `spec.containers[1].image`; empty for the document. */
  field: string;
  message: string;
}

/** A pod read from a manifest, with where its document starts. */
export interface ManifestPod extends Position {
  pod: Pod;
}

/** A ConfigMap or Secret read from a manifest, with where its document starts. */
export interface ManifestObject extends Position {
  object: ConfigMapObject | SecretObject;
}

/** What a manifest file declares. */
export interface Manifest {
  file: string;
  pods: ManifestPod[];
  /** Its ConfigMaps and Secrets; empty when the file is invalid, as `pods`. */
  objects: ManifestObject[];
  problems: Problem[];
  /** False when any problem is an error: the file then changes nothing. */
  valid: boolean;
  /**
   * On an invalid file: false when it cannot declare a ConfigMap or Secret (its text names
   * neither kind); true or absent when it may (its objects are then unknown).
   */
  objectsUnknown?: boolean;
}

/** How the file was found on disk, for the rule on Secrets' permissions. */
export interface FileAccess {
  /** The file's mode, as `stat` gives it (the permission bits are read). */
  mode: number;
  /**
   * `--insecure-manifest-permissions`: a Secret readable by group or others is then a
   * warning, not an error.
   */
  insecure: boolean;
}

/** `path:line:column: severity: message (field f)`, as compilers print it. */
export function formatProblem(p: Problem): string {
  const field = p.field ? ` (field ${printable(p.field)})` : "";
  return `${printable(p.file)}:${p.line}:${p.column}: ${p.severity}: ${
    printable(p.message)
  }${field}`;
}

/** Joins a field path as `spec.containers[1].image`. */
export function fieldPathString(path: FieldPath): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out ? `.${seg}` : seg;
  }
  return out;
}

/**
 * Why a file holding a Secret may not be read as it is, or undefined: its group or others
 * can read it (mode & 0o044). The message says the mode in octal and the fix; when
 * `access.insecure`, it is a warning and does not offer the flag.
 */
export function secretAccessError(file: string, access: FileAccess): string | undefined {
  const mode = access.mode & 0o7777;
  if ((mode & 0o044) === 0) return undefined;
  const who = [mode & 0o040 ? "its group" : "", mode & 0o004 ? "others" : ""].filter(Boolean);
  const octal = mode.toString(8).padStart(4, "0");
  const fix = `Run "chmod go-rwx ${file}"`;
  return `Make the file readable by its owner only: it holds a Secret and is readable by ${
    who.join(" and ")
  } (mode ${octal}), and a Secret file must not be readable by group or others. ${fix}${
    access.insecure ? "" : ", or pass --insecure-manifest-permissions"
  }`;
}

const PLURAL: Record<string, string> = {
  Pod: "pods",
  ConfigMap: "ConfigMaps",
  Secret: "Secrets",
};

/** An error for each item declared twice (by `key`) in one file, naming the first line. */
function duplicates<T extends Position>(
  file: string,
  items: T[],
  kind: (item: T) => string,
  key: (item: T) => string,
): Problem[] {
  const problems: Problem[] = [];
  const seen = new Map<string, T>();
  for (const item of items) {
    const id = `${kind(item)} ${key(item)}`;
    const first = seen.get(id);
    if (first) {
      problems.push({
        file,
        line: item.line,
        column: item.column,
        severity: "error",
        field: "",
        message: `Rename one of the ${PLURAL[kind(item)]}: ${
          q(key(item))
        } is declared twice in this file (first at line ${first.line})`,
      });
    } else {
      seen.set(id, item);
    }
  }
  return problems;
}

/**
 * Parses and checks the text of one manifest file. With `access`, a Secret in a file its group
 * or others can read is an error at the first Secret's document (a warning when insecure).
 */
export function parseManifest(file: string, text: string, access?: FileAccess): Manifest {
  const problems: Problem[] = [];
  const pods: ManifestPod[] = [];
  const objects: ManifestObject[] = [];
  let firstSecret: Position | undefined;
  const docs = parseYamlStream(text).filter((d) => d.errors.length > 0 || d.value != null);
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const dup = /keys must be unique/i.test(e.message);
        problems.push({
          file,
          line: e.line,
          column: e.column,
          severity: "error",
          field: fieldPathString(e.path),
          message: dup
            ? `Remove the duplicate key ${
              q(String(e.path.at(-1) ?? ""))
            }: a key may appear only once`
            : `Fix the syntax: ${e.message}`,
        });
      }
      continue;
    }
    const checker = new Checker();
    const value = doc.value;
    if (isRecord(value) && (value.kind === "ConfigMap" || value.kind === "Secret")) {
      if (value.kind === "Secret") firstSecret ??= doc.start;
      const object = value.kind === "ConfigMap"
        ? checkConfigMap(checker, value)
        : checkSecret(checker, value);
      if (object) objects.push({ object, ...doc.start });
    } else {
      const pod = checkDocument(checker, value);
      if (pod) pods.push({ pod, ...doc.start });
    }
    for (const f of checker.findings) {
      problems.push({
        file,
        ...doc.locate(f.path),
        severity: f.severity,
        field: fieldPathString(f.path),
        message: f.message,
      });
    }
  }
  if (docs.length === 0) {
    problems.push({
      file,
      line: 1,
      column: 1,
      severity: "error",
      field: "",
      message:
        "Declare a pod, ConfigMap or Secret, or delete the file: it is empty or only comments (its running pods are kept until then)",
    });
  }
  problems.push(
    ...duplicates(
      file,
      pods,
      () => "Pod",
      (p) => `${p.pod.metadata.namespace ?? "default"}/${p.pod.metadata.name}`,
    ),
    ...duplicates(
      file,
      objects,
      (o) => o.object.kind,
      (o) => `${o.object.namespace}/${o.object.name}`,
    ),
  );
  const refused = firstSecret && access ? secretAccessError(file, access) : undefined;
  if (firstSecret && refused) {
    problems.push({
      file,
      ...firstSecret,
      severity: access?.insecure ? "warning" : "error",
      field: "",
      message: refused,
    });
  }
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  const valid = !problems.some((p) => p.severity === "error");
  if (valid) return { file, pods, objects, problems, valid };
  return { file, pods: [], objects: [], problems, valid, objectsUnknown: OBJECT_KIND.test(text) };
}
