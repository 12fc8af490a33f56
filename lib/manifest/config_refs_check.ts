/**
 * A pod's references to ConfigMaps and Secrets, checked as the API server validates them
 * (`validateConfigMapVolumeSource`, `validateSecretVolumeSource`,
 * `validateProjectedVolumeSource`, `validateKeyToPath`, `validateEnvVarValueFrom`,
 * `ValidateEnvFrom` and the key selectors) and narrowed to what tinylet can serve:
 *
 * - the rules of single fields, used by the schema: an object's name (a DNS-1123 subdomain),
 *   a key (a config key), an item path (relative, no `..` element, and writable by the node's
 *   atomic writer once cleaned), a file mode (0 to 0777) and an `envFrom` prefix;
 * - the checks across a volume's fields, run after the schema: one kind per projected source
 *   (`serviceAccountToken`, `clusterTrustBundle` and `podCertificate` refused: they need a
 *   cluster), the downward API fields a volume can show, an item path given twice in one
 *   projected volume or both a file and a directory. (`checks.ts` checks one source per
 *   `env[].valueFrom` and `envFrom` item.)
 *
 * Messages name objects, keys, paths and fields, never a value of a ConfigMap or Secret.
 *
 * @module
 */
import { configKeyError } from "./config_objects.ts";
import { dns1123SubdomainError } from "./pod.ts";
import type { Reporter } from "./reporter.ts";
import { isRecord, q, records, typeName } from "./values.ts";
import type { FieldPath } from "./yaml.ts";

/** Field paths a projected `downwardAPI` item may name, besides the one-key forms. */
export const VOLUME_FIELD_REFS = [
  "metadata.name",
  "metadata.namespace",
  "metadata.uid",
  "metadata.labels",
  "metadata.annotations",
] as const;

const VOLUME_FIELDS_TEXT = `${
  VOLUME_FIELD_REFS.join(", ")
}, metadata.labels['KEY'] or metadata.annotations['KEY']`;

/** The largest file mode a volume item may have: 0777 (the API server's bound). */
export const MAX_FILE_MODE = 0o777;

/** The longest an item path may be, in bytes, once cleaned: the atomic writer's PATH_MAX. */
const MAX_ITEM_PATH_BYTES = 4096;
/** The longest a component of an item path may be, in bytes: NAME_MAX. */
const MAX_ITEM_NAME_BYTES = 255;

const utf8 = new TextEncoder();

/**
 * An item path as the node cleans it before writing (Go's `filepath.Clean` of a relative path
 * without `..`): empty and `.` components dropped, `""` for the volume itself.
 */
export function cleanItemPath(path: string): string {
  return path.split("/").filter((part) => part !== "" && part !== ".").join("/");
}

/**
 * Why `path` cannot be the `path` of a volume item, as a phrase following "it", or undefined.
 * The API server's rules (`validateKeyToPath`: not empty, not absolute, no `..` element, not
 * starting with `..`), then the node's atomic writer's on the cleaned path, so that a path
 * accepted here can be written: not the volume itself, not starting with `..` (the writer's
 * `..data`), no NUL, at most 4096 bytes, no component over 255 bytes.
 */
export function itemPathError(path: string): string | undefined {
  if (path === "") return "is empty";
  if (path.includes("\0")) return "holds a NUL byte";
  if (path.startsWith("/")) return "is absolute";
  if (path.split("/").includes("..")) return `has a ".." element`;
  if (path.startsWith("..")) return `starts with "..", as the volume's own ..data link does`;
  const clean = cleanItemPath(path);
  if (clean === "") return "names the volume itself, not a file in it";
  if (clean.startsWith("..")) {
    return `starts with ".." once cleaned to ${q(clean)}, as the volume's own ..data link does`;
  }
  const bytes = utf8.encode(clean).length;
  if (bytes > MAX_ITEM_PATH_BYTES) {
    return `has ${bytes} bytes, more than the ${MAX_ITEM_PATH_BYTES} a path in a volume may have`;
  }
  for (const part of clean.split("/")) {
    const length = utf8.encode(part).length;
    if (length > MAX_ITEM_NAME_BYTES) {
      return `has a component of ${length} bytes, more than the ${MAX_ITEM_NAME_BYTES} a file name may have`;
    }
  }
  return undefined;
}

/** The message for an item path that cannot be; for the schema (an empty path is "required"). */
export function itemPathMessage(path: string): string | undefined {
  const bad = path === "" ? undefined : itemPathError(path);
  return bad && `Fix the path ${q(path)}: it ${bad}; give the path of a file inside the volume`;
}

/**
 * The message for a file mode outside 0 to 0777, shown in octal. A mode whose decimal digits
 * read as an octal mode (644, written for 0644) gets the ways to write that mode that every
 * YAML reader takes: `0o644`, or the decimal `420`.
 */
export function fileModeMessage(mode: number, field: string): string | undefined {
  if (mode >= 0 && mode <= MAX_FILE_MODE) return undefined;
  const octal = mode < 0 ? "" : ` (0o${mode.toString(8)} in octal)`;
  const digits = String(mode);
  const meant = /^[0-7]+$/.test(digits) ? parseInt(digits, 8) : undefined;
  const hint = meant !== undefined && meant <= MAX_FILE_MODE
    ? `; for the mode 0${digits}, write 0o${digits} or the decimal ${meant}`
    : "";
  return `Set ${
    q(field)
  } to a number from 0 to 0777 (octal), both inclusive: it is ${mode}${octal}${hint}`;
}

/** The message for a ConfigMap's or Secret's name no such object can have; "" is "required". */
export function objectNameMessage(
  kind: "ConfigMap" | "Secret",
): (name: string) => string | undefined {
  return (name) => {
    const bad = name === "" ? undefined : dns1123SubdomainError(name);
    return bad && `Fix the ${kind} name ${q(name)}: a name ${bad}`;
  };
}

/** The message for a key no ConfigMap or Secret can have; "" is "required". */
export function configKeyMessage(
  kind: "ConfigMap" | "Secret",
): (key: string) => string | undefined {
  return (key) => {
    const bad = key === "" ? undefined : configKeyError(key);
    return bad && `Fix the key ${q(key)}: a ${kind} key ${bad}`;
  };
}

/**
 * The message for an `envFrom` prefix the API server refuses: it takes printable ASCII
 * characters other than `=` (its relaxed rule for variable names).
 */
export function envPrefixMessage(prefix: string): string | undefined {
  if (/^[\x20-\x3c\x3e-\x7e]*$/.test(prefix)) return undefined;
  const what = prefix.includes("=") ? `"="` : "a character that is not printable ASCII";
  return `Change the prefix ${
    q(prefix)
  }: it holds ${what}; a prefix takes printable ASCII characters other than "="`;
}

/**
 * Why `fieldPath` names no field a projected `downwardAPI` item can show, as a message, or
 * undefined: the fields of {@linkcode VOLUME_FIELD_REFS} and `metadata.labels['KEY']` or
 * `metadata.annotations['KEY']` with KEY a qualified name (an annotation key in any case).
 */
export function volumeFieldPathMessage(fieldPath: string): string | undefined {
  if ((VOLUME_FIELD_REFS as readonly string[]).includes(fieldPath)) return undefined;
  const open = fieldPath.indexOf("['");
  if (fieldPath.endsWith("']") && open > 0) {
    const path = fieldPath.slice(0, open);
    const key = fieldPath.slice(open + 2, -2);
    if (path === "metadata.labels" || path === "metadata.annotations") {
      const bad = qualifiedNameProblem(path === "metadata.labels" ? key : key.toLowerCase());
      return bad && `Fix the key ${q(key)} in the fieldPath ${q(fieldPath)}: its ${bad}`;
    }
  }
  return `Change the fieldPath ${q(fieldPath)}: a volume can show ${VOLUME_FIELDS_TEXT}`;
}

const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Why `key` is no qualified name (`[prefix/]name`, as label keys are), or undefined. */
function qualifiedNameProblem(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.length > 2) return "name has more than one '/'";
  if (parts.length === 2) {
    const bad = dns1123SubdomainError(parts[0]!);
    if (parts[0] === "") return "prefix before '/' is empty";
    if (bad) return `prefix before '/' ${bad}`;
  }
  const name = parts.at(-1)!;
  if (name === "") return "name is empty";
  if (name.length > 63) return `name has ${name.length} characters, more than 63`;
  if (!NAME_PART.test(name)) {
    return "name must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit";
  }
  return undefined;
}

/** The kinds a projected source may be, tinylet's or not. */
const PROJECTION_KINDS = [
  "configMap",
  "secret",
  "downwardAPI",
  "serviceAccountToken",
  "clusterTrustBundle",
  "podCertificate",
] as const;

/** Each of `projected`'s sources must be a mapping (a `null` one is no source). */
export function checkSourceShapes(
  r: Reporter,
  projected: Record<string, unknown>,
  at: FieldPath,
): void {
  const sources = projected.sources;
  if (!Array.isArray(sources)) return;
  sources.forEach((s, i) => {
    if (!isRecord(s)) {
      r.error(
        [...at, "sources", i],
        `Write projected source ${i} as a mapping with one of configMap, secret or downwardAPI: it is ${
          typeName(s)
        }`,
      );
    }
  });
}

/**
 * The kinds of `projected`'s sources that need a cluster (`serviceAccountToken`, ...): a
 * volume with one can only be ignored, when no container mounts it (as the
 * `kube-api-access-*` volume of a manifest copied from a cluster).
 */
export function clusterProjections(projected: unknown): string[] {
  if (!isRecord(projected)) return [];
  return records(projected.sources).flatMap(([source]) =>
    Object.keys(source).filter((k) => Object.hasOwn(CLUSTER_PROJECTIONS, k) && source[k] != null)
  );
}

/** Projected sources that need a cluster, with what to do instead. */
const CLUSTER_PROJECTIONS: Readonly<Record<string, string>> = {
  serviceAccountToken:
    "service account tokens are issued by a cluster's API server, and tinylet has none; put a token you have in a Secret and project it with a secret source",
  clusterTrustBundle:
    "ClusterTrustBundles are objects of a cluster's API server, and tinylet has none; put the certificates in a ConfigMap and project it with a configMap source",
  podCertificate:
    "pod certificates are issued by a cluster's signer, and tinylet has none; put a certificate and key you have in a Secret and project it with a secret source",
};

/** The kinds among `keys` that `obj` gives a value (a field written null is absent). */
export function present(obj: Record<string, unknown>, keys: readonly string[]): string[] {
  return keys.filter((k) => obj[k] !== undefined && obj[k] !== null);
}

/**
 * The item paths of one volume, cleaned as the node cleans them. A path that is a file of one
 * item and a directory of another is reported (the node's writer refuses it); so is a path
 * given twice when `once` (a projected volume, as the API server has it).
 */
class ItemPaths {
  readonly #files = new Map<string, string>();
  readonly #dirs = new Map<string, string>();

  constructor(readonly r: Reporter, readonly once: boolean) {}

  /** Reports the path of `item` at `at` when it conflicts; `where` names the item in messages. */
  claim(item: Record<string, unknown>, at: FieldPath, where: string): void {
    const path = item.path;
    if (typeof path !== "string" || itemPathError(path) !== undefined) return;
    const clean = cleanItemPath(path);
    const cleaned = clean === path ? "" : ` (${q(clean)} once cleaned)`;
    const fix = `Change the path ${q(path)}${cleaned}`;
    const first = this.#files.get(clean);
    if (first !== undefined) {
      if (this.once) {
        this.r.error(
          [...at, "path"],
          `Give the path ${q(path)}${cleaned} to one item: ${first} writes the same file`,
        );
      }
      return;
    }
    const under = this.#dirs.get(clean);
    if (under !== undefined) {
      this.r.error(
        [...at, "path"],
        `${fix}: ${under} needs ${q(clean)} as a directory, and a file cannot be one`,
      );
      return;
    }
    const parts = clean.split("/");
    for (let n = 1; n < parts.length; n++) {
      const dir = parts.slice(0, n).join("/");
      const file = this.#files.get(dir);
      if (file !== undefined) {
        this.r.error(
          [...at, "path"],
          `${fix}: ${file} writes ${q(dir)} as a file, and this path needs it as a directory`,
        );
        return;
      }
    }
    this.#files.set(clean, where);
    for (let n = 1; n < parts.length; n++) {
      const dir = parts.slice(0, n).join("/");
      if (!this.#dirs.has(dir)) this.#dirs.set(dir, where);
    }
  }
}

/**
 * Checks the item paths of a `configMap` or `secret` volume, after the schema: no path a file
 * of one item and a directory of another. (A path given twice is the later item's, as on the
 * node.)
 */
export function checkObjectVolume(r: Reporter, source: unknown, at: FieldPath): void {
  if (!isRecord(source)) return;
  const paths = new ItemPaths(r, false);
  for (const [item, j] of records(source.items)) {
    paths.claim(item, [...at, "items", j], `items[${j}]`);
  }
}

/**
 * Checks a `projected` volume across its fields, after the schema: each source of exactly one
 * kind, sources that need a cluster refused, the downward API fields its items show, each
 * cleaned item path given once and none both a file and a directory.
 */
export function checkProjectedVolume(r: Reporter, projected: unknown, at: FieldPath): void {
  if (!isRecord(projected)) return;
  checkSourceShapes(r, projected, at);
  const paths = new ItemPaths(r, true);
  for (const [source, i] of records(projected.sources)) {
    const p = [...at, "sources", i];
    const kinds = present(source, PROJECTION_KINDS);
    if (kinds.length === 0) {
      r.error(p, `Give projected source ${i} one of configMap, secret or downwardAPI: it has none`);
    } else if (kinds.length > 1) {
      r.error(
        [...p, kinds[1]!],
        `Give projected source ${i} one kind: it has ${kinds.join(" and ")}`,
      );
    }
    for (const kind of kinds) {
      const why = CLUSTER_PROJECTIONS[kind];
      if (why !== undefined) r.error([...p, kind], `Remove the ${kind} source: ${why}`);
    }
    for (const kind of ["configMap", "secret"] as const) {
      const ref = source[kind];
      if (!isRecord(ref)) continue;
      for (const [item, j] of records(ref.items)) {
        paths.claim(item, [...p, kind, "items", j], `sources[${i}].${kind}.items[${j}]`);
      }
    }
    const downward = source.downwardAPI;
    if (!isRecord(downward)) continue;
    for (const [item, j] of records(downward.items)) {
      const ip = [...p, "downwardAPI", "items", j];
      checkDownwardItem(r, item, ip);
      paths.claim(item, ip, `sources[${i}].downwardAPI.items[${j}]`);
    }
  }
}

function checkDownwardItem(r: Reporter, item: Record<string, unknown>, at: FieldPath): void {
  const name = typeof item.path === "string" ? q(item.path) : "";
  const refs = present(item, ["fieldRef", "resourceFieldRef"]);
  if (refs.length === 0) {
    r.error(at, `Add a fieldRef to downwardAPI item ${name}: it names no field to show`);
    return;
  }
  if (refs.length === 2) {
    r.error(
      [...at, "resourceFieldRef"],
      `Give downwardAPI item ${name} one of fieldRef or resourceFieldRef: it has both`,
    );
  } else if (refs[0] === "resourceFieldRef") {
    r.error(
      [...at, "resourceFieldRef"],
      `Replace the resourceFieldRef of downwardAPI item ${name} with a fieldRef: tinylet does not show container resources in volumes; it can show ${VOLUME_FIELDS_TEXT}`,
    );
  }
  const ref = item.fieldRef;
  if (!isRecord(ref)) return;
  checkFieldRefVersion(r, ref, [...at, "fieldRef"]);
  if (typeof ref.fieldPath !== "string" || ref.fieldPath === "") return;
  const bad = volumeFieldPathMessage(ref.fieldPath);
  if (bad) r.error([...at, "fieldRef", "fieldPath"], bad);
}

/** A fieldRef's `apiVersion`, when given, is "v1": the only version of a pod's fields. */
export function checkFieldRefVersion(
  r: Reporter,
  ref: Record<string, unknown>,
  at: FieldPath,
): void {
  const version = ref.apiVersion;
  if (typeof version === "string" && version !== "v1") {
    r.error(
      [...at, "apiVersion"],
      `Set "apiVersion" to "v1", or leave it out: it is ${q(version)}, and a pod's fields are v1`,
    );
  }
}
