/**
 * Manifest files: text in, `v1` Pods and positioned problems out. Accepts
 * the original short form (`name`, `namespace`, `containers`) and
 * `apiVersion: v1` / `kind: Pod`, in YAML or JSON, several per file; each
 * document is judged by `pod_document.ts`, and its findings are placed at
 * their line and column here.
 *
 * @module
 */
import { printable } from "../base/escape.ts";
import { Checker, type Severity } from "./checker.ts";
import { checkDocument } from "./pod_document.ts";
import type { Pod } from "./pod.ts";
import { q } from "./values.ts";
import { type FieldPath, parseYamlStream, type Position } from "./yaml.ts";

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

/** What a manifest file declares. */
export interface Manifest {
  file: string;
  pods: ManifestPod[];
  problems: Problem[];
  /** False when any problem is an error: the file then changes nothing. */
  valid: boolean;
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

/** Parses and checks the text of one manifest file. */
export function parseManifest(file: string, text: string): Manifest {
  const problems: Problem[] = [];
  const pods: ManifestPod[] = [];
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
    const pod = checkDocument(checker, doc.value);
    for (const f of checker.findings) {
      problems.push({
        file,
        ...doc.locate(f.path),
        severity: f.severity,
        field: fieldPathString(f.path),
        message: f.message,
      });
    }
    if (pod) pods.push({ pod, ...doc.start });
  }
  if (docs.length === 0) {
    problems.push({
      file,
      line: 1,
      column: 1,
      severity: "error",
      field: "",
      message:
        "Declare a pod or delete the file: it is empty or only comments (its running pods are kept until then)",
    });
  }
  const seen = new Map<string, ManifestPod>();
  for (const p of pods) {
    const key = `${p.pod.metadata.namespace ?? "default"}/${p.pod.metadata.name}`;
    const first = seen.get(key);
    if (first) {
      problems.push({
        file,
        line: p.line,
        column: p.column,
        severity: "error",
        field: "",
        message: `Rename one of the pods: ${
          q(key)
        } is declared twice in this file (first at line ${first.line})`,
      });
    }
    seen.set(key, p);
  }
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  const valid = !problems.some((p) => p.severity === "error");
  return { file, pods: valid ? pods : [], problems, valid };
}
