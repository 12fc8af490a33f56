/**
 * Host paths built from what the runtime says. A sandbox's UID, namespace and
 * name, and a container's log path, come back from the runtime, where anyone
 * who can reach its socket may have set them: each is checked here before it
 * becomes part of a path on the host, and whatever tinylet removes is resolved
 * (symlinks followed) and checked to lie below `--root` or `--pod-log-root`
 * first. Every place that turns runtime data into a host path goes through this
 * module.
 *
 * @module
 */
import { basename, dirname, isAbsolute, normalize, relative, resolve } from "node:path";
import {
  dns1123LabelError,
  dns1123SubdomainError,
  NAME_MAX,
  podKey,
  podLogDirName,
} from "../manifest/pod.ts";

/**
 * A pod UID as tinylet writes it (the contract's UID: the first 128 bits of
 * SHA-256 written as a UUID): 32 lower-case hex digits in 8-4-4-4-12 groups.
 */
const POD_UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Who a sandbox says its pod is: what pod paths are made of. */
export interface PodIdentity {
  namespace: string;
  name: string;
  uid: string;
}

/** A path tinylet refuses to build or to remove; the message says which and why. */
export class UnsafePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafePathError";
  }
}

/** A value from the runtime, quoted with every character that is not printable ASCII escaped. */
export function quoteRuntimeValue(value: string): string {
  return JSON.stringify(value).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Why `uid` is not a pod UID as the contract defines it; undefined when it is one. */
export function podUidProblem(uid: string): string | undefined {
  if (POD_UID.test(uid)) return undefined;
  return `its UID ${
    quoteRuntimeValue(uid)
  } is not a pod UID (32 lower-case hex digits in 8-4-4-4-12 groups, as tinylet writes them)`;
}

/**
 * Why `id` cannot name the pod's directories (`<root>/pods/<uid>`,
 * `<pod-log-root>/<namespace>_<name>_<uid>`); undefined when it can. The rules
 * are the ones a manifest passes: a DNS-1123 label for the namespace, a
 * DNS-1123 subdomain for the name, a UID of the contract's form, and a log
 * directory name Linux can have.
 */
export function podIdentityProblem(id: PodIdentity): string | undefined {
  const uid = podUidProblem(id.uid);
  if (uid) return uid;
  const namespace = dns1123LabelError(id.namespace);
  if (namespace) return `its namespace ${quoteRuntimeValue(id.namespace)} ${namespace}`;
  const name = dns1123SubdomainError(id.name);
  if (name) return `its name ${quoteRuntimeValue(id.name)} ${name}`;
  // Valid names and UIDs are ASCII: characters are bytes.
  const dir = podLogDirName(id.namespace, id.name, id.uid);
  if (dir.length > NAME_MAX) {
    return `its log directory name ${
      quoteRuntimeValue(dir)
    } has ${dir.length} bytes, more than the ${NAME_MAX} Linux allows`;
  }
  return undefined;
}

function checked(what: string, id: PodIdentity, problem: string | undefined): void {
  if (problem === undefined) return;
  throw new UnsafePathError(
    `Cannot build the ${what} of pod ${
      quoteRuntimeValue(podKey(id.namespace, id.name))
    }: ${problem}`,
  );
}

/** `<root>/pods/<uid>`; throws {@linkcode UnsafePathError} unless `uid` is a pod UID. */
export function checkedPodStateDir(root: string, id: PodIdentity): string {
  checked("state directory", id, podUidProblem(id.uid));
  return `${root}/pods/${id.uid}`;
}

/**
 * `<podLogRoot>/<namespace>_<name>_<uid>`; throws {@linkcode UnsafePathError}
 * unless the identity is one a pod of tinylet can have.
 */
export function checkedPodLogDir(podLogRoot: string, id: PodIdentity): string {
  checked("log directory", id, podIdentityProblem(id));
  return `${podLogRoot}/${podLogDirName(id.namespace, id.name, id.uid)}`;
}

/** Whether `path` is strictly below `root`; both absolute and normalized. */
export function isBelow(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel !== "" && rel !== ".." && !rel.startsWith("../") && !isAbsolute(rel);
}

/**
 * Why the log path a container's status reports cannot be one tinylet handles
 * (rotates, removes); undefined when it can. tinylet asks for
 * `<podLogRoot>/<namespace>_<name>_<uid>/<container>/<restartCount>.log`, so
 * the path must be that, for the container's own sandbox: absolute, without
 * `.` or `..` components, in its pod's log directory and below `podLogRoot`
 * (when given). Symlinks are not followed here: a removal resolves them
 * ({@linkcode resolveBelow}).
 */
export function containerLogPathProblem(
  logPath: string,
  pod: PodIdentity,
  podLogRoot?: string,
): string | undefined {
  const quoted = quoteRuntimeValue(logPath);
  if (!isAbsolute(logPath) || normalize(logPath) !== logPath) {
    return `its log path ${quoted} is not an absolute path without "." or ".." components`;
  }
  const podDir = dirname(dirname(logPath));
  if (basename(podDir) !== podLogDirName(pod.namespace, pod.name, pod.uid)) {
    return `its log path ${quoted} is not in the log directory of its pod`;
  }
  if (dns1123LabelError(basename(dirname(logPath)))) {
    return `its log path ${quoted} is not in a directory named after a container`;
  }
  if (!/^(0|[1-9][0-9]*)\.log$/.test(basename(logPath))) {
    return `its log path ${quoted} does not end in <restart count>.log`;
  }
  if (podLogRoot !== undefined && dirname(podDir) !== resolve(podLogRoot)) {
    return `its log path ${quoted} is not below the pod log root ${quoteRuntimeValue(podLogRoot)}`;
  }
  return undefined;
}

/**
 * Where `path` really is, for removing it: its parent directory with symlinks
 * resolved, and its last component as it is (a symlink there is removed, not
 * followed). Throws {@linkcode UnsafePathError} unless the path is strictly
 * below `root` both as written and once resolved. Undefined when `root` or the
 * parent directory does not exist: there is nothing to remove.
 */
export async function resolveBelow(root: string, path: string): Promise<string | undefined> {
  const absRoot = resolve(root);
  const abs = resolve(path);
  const refuse = (why: string) =>
    new UnsafePathError(
      `Refusing to remove ${quoteRuntimeValue(path)}: ${why} ${quoteRuntimeValue(absRoot)}`,
    );
  if (!isBelow(abs, absRoot)) throw refuse("it is not below");
  let realRoot: string;
  let realParent: string;
  try {
    realRoot = await Deno.realPath(absRoot);
    realParent = await Deno.realPath(dirname(abs));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw err;
  }
  const real = `${realParent === "/" ? "" : realParent}/${basename(abs)}`;
  if (!isBelow(real, realRoot)) {
    throw refuse(`it resolves to ${quoteRuntimeValue(real)}, which is not below`);
  }
  return real;
}

/**
 * Removes `path` and everything below it, only once {@linkcode resolveBelow}
 * has checked that it lies below `root`. Gone already is fine.
 */
export async function removeBelow(root: string, path: string): Promise<void> {
  const real = await resolveBelow(root, path);
  if (real === undefined) return;
  try {
    await Deno.remove(real, { recursive: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** `<root>/pods/<uid>`. */
export function podStateDir(root: string, uid: string): string {
  return `${root}/pods/${uid}`;
}

/** The sandbox log directory: `<root>/<namespace>_<name>_<uid>`. */
export function podLogDirectory(
  root: string,
  namespace: string,
  name: string,
  uid: string,
): string {
  return `${root}/${podLogDirName(namespace, name, uid)}`;
}

/** The managed hosts file of a pod, mounted at /etc/hosts. */
export function hostsFilePath(podDir: string): string {
  return `${podDir}/etc-hosts`;
}
