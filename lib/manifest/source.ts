/**
 * The manifest directory: which files are read, and what they declare.
 * Unchanged files are not parsed again. Files are read through {@link ./safe_read.ts}: one
 * handle per read, checked on that handle, and every directory on the way judged
 * ({@link ./path_judge.ts}).
 *
 * @module
 */
import { type Manifest, parseManifest } from "./parse.ts";
import {
  type FileStat,
  PathJudge,
  permissionFix,
  type ReadRules,
  WHY_PERMISSIONS,
} from "../base/path_judge.ts";
import { MAX_MANIFEST_BYTES, readResolved } from "../base/safe_read.ts";

export { MAX_MANIFEST_BYTES };

const EXTENSIONS = [".yaml", ".yml", ".json"];
const LEFTOVERS = ["~", ".swp", ".bak", ".orig", ".tmp"];

/** True for names the agent reads: `*.yaml`, `*.yml`, `*.json`, not dotfiles or editor leftovers. */
export function isManifestName(name: string): boolean {
  if (name.startsWith(".")) return false;
  if (LEFTOVERS.some((s) => name.endsWith(s))) return false;
  return EXTENSIONS.some((e) => name.endsWith(e));
}

/** One pass over the directory. */
export interface Scan {
  dir: string;
  /** False when the directory does not exist (or is not a directory). */
  present: boolean;
  /** Why the whole directory is refused (unsafe permissions); nothing in it is read then. */
  refused?: string;
  /** Every manifest file, valid or not, sorted by path. */
  manifests: Manifest[];
  /**
   * For a file that is invalid now, its last valid content seen by this agent, if any: its
   * pods are what should run (the last known good).
   */
  lastValid: Map<string, Manifest>;
  /**
   * Entries that are not files of the directory (the document of `--manifest-url`), after its
   * files in `manifests`: a missing or refused directory does not hold back their removals.
   */
  independent?: ReadonlySet<string>;
  /**
   * Set when the read is not whole: a source has given no valid document yet (the URL of
   * `--manifest-url` before its first valid answer, with none kept), so what it declares is
   * unknown; nothing is removed, from any source, until it has. Says why.
   */
  partial?: string;
  /**
   * Why an invalid entry is invalid when its problems do not say (the URL of `--manifest-url`
   * has not answered, or its fetch failed), by entry: told as the status of its pods.
   */
  keptBecause?: ReadonlyMap<string, string>;
}

function invalid(file: string, message: string): Manifest {
  return {
    file,
    pods: [],
    objects: [],
    valid: false,
    problems: [{
      file,
      line: 1,
      column: 1,
      severity: "error",
      field: "",
      message,
    }],
  };
}

/** Options of {@linkcode ManifestSource}. */
export interface SourceOptions {
  /**
   * Accept a directory or file that its group or others can write, or that another user
   * owns (default false: such a directory is refused, such a file is invalid).
   */
  insecurePermissions?: boolean;
  /** The agent's own user id (default: the process's). */
  uid?: number;
  /** Milliseconds since the epoch, for how recently a file changed; defaults to `Date.now`. */
  clock?: () => number;
  /** Runs between a file's open and the checks on its handle (tests change the file there). */
  onOpened?: (path: string) => void;
}

/** A file as last read: its bytes, its parse, and whether its stat can vouch for them. */
interface CachedFile {
  text: string;
  /** The permission bits it was parsed with (a Secret's file is judged by them). */
  mode: number;
  manifest: Manifest;
  /** The stat fingerprint when read; undefined when it cannot vouch (see {@linkcode stampOf}). */
  stamp: string | undefined;
  /** Where it was read: the path its symlinks led to. */
  path: string;
}

/**
 * How old a file's last change must be, when it is read, for its stat to vouch for its
 * content later. File times come from a coarse kernel clock, and Deno gives the change time
 * in whole seconds only: two writes within one tick, of the same size, look alike. A file
 * changed less than this long before it was read is read again on the next pass, until it
 * has been quiet that long.
 */
const STAMP_SETTLE_MS = 1_000;

/**
 * The stat fingerprint of a file read at `readAt` (ms since the epoch): device, inode, size,
 * mode, owner, change and modification times. Undefined when the file changed too recently
 * before `readAt`, or the file system gives no times; then the file is read every pass.
 */
export function stampOf(info: FileStat, readAt: number): string | undefined {
  const mtime = info.mtime?.getTime();
  const ctime = info.ctime?.getTime();
  if (mtime === undefined || ctime === undefined) return undefined;
  // The change time is rounded down to its second: the change may have come up to 1 s later.
  if (Math.max(mtime, ctime + 1_000) > readAt - STAMP_SETTLE_MS) return undefined;
  return fingerprint(info);
}

function fingerprint(info: FileStat): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mode}:${info.uid}:${info.mtime?.getTime()}:${info.ctime?.getTime()}`;
}

/**
 * Reads a manifest directory, reusing parses of files whose bytes did not change. A file whose
 * stat (inode, size, times, mode, owner) is unchanged since a read that its times vouch for is
 * not read again; any write, rename over it, chmod or chown changes its change time. Every
 * pass still follows each file's path and judges the directories on it, so a directory made
 * unsafe, or a symlink pointed elsewhere, is seen at once.
 *
 * A file that holds a Secret must not be readable by its group or others either: it is then
 * invalid (with `insecurePermissions`, a warning), judged by `parseManifest` from the mode
 * of the handle it was read through.
 *
 * Only a file that no longer exists counts as deleted. A file that is there but not read (not
 * a regular file, a dangling symlink, unsafe permissions, over 1 MiB) is invalid: it keeps its
 * last valid content, which is always content that passed every check when it was read.
 */
export class ManifestSource {
  readonly dir: string;
  readonly #rules: ReadRules;
  readonly #clock: () => number;
  readonly #onOpened: ((path: string) => void) | undefined;
  #cache = new Map<string, CachedFile>();
  #lastValid = new Map<string, Manifest>();

  constructor(dir: string, options: SourceOptions = {}) {
    this.dir = dir;
    this.#rules = {
      insecure: options.insecurePermissions ?? false,
      uid: options.uid ?? Deno.uid() ?? 0,
    };
    this.#clock = options.clock ?? Date.now;
    this.#onOpened = options.onOpened;
  }

  async scan(): Promise<Scan> {
    const judge = new PathJudge(this.#rules);
    const where = judge.directory(this.dir);
    if (where.kind === "refused") {
      const subject = where.self ? "it" : `the ${where.what} "${where.path}" on its path`;
      return {
        dir: this.dir,
        present: true,
        refused:
          `Refusing the manifest directory ${this.dir}: ${subject} ${where.why}; ${WHY_PERMISSIONS}. ${
            permissionFix(where.path, where.what)
          }, or start tinylet with --insecure-manifest-permissions (running pods are kept)`,
        manifests: [],
        lastValid: new Map(),
      };
    }
    if (where.kind === "error") {
      return {
        dir: this.dir,
        present: true,
        refused:
          `Fix the path of the manifest directory ${this.dir}: ${where.message} (running pods are kept)`,
        manifests: [],
        lastValid: new Map(),
      };
    }
    // Listed and read at one path, its real one: a symlink on the way that changes between the
    // two cannot make the listed names look deleted.
    const real = where.kind === "ok" ? where.path : this.dir;
    let entries: Deno.DirEntry[];
    try {
      entries = [];
      for await (const e of Deno.readDir(real)) entries.push(e);
    } catch (err) {
      if (
        err instanceof Deno.errors.NotFound ||
        err instanceof Deno.errors.NotADirectory
      ) {
        return { dir: this.dir, present: false, manifests: [], lastValid: new Map() };
      }
      // Unreadable (permissions, an I/O error): reported once, and /healthz says why.
      return {
        dir: this.dir,
        present: true,
        refused: `Make the manifest directory ${this.dir} readable by the agent: ${
          (err as Error).message
        } (running pods are kept)`,
        manifests: [],
        lastValid: new Map(),
      };
    }
    // Files are followed from the directory's real path, so a name that is not there is
    // deleted, and a symlink to nothing is a dangling symlink.
    const names = entries.filter((e) => isManifestName(e.name)).map((e) => e.name).sort();
    const manifests: Manifest[] = [];
    const seen = new Set<string>();
    const known = new Map([...this.#cache].map(([file, c]) => [file, c.text]));
    for (const name of names) {
      const file = `${this.dir}/${name}`;
      const m = this.#read(file, `${real}/${name}`, judge);
      if (m) {
        manifests.push(m);
        seen.add(file);
      }
    }
    // A file renamed with its content unchanged (a new path with the bytes of a path that is
    // gone) keeps its past: an invalid file renamed still stands for its last valid content.
    const gone = [...known.keys()].filter((file) => !seen.has(file));
    for (const m of manifests) {
      if (known.has(m.file)) continue;
      const text = this.#cache.get(m.file)?.text;
      const from = gone.find((g) => known.get(g) === text && this.#lastValid.has(g));
      const past = from ? this.#lastValid.get(from) : undefined;
      if (past && !m.valid) {
        this.#lastValid.set(m.file, { ...past, file: m.file });
      }
    }
    for (const file of this.#cache.keys()) {
      if (!seen.has(file)) this.#cache.delete(file);
    }
    for (const file of this.#lastValid.keys()) {
      if (!seen.has(file)) this.#lastValid.delete(file);
    }
    const lastValid = new Map<string, Manifest>();
    for (const m of manifests) {
      if (m.valid) this.#lastValid.set(m.file, m);
      else {
        const good = this.#lastValid.get(m.file);
        if (good) lastValid.set(m.file, good);
      }
    }
    return { dir: this.dir, present: true, manifests, lastValid };
  }

  /**
   * The manifest of `file` (followed from `path`, its real location), or undefined when it no
   * longer exists. Synchronous: an unchanged file costs an lstat, and a read a few system calls.
   */
  #read(file: string, path: string, judge: PathJudge): Manifest | undefined {
    const readAt = this.#clock();
    const found = judge.resolve(path);
    if (found.kind === "gone") return undefined;
    if (found.kind === "refused") return invalid(file, found.message);
    const cached = this.#cache.get(file);
    if (
      cached?.stamp !== undefined && cached.path === found.path &&
      cached.stamp === fingerprint(found.info)
    ) {
      return cached.manifest;
    }
    const got = readResolved(found, this.#rules, this.#onOpened);
    if (got.kind === "gone") return undefined;
    if (got.kind === "refused") return invalid(file, got.message);
    // The handle's stat vouches for exactly the text read through it.
    const stamp = stampOf(got.info, readAt);
    const mode = (got.info.mode ?? 0) & 0o7777;
    // The same bytes under other permissions are judged again: a Secret's file made readable
    // by others is refused, and made private again is accepted.
    if (cached && cached.text === got.text && cached.mode === mode) {
      cached.stamp = stamp;
      cached.path = found.path;
      return cached.manifest;
    }
    const manifest = parseManifest(file, got.text, { mode, insecure: this.#rules.insecure });
    this.#cache.set(file, { text: got.text, mode, manifest, stamp, path: found.path });
    return manifest;
  }
}
