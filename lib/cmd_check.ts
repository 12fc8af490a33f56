/**
 * `tinylet check` and `tinylet convert`: the manifest commands that need no
 * runtime, for CI, pre-commit hooks and moving pods to a cluster.
 *
 * @module
 */
import { desiredState } from "./desired.ts";
import { formatProblem, type Manifest, parseManifest, type Problem } from "./manifest.ts";
import { readHostResolvConf } from "./reconciler.ts";
import { ManifestSource, MAX_MANIFEST_BYTES, unsafePermissions } from "./source.ts";
import { toYaml } from "./yaml.ts";

/** Where a command writes: lines to standard output and to standard error. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
}

/** Checks one file named on the command line, whatever its name. */
async function checkFile(file: string, insecure: boolean): Promise<Manifest> {
  const fail = (message: string): Manifest => ({
    file,
    pods: [],
    valid: false,
    problems: [{ file, line: 1, column: 1, severity: "error", field: "", message }],
  });
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(file);
  } catch (err) {
    return fail(`Cannot read the file: ${(err as Error).message}`);
  }
  if (!insecure) {
    const bad = unsafePermissions(info, Deno.uid() ?? 0);
    if (bad) {
      return fail(
        `Refusing the file: ${bad}; the agent would refuse it too. Run "chmod go-w ${file}", or use --insecure-manifest-permissions`,
      );
    }
  }
  if (info.size > MAX_MANIFEST_BYTES) {
    return fail(`Shrink the file: it has ${info.size} bytes, more than the limit of 1 MiB`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(await Deno.readFile(file));
  } catch {
    return fail("Save the file as UTF-8 text: it is binary or in another encoding");
  }
  return parseManifest(file, text);
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
      isDir = (await Deno.stat(path)).isDirectory;
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
      const m = await checkFile(path, options.insecure);
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
export async function convertCommand(files: string[], io: Io): Promise<number> {
  const docs: string[] = [];
  let failed = false;
  for (const file of files) {
    const m = await checkFile(file, true);
    for (const p of m.problems) {
      if (p.severity === "error") failed = true;
      io.err(formatProblem(p));
    }
    for (const { pod } of m.pods) docs.push(toYaml(pod));
  }
  if (failed) return 1;
  io.out(docs.join("---\n").replace(/\n$/, ""));
  return 0;
}
