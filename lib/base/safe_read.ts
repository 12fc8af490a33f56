/**
 * Reading a manifest file safely, for the agent, `check` and `convert` alike.
 *
 * A file is read through one handle: opened once, without following a final symlink and
 * without blocking (so a FIFO put in its place cannot hang the reader), then its type, owner
 * and mode are checked on that handle (`fstat`), and at most 1 MiB is read from the same
 * handle. What is checked is what is read. Its path is followed and judged first by
 * {@link ./path_judge.ts}.
 *
 * @module
 */
import fs from "node:fs";
import { concatBytes } from "./bytes.ts";
import {
  absolute,
  dangling,
  type FileStat,
  fileType,
  notRegular,
  PathJudge,
  permissionFix,
  type ReadRules,
  refusal,
  unsafePermissions,
} from "./path_judge.ts";

/** At most this many bytes a manifest file. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/** Bytes asked for per read call. */
const CHUNK = 64 * 1024;

/** A file read through one handle. */
export type Read =
  | { kind: "gone" }
  | { kind: "refused"; message: string }
  /** The file's text, and the handle's stat, which vouches for exactly this text. */
  | { kind: "text"; text: string; info: FileStat };

/** The stat of an open handle, in the shape of `Deno.FileInfo`. */
function fstat(fd: number): FileStat {
  const s = fs.fstatSync(fd);
  return {
    dev: s.dev,
    ino: s.ino,
    size: s.size,
    mode: s.mode,
    uid: s.uid,
    mtime: new Date(s.mtimeMs),
    ctime: new Date(s.ctimeMs),
  };
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads the regular file that `resolve` found, through one handle: opened without following
 * a symlink and without blocking, checked on the handle (a regular file; owner and write bits
 * unless the rules are insecure; its size), then read from the same handle, stopping as soon as
 * more than {@linkcode MAX_MANIFEST_BYTES} came, whatever its stat said. `onOpened` runs between
 * the open and the checks (tests change the file there).
 */
export function readResolved(
  found: { path: string; links?: number },
  rules: ReadRules,
  onOpened?: (path: string) => void,
): Read {
  const c = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(found.path, c.O_RDONLY | c.O_NONBLOCK | c.O_NOFOLLOW | c.O_NOCTTY);
  } catch (err) {
    const code = (err as { code?: string }).code;
    // Removed since it was followed: gone, unless a symlink led there (then it dangles).
    if (code === "ENOENT") {
      return (found.links ?? 0) > 0
        ? { kind: "refused", message: dangling(found.path, found.path) }
        : { kind: "gone" };
    }
    if (code === "ELOOP") {
      return {
        kind: "refused",
        message: "Cannot read the file: it was replaced by a symlink while it was read",
      };
    }
    return { kind: "refused", message: `Cannot read the file: ${(err as Error).message}` };
  }
  try {
    onOpened?.(found.path);
    const info = fstat(fd);
    const type = fileType(info.mode ?? 0);
    if (type) {
      return { kind: "refused", message: notRegular(found.path, found.links ?? 0, type) };
    }
    if (!rules.insecure) {
      const why = unsafePermissions(info, rules.uid);
      if (why) {
        const subject = (found.links ?? 0) > 0 ? `its target "${found.path}"` : "it";
        return {
          kind: "refused",
          message: refusal(subject, why, permissionFix(found.path, "file")),
        };
      }
    }
    if (info.size > MAX_MANIFEST_BYTES) {
      return {
        kind: "refused",
        message:
          `Shrink the file: it has ${info.size} bytes, more than the limit of ${MAX_MANIFEST_BYTES} (1 MiB)`,
      };
    }
    const bytes = readAtMost(fd, MAX_MANIFEST_BYTES + 1);
    if (bytes.length > MAX_MANIFEST_BYTES) {
      return {
        kind: "refused",
        message: `Shrink the file: it has more than ${MAX_MANIFEST_BYTES} bytes (1 MiB)`,
      };
    }
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      return {
        kind: "refused",
        message: "Save the file as UTF-8 text: it is binary or in another encoding",
      };
    }
    return { kind: "text", text, info };
  } catch (err) {
    return { kind: "refused", message: `Cannot read the file: ${(err as Error).message}` };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads a file that is not a manifest (the host's resolv.conf) under the same discipline:
 * symlinks followed, one handle opened without blocking, the type checked on that handle, and
 * reading stopped once at least `limit` bytes came. Returns the type for anything that is not
 * a regular file; throws when it cannot be opened or read.
 */
export function readRegularFile(
  path: string,
  limit: number,
): { kind: "bytes"; bytes: Uint8Array } | { kind: "notRegular"; type: string } {
  const c = fs.constants;
  const fd = fs.openSync(path, c.O_RDONLY | c.O_NONBLOCK | c.O_NOCTTY);
  try {
    const type = fileType(fstat(fd).mode ?? 0);
    if (type) return { kind: "notRegular", type };
    return { kind: "bytes", bytes: readAtMost(fd, limit) };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads from `fd` until the end, or until at least `limit` bytes (at most one chunk more:
 * whole chunks keep reads aligned, which some kernel files require).
 */
function readAtMost(fd: number, limit: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (total < limit) {
    const chunk = new Uint8Array(CHUNK);
    const n = fs.readSync(fd, chunk, 0, chunk.length, null);
    if (n === 0) break;
    chunks.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    total += n;
  }
  return concatBytes(chunks);
}

/**
 * Reads one manifest file named on the command line (by `check` and `convert`) under the
 * same rules as the agent: its text, or why it is not read.
 */
export function readManifestFile(path: string, rules: ReadRules): Read {
  const r = new PathJudge(rules).resolve(path);
  if (r.kind === "gone") {
    return { kind: "refused", message: `Cannot read the file: "${absolute(path)}" does not exist` };
  }
  if (r.kind === "refused") return r;
  return readResolved(r, rules);
}
