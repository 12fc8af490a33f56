/**
 * What a `configMap`, `secret` or `projected` volume holds, as kubelet
 * computes it before its atomic writer puts it on disk
 * (`pkg/volume/configmap`, `pkg/volume/secret`, `pkg/volume/projected`,
 * `pkg/volume/downwardapi` and `pkg/fieldpath`):
 *
 * - every key of the object at the path named after it, or with `items` only
 *   those keys, at their `path`; a file's mode is its item's `mode`, else the
 *   volume's `defaultMode`, else 0644;
 * - a missing object fails the volume (`configmap "NAME" not found`) unless
 *   the source is `optional`, which gives an empty volume; a missing item key
 *   fails it unless `optional`, which skips the item;
 * - a projected volume merges its sources in order (a path that two sources
 *   produce from their keys is the later source's, as in kubelet), with the
 *   API server's refusal of an item path given twice; its `downwardAPI` items
 *   show the pod's name, namespace, uid, labels and annotations;
 * - every item path is cleaned as kubelet's writer cleans it (Go's
 *   `filepath.Clean`: `./k` is `k`, `conf/` is `conf`, `a//b` is `a/b`), and a
 *   cleaned path the writer cannot write (`payloadPathError`) is refused;
 * - a `secret` volume and every `projected` volume go on a tmpfs, as kubelet
 *   mounts them (`Medium: Memory`), whatever their sources.
 *
 * The result is data only; nothing here reads or writes files. Messages name
 * objects, keys, paths and fields, never a value.
 *
 * @module
 */

import { type FileProjection, type Payload, payloadPathError } from "../node/atomic_writer.ts";
import type { ConfigLookup } from "./config_lookup.ts";
import { compareCodePoints, type PodFacts, podFieldValue } from "./pod_fields.ts";

export type { PodFacts };

/** An `items` entry: the object's `key`, written at `path`. */
export interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

/** The object part of a `configMap` source (`name`) or a projected `secret` source. */
export interface ObjectProjection {
  name: string;
  items?: KeyToPath[];
  optional?: boolean;
}

/** A `downwardAPI` item of a projected volume. */
export interface DownwardApiFile {
  path: string;
  fieldRef?: { fieldPath: string; apiVersion?: string };
  resourceFieldRef?: { resource: string; containerName?: string; divisor?: unknown };
  mode?: number;
}

/** One entry of a projected volume's `sources`. */
export interface ProjectionSource {
  configMap?: ObjectProjection;
  secret?: ObjectProjection;
  downwardAPI?: { items?: DownwardApiFile[] };
  [kind: string]: unknown;
}

/** A volume's source, with the fields of its `v1` type. */
export type VolumeSource =
  | { configMap: ObjectProjection & { defaultMode?: number } }
  | {
    secret: { secretName: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  }
  | { projected: { sources?: ProjectionSource[]; defaultMode?: number } };

/**
 * A volume's content, or why it cannot be made. `memory` says the volume goes
 * on a tmpfs: true for every `secret` and every `projected` volume, as kubelet
 * mounts them (`pkg/volume/secret`, `pkg/volume/projected`: `Medium: Memory`),
 * false for a `configMap` volume. It depends on the volume's kind only, so an
 * optional Secret that appears later never needs another medium.
 */
export type PayloadResult =
  | { ok: true; payload: Payload; memory: boolean }
  | { ok: false; message: string };

/** An object a volume reads. */
export interface VolumeReference {
  kind: "ConfigMap" | "Secret";
  name: string;
  optional: boolean;
}

/** kubelet's `defaultMode` when a volume gives none (0644). */
export const DEFAULT_FILE_MODE = 0o644;

type Files = Map<string, FileProjection>;

/** A failure of one source or item; caught and turned into the result's message. */
class SourceError extends Error {}

/** The objects `source` reads, in order, so a change to one of them can be seen to touch it. */
export function volumeReferences(source: VolumeSource): VolumeReference[] {
  if ("configMap" in source) {
    const { name, optional } = source.configMap;
    return [{ kind: "ConfigMap", name, optional: optional === true }];
  }
  if ("secret" in source) {
    const { secretName, optional } = source.secret;
    return [{ kind: "Secret", name: secretName, optional: optional === true }];
  }
  const refs: VolumeReference[] = [];
  for (const s of source.projected.sources ?? []) {
    if (s.configMap) {
      refs.push({
        kind: "ConfigMap",
        name: s.configMap.name,
        optional: s.configMap.optional === true,
      });
    }
    if (s.secret) {
      refs.push({ kind: "Secret", name: s.secret.name, optional: s.secret.optional === true });
    }
  }
  return refs;
}

/**
 * What the volume `source` of `pod` holds, its objects read through `lookup`.
 * A failure's message is kubelet's, followed by what to do; for a projected
 * volume it lists each failing source, as kubelet's `[first, second]` does.
 */
export function volumePayload(
  pod: PodFacts,
  source: VolumeSource,
  lookup: ConfigLookup,
): PayloadResult {
  const problems = pathProblems(source);
  if (problems.length > 0) return failure(problems);
  const files: Files = new Map();
  try {
    if ("configMap" in source) {
      const { defaultMode, ...ref } = source.configMap;
      configMapFiles(pod.namespace, ref, defaultMode ?? DEFAULT_FILE_MODE, lookup, files);
      return done(files, false);
    }
    if ("secret" in source) {
      const { secretName, defaultMode, ...rest } = source.secret;
      const ref = { name: secretName, ...rest };
      secretFiles(pod.namespace, ref, defaultMode ?? DEFAULT_FILE_MODE, lookup, files);
      return done(files, true);
    }
  } catch (error) {
    if (error instanceof SourceError) return failure([error.message]);
    throw error;
  }
  const mode = source.projected.defaultMode ?? DEFAULT_FILE_MODE;
  const errors: string[] = [];
  for (const [index, s] of (source.projected.sources ?? []).entries()) {
    try {
      if (s.secret) {
        secretFiles(pod.namespace, s.secret, mode, lookup, files);
      } else if (s.configMap) {
        configMapFiles(pod.namespace, s.configMap, mode, lookup, files);
      } else if (s.downwardAPI) {
        errors.push(...downwardApiFiles(pod, s.downwardAPI.items ?? [], mode, files));
      } else {
        const kinds = Object.keys(s).map((k) => `"${k}"`).join(", ") || "nothing";
        throw new SourceError(
          `Use configMap, secret or downwardAPI in projected source ${index}: ${kinds} is not supported`,
        );
      }
    } catch (error) {
      if (!(error instanceof SourceError)) throw error;
      errors.push(error.message);
    }
  }
  return errors.length > 0 ? failure(errors) : done(files, true);
}

/** The result for `files`, in path order. */
function done(files: Files, memory: boolean): PayloadResult {
  const paths = [...files.keys()].sort(compareCodePoints);
  return { ok: true, payload: new Map(paths.map((p) => [p, files.get(p)!])), memory };
}

/** One message for `messages` as kubelet's aggregate gives it: `[a, b]` past the first. */
function failure(messages: string[]): PayloadResult {
  const unique = [...new Set(messages)];
  return { ok: false, message: unique.length === 1 ? unique[0]! : `[${unique.join(", ")}]` };
}

const encoder = new TextEncoder();

/** A volume's object that is not there: nothing for an optional source, else kubelet's error. */
function missing(kind: "ConfigMap" | "Secret", namespace: string, ref: ObjectProjection): void {
  if (ref.optional === true) return;
  const source = kind === "ConfigMap" ? "configMap" : "secret";
  throw new SourceError(
    `${kind.toLowerCase()} "${ref.name}" not found: add a ${kind} "${ref.name}" in namespace ` +
      `"${namespace}" to the manifests, or make the volume's ${source} optional`,
  );
}

function configMapFiles(
  namespace: string,
  ref: ObjectProjection,
  defaultMode: number,
  lookup: ConfigLookup,
  files: Files,
): void {
  const found = lookup.configMap(namespace, ref.name);
  if (!found) return missing("ConfigMap", namespace, ref);
  const text = Object.entries(found.data).map(([k, v]) => [k, encoder.encode(v)] as const);
  const binary = Object.entries(found.binaryData ?? {});
  // Without items, a key in both is binaryData's (kubelet writes it last); with items, data's.
  const all = [...text, ...binary];
  const byKey = new Map([...binary, ...text]);
  objectFiles(
    ref,
    all,
    byKey,
    defaultMode,
    files,
    (key) =>
      `configmap references non-existent config key: ${key}: add the key to ConfigMap ` +
      `"${ref.name}", or remove the item`,
  );
}

function secretFiles(
  namespace: string,
  ref: ObjectProjection,
  defaultMode: number,
  lookup: ConfigLookup,
  files: Files,
): void {
  const found = lookup.secret(namespace, ref.name);
  if (!found) return missing("Secret", namespace, ref);
  const all = Object.entries(found.data);
  objectFiles(
    ref,
    all,
    new Map(all),
    defaultMode,
    files,
    (key) =>
      `references non-existent secret key: ${key}: add the key to Secret "${ref.name}", ` +
      `or remove the item`,
  );
}

/** The files of one found object: all its keys, or its items (kubelet's `MakePayload`). */
function objectFiles(
  ref: ObjectProjection,
  all: (readonly [string, Uint8Array])[],
  byKey: ReadonlyMap<string, Uint8Array>,
  defaultMode: number,
  files: Files,
  missingKey: (key: string) => string,
): void {
  const items = ref.items ?? [];
  if (items.length === 0) {
    for (const [key, data] of all) files.set(key, { data, mode: defaultMode });
    return;
  }
  const chosen: [string, FileProjection][] = [];
  for (const item of items) {
    const data = byKey.get(item.key);
    if (data === undefined) {
      if (ref.optional === true) continue;
      throw new SourceError(missingKey(item.key));
    }
    chosen.push([cleanPath(item.path), { data, mode: item.mode ?? defaultMode }]);
  }
  for (const [path, file] of chosen) files.set(path, file);
}

/** The files of a projected `downwardAPI` source; returns the failing items' messages. */
function downwardApiFiles(
  pod: PodFacts,
  items: DownwardApiFile[],
  defaultMode: number,
  files: Files,
): string[] {
  const errors: string[] = [];
  for (const item of items) {
    const mode = item.mode ?? defaultMode;
    try {
      if (item.fieldRef) {
        const field = podFieldValue(pod, item.fieldRef.fieldPath);
        if (!field.ok) throw new SourceError(field.message);
        files.set(cleanPath(item.path), { data: encoder.encode(field.value), mode });
      } else if (item.resourceFieldRef) {
        throw new SourceError(
          `Use fieldRef for downwardAPI item "${item.path}": resourceFieldRef ` +
            `("${item.resourceFieldRef.resource}") is not available in volumes`,
        );
      } else {
        throw new SourceError(`Give downwardAPI item "${item.path}" a fieldRef`);
      }
    } catch (error) {
      if (!(error instanceof SourceError)) throw error;
      errors.push(error.message);
    }
  }
  return errors;
}

/**
 * A relative path as Go's `filepath.Clean` gives it, `""` for the volume's
 * root (the path has no `..` component: those are refused first).
 */
function cleanPath(path: string): string {
  return path.split("/").filter((part) => part !== "" && part !== ".").join("/");
}

/**
 * The manifest's own mistakes, found before any lookup: an item path that is
 * empty, absolute, holds a `..` component or starts with `..` (the API
 * server's refusals), that names the volume's root once cleaned, or that the
 * writer cannot write once cleaned (`payloadPathError`: a component over 255
 * bytes, a cleaned path starting with `..`); and in a projected volume a
 * cleaned path given twice (the API server's "conflicting duplicate paths",
 * with `x` and `./x` one path, as they are on disk).
 */
function pathProblems(source: VolumeSource): string[] {
  const owned: [string, string[]][] = [];
  const keyPaths = (items: KeyToPath[] | undefined) => (items ?? []).map((i) => i.path);
  if ("configMap" in source) {
    owned.push([`configMap "${source.configMap.name}"`, keyPaths(source.configMap.items)]);
  } else if ("secret" in source) {
    owned.push([`secret "${source.secret.secretName}"`, keyPaths(source.secret.items)]);
  } else {
    for (const s of source.projected.sources ?? []) {
      if (s.configMap) owned.push([`configMap "${s.configMap.name}"`, keyPaths(s.configMap.items)]);
      if (s.secret) owned.push([`secret "${s.secret.name}"`, keyPaths(s.secret.items)]);
      if (s.downwardAPI) {
        owned.push(["downwardAPI", (s.downwardAPI.items ?? []).map((i) => i.path)]);
      }
    }
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [owner, paths] of owned) {
    for (const path of paths) {
      const fix = `Fix item path ${JSON.stringify(path)} of ${owner}`;
      const clean = cleanPath(path);
      const problem = path === ""
        ? "is empty"
        : path.startsWith("/")
        ? "is absolute"
        : path.split("/").includes("..")
        ? "has a '..' component"
        : path.startsWith("..")
        ? "starts with '..'"
        : clean === ""
        ? "names the volume's root"
        : undefined;
      const unwritable = problem === undefined ? payloadPathError(clean) : undefined;
      if (problem !== undefined) {
        problems.push(`${fix}: it ${problem}; give a relative path inside the volume`);
      } else if (unwritable !== undefined) {
        problems.push(`${fix}: ${unwritable[0]!.toLowerCase()}${unwritable.slice(1)}`);
      } else if ("projected" in source && seen.has(clean)) {
        const cleaned = clean === path ? "" : ` ("${clean}" once cleaned)`;
        problems.push(
          `${fix}: conflicting duplicate paths${cleaned}; ` +
            `each item of a projected volume needs its own path`,
        );
      }
      seen.add(clean);
    }
  }
  return problems;
}
