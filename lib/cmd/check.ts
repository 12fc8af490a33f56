/**
 * `tinylet check` and `tinylet convert`: the manifest commands that need no
 * runtime, for CI, pre-commit hooks and moving pods, ConfigMaps and Secrets to a cluster.
 *
 * @module
 */
import type { Io } from "./io.ts";
import { desiredState } from "../reconcile/desired.ts";
import { terminalYaml } from "../base/escape.ts";
import { formatProblem, type Manifest, parseManifest, type Problem } from "../manifest/parse.ts";
import { readHostResolvConf } from "../translate/dns.ts";
import { readManifestFile } from "../base/safe_read.ts";
import {
  type ConfigMapObject,
  type SecretObject,
  secretSummary,
} from "../manifest/config_objects.ts";
import { ManifestSource } from "../manifest/source.ts";
import { toYaml } from "../manifest/yaml.ts";
import { openUrlSource } from "./manifest_url.ts";
import type { ManifestUrlConfig } from "./url_flags.ts";

/**
 * Checks one file named on the command line, whatever its name, under the agent's rules for
 * reading a file (see lib/base/safe_read.ts): the same checks, through the same code.
 */
function checkFile(file: string, insecure: boolean): Manifest {
  const got = readManifestFile(file, { insecure, uid: Deno.uid() ?? 0 });
  if (got.kind === "text") {
    return parseManifest(file, got.text, { mode: got.info.mode ?? 0, insecure });
  }
  const message = got.kind === "refused" ? got.message : "Cannot read the file: it does not exist";
  return {
    file,
    pods: [],
    objects: [],
    valid: false,
    problems: [{ file, line: 1, column: 1, severity: "error", field: "", message }],
  };
}

/**
 * What `--manifest-url` serves, fetched once (nothing kept), as the agent reads it: a failed
 * fetch is one error at the URL.
 */
async function checkUrl(config: ManifestUrlConfig): Promise<Manifest> {
  const failed = (message: string): Manifest => ({
    file: config.url,
    pods: [],
    objects: [],
    valid: false,
    problems: [{ file: config.url, line: 1, column: 1, severity: "error", field: "", message }],
  });
  try {
    using opened = await openUrlSource(config);
    await opened.source.fetchNow();
    const { manifest } = opened.source.entry();
    const { reason } = opened.source.status();
    return reason !== undefined && manifest.problems.length === 0 ? failed(reason) : manifest;
  } catch (err) {
    return failed((err as Error).message);
  }
}

/**
 * Validates manifests without a runtime: every problem as
 * `path:line:column: severity: message (field f)`. Exit 1 on any error (or
 * warning with `strict`), else 0. With `manifestUrl`, what the URL serves is judged with the
 * files and directories named (as one directory), after them, as the agent judges them.
 */
export async function checkCommand(
  paths: string[],
  options: {
    strict: boolean;
    insecure: boolean;
    instance: string;
    root: string;
    podLogRoot: string;
    manifestUrl?: ManifestUrlConfig | undefined;
  },
  io: Io,
): Promise<number> {
  const problems: Problem[] = [];
  const named: Manifest[] = [];
  const translateOptions = {
    instance: options.instance,
    podLogRoot: options.podLogRoot,
    root: options.root,
    nodeName: "check",
    hostDns: await readHostResolvConf(),
  };
  let files = 0;
  let pods = 0;
  for (const path of paths) {
    let isDir = false;
    try {
      // A dangling symlink is checked as a file, which says where it points.
      isDir = (await Deno.stat(path).catch(() => Deno.lstat(path))).isDirectory;
    } catch (err) {
      problems.push({
        file: path,
        line: 1,
        column: 1,
        severity: "error",
        field: "",
        message: `Cannot read it: ${(err as Error).message}`,
      });
      continue;
    }
    if (!isDir) {
      const m = checkFile(path, options.insecure);
      files++;
      pods += m.pods.length;
      problems.push(...m.problems);
      named.push(m);
      continue;
    }
    const scan = await new ManifestSource(path, { insecurePermissions: options.insecure }).scan();
    if (scan.refused) {
      problems.push({
        file: path,
        line: 1,
        column: 1,
        severity: "error",
        field: "",
        message: scan.refused,
      });
    }
    files += scan.manifests.length;
    for (const m of scan.manifests) problems.push(...m.problems);
    if (options.manifestUrl) {
      // Judged with the URL's document, as the agent reads them: conflicts, references.
      named.push(...scan.manifests);
      pods += scan.manifests.reduce((n, m) => n + m.pods.length, 0);
      continue;
    }
    const desired = await desiredState(scan, translateOptions);
    pods += desired.pods.size;
    problems.push(...desired.problems);
  }
  if (options.manifestUrl) {
    const m = await checkUrl(options.manifestUrl);
    files++;
    pods += m.pods.length;
    problems.push(...m.problems);
    named.push(m);
  }
  if (named.length > 0) {
    // Files named one by one are judged together, as one directory: the pods of one file
    // may read the ConfigMaps and Secrets of another.
    const scan = { dir: "", present: true, manifests: named, lastValid: new Map() };
    problems.push(...(await desiredState(scan, translateOptions)).problems);
  }
  for (const p of problems) io.out(formatProblem(p));
  const errors = problems.filter((p) => p.severity === "error").length;
  const warnings = problems.length - errors;
  io.err(
    `${files} file${files === 1 ? "" : "s"}, ${pods} pod${pods === 1 ? "" : "s"}: ${errors} error${
      errors === 1 ? "" : "s"
    }, ${warnings} warning${warnings === 1 ? "" : "s"}`,
  );
  return errors > 0 || (options.strict && warnings > 0) ? 1 : 0;
}

/** The base64 of `bytes`, as a v1 object's `data` and `binaryData` hold it. */
function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let at = 0; at < bytes.length; at += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
  }
  return btoa(binary);
}

/** Said at the top of a Secret printed without its values. */
const REDACTED =
  "# The values of this Secret are redacted: each key is kept with an empty value and its size\n" +
  "# in bytes. Run tinylet convert with --show-secrets to print them.\n";

/** The v1 YAML of a ConfigMap or Secret, a Secret's values redacted unless `showSecrets`. */
function objectYaml(object: ConfigMapObject | SecretObject, showSecrets: boolean): string {
  const metadata: Record<string, unknown> = { name: object.name, namespace: object.namespace };
  if (object.labels !== undefined) metadata.labels = object.labels;
  if (object.annotations !== undefined) metadata.annotations = object.annotations;
  const head: Record<string, unknown> = { apiVersion: "v1", kind: object.kind, metadata };
  if (object.kind === "ConfigMap") {
    if (object.immutable) head.immutable = true;
    if (Object.keys(object.data).length > 0) head.data = object.data;
    const binary = Object.entries(object.binaryData);
    if (binary.length > 0) {
      head.binaryData = Object.fromEntries(binary.map(([key, value]) => [key, base64(value)]));
    }
    return toYaml(head);
  }
  head.type = object.type;
  if (object.immutable) head.immutable = true;
  const keys = secretSummary(object);
  if (showSecrets) {
    if (keys.length > 0) {
      head.data = Object.fromEntries(keys.map(({ key }) => [key, base64(object.data[key]!)]));
    }
    return toYaml(head);
  }
  // Each key on its own line, its value empty and its size in a comment: no character of a
  // value is printed, decoded or base64.
  const lines = keys.map(({ key, bytes }) =>
    `  ${toYaml({ [key]: "" }).trimEnd()} # ${bytes} byte${bytes === 1 ? "" : "s"}\n`
  );
  const data = lines.length > 0 ? `data:\n${lines.join("")}` : "";
  return `${REDACTED}${toYaml(head)}${data}`;
}

/** Options of {@linkcode convertCommand}. */
export interface ConvertOptions {
  /** Print the values of Secrets, base64 under `data` (`--show-secrets`); else redacted. */
  showSecrets?: boolean;
}

/**
 * Prints the standard `v1` YAML of every pod, ConfigMap and Secret in `files` (the short form
 * included), in the order of their documents, ready for `kubectl apply -f`. tinylet reads a
 * pod back with the same spec hash, so converting never restarts a pod. A Secret's values
 * are redacted (each key kept, empty, with its size in a comment) unless `showSecrets`; then
 * `data` holds every value in base64, `stringData` folded into it.
 */
export function convertCommand(files: string[], io: Io, options: ConvertOptions = {}): number {
  const docs: string[] = [];
  let failed = false;
  for (const file of files) {
    const m = checkFile(file, true);
    for (const p of m.problems) {
      if (p.severity === "error") failed = true;
      io.err(formatProblem(p));
    }
    const found = [
      ...m.pods.map(({ pod, line }) => ({ line, text: () => toYaml(pod) })),
      ...m.objects.map(({ object, line }) => ({
        line,
        text: () => objectYaml(object, options.showSecrets ?? false),
      })),
    ];
    for (const doc of found.sort((a, b) => a.line - b.line)) docs.push(doc.text());
  }
  if (failed) return 1;
  io.out(terminalYaml(docs.join("---\n").replace(/\n$/, "")));
  return 0;
}
