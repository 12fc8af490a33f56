/**
 * Manifest files: text in, `v1` Pods and positioned problems out. Accepts
 * the original short form (`name`, `namespace`, `containers`) and
 * `apiVersion: v1` / `kind: Pod`, in YAML or JSON, several per file.
 *
 * @module
 */
import { printable } from "../base/escape.ts";
import {
  type ContainerSpec,
  DEFAULT_NAMESPACE,
  dns1123LabelError,
  dns1123SubdomainError,
  NAME_MAX,
  type Pod,
  POD_UID_LENGTH,
  podLogDirName,
  type PodMetadata,
  type PodSpec,
} from "./pod.ts";
import { type FieldPath, parseYamlStream, type Position, type YamlDocument } from "./yaml.ts";
import { imageReferenceError } from "./image_ref.ts";
import { checkContainerFields, checkPodFields } from "./checks.ts";
import { checkSchema, CONTAINER_SCHEMA, POD_SPEC_SCHEMA } from "./schema.ts";

export type Severity = "error" | "warning";

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

/** Metadata fields the API server sets; harmless in a copied manifest. */
const SERVER_SET_METADATA = new Set([
  "uid",
  "resourceVersion",
  "creationTimestamp",
  "generation",
  "managedFields",
  "selfLink",
  "ownerReferences",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
]);

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

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Null, `""`, `{}` or `[]`: a field written out with nothing in it. */
function isEmpty(v: unknown): boolean {
  return v === null || v === "" || (Array.isArray(v) && v.length === 0) ||
    (isRecord(v) && Object.keys(v).length === 0);
}

/** JSON-quotes a value for a message, so control characters show. */
function q(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `a ${typeof v}`;
}

/** Collects problems for one document, positioned through the YAML nodes. */
class Checker {
  readonly problems: Problem[] = [];
  constructor(readonly file: string, readonly doc: YamlDocument) {}

  report(severity: Severity, path: FieldPath, message: string): void {
    this.problems.push({
      file: this.file,
      ...this.doc.locate(path),
      severity,
      field: fieldPathString(path),
      message,
    });
  }

  error(path: FieldPath, message: string): void {
    this.report("error", path, message);
  }

  warn(path: FieldPath, message: string): void {
    this.report("warning", path, message);
  }

  get failed(): boolean {
    return this.problems.some((p) => p.severity === "error");
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

const SHORT_FORM_KEYS = ["name", "namespace", "containers"] as const;
const POD_KEYS = ["apiVersion", "kind", "metadata", "spec", "status"] as const;
const METADATA_KEYS = ["name", "namespace", "labels", "annotations"] as const;

function checkContainers(
  c: Checker,
  raw: unknown,
  path: FieldPath,
  seen = new Map<string, string>(),
): ContainerSpec[] {
  const init = path.at(-1) === "initContainers";
  if (init && (raw === undefined || raw === null)) return [];
  if (raw === undefined || raw === null) {
    c.error(path, 'Add at least one container under "containers"');
    return [];
  }
  if (!Array.isArray(raw)) {
    c.error(path, `Write ${q(String(path.at(-1)))} as a list: it is ${typeName(raw)}`);
    return [];
  }
  if (raw.length === 0) {
    if (!init) c.error(path, "Add at least one container: the list is empty");
    return [];
  }
  const out: ContainerSpec[] = [];
  raw.forEach((item, i) => {
    const at = [...path, i];
    if (!isRecord(item)) {
      c.error(
        at,
        `Write container ${i} as a mapping with "name" and "image": it is ${typeName(item)}`,
      );
      return;
    }
    const name = c.string(item, at, "name", true);
    if (name !== undefined) {
      const bad = dns1123LabelError(name);
      if (bad) {
        c.error(
          [...at, "name"],
          `Rename container ${q(name)}: the name ${bad}`,
        );
      }
      const first = seen.get(name);
      if (first !== undefined) {
        c.error(
          [...at, "name"],
          `Rename container ${q(name)}: ${first} has the same name`,
        );
      }
      seen.set(name, `${String(path.at(-1))}[${i}]`);
    }
    const image = c.string(item, at, "image", true);
    const badImage = image === undefined ? undefined : imageReferenceError(image);
    if (badImage) {
      c.error(
        [...at, "image"],
        `Fix the image reference ${
          q(image)
        }: ${badImage}; write it as [host[:port]/]name[:tag][@digest], e.g. "docker.io/library/busybox:1.36"`,
      );
    }
    const command = c.stringList(item, at, "command");
    const args = c.stringList(item, at, "args");
    checkSchema(CONTAINER_SCHEMA, item, at, c);
    checkContainerFields(c, item, at);
    if (!init && item.restartPolicy !== undefined && item.restartPolicy !== null) {
      c.error(
        [...at, "restartPolicy"],
        `Move container ${
          q(name ?? i)
        } to initContainers, or remove its restartPolicy: only init containers (sidecars) take one`,
      );
    }
    if (name === undefined || image === undefined) return;
    const spec: ContainerSpec = { ...withoutNulls(item), name, image };
    if (command) spec.command = command;
    if (args) spec.args = args;
    out.push(spec);
  });
  return out;
}

function checkName(c: Checker, path: FieldPath, name: string | undefined) {
  if (name === undefined) return;
  const bad = dns1123SubdomainError(name);
  if (bad) c.error(path, `Rename the pod ${q(name)}: the name ${bad}`);
}

function checkNamespace(c: Checker, path: FieldPath, ns: string | undefined) {
  if (ns === undefined) return;
  const bad = dns1123LabelError(ns);
  if (bad) c.error(path, `Change the namespace ${q(ns)}: it ${bad}`);
}

/**
 * Rejects a pod whose log directory `<namespace>_<name>_<uid>` would be a
 * file name longer than Linux allows: the agent could not create it. Names
 * are ASCII once valid, so characters are bytes. (Every other name tinylet
 * makes a path component of, container and volume names, is a DNS-1123 label
 * of at most 63 characters.)
 */
function checkLogDirName(
  c: Checker,
  path: FieldPath,
  namespace: string | undefined,
  name: string | undefined,
) {
  if (name === undefined || dns1123SubdomainError(name)) return;
  if (namespace !== undefined && dns1123LabelError(namespace)) return;
  const ns = namespace ?? DEFAULT_NAMESPACE;
  const length = podLogDirName(ns, name, "u".repeat(POD_UID_LENGTH)).length;
  if (length <= NAME_MAX) return;
  const room = NAME_MAX - (length - name.length);
  c.error(
    path,
    `Shorten the pod name to at most ${room} characters in namespace ${
      q(ns)
    }: its log directory <namespace>_<name>_<uid> would be a file name of ${length} bytes, more than the ${NAME_MAX} Linux allows (File name too long)`,
  );
}

function shortForm(c: Checker, obj: Record<string, unknown>): Pod | undefined {
  const name = c.string(obj, [], "name", true);
  checkName(c, ["name"], name);
  const namespace = c.string(obj, [], "namespace", false);
  checkNamespace(c, ["namespace"], namespace);
  checkLogDirName(c, ["name"], namespace, name);
  const containers = checkContainers(c, obj.containers, ["containers"]);
  c.unknownKeys(
    obj,
    [],
    SHORT_FORM_KEYS,
    " (the short form has name, namespace and containers; use apiVersion: v1 and kind: Pod for more)",
  );
  if (c.failed || name === undefined) return undefined;
  const metadata: PodMetadata = { name };
  if (namespace !== undefined) metadata.namespace = namespace;
  return { apiVersion: "v1", kind: "Pod", metadata, spec: { containers } };
}

function v1Pod(c: Checker, obj: Record<string, unknown>): Pod | undefined {
  const rawMeta = obj.metadata;
  if (!isRecord(rawMeta)) {
    c.error(
      ["metadata"],
      rawMeta === undefined
        ? 'Add "metadata" with a "name"'
        : `Write "metadata" as a mapping: it is ${typeName(rawMeta)}`,
    );
    return undefined;
  }
  const name = c.string(rawMeta, ["metadata"], "name", true);
  checkName(c, ["metadata", "name"], name);
  const namespace = c.string(rawMeta, ["metadata"], "namespace", false);
  checkNamespace(c, ["metadata", "namespace"], namespace);
  checkLogDirName(c, ["metadata", "name"], namespace, name);
  const labels = c.stringMap(rawMeta, ["metadata"], "labels");
  const annotations = c.stringMap(rawMeta, ["metadata"], "annotations");
  for (const key of Object.keys(rawMeta)) {
    if ((METADATA_KEYS as readonly string[]).includes(key)) continue;
    if (SERVER_SET_METADATA.has(key)) {
      // kubeadm and `kubectl create --dry-run=client -o yaml` write `creationTimestamp: null`.
      if (isEmpty(rawMeta[key])) continue;
      c.warn(
        ["metadata", key],
        `Ignoring ${q(key)}: it is set by an API server, not by a manifest`,
      );
    } else {
      c.warn(["metadata", key], `Ignoring unknown field ${q(key)}`);
    }
  }
  const rawSpec = obj.spec;
  if (!isRecord(rawSpec)) {
    c.error(
      ["spec"],
      rawSpec === undefined
        ? 'Add a "spec" with "containers"'
        : `Write "spec" as a mapping: it is ${typeName(rawSpec)}`,
    );
    return undefined;
  }
  const names = new Map<string, string>();
  const initContainers = checkContainers(
    c,
    rawSpec.initContainers,
    ["spec", "initContainers"],
    names,
  );
  const containers = checkContainers(c, rawSpec.containers, ["spec", "containers"], names);
  checkSchema(POD_SPEC_SCHEMA, rawSpec, ["spec"], c);
  checkPodFields(c, rawSpec, ["spec"]);
  // kubeadm and `kubectl create --dry-run=client -o yaml` write `status: {}`.
  if ("status" in obj && !isEmpty(obj.status)) {
    c.warn(
      ["status"],
      'Ignoring "status": it is reported by the agent, not read',
    );
  }
  if (c.failed || name === undefined) return undefined;
  const metadata: PodMetadata = { name };
  if (namespace !== undefined) metadata.namespace = namespace;
  if (labels !== undefined) metadata.labels = labels;
  if (annotations !== undefined) metadata.annotations = annotations;
  const spec: PodSpec = { ...withoutNulls(rawSpec), containers };
  if (initContainers.length > 0) spec.initContainers = initContainers;
  return { apiVersion: "v1", kind: "Pod", metadata, spec };
}

function checkDocument(c: Checker): Pod | undefined {
  const value = c.doc.value;
  if (!isRecord(value)) {
    c.error(
      [],
      `Write the document as a mapping (a pod): it is ${typeName(value)}`,
    );
    return undefined;
  }
  if (!("apiVersion" in value) && !("kind" in value)) {
    return shortForm(c, value);
  }
  const kind = value.kind;
  const apiVersion = value.apiVersion;
  if (kind === undefined || kind === null) {
    c.error(["kind"], `Add "kind: Pod": a document with "apiVersion" must say its kind`);
    return undefined;
  }
  if (typeof kind === "string" && kind !== "Pod" && kind.toLowerCase() === "pod") {
    c.error(["kind"], `Write the kind as "Pod": it is ${q(kind)}`);
    return undefined;
  }
  if (kind !== "Pod") {
    c.warn(
      ["kind"],
      `Skipping this document: kind ${
        q(kind ?? "(missing)")
      } is not run by tinylet (only kind: Pod)`,
    );
    return undefined;
  }
  if (apiVersion !== "v1") {
    c.error(
      ["apiVersion"],
      `Set apiVersion to "v1" for kind: Pod: it is ${q(apiVersion ?? "(missing)")}`,
    );
    return undefined;
  }
  c.unknownKeys(value, [], POD_KEYS);
  return v1Pod(c, value);
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
    const checker = new Checker(file, doc);
    const pod = checkDocument(checker);
    problems.push(...checker.problems);
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
