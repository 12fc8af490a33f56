/**
 * `tinylet check` and `tinylet convert`: the manifest commands that need no
 * runtime, for CI, pre-commit hooks and moving pods to a cluster.
 *
 * @module
 */
import type { Io } from "./io.ts";
import { desiredState } from "../reconcile/desired.ts";
import { terminalYaml } from "../base/escape.ts";
import { formatProblem, type Manifest, parseManifest, type Problem } from "../manifest/parse.ts";
import { readHostResolvConf } from "../translate/dns.ts";
import { readManifestFile } from "../base/safe_read.ts";
import { ManifestSource } from "../manifest/source.ts";
import { toYaml } from "../manifest/yaml.ts";

/**
 * Checks one file named on the command line, whatever its name, under the agent's rules for
 * reading a file (see lib/base/safe_read.ts): the same checks, through the same code.
 */
function checkFile(file: string, insecure: boolean): Manifest {
  const got = readManifestFile(file, { insecure, uid: Deno.uid() ?? 0 });
  if (got.kind === "text") return parseManifest(file, got.text);
  const message = got.kind === "refused" ? got.message : "Cannot read the file: it does not exist";
  return {
    file,
    pods: [],
    valid: false,
    problems: [{ file, line: 1, column: 1, severity: "error", field: "", message }],
  };
}

/**
 * Validates manifests without a runtime: every problem as
 * `path:line:column: severity: message (field f)`. Exit 1 on any error (or
 * warning with `strict`), else 0.
 */
export async function checkCommand(
  paths: string[],
  options: {
    strict: boolean;
    insecure: boolean;
    instance: string;
    root: string;
    podLogRoot: string;
  },
  io: Io,
): Promise<number> {
  const problems: Problem[] = [];
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
    const desired = await desiredState(scan, {
      instance: options.instance,
      podLogRoot: options.podLogRoot,
      root: options.root,
      nodeName: "check",
      hostDns: await readHostResolvConf(),
    });
    pods += desired.pods.size;
    problems.push(...desired.problems);
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

/**
 * Prints the standard `v1` Pod YAML of every pod in `files` (the short form
 * included), ready for `kubectl apply -f`. tinylet reads it back with the
 * same spec hash, so converting never restarts a pod.
 */
export function convertCommand(files: string[], io: Io): number {
  const docs: string[] = [];
  let failed = false;
  for (const file of files) {
    const m = checkFile(file, true);
    for (const p of m.problems) {
      if (p.severity === "error") failed = true;
      io.err(formatProblem(p));
    }
    for (const { pod } of m.pods) docs.push(toYaml(pod));
  }
  if (failed) return 1;
  io.out(terminalYaml(docs.join("---\n").replace(/\n$/, "")));
  return 0;
}
