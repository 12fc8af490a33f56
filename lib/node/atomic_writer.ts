/**
 * Writing the files of a configMap, secret or projected volume so that readers never see a
 * half-written volume, as kubelet's AtomicWriter does (`pkg/volume/util/atomic_writer.go`).
 *
 * The files live in a hidden timestamped directory inside the volume's directory, and the
 * names users see are symlinks through `..data`:
 *
 * ```text
 * <dir>/..2026_03_04_05_06_07.3f2a9c1e   the files, with their modes (subdirectories 0755)
 * <dir>/..data -> ..2026_03_04_05_06_07.3f2a9c1e
 * <dir>/app.conf -> ..data/app.conf
 * <dir>/certs -> ..data/certs           (for the payload path "certs/tls.crt")
 * ```
 *
 * An update writes a whole new timestamped directory, points a fresh `..data_tmp` link at it and
 * renames that link over `..data` (the one atomic step), then fixes the visible links and
 * removes the old directory. A reader that resolves `..data` once reads one version whole;
 * a watcher of `..data` sees one event per update. Names starting with `..` inside the
 * directory belong to the writer, so payload paths may not start with `..`. Writes to one
 * directory are queued here, so concurrent callers never interleave and the last call's payload
 * stays. Unlike kubelet, a change of mode alone is an update, and of the old names only the
 * writer's links are removed.
 *
 * @module
 */

import { payloadPathError } from "./payload_path.ts";
import { basename, join, resolve } from "node:path";

/** One file of a volume: its bytes and its permission bits (0 to 0o777). */
export interface FileProjection {
  data: Uint8Array;
  mode: number;
}

/** What a volume holds: relative path (may have subdirectories, `"a/b/c"`) → file. */
export type Payload = ReadonlyMap<string, FileProjection>;

/** Options of {@linkcode writePayload}. */
export interface WritePayloadOptions {
  /** The clock that names the timestamped directory (default: the system clock). */
  now?: () => Date;
  /** Run first in the directory's turn; throws to stop the write (nothing is written then). */
  ready?: () => Promise<void>;
}

/** What {@linkcode writePayload} did. */
export interface WritePayloadResult {
  /** False when the directory already held exactly the payload and nothing was written. */
  changed: boolean;
}

/** A payload that cannot be written: a bad path or mode, or paths that collide. Nothing is written. */
export class PayloadError extends Error {
  /** The payload path the error is about. */
  readonly path: string;
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PayloadError";
    this.path = path;
  }
}

export { payloadPathError };

/** The link to the current timestamped directory. */
export const DATA_LINK = "..data";
const DATA_TMP_LINK = "..data_tmp"; // renamed over ..data to switch versions
const VISIBLE_TMP_LINK = "..visible_tmp"; // renamed over a visible link that points elsewhere
const DIR_MODE = 0o755;

/**
 * Makes `dir` hold exactly `payload`, atomically for readers, and returns whether anything
 * changed. `dir` is created (0755) when missing.
 *
 * 1. Every path, mode and pair of paths is checked first; a bad one throws a
 *    {@linkcode PayloadError} naming it, and nothing is written.
 * 2. When `..data` points to a timestamped directory holding exactly the payload (the same
 *    files and subdirectories, bytes and modes), no data is written: missing visible links are
 *    made again, and `{ changed: false }` is returned. A file there that cannot be read
 *    (permission denied) counts as changed.
 * 3. Otherwise the payload goes to a new `..<YYYY_MM_DD_HH_MM_SS>.<random>` directory (UTC),
 *    each file chmodded to its mode after writing so the umask cannot narrow it, subdirectories
 *    0755; `..data_tmp` → that directory is renamed over `..data`; every top-level name of the
 *    payload gets its link `<name>` → `..data/<name>` (made when missing, replaced when it
 *    points elsewhere); the links of names the payload no longer has are removed, and so is the
 *    old timestamped directory.
 *
 * Nothing outside `dir` is followed or removed: links are removed as links, only links of the
 * form `<name>` → `..data/<name>` count as visible names, and the only directory removed is the
 * one `..data` pointed to, when it is a `..` name directly inside `dir`. A name of the payload
 * taken by a file or directory (not a link) throws before anything is written. Other failures
 * throw an `Error` naming the path and the operation, with the file system error as `cause`.
 * Calls for one directory (once resolved) are queued: each starts when the one before ends.
 */
export function writePayload(
  dir: string,
  payload: Payload,
  options: WritePayloadOptions = {},
): Promise<WritePayloadResult> {
  const key = resolve(dir);
  const result = (queues.get(key) ?? Promise.resolve())
    .then(() => writeNow(dir, payload, options.now ?? (() => new Date()), options.ready));
  const settled = result.then(() => {}, () => {});
  queues.set(key, settled);
  settled.then(() => queues.get(key) === settled && queues.delete(key));
  return result;
}

/** Resolved volume directory → the end of its queue of writes (never rejects). */
const queues = new Map<string, Promise<void>>();

/** {@linkcode writePayload} without the queue: the caller has the directory to itself. */
async function writeNow(
  dir: string,
  payload: Payload,
  now: () => Date,
  ready?: () => Promise<void>,
): Promise<WritePayloadResult> {
  await ready?.();
  checkPayload(payload);
  const names = topLevelNames(payload);
  await makeVolumeDir(dir);
  const oldName = await currentDataDir(dir);
  await checkVisibleNames(dir, names);
  if (oldName !== undefined && await holdsExactly(join(dir, oldName), payload)) {
    await linkVisibleNames(dir, names);
    await unlinkStaleNames(dir, names);
    return { changed: false };
  }
  const newName = await writeDataDir(dir, payload, now());
  await switchDataLink(dir, newName);
  await linkVisibleNames(dir, names);
  await unlinkStaleNames(dir, names);
  if (oldName !== undefined) {
    await fs("remove the old data directory", join(dir, oldName), removeAll);
  }
  return { changed: true };
}

/** Throws a {@linkcode PayloadError} for the first bad path or mode, or two colliding paths. */
function checkPayload(payload: Payload): void {
  for (const [path, file] of payload) {
    const reason = payloadPathError(path);
    if (reason !== undefined) throw new PayloadError(path, `${reason}; nothing was written`);
    if (!Number.isInteger(file.mode) || file.mode < 0 || file.mode > 0o777) {
      const got = `got ${octal(file.mode)}; nothing was written`;
      throw new PayloadError(path, `Give payload file "${path}" a mode from 0o0 to 0o777: ${got}`);
    }
  }
  for (const parent of impliedDirs(payload)) {
    if (!payload.has(parent)) continue;
    const path = [...payload.keys()].find((p) => p.startsWith(`${parent}/`)) ?? parent;
    throw new PayloadError(
      path,
      `Rename payload path "${parent}" or "${path}": "${parent}" cannot be a file and a directory; nothing was written`,
    );
  }
}

/** `mode` as written in TypeScript: `0o1777`, `-0o1`; a non-integer as it is (`1.5`). */
function octal(mode: number): string {
  if (!Number.isInteger(mode)) return String(mode);
  return `${mode < 0 ? "-" : ""}0o${Math.abs(mode).toString(8)}`;
}

/** The first components of the payload's paths. */
function topLevelNames(payload: Payload): Set<string> {
  return new Set([...payload.keys()].map((path) => path.split("/")[0] ?? path));
}

/** The subdirectories the payload's paths imply (`a`, `a/b` for `a/b/c`), parents first. */
function impliedDirs(payload: Payload): string[] {
  const dirs = new Set<string>();
  for (const path of payload.keys()) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
  }
  return [...dirs].sort();
}

/** Runs `op` on `path`; a failure becomes an `Error` naming what was done to which path. */
function fs<T>(what: string, path: string, op: (path: string) => Promise<T>): Promise<T> {
  return op(path).catch((error) => Promise.reject(fsError(what, path, error)));
}

const list = (p: string) => Array.fromAsync(Deno.readDir(p));
const removeAll = (p: string) => Deno.remove(p, { recursive: true });
const chmodDir = (p: string) => Deno.chmod(p, DIR_MODE);
const mkTemp = (p: string, prefix: string) => Deno.makeTempDir({ dir: p, prefix });

/** The `Error` for a failed file system operation: what was done to which path, and why. */
function fsError(what: string, path: string, error: unknown): Error {
  const detail = error instanceof Error ? error.message : String(error);
  return new Error(`Cannot ${what} "${path}": ${detail}`, { cause: error });
}

/** `lstat`, or undefined when nothing is at `path`. */
function lstatOrUndefined(what: string, path: string): Promise<Deno.FileInfo | undefined> {
  return Deno.lstat(path).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw fsError(what, path, error);
  });
}

/** Creates `dir` with mode 0755 when it is missing. */
async function makeVolumeDir(dir: string): Promise<void> {
  const info = await lstatOrUndefined("inspect the volume directory", dir);
  if (info === undefined) {
    await fs("create the volume directory", dir, (p) => Deno.mkdir(p, { recursive: true }));
    await fs("chmod to 0755 the volume directory", dir, chmodDir);
  } else if (!info.isDirectory) {
    throw new Error(`Remove "${dir}" or choose another volume directory: it is not a directory`);
  }
}

/**
 * The name of the timestamped directory `..data` points to, or undefined when there is none
 * the writer may read and remove: `..data` is missing, or points to something that is not a
 * `..` directory directly inside `dir` (then it is simply replaced).
 */
async function currentDataDir(dir: string): Promise<string | undefined> {
  const link = join(dir, DATA_LINK);
  const info = await lstatOrUndefined("inspect the data link", link);
  if (info === undefined) return undefined;
  if (!info.isSymlink) {
    throw new Error(`Remove "${link}": it is the volume's data link, but not a symlink`);
  }
  const target = await fs("read the data link", link, Deno.readLink);
  if (!isDataDirName(target)) return undefined;
  const dataDir = await lstatOrUndefined("inspect the data directory", join(dir, target));
  return dataDir?.isDirectory ? target : undefined;
}

/** Whether `name` can be a timestamped directory: `..` + a name, not one of the links. */
function isDataDirName(name: string): boolean {
  return name.startsWith("..") && name.length > 2 && !name.includes("/") &&
    name !== DATA_LINK && name !== DATA_TMP_LINK && name !== VISIBLE_TMP_LINK;
}

/** Throws when a top-level name of the payload is taken by something that is not a link. */
async function checkVisibleNames(dir: string, names: Set<string>): Promise<void> {
  for (const name of names) {
    const path = join(dir, name);
    const info = await lstatOrUndefined("inspect the visible name", path);
    if (info === undefined || info.isSymlink) continue;
    const what = `a ${info.isDirectory ? "directory" : "file"} is there; nothing was written`;
    throw new Error(
      `Remove "${path}": the payload's "${name}" is to be a link to ${DATA_LINK}/${name}, but ${what}`,
    );
  }
}

/**
 * Whether directory `dataDir` holds exactly the payload's files and subdirectories, bytes and
 * modes. A file that cannot be read (permission denied) counts as changed, not as a failure.
 */
async function holdsExactly(dataDir: string, payload: Payload): Promise<boolean> {
  const files = new Set<string>();
  const dirs = new Set<string>();
  const walk = async (rel: string): Promise<boolean> => {
    for (const entry of await fs("list the data directory", join(dataDir, rel), list)) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isSymlink || !(entry.isFile || entry.isDirectory)) return false;
      (entry.isFile ? files : dirs).add(path);
      if (entry.isDirectory && !await walk(path)) return false;
    }
    return true;
  };
  if (!await walk("")) return false;
  if ([...dirs].sort().join("\0") !== impliedDirs(payload).join("\0")) return false;
  if (files.size !== payload.size) return false;
  for (const [path, want] of payload) {
    if (!files.has(path)) return false;
    const full = join(dataDir, path);
    const info = await fs("inspect the data file", full, Deno.lstat);
    if (((info.mode ?? 0) & 0o7777) !== want.mode || info.size !== want.data.length) return false;
    const have = await Deno.readFile(full).catch((error) => {
      if (error instanceof Deno.errors.PermissionDenied) return undefined;
      throw fsError("read the data file", full, error);
    });
    if (have === undefined || have.some((byte, i) => byte !== want.data[i])) return false;
  }
  return true;
}

/** `..YYYY_MM_DD_HH_MM_SS.` of `date` in UTC: the prefix of a timestamped directory's name. */
function dataDirPrefix(date: Date): string {
  return `..${date.toISOString().slice(0, 19).replace(/[-T:]/g, "_")}.`;
}

/** Writes the payload into a new timestamped directory in `dir` and returns its name. */
async function writeDataDir(dir: string, payload: Payload, now: Date): Promise<string> {
  const prefix = dataDirPrefix(now);
  const dataDir = await fs("create a data directory in", dir, (p) => mkTemp(p, prefix));
  try {
    await fs("chmod to 0755 the data directory", dataDir, chmodDir);
    for (const sub of impliedDirs(payload)) {
      await fs("create the data subdirectory", join(dataDir, sub), (p) => Deno.mkdir(p));
      await fs("chmod to 0755 the data subdirectory", join(dataDir, sub), chmodDir);
    }
    for (const [path, file] of payload) {
      const full = join(dataDir, path);
      const { data, mode } = file;
      const options = { createNew: true, mode };
      await fs("write the data file", full, (p) => Deno.writeFile(p, data, options));
      await fs(`chmod to ${octal(mode)} the data file`, full, (p) => Deno.chmod(p, mode));
    }
  } catch (error) {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    throw error;
  }
  return basename(dataDir);
}

/** Points `..data` at `newName` by renaming a fresh `..data_tmp` link over it. */
async function switchDataLink(dir: string, newName: string): Promise<void> {
  const tmp = join(dir, DATA_TMP_LINK);
  let linked = false;
  try {
    await removeLinkIfPresent(tmp);
    await fs("create the link", tmp, (p) => Deno.symlink(newName, p));
    linked = true;
    const data = join(dir, DATA_LINK);
    await fs(`rename "${tmp}" over the data link`, data, (p) => Deno.rename(tmp, p));
  } catch (error) {
    if (linked) await Deno.remove(tmp).catch(() => {});
    await Deno.remove(join(dir, newName), { recursive: true }).catch(() => {});
    throw error;
  }
}

/** Removes the link at `path` (a leftover of an interrupted write); throws when it is not a link. */
async function removeLinkIfPresent(path: string): Promise<void> {
  const info = await lstatOrUndefined("inspect", path);
  if (info === undefined) return;
  if (!info.isSymlink) throw new Error(`Remove "${path}": it is the writer's own name, not a link`);
  await fs("remove the leftover link", path, Deno.remove);
}

/** Makes each `<name>` a link to `..data/<name>`: created when missing, replaced when it points elsewhere. */
async function linkVisibleNames(dir: string, names: Set<string>): Promise<void> {
  for (const name of names) {
    const path = join(dir, name);
    const target = `${DATA_LINK}/${name}`;
    const info = await lstatOrUndefined("inspect the visible name", path);
    if (info === undefined) {
      await fs("create the link", path, (p) => Deno.symlink(target, p));
      continue;
    }
    if (!info.isSymlink) {
      throw new Error(`Remove "${path}": it is to be a link to ${target}, but it is not a link`);
    }
    if (await fs("read the link", path, Deno.readLink) === target) continue;
    const tmp = join(dir, VISIBLE_TMP_LINK);
    await removeLinkIfPresent(tmp);
    await fs("create the link", tmp, (p) => Deno.symlink(target, p));
    await fs(`rename "${tmp}" over the link`, path, (p) => Deno.rename(tmp, p));
  }
}

/** Removes the links `<name>` → `..data/<name>` whose name the payload no longer has. */
async function unlinkStaleNames(dir: string, names: Set<string>): Promise<void> {
  const entries = await fs("list the volume directory", dir, list);
  for (const entry of entries) {
    if (!entry.isSymlink || entry.name.startsWith("..") || names.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (await fs("read the link", path, Deno.readLink) !== `${DATA_LINK}/${entry.name}`) continue;
    await fs("remove the link", path, Deno.remove);
  }
}
