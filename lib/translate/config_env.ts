/**
 * A container's environment variables from ConfigMaps and Secrets (`envFrom`,
 * `env[].valueFrom.configMapKeyRef` and `secretKeyRef`), resolved as kubelet's
 * `makeEnvironmentVariables` does, through a lookup of the objects; and the hash of the values
 * they read, which replaces a pod when its referenced data changes. Pure.
 *
 * {@linkcode resolveEnv} returns the assignments kubelet makes, in its order;
 * {@linkcode expandResolved} turns them into the container's env with field references filled in,
 * `$(VAR)` expanded and each variable that may hold Secret data marked;
 * {@linkcode referencedEnvHash} hashes the values they read.
 *
 * @module
 */
import type { ObjectFieldSelector } from "../manifest/types.ts";
import type { ConfigLookup } from "./config_lookup.ts";
import { expandEnv } from "./expand.ts";

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

/** One `envFrom` item of a container; a ref written `null` is absent, as in Go. */
export interface EnvFromSpec {
  prefix?: string;
  configMapRef?: ObjectRef | null;
  secretRef?: ObjectRef | null;
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
 * `message` is kubelet's text where it has one (naming objects and keys, never a value),
 * `field` the container field at fault (`envFrom[0].configMapRef`,
 * `env[2].valueFrom.secretKeyRef`) and `action` what to do.
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

// Fatal: invalid UTF-8 throws instead of turning into U+FFFD. ignoreBOM: a leading U+FEFF is
// part of the value (the default decoder drops it).
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * A Secret value as env text, or undefined when its bytes are not UTF-8. Kubelet's Go
 * `string(bytes)` keeps any bytes as they are, but the CRI carries an env value as a protobuf
 * `string`, which must be UTF-8: kubelet's gRPC client refuses to marshal such a container
 * config. So the value is never altered (into U+FFFD): the container fails, naming the key.
 */
function secretText(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    // The only error a fatal decoder throws: a TypeError for bytes that are not UTF-8.
    return undefined;
  }
}

type Failure = Extract<EnvResolution, { ok: false }>;
type Kind = "ConfigMap" | "Secret";
type Data = Record<string, string | Uint8Array>;

/** The data of the ConfigMap or Secret, if there is one: of a ConfigMap only `data`, as kubelet. */
function objectData(lookup: ConfigLookup, kind: Kind, ns: string, name: string): Data | undefined {
  return kind === "ConfigMap" ? lookup.configMap(ns, name)?.data : lookup.secret(ns, name)?.data;
}

function failure(message: string, field: string, action: string): Failure {
  return { ok: false, reason: "CreateContainerConfigError", message, field, action };
}

/** Kubelet's failure for a missing object, or for its missing `key` when one is given. */
function missing(kind: Kind, ns: string, name: string, key: string | undefined, field: string) {
  const add = key === undefined ? `the ${kind}` : `the key "${key}" to the ${kind}`;
  return failure(
    key === undefined
      ? `${kind === "ConfigMap" ? "configmap" : "secret"} "${name}" not found`
      : `couldn't find key ${key} in ${kind} ${ns}/${name}`,
    field,
    `Add ${add} "${name}" in namespace "${ns}"${
      key === undefined ? " to the manifest directory" : ""
    }, or mark the reference optional`,
  );
}

function notText(ns: string, name: string, key: string, field: string) {
  const act =
    `Store the value of key "${key}" in the Secret "${name}" in namespace "${ns}" as UTF-8 text, or read the key from a file of a secret volume`;
  return failure(
    `${act}: its value is not valid UTF-8, and an environment variable can hold only UTF-8 text`,
    field,
    act,
  );
}

/**
 * The failure of an `envFrom` source that names both a ConfigMap and a Secret, or neither.
 * Kubelet reads a `configMapRef` first and skips a source without one; the API server never lets
 * such a pod through, with these messages, so tinylet (the only judge here) refuses it too.
 */
function badSource(src: EnvFromSpec, index: number): Failure | undefined {
  const at = `envFrom[${index}]`;
  if (src.configMapRef && src.secretRef) {
    const act = `Split ${at} into two sources, one with configMapRef and one with secretRef`;
    return failure(`${at} may not have more than one field specified at a time`, at, act);
  }
  if (src.configMapRef || src.secretRef) return undefined;
  const act = `Add a configMapRef or a secretRef to ${at}, or remove it`;
  return failure(`${at} must specify one of: \`configMapRef\` or \`secretRef\``, at, act);
}

/**
 * The entries of one `envFrom` source, its skipped names, or the failure of a missing object, a
 * Secret value that is not UTF-8 or a source with both refs or none ({@linkcode badSource}).
 */
function fromSource(
  namespace: string,
  src: EnvFromSpec,
  index: number,
  lookup: ConfigLookup,
  rules: EnvNameRules,
  out: EnvEntry[],
  warnings: string[],
): Failure | undefined {
  const bad = badSource(src, index);
  if (bad) return bad;
  // Truthiness, not `!== undefined`: a `configMapRef: null` beside a secretRef is no ConfigMap.
  const isSecret = !src.configMapRef;
  const ref = src.configMapRef || src.secretRef;
  if (!ref) return undefined;
  const kind = isSecret ? "Secret" : "ConfigMap";
  const field = `envFrom[${index}].${isSecret ? "secretRef" : "configMapRef"}`;
  const data = objectData(lookup, kind, namespace, ref.name);
  if (!data) {
    return ref.optional === true ? undefined : missing(kind, namespace, ref.name, undefined, field);
  }
  const skipped: string[] = [];
  // Kubelet walks a Go map (no order); keys go in sorted order here, so the result is stable.
  for (const key of Object.keys(data).sort()) {
    const name = (src.prefix ?? "") + key;
    if (!isEnvVarName(name, rules)) {
      skipped.push(name);
      continue;
    }
    const raw = data[key] ?? "";
    // Only the keys that become variables must be text: a skipped one reaches no container.
    const value = typeof raw === "string" ? raw : secretText(raw);
    if (value === undefined) return notText(namespace, ref.name, key, field);
    out.push({ name, value, literal: true, secret: isSecret });
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
  const cmRef = from.configMapKeyRef;
  const ref = cmRef || from.secretKeyRef;
  if (!ref) return plain;
  const kind = cmRef ? "ConfigMap" : "Secret";
  const field = `${at}.${cmRef ? "configMapKeyRef" : "secretKeyRef"}`;
  const optional = ref.optional === true;
  const data = objectData(lookup, kind, namespace, ref.name);
  if (!data) return optional ? undefined : missing(kind, namespace, ref.name, undefined, field);
  const raw = Object.hasOwn(data, ref.key) ? data[ref.key] : undefined;
  if (raw === undefined) {
    return optional ? undefined : missing(kind, namespace, ref.name, ref.key, field);
  }
  const value = typeof raw === "string" ? raw : secretText(raw);
  if (value === undefined) return notText(namespace, ref.name, ref.key, field);
  return { name: e.name, value, literal: true, secret: !cmRef };
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
 * - Values from references are `literal`. A Secret value is its bytes read as UTF-8; bytes that
 *   are not UTF-8 fail the container, naming the Secret and key, as the CRI cannot carry them.
 * - An `envFrom` source with both a `configMapRef` and a `secretRef`, or neither, fails the
 *   container with the API server's message (kubelet would take the ConfigMap, or nothing).
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

/** One variable of a container's final env. `secret`: its value may hold Secret data. */
export interface EnvVar {
  name: string;
  value: string;
  secret: boolean;
}

/** True when `e` is an explicit value that references `$(NAME)` of one of `names`. */
function references(e: EnvEntry, names: Set<string>): boolean {
  return !e.literal && [...names].some((n) => e.value.includes(`$(${n})`));
}

/**
 * The names whose value may hold Secret data: those assigned from a Secret, and then, until
 * nothing changes, those whose explicit value references one as `$(NAME)` anywhere (at any
 * position, escaped or not, before or after the Secret's assignment: more than expansion can
 * reach, never less).
 */
function secretNames(env: EnvEntry[]): Set<string> {
  const names = new Set(env.filter((e) => e.secret).map((e) => e.name));
  let size;
  do {
    size = names.size;
    for (const e of env) if (references(e, names)) names.add(e.name);
  } while (names.size > size);
  return names;
}

/**
 * The container's env from the assignments of {@linkcode resolveEnv}: each `fieldRef` entry
 * filled by `fieldValue`, explicit values `$(VAR)`-expanded as kubelet does (literal values
 * taken as they are), each name once, at its first position, with its last value. Each
 * variable is `secret` when the assignment that gave its value read a Secret, or is an explicit
 * value referencing `$(NAME)` of a variable that may hold Secret data ({@linkcode secretNames}),
 * so the caller can keep it out of logs and status.
 */
export function expandResolved(
  env: EnvEntry[],
  fieldValue: (fieldPath: string) => string,
): EnvVar[] {
  const names = secretNames(env);
  // The last assignment of a name gives its value, so it decides (a Map keeps the last).
  const secret = new Map(env.map((e) => [e.name, e.secret || references(e, names)]));
  const expanded = expandEnv(env.map((e) => {
    const value = e.fieldPath === undefined ? e.value : fieldValue(e.fieldPath);
    return { name: e.name, value: e.literal ? escapeDollars(value) : value };
  }));
  return expanded.map(({ name, value }) => ({ name, value, secret: secret.get(name) === true }));
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
