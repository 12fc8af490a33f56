/**
 * `kind: ConfigMap` and `kind: Secret` documents (`apiVersion: v1`) judged field by field as
 * the API server validates them: metadata as a pod's, keys as Kubernetes' config keys, base64
 * values decoded (Secret `stringData` merged over `data`), their total bounded to 1 MiB, and
 * only the Secret types tinylet can serve. No finding ever quotes a value of `data`,
 * `binaryData` or `stringData`, nor any character of one: only keys, sizes and, for JSON, a
 * line and column.
 *
 * @module
 */
import type { Checker } from "./checker.ts";
import {
  DEFAULT_NAMESPACE,
  dns1123LabelError,
  dns1123SubdomainError,
  SERVER_SET_METADATA,
} from "./pod.ts";
import { isEmpty, isRecord, q, typeName } from "./values.ts";

/**
 * The most bytes the values of one ConfigMap or Secret may total (keys not counted): the API
 * server's `MaxSecretSize`, 1 MiB. Exactly this many is allowed.
 */
export const MAX_CONFIG_DATA_BYTES = 1024 * 1024;

/** The longest a ConfigMap or Secret key may be: a DNS-1123 subdomain's 253 characters. */
export const MAX_CONFIG_KEY_LENGTH = 253;

/** The name, namespace, labels and annotations of a ConfigMap or Secret. */
export interface ConfigObjectMeta {
  name: string;
  /** `default` when the document names none. */
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A checked ConfigMap: its text and binary data under disjoint keys. */
export interface ConfigMapObject extends ConfigObjectMeta {
  kind: "ConfigMap";
  data: Record<string, string>;
  /** Decoded from base64. */
  binaryData: Record<string, Uint8Array>;
  immutable: boolean;
}

/** A checked Secret: `data` decoded from base64, with `stringData` merged over it. */
export interface SecretObject extends ConfigObjectMeta {
  kind: "Secret";
  /** `Opaque` when the document names none. */
  type: string;
  data: Record<string, Uint8Array>;
  immutable: boolean;
}

/** The keys a Secret type needs: all of them, or any one with `anyOne`; JSON objects with `json`. */
export interface SecretTypeRule {
  keys: readonly string[];
  anyOne?: boolean;
  json?: boolean;
}

/**
 * The Secret types tinylet accepts, each with the keys it needs (any one of them for
 * `basic-auth`, all of them for the others) and whether they hold a JSON object.
 */
export const SECRET_TYPES: Readonly<Record<string, SecretTypeRule>> = {
  "Opaque": { keys: [] },
  "kubernetes.io/basic-auth": { keys: ["username", "password"], anyOne: true },
  "kubernetes.io/ssh-auth": { keys: ["ssh-privatekey"] },
  "kubernetes.io/tls": { keys: ["tls.crt", "tls.key"] },
  "kubernetes.io/dockercfg": { keys: [".dockercfg"], json: true },
  "kubernetes.io/dockerconfigjson": { keys: [".dockerconfigjson"], json: true },
};

/** Secret types a cluster fills in, with why tinylet refuses them. */
const CLUSTER_SECRET_TYPES: Readonly<Record<string, string>> = {
  "kubernetes.io/service-account-token":
    "its token is issued by a cluster's token controller for a service account, and tinylet has neither; put a token you have under data of an Opaque secret",
  "bootstrap.kubernetes.io/token":
    "bootstrap tokens let nodes join a cluster's control plane, which tinylet does not have",
};

/** Metadata fields the API server sets; harmless in a copied manifest (as for pods). */
const METADATA_KEYS = ["name", "namespace", "labels", "annotations"];
const CONFIG_MAP_KEYS = ["apiVersion", "kind", "metadata", "data", "binaryData", "immutable"];
const SECRET_KEYS = ["apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"];

const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64_RULE =
  `it is not standard base64 with padding (A-Z, a-z, 0-9, '+' and '/', padded with "=" to a multiple of 4 characters; URL-safe base64 is not read)`;
const utf8 = new TextEncoder();

/**
 * Why `key` cannot be a key of a ConfigMap or Secret (Kubernetes' `IsConfigMapKey`), or
 * undefined: letters, digits, `-`, `_` and `.`, at most 253 characters, not `.` or `..` and
 * not starting with `..` (each key becomes a file name in a volume).
 */
export function configKeyError(key: string): string | undefined {
  if (key === "") return "must not be empty";
  if (!CONFIG_KEY.test(key)) return "must consist of letters, digits, '-', '_' or '.'";
  if (key.length > MAX_CONFIG_KEY_LENGTH) {
    return `must be at most ${MAX_CONFIG_KEY_LENGTH} characters (it has ${key.length})`;
  }
  if (key === "." || key === "..") return `must not be ${q(key)}`;
  if (key.startsWith("..")) return `must not start with ".."`;
  return undefined;
}

/**
 * True when `text` is base64 as Go's `StdEncoding` reads it: the standard alphabet, `=` padding
 * to whole groups of 4, line breaks skipped.
 */
function isBase64(text: string): boolean {
  return BASE64.test(text.replace(/[\r\n]/g, ""));
}

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text.replace(/[\r\n]/g, ""));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

/** Why `bytes` is not a JSON object (or null, as Go's json reads into a map), or undefined. */
function jsonObjectError(bytes: Uint8Array): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes));
  } catch (err) {
    // V8's message may quote the text around the mistake: only its position is kept.
    const where = err instanceof Error ? /\((line \d+ column \d+)\)/.exec(err.message) : null;
    return `it is not valid JSON${where ? ` at ${where[1]}` : ""}`;
  }
  if (doc !== null && !isRecord(doc)) return `it is JSON but ${typeName(doc)}, not an object`;
  return undefined;
}

/**
 * Checks `kind`, `apiVersion`, the top-level fields and `metadata` (as a pod's: the name a
 * DNS-1123 subdomain, the namespace a DNS-1123 label, fields set by an API server ignored).
 */
function checkMetadata(
  c: Checker,
  obj: Record<string, unknown>,
  kind: string,
  known: string[],
): ConfigObjectMeta | undefined {
  if (obj.kind !== kind) {
    c.error(["kind"], `Set kind to ${q(kind)}: it is ${q(obj.kind ?? "(missing)")}`);
  }
  if (obj.apiVersion !== "v1") {
    c.error(
      ["apiVersion"],
      `Set apiVersion to "v1" for kind: ${kind}: it is ${q(obj.apiVersion ?? "(missing)")}`,
    );
  }
  c.unknownKeys(obj, [], known);
  const raw = obj.metadata;
  if (!isRecord(raw)) {
    c.error(
      ["metadata"],
      raw === undefined || raw === null
        ? 'Add "metadata" with a "name"'
        : `Write "metadata" as a mapping: it is ${typeName(raw)}`,
    );
    return undefined;
  }
  const name = c.string(raw, ["metadata"], "name", true);
  const badName = name === undefined ? undefined : dns1123SubdomainError(name);
  if (badName) c.error(["metadata", "name"], `Rename the ${kind} ${q(name)}: the name ${badName}`);
  const namespace = c.string(raw, ["metadata"], "namespace", false);
  const badNs = namespace === undefined ? undefined : dns1123LabelError(namespace);
  if (badNs) {
    c.error(["metadata", "namespace"], `Change the namespace ${q(namespace)}: it ${badNs}`);
  }
  const labels = c.stringMap(raw, ["metadata"], "labels");
  const annotations = c.stringMap(raw, ["metadata"], "annotations");
  for (const key of Object.keys(raw)) {
    if (METADATA_KEYS.includes(key)) continue;
    if (!SERVER_SET_METADATA.has(key)) {
      c.warn(["metadata", key], `Ignoring unknown field ${q(key)}`);
    } else if (!isEmpty(raw[key])) {
      c.warn(["metadata", key], `Ignoring ${q(key)}: it is set by an API server, not a manifest`);
    }
  }
  if (name === undefined) return undefined;
  const meta: ConfigObjectMeta = { name, namespace: namespace || DEFAULT_NAMESPACE };
  if (labels !== undefined) meta.labels = labels;
  if (annotations !== undefined) meta.annotations = annotations;
  return meta;
}

function checkImmutable(c: Checker, obj: Record<string, unknown>): boolean {
  const v = obj.immutable;
  if (v === undefined || v === null || typeof v === "boolean") return v === true;
  c.error(["immutable"], `Write "immutable" as true or false: it is ${typeName(v)}`);
  return false;
}

/**
 * The entries of the mapping `obj[field]` with valid keys and string values (null is read as
 * "", with a warning, as the API server reads it); none when it is absent.
 */
function stringEntries(
  c: Checker,
  obj: Record<string, unknown>,
  field: string,
  what: string,
): [string, string][] {
  const raw = obj[field];
  if (raw === undefined || raw === null) return [];
  if (!isRecord(raw)) {
    c.error([field], `Write ${q(field)} as a mapping of keys to ${what}: it is ${typeName(raw)}`);
    return [];
  }
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(raw)) {
    const at = [field, key];
    const badKey = configKeyError(key);
    if (badKey) c.error(at, `Rename the key ${q(key)} in ${field}: it ${badKey}`);
    if (value === null) {
      c.warn(at, `Write "" for the empty value of ${q(key)} in ${field}: it is null, read as ""`);
      out.push([key, ""]);
    } else if (typeof value === "number" || typeof value === "boolean") {
      c.error(
        at,
        `Quote the value of ${q(key)} in ${field}: values are ${what}, it is ${typeName(value)}`,
      );
    } else if (typeof value !== "string") {
      c.error(at, `Write the value of ${q(key)} in ${field} as ${what}: it is ${typeName(value)}`);
    } else if (!badKey) {
      out.push([key, value]);
    }
  }
  return out;
}

/** `stringEntries` of base64 text, decoded; a value that is not base64 is an error naming its key. */
function base64Entries(
  c: Checker,
  obj: Record<string, unknown>,
  field: string,
  plainField: string,
): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  for (const [key, text] of stringEntries(c, obj, field, "base64 text")) {
    if (isBase64(text)) {
      out.push([key, decodeBase64(text)]);
      continue;
    }
    // Says nothing of the value, not even where it goes wrong: that would show part of it.
    c.error(
      [field, key],
      `Encode the value of ${q(key)} in ${field} as base64 (e.g. with \`base64 -w0\`), ` +
        `or move it as plain text to ${plainField}: ${BASE64_RULE}`,
    );
  }
  return out;
}

function checkTotal(c: Checker, kind: string, bytes: number): void {
  if (bytes <= MAX_CONFIG_DATA_BYTES) return;
  c.error(
    [],
    `Shrink the ${kind}'s data: its values total ${bytes} bytes, more than the limit of ${MAX_CONFIG_DATA_BYTES} bytes (1 MiB)`,
  );
}

/** Judges a `kind: ConfigMap` document; undefined when `c` holds errors. */
export function checkConfigMap(
  c: Checker,
  obj: Record<string, unknown>,
): ConfigMapObject | undefined {
  const meta = checkMetadata(c, obj, "ConfigMap", CONFIG_MAP_KEYS);
  const data = stringEntries(c, obj, "data", "strings");
  const binaryData = base64Entries(c, obj, "binaryData", "data");
  const textKeys = new Set(data.map(([key]) => key));
  for (const [key] of binaryData) {
    if (textKeys.has(key)) {
      c.error(
        ["binaryData", key],
        `Remove ${q(key)} from data or from binaryData: a key may be in only one of them`,
      );
    }
  }
  let bytes = 0;
  for (const [, value] of data) bytes += utf8.encode(value).length;
  for (const [, value] of binaryData) bytes += value.length;
  checkTotal(c, "ConfigMap", bytes);
  const immutable = checkImmutable(c, obj);
  if (c.failed || meta === undefined) return undefined;
  return {
    kind: "ConfigMap",
    ...meta,
    // fromEntries defines own properties, so a key such as "__proto__" stays a key.
    data: Object.fromEntries(data),
    binaryData: Object.fromEntries(binaryData),
    immutable,
  };
}

/** The Secret's type, checked against {@linkcode SECRET_TYPES}; undefined when refused. */
function checkSecretType(c: Checker, obj: Record<string, unknown>): string | undefined {
  const raw = obj.type;
  if (raw === undefined || raw === null || raw === "") return "Opaque";
  if (typeof raw !== "string") {
    c.error(["type"], `Write "type" as a string, e.g. "Opaque": it is ${typeName(raw)}`);
    return undefined;
  }
  if (Object.hasOwn(SECRET_TYPES, raw)) return raw;
  const cluster = Object.hasOwn(CLUSTER_SECRET_TYPES, raw) ? CLUSTER_SECRET_TYPES[raw] : undefined;
  c.error(
    ["type"],
    cluster === undefined
      ? `Change the secret type ${q(raw)}: tinylet accepts ${Object.keys(SECRET_TYPES).join(", ")}`
      : `Change the secret type ${q(raw)}: ${cluster}`,
  );
  return undefined;
}

/** Checks that a Secret of `type` has the keys its type needs, in the form it needs. */
function checkTypeKeys(
  c: Checker,
  obj: Record<string, unknown>,
  type: string,
  data: Map<string, Uint8Array>,
  from: Map<string, string>,
): void {
  const rule = SECRET_TYPES[type];
  if (!rule || rule.keys.length === 0) return;
  const written = new Set(
    [obj.data, obj.stringData].flatMap((m) => isRecord(m) ? Object.keys(m) : []),
  );
  const names = rule.keys.map(q).join(rule.anyOne ? " or " : " and ");
  const needs = `a secret of type ${q(type)} needs ${names}`;
  if (rule.anyOne) {
    if (!rule.keys.some((key) => written.has(key))) {
      c.error(["type"], `Add ${names} under data or stringData: ${needs}`);
    }
    return;
  }
  for (const key of rule.keys) {
    // A key written with a bad value already has its error.
    if (written.has(key) && !data.has(key)) continue;
    const value = data.get(key);
    // ssh-privatekey must also be non-empty, as the API server has it.
    if (value === undefined || (type === "kubernetes.io/ssh-auth" && value.length === 0)) {
      const empty = value === undefined ? "" : " (it is empty)";
      c.error(["type"], `Add ${q(key)} under data or stringData${empty}: ${needs}`);
    } else if (rule.json) {
      const bad = jsonObjectError(value);
      if (bad) {
        c.error(
          [from.get(key) ?? "data", key],
          `Fix the value of ${q(key)}: ${needs} holding a JSON object, and ${bad}`,
        );
      }
    }
  }
}

/** Judges a `kind: Secret` document; undefined when `c` holds errors. */
export function checkSecret(c: Checker, obj: Record<string, unknown>): SecretObject | undefined {
  const meta = checkMetadata(c, obj, "Secret", SECRET_KEYS);
  const data = new Map<string, Uint8Array>();
  const from = new Map<string, string>();
  for (const [key, value] of base64Entries(c, obj, "data", "stringData")) {
    data.set(key, value);
    from.set(key, "data");
  }
  for (const [key, value] of stringEntries(c, obj, "stringData", "strings")) {
    data.set(key, utf8.encode(value));
    from.set(key, "stringData");
  }
  let bytes = 0;
  for (const value of data.values()) bytes += value.length;
  checkTotal(c, "Secret", bytes);
  const type = checkSecretType(c, obj);
  if (type !== undefined) checkTypeKeys(c, obj, type, data, from);
  const immutable = checkImmutable(c, obj);
  if (c.failed || meta === undefined || type === undefined) return undefined;
  return { kind: "Secret", ...meta, type, data: Object.fromEntries(data), immutable };
}

/** What `convert` and `check` may print of a Secret: its keys and sizes, never values. */
export function secretSummary(s: SecretObject): { key: string; bytes: number }[] {
  return Object.keys(s.data).sort().map((key) => ({ key, bytes: s.data[key]!.length }));
}
