/**
 * A container's environment variables from ConfigMaps and Secrets (`envFrom`,
 * `env[].valueFrom.configMapKeyRef` and `secretKeyRef`), resolved as kubelet's
 * `makeEnvironmentVariables` does, through a lookup of the objects; and the hash of the values
 * they read, which replaces a pod when its referenced data changes. Pure.
 *
 * {@linkcode resolveEnv} returns the assignments kubelet makes, in its order;
 * {@linkcode expandResolved} turns them into the container's env with field references filled in
 * and `$(VAR)` expanded; {@linkcode referencedEnvHash} hashes the values they read.
 *
 * @module
 */
import type { ObjectFieldSelector } from "../manifest/types.ts";
import { expandEnv } from "./expand.ts";

/** The data of a ConfigMap. Only `data` reaches env: kubelet never reads `binaryData` for it. */
export interface ConfigData {
  data: Record<string, string>;
  binaryData?: Record<string, Uint8Array>;
}

/** The data of a Secret: its values as decoded bytes. */
export interface SecretData {
  data: Record<string, Uint8Array>;
}

/** Finds ConfigMaps and Secrets by namespace and name; undefined when there is none. */
export interface ConfigLookup {
  configMap(namespace: string, name: string): ConfigData | undefined;
  secret(namespace: string, name: string): SecretData | undefined;
}

/** A reference to one key of a ConfigMap or Secret (`configMapKeyRef`, `secretKeyRef`). */
export interface KeySelector {
  name: string;
  key: string;
  optional?: boolean;
}

/** A reference to a whole ConfigMap or Secret (`envFrom[].configMapRef`, `secretRef`). */
export interface ObjectRef {
  name: string;
  optional?: boolean;
}

/** One `env` item of a container, with the sources tinylet resolves. */
export interface EnvVarSpec {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: ObjectFieldSelector;
    configMapKeyRef?: KeySelector;
    secretKeyRef?: KeySelector;
  };
}

/** One `envFrom` item of a container. */
export interface EnvFromSpec {
  prefix?: string;
  configMapRef?: ObjectRef;
  secretRef?: ObjectRef;
}

/** The fields of a v1 container that make its environment. */
export interface EnvSpec {
  env?: EnvVarSpec[];
  envFrom?: EnvFromSpec[];
}

/**
 * One assignment of a variable. `literal`: taken as it is, never `$(VAR)`-expanded (values
 * from ConfigMaps, Secrets and field references). `secret`: the value came from a Secret.
 * `fieldPath`: the entry is a `valueFrom.fieldRef` whose value ("" here) the caller fills in.
 */
export interface EnvEntry {
  name: string;
  value: string;
  literal: boolean;
  secret: boolean;
  fieldPath?: string;
}

/**
 * The outcome of {@linkcode resolveEnv}. On failure the container cannot be created:
 * `message` is kubelet's text for it (it names objects and keys, never a value), `field` the
 * container field at fault (`envFrom[0].configMapRef`, `env[2].valueFrom.secretKeyRef`) and
 * `action` what to do.
 */
export type EnvResolution =
  | { ok: true; env: EnvEntry[]; warnings: string[] }
  | {
    ok: false;
    reason: "CreateContainerConfigError";
    message: string;
    field: string;
    action: string;
  };

/** How `envFrom` names are judged; see {@linkcode resolveEnv}. */
export type EnvNameRules = "relaxed" | "strict";

/** Options of {@linkcode resolveEnv}. */
export interface ResolveEnvOptions {
  /** Which names an `envFrom` source may give (default `relaxed`). */
  names?: EnvNameRules;
}

const STRICT_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
// Printable ASCII but "=".
const RELAXED_NAME = /^[\x20-\x3c\x3e-\x7e]+$/;

/**
 * True when `name` is an environment variable name under `rules`. `strict` is Kubernetes'
 * `IsEnvVarName`: `[-._a-zA-Z][-._a-zA-Z0-9]*`, and not `.`, `..` or starting with `..`.
 * `relaxed` is its `IsRelaxedEnvVarName`: non-empty, printable ASCII but `=`.
 */
export function isEnvVarName(name: string, rules: EnvNameRules = "relaxed"): boolean {
  if (rules === "relaxed") return RELAXED_NAME.test(name);
  return STRICT_NAME.test(name) && name !== "." && !name.startsWith("..");
}

const utf8 = new TextDecoder();

/** A Secret value as a string, as Go's `string(bytes)`; invalid UTF-8 becomes U+FFFD. */
function secretString(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

function own<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

type Failure = Extract<EnvResolution, { ok: false }>;

function failure(message: string, field: string, action: string): Failure {
  return { ok: false, reason: "CreateContainerConfigError", message, field, action };
}

function missingObject(kind: "ConfigMap" | "Secret", ns: string, name: string, field: string) {
  return failure(
    `${kind === "ConfigMap" ? "configmap" : "secret"} "${name}" not found`,
    field,
    `Add the ${kind} "${name}" in namespace "${ns}" to the manifest directory, or mark the reference optional`,
  );
}

function missingKey(
  kind: "ConfigMap" | "Secret",
  ns: string,
  name: string,
  key: string,
  field: string,
) {
  return failure(
    `couldn't find key ${key} in ${kind} ${ns}/${name}`,
    field,
    `Add the key "${key}" to the ${kind} "${name}" in namespace "${ns}", or mark the reference optional`,
  );
}

/** The entries of one `envFrom` source, its skipped names, or the failure of a missing object. */
function fromSource(
  namespace: string,
  src: EnvFromSpec,
  index: number,
  lookup: ConfigLookup,
  rules: EnvNameRules,
  out: EnvEntry[],
  warnings: string[],
): Failure | undefined {
  // As kubelet's switch: a configMapRef is read before a secretRef; neither is nothing.
  const ref = src.configMapRef ?? src.secretRef;
  if (!ref) return undefined;
  const isSecret = src.configMapRef === undefined;
  const kind = isSecret ? "Secret" : "ConfigMap";
  let data: Record<string, string>;
  if (isSecret) {
    const s = lookup.secret(namespace, ref.name);
    if (!s) {
      if (ref.optional === true) return undefined;
      return missingObject(kind, namespace, ref.name, `envFrom[${index}].secretRef`);
    }
    data = Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, secretString(v)]));
  } else {
    const cm = lookup.configMap(namespace, ref.name);
    if (!cm) {
      if (ref.optional === true) return undefined;
      return missingObject(kind, namespace, ref.name, `envFrom[${index}].configMapRef`);
    }
    data = cm.data;
  }
  const skipped: string[] = [];
  // Kubelet walks a Go map (no order); keys go in sorted order here, so the result is stable.
  for (const key of Object.keys(data).sort()) {
    const name = (src.prefix ?? "") + key;
    if (!isEnvVarName(name, rules)) {
      skipped.push(name);
      continue;
    }
    out.push({ name, value: data[key] ?? "", literal: true, secret: isSecret });
  }
  if (skipped.length > 0) {
    warnings.push(
      `Keys [${skipped.sort().join(", ")}] from the EnvFrom ${
        isSecret ? "secret" : "configMap"
      } ${namespace}/${ref.name} were skipped since they are considered invalid environment variable names.`,
    );
  }
  return undefined;
}

/**
 * The entry of one `env` item, undefined when it is skipped (an optional reference to a
 * missing object or key), or the failure of a required one.
 */
function fromEnvVar(
  namespace: string,
  e: EnvVarSpec,
  index: number,
  lookup: ConfigLookup,
): EnvEntry | Failure | undefined {
  const plain = { name: e.name, value: e.value ?? "", literal: false, secret: false };
  // As kubelet: a non-empty value wins over valueFrom.
  if (plain.value !== "" || !e.valueFrom) return plain;
  const from = e.valueFrom;
  const at = `env[${index}].valueFrom`;
  if (from.fieldRef) {
    return {
      name: e.name,
      value: "",
      literal: true,
      secret: false,
      fieldPath: from.fieldRef.fieldPath,
    };
  }
  if (from.configMapKeyRef) {
    const ref = from.configMapKeyRef;
    const cm = lookup.configMap(namespace, ref.name);
    if (!cm) {
      if (ref.optional === true) return undefined;
      return missingObject("ConfigMap", namespace, ref.name, `${at}.configMapKeyRef`);
    }
    const value = own(cm.data, ref.key);
    if (value === undefined) {
      if (ref.optional === true) return undefined;
      return missingKey("ConfigMap", namespace, ref.name, ref.key, `${at}.configMapKeyRef`);
    }
    return { name: e.name, value, literal: true, secret: false };
  }
  if (from.secretKeyRef) {
    const ref = from.secretKeyRef;
    const s = lookup.secret(namespace, ref.name);
    if (!s) {
      if (ref.optional === true) return undefined;
      return missingObject("Secret", namespace, ref.name, `${at}.secretKeyRef`);
    }
    const bytes = own(s.data, ref.key);
    if (bytes === undefined) {
      if (ref.optional === true) return undefined;
      return missingKey("Secret", namespace, ref.name, ref.key, `${at}.secretKeyRef`);
    }
    return { name: e.name, value: secretString(bytes), literal: true, secret: true };
  }
  return plain;
}

/**
 * The environment of `container` in `namespace` as the assignments kubelet makes, in its
 * order: first each `envFrom` source in turn (its keys sorted, each named `prefix + key`),
 * then each `env` item in turn. A name can be assigned more than once: the last assignment
 * wins and the name keeps its first position, as in kubelet's map and in `expandEnv`. The
 * list is kept whole (not reduced to final values) because `$(VAR)` in an explicit value sees
 * the variables as they stand at its turn: every `envFrom` variable, and the `env` items
 * before it; {@linkcode expandResolved} gives the final env.
 *
 * - A missing object fails the container (`configmap "NAME" not found`,
 *   `secret "NAME" not found`) unless its reference is `optional`; an optional one is skipped.
 *   A missing key fails it the same way (`couldn't find key KEY in ConfigMap NS/NAME`).
 *   A skipped `env` item assigns nothing, so an `envFrom` value of its name stays.
 * - `envFrom` names that are not environment variable names are skipped, all those of one
 *   source said in one warning, with kubelet's text. `options.names` picks the rule:
 *   `relaxed` (the default) is today's Kubernetes: any printable ASCII but `=`
 *   (`IsRelaxedEnvVarName`, the API server's rule by default since 1.32; tinylet's check of
 *   `env[].name` is looser still: non-empty, no `=`). Kubelet itself takes every key since
 *   1.30 and leaves the check to the API server, which tinylet's ConfigMaps never pass, so it
 *   is made here. `strict` is kubelet's check before 1.30 (`IsEnvVarName`).
 * - Values from references are `literal`; Secret values are their bytes read as UTF-8.
 * - A `fieldRef` item is an entry with its `fieldPath` and value "", for the caller to fill.
 */
export function resolveEnv(
  namespace: string,
  container: EnvSpec,
  lookup: ConfigLookup,
  options: ResolveEnvOptions = {},
): EnvResolution {
  const rules = options.names ?? "relaxed";
  const env: EnvEntry[] = [];
  const warnings: string[] = [];
  for (const [i, src] of (container.envFrom ?? []).entries()) {
    const failed = fromSource(namespace, src, i, lookup, rules, env, warnings);
    if (failed) return failed;
  }
  for (const [i, e] of (container.env ?? []).entries()) {
    const entry = fromEnvVar(namespace, e, i, lookup);
    if (entry === undefined) continue;
    if ("ok" in entry) return entry;
    env.push(entry);
  }
  return { ok: true, env, warnings };
}

/** `value` with each `$` doubled, so expansion gives it back unchanged. */
function escapeDollars(value: string): string {
  // A function, not "$$": in a replacement string "$$" stands for one "$".
  return value.replaceAll("$", () => "$$");
}

/**
 * The container's env from the assignments of {@linkcode resolveEnv}: each `fieldRef` entry
 * filled by `fieldValue`, explicit values `$(VAR)`-expanded as kubelet does (literal values
 * taken as they are), each name once, at its first position, with its last value.
 */
export function expandResolved(
  env: EnvEntry[],
  fieldValue: (fieldPath: string) => string,
): { name: string; value: string }[] {
  return expandEnv(env.map((e) => {
    const value = e.fieldPath === undefined ? e.value : fieldValue(e.fieldPath);
    return { name: e.name, value: e.literal ? escapeDollars(value) : value };
  }));
}

const encoder = new TextEncoder();

/**
 * The hex SHA-256 of every value the given containers' env read from ConfigMaps and Secrets
 * (the literal entries that are not field references): the canonical JSON
 * `[[container, [[name, value], ...]], ...]`, containers sorted by name and each one's
 * assignments sorted by name (stably: a name assigned twice keeps its order), leaving out
 * containers that read nothing. So it changes when a referenced value changes, appears or goes,
 * and not when a plain value does. Values overridden later are kept: a value read from an
 * object can still reach the container through `$(VAR)`.
 */
export async function referencedEnvHash(
  entries: { container: string; env: EnvEntry[] }[],
): Promise<string> {
  const canonical = entries
    .map(({ container, env }) => {
      const read = env.filter((e) => e.literal && e.fieldPath === undefined);
      const pairs = read
        .map((e) => [e.name, e.value] as [string, string])
        .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      return [container, pairs] as [string, [string, string][]];
    })
    .filter(([, pairs]) => pairs.length > 0)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(JSON.stringify(canonical)));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
