/**
 * Following a manifest's path and judging what it goes through, for {@link ./safe_read.ts}.
 *
 * Where a symlink leads is found by walking the path one component at a time from `/`, so
 * every directory the walk looks into, and every symlink it follows, is judged: a file is
 * only as safe as the directories that hold it. A directory on the way must be owned by root
 * or the agent's user and not be writable by its group or others, except that a sticky
 * directory (mode `+t`, such as `/tmp`) may be: there, others cannot rename, replace or delete
 * entries they do not own, and every entry the walk relies on must itself belong to root or
 * the agent's user (each directory and symlink on the way, and the file, are checked for that).
 * The manifest directory itself gets no such exception.
 *
 * @module
 */

/** Symlinks followed before giving up, as Linux does (`MAXSYMLINKS`). */
const MAX_LINKS = 40;

/** The part of a stat that the rules and the cache's fingerprint use. */
export type FileStat = Pick<
  Deno.FileInfo,
  "dev" | "ino" | "size" | "mode" | "uid" | "mtime" | "ctime"
>;

/** The rules a read applies. */
export interface ReadRules {
  /**
   * Skip the owner and write-bit checks (`--insecure-manifest-permissions`). Only regular
   * files are read and the 1 MiB bound holds whatever this says.
   */
  insecure: boolean;
  /** The agent's own user id: it may own manifests and the directories above them. */
  uid: number;
}

/** Why write access to a manifest matters, for the messages that refuse one. */
export const WHY_PERMISSIONS =
  "whoever can write a static-pod directory can run containers as root on this host, a known way to gain root and persistence";

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const S_ISVTX = 0o1000;

/** What a non-regular file is, in words ("a FIFO (named pipe)"); undefined for a regular file. */
export function fileType(mode: number): string | undefined {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return undefined;
    case S_IFDIR:
      return "a directory";
    case S_IFLNK:
      return "a symlink";
    case 0o010000:
      return "a FIFO (named pipe)";
    case 0o020000:
      return "a character device";
    case 0o060000:
      return "a block device";
    case 0o140000:
      return "a socket";
    default:
      return "not a regular file";
  }
}

function owner(uid: number | null, agentUid: number): string | undefined {
  if (uid !== null && uid !== 0 && uid !== agentUid) {
    return `is owned by user ${uid}, not by root or the agent's user (${agentUid})`;
  }
  return undefined;
}

function writeBits(mode: number): string | undefined {
  const m = mode & 0o7777;
  if ((m & 0o022) === 0) return undefined;
  const who = [m & 0o020 ? "its group" : "", m & 0o002 ? "others" : ""].filter(Boolean);
  return `is writable by ${who.join(" and ")} (mode ${m.toString(8).padStart(4, "0")})`;
}

/**
 * What is unsafe about a manifest file or the manifest directory itself (owner, write bits),
 * as "is writable by others (mode 0666)", or undefined. Root and the agent's own user may own
 * manifests; nobody else may write them.
 */
export function unsafePermissions(
  info: Pick<FileStat, "mode" | "uid">,
  agentUid: number,
): string | undefined {
  return writeBits(info.mode ?? 0) ?? owner(info.uid, agentUid);
}

/**
 * What is unsafe about a directory that a path goes through, or undefined: as
 * {@linkcode unsafePermissions}, except that a sticky directory owned by root or the agent's
 * user may be writable by others (they cannot replace entries they do not own there).
 */
export function unsafeTraversal(
  info: Pick<FileStat, "mode" | "uid">,
  agentUid: number,
): string | undefined {
  const mode = info.mode ?? 0;
  return owner(info.uid, agentUid) ?? ((mode & S_ISVTX) ? undefined : writeBits(mode));
}

/** Where a walk along a path ended. */
type Walk =
  /** At `path`, with no symlink left to follow; `info` is its lstat. */
  | { kind: "found"; path: string; info: Deno.FileInfo; links: number }
  /** `path` does not exist; `links` symlinks were followed before, the last to `target`. */
  | { kind: "missing"; path: string; links: number; target: string }
  /** A directory looked into or a symlink followed is unsafe (see {@linkcode unsafeTraversal}). */
  | { kind: "unsafe"; path: string; what: "directory" | "symlink"; why: string }
  /** The path cannot be followed (a loop, a file used as a directory, no access). */
  | { kind: "error"; message: string };

/** A path followed to what it leads to. */
export type Resolved =
  /** The path itself does not exist (a symlink to nothing is not gone: it is refused). */
  | { kind: "gone" }
  /** Why the path is not read, as the whole message. */
  | { kind: "refused"; message: string }
  /**
   * A regular file, at a path without symlinks; `info` is its lstat, `links` how many
   * symlinks led there.
   */
  | { kind: "file"; path: string; info: Deno.FileInfo; links: number };

/** `path` made absolute against the working directory. */
export function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

/** The message that refuses a file for its permissions or those of its path. */
export function refusal(subject: string, why: string, fix: string): string {
  return `Refusing the file: ${subject} ${why}; ${WHY_PERMISSIONS}. ${fix}, or pass --insecure-manifest-permissions`;
}

/** The fix for an unsafe directory or file at `path`, as a sentence start. */
export function permissionFix(path: string, what: "file" | "directory" | "symlink"): string {
  return what === "symlink"
    ? `Run "chown -h root ${path}"`
    : `Run "chmod go-w ${path}" (and chown it to root)`;
}

/**
 * Follows paths one component at a time and judges what it goes through. Directories are
 * looked at once per judge: make one per pass over the manifest directory, so a change to a
 * directory is seen by the next pass.
 */
export class PathJudge {
  readonly #rules: ReadRules;
  /** Lstat of each component already walked through (not of final components). */
  #seen = new Map<string, Deno.FileInfo | Error>();
  /** Why each directory already looked into is unsafe ("" when it is safe). */
  #verdicts = new Map<string, string>();

  constructor(rules: ReadRules) {
    this.#rules = rules;
  }

  #lstat(path: string, memo: boolean): Deno.FileInfo | Error {
    const known = this.#seen.get(path);
    if (known) return known;
    let info: Deno.FileInfo | Error;
    try {
      // Synchronous: an lstat takes microseconds, and the async call costs several times as
      // much for the hundreds of unchanged files of a pass.
      info = Deno.lstatSync(path);
    } catch (err) {
      info = err as Error;
    }
    if (memo) this.#seen.set(path, info);
    return info;
  }

  /** Why the directory `dir` (reached by the walk, so not a symlink) may not be looked into. */
  #verdict(dir: string): string {
    let why = this.#verdicts.get(dir);
    if (why === undefined) {
      const info = this.#lstat(dir, true);
      // A directory that cannot be looked at cannot be vouched for.
      why = info instanceof Error
        ? `cannot be checked (${info.message})`
        : unsafeTraversal(info, this.#rules.uid) ?? "";
      this.#verdicts.set(dir, why);
    }
    return why;
  }

  #walk(path: string): Walk {
    const todo = absolute(path).split("/").reverse();
    let current = ""; // The resolved path so far; "" is "/".
    let links = 0;
    let target = "";
    let info: Deno.FileInfo | undefined;
    for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
      if (name === "" || name === ".") continue;
      if (name === "..") {
        current = current.slice(0, current.lastIndexOf("/"));
        info = undefined;
        continue;
      }
      const dir = current || "/";
      if (!this.#rules.insecure) {
        const why = this.#verdict(dir);
        if (why) return { kind: "unsafe", path: dir, what: "directory", why };
      }
      const next = `${current}/${name}`;
      const last = todo.every((n) => n === "" || n === ".");
      const got = this.#lstat(next, !last);
      if (got instanceof Deno.errors.NotFound) {
        return { kind: "missing", path: next, links, target };
      }
      if (got instanceof Deno.errors.NotCapable) {
        // Deno's permissions keep /dev, /proc and /sys from a process without --allow-all.
        return {
          kind: "error",
          message:
            `its path goes through "${next}", which tinylet's permissions do not let it read`,
        };
      }
      if (got instanceof Error) return { kind: "error", message: got.message };
      if (got.isSymlink) {
        if (!this.#rules.insecure) {
          const why = owner(got.uid, this.#rules.uid);
          if (why) return { kind: "unsafe", path: next, what: "symlink", why };
        }
        if (++links > MAX_LINKS) {
          return { kind: "error", message: "it goes through too many symlinks (a loop?)" };
        }
        try {
          target = Deno.readLinkSync(next);
        } catch (err) {
          if (err instanceof Deno.errors.NotFound) {
            return { kind: "missing", path: next, links, target };
          }
          return { kind: "error", message: (err as Error).message };
        }
        if (target.startsWith("/")) current = "";
        todo.push(...target.split("/").reverse());
        info = undefined;
        continue;
      }
      if (!last && !got.isDirectory) {
        return { kind: "error", message: `"${next}" on its path is not a directory` };
      }
      current = next;
      info = got;
    }
    const at = current || "/";
    if (!info) {
      // Ended on "..": look at where that leads.
      const got = this.#lstat(at, false);
      if (got instanceof Error) return { kind: "error", message: got.message };
      info = got;
    }
    return { kind: "found", path: at, info, links };
  }

  /**
   * The manifest directory `dir` followed to its real path: `absent` when it does not exist or
   * is not a directory, `refused` with the unsafe path and why (the directory itself under the
   * strict rule of {@linkcode unsafePermissions}, the ones above it and the symlinks on the
   * way under {@linkcode unsafeTraversal}).
   */
  directory(
    dir: string,
  ):
    | { kind: "ok"; path: string }
    | { kind: "absent" }
    | { kind: "refused"; path: string; what: "directory" | "symlink"; why: string; self: boolean }
    | { kind: "error"; message: string } {
    const w = this.#walk(dir);
    switch (w.kind) {
      case "missing":
        return { kind: "absent" };
      case "error":
        return w;
      case "unsafe":
        return { kind: "refused", path: w.path, what: w.what, why: w.why, self: false };
      case "found": {
        if (!w.info.isDirectory) return { kind: "absent" };
        const why = this.#rules.insecure ? undefined : unsafePermissions(w.info, this.#rules.uid);
        if (why) return { kind: "refused", path: w.path, what: "directory", why, self: true };
        return { kind: "ok", path: w.path };
      }
    }
  }

  /**
   * Follows `path` to a regular file, or says why it is not read. Only a path that does not
   * exist itself is `gone`; a symlink to nothing, a FIFO, a device or a directory is refused.
   * The lstat seen here only decides whether to open; the handle's own stat is what counts
   * (see `readResolved` in safe_read.ts).
   */
  resolve(path: string): Resolved {
    const w = this.#walk(path);
    switch (w.kind) {
      case "missing":
        if (w.links === 0) return { kind: "gone" };
        return { kind: "refused", message: dangling(w.target, w.path) };
      case "error":
        return { kind: "refused", message: `Cannot read the file: ${w.message}` };
      case "unsafe":
        return {
          kind: "refused",
          message: refusal(
            `the ${w.what} "${w.path}" on its path`,
            w.why,
            permissionFix(w.path, w.what),
          ),
        };
      case "found": {
        const type = fileType(w.info.mode ?? 0);
        if (type) return { kind: "refused", message: notRegular(w.path, w.links, type) };
        return { kind: "file", path: w.path, info: w.info, links: w.links };
      }
    }
  }
}

/** The message for a symlink to `target` that leads nowhere (`missing` does not exist). */
export function dangling(target: string, missing: string): string {
  return `Refusing the file: it is a dangling symlink to "${target}": ${
    target === missing ? "it" : `"${missing}"`
  } does not exist`;
}

/** The message for a file that is not a regular file (`type`), reached through `links` symlinks. */
export function notRegular(path: string, links: number, type: string): string {
  const subject = links > 0 ? `it leads to "${path}", ${type}` : `it is ${type}`;
  return `Refusing the file: ${subject}, not a regular file; only regular files are read (symlinks are followed)`;
}
