/**
 * The manifest directory: which files are read, and what they declare.
 * Unchanged files are not parsed again.
 *
 * @module
 */
import { type Manifest, parseManifest } from "./manifest.ts";

/** At most this many bytes a manifest file. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

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
}

function invalid(file: string, message: string): Manifest {
  return {
    file,
    pods: [],
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

const decoder = new TextDecoder("utf-8", { fatal: true });

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
}

const WHY_PERMISSIONS =
  "whoever can write a static-pod directory can run containers as root on this host, a known way to gain root and persistence";

/**
 * What is unsafe about `info` (owner, write bits), or undefined. Root and the agent's own
 * user may own manifests; nobody else may write them.
 */
export function unsafePermissions(info: Deno.FileInfo, agentUid: number): string | undefined {
  const mode = (info.mode ?? 0) & 0o7777;
  if ((mode & 0o022) !== 0) {
    const who = [mode & 0o020 ? "its group" : "", mode & 0o002 ? "others" : ""].filter(Boolean);
    return `it is writable by ${who.join(" and ")} (mode ${mode.toString(8).padStart(4, "0")})`;
  }
  if (info.uid !== null && info.uid !== 0 && info.uid !== agentUid) {
    return `it is owned by user ${info.uid}, not by root or the agent's user (${agentUid})`;
  }
  return undefined;
}

/** A file as last read: its bytes, its parse, and whether its stat can vouch for them. */
interface CachedFile {
  text: string;
  manifest: Manifest;
  /** The stat fingerprint when read; undefined when it cannot vouch (see {@linkcode stampOf}). */
  stamp: string | undefined;
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
export function stampOf(info: Deno.FileInfo, readAt: number): string | undefined {
  const mtime = info.mtime?.getTime();
  const ctime = info.ctime?.getTime();
  if (mtime === undefined || ctime === undefined) return undefined;
  // The change time is rounded down to its second: the change may have come up to 1 s later.
  if (Math.max(mtime, ctime + 1_000) > readAt - STAMP_SETTLE_MS) return undefined;
  return fingerprint(info);
}

function fingerprint(info: Deno.FileInfo): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mode}:${info.uid}:${info.mtime?.getTime()}:${info.ctime?.getTime()}`;
}

/**
 * Reads a manifest directory, reusing parses of files whose bytes did not change. A file whose
 * stat (inode, size, times, mode, owner) is unchanged since a read that its times vouch for is
 * not read again; any write, rename over it, chmod or chown changes its change time.
 */
export class ManifestSource {
  readonly dir: string;
  readonly #insecure: boolean;
  readonly #uid: number;
  readonly #clock: () => number;
  #cache = new Map<string, CachedFile>();
  #lastValid = new Map<string, Manifest>();

  constructor(dir: string, options: SourceOptions = {}) {
    this.dir = dir;
    this.#insecure = options.insecurePermissions ?? false;
    this.#uid = options.uid ?? Deno.uid() ?? 0;
    this.#clock = options.clock ?? Date.now;
  }

  async scan(): Promise<Scan> {
    if (!this.#insecure) {
      const info = await Deno.stat(this.dir).catch(() => undefined);
      const bad = info?.isDirectory ? unsafePermissions(info, this.#uid) : undefined;
      if (bad) {
        return {
          dir: this.dir,
          present: true,
          refused:
            `Refusing the manifest directory ${this.dir}: ${bad}; ${WHY_PERMISSIONS}. Run "chmod go-w ${this.dir}" (and chown it to root), or start tinylet with --insecure-manifest-permissions (running pods are kept)`,
          manifests: [],
          lastValid: new Map(),
        };
      }
    }
    let entries: Deno.DirEntry[];
    try {
      entries = [];
      for await (const e of Deno.readDir(this.dir)) entries.push(e);
    } catch (err) {
      if (
        err instanceof Deno.errors.NotFound ||
        err instanceof Deno.errors.NotADirectory
      ) {
        return { dir: this.dir, present: false, manifests: [], lastValid: new Map() };
      }
      throw err;
    }
    const names = entries.filter((e) => isManifestName(e.name)).map((e) => e.name).sort();
    const manifests: Manifest[] = [];
    const seen = new Set<string>();
    const known = new Map([...this.#cache].map(([file, c]) => [file, c.text]));
    for (const name of names) {
      const file = `${this.dir}/${name}`;
      const m = await this.#read(file);
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

  /** The file's manifest, or undefined when it is not a regular file (a subdirectory, a dangling link). */
  async #read(file: string): Promise<Manifest | undefined> {
    let info: Deno.FileInfo;
    const readAt = this.#clock();
    try {
      // Synchronous: a stat of a local file takes microseconds, and the async call costs
      // five times as much for the hundreds of unchanged files of a pass.
      info = Deno.statSync(file);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      return invalid(file, `Cannot read the file: ${(err as Error).message}`);
    }
    if (!info.isFile) return undefined;
    const cached = this.#cache.get(file);
    if (cached?.stamp !== undefined && cached.stamp === fingerprint(info)) return cached.manifest;
    if (!this.#insecure) {
      const bad = unsafePermissions(info, this.#uid);
      if (bad) {
        return invalid(
          file,
          `Refusing the file: ${bad}; ${WHY_PERMISSIONS}. Run "chmod go-w ${file}" (and chown it to root), or start tinylet with --insecure-manifest-permissions (its running pods are kept)`,
        );
      }
    }
    if (info.size > MAX_MANIFEST_BYTES) {
      return invalid(
        file,
        `Shrink the file: it has ${info.size} bytes, more than the limit of ${MAX_MANIFEST_BYTES} (1 MiB)`,
      );
    }
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(file);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      return invalid(file, `Cannot read the file: ${(err as Error).message}`);
    }
    if (bytes.length > MAX_MANIFEST_BYTES) {
      return invalid(
        file,
        `Shrink the file: it has more than ${MAX_MANIFEST_BYTES} bytes (1 MiB)`,
      );
    }
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      return invalid(
        file,
        "Save the file as UTF-8 text: it is binary or in another encoding",
      );
    }
    const stamp = stampOf(info, readAt);
    if (cached && cached.text === text) {
      cached.stamp = stamp;
      return cached.manifest;
    }
    const manifest = parseManifest(file, text);
    this.#cache.set(file, { text, manifest, stamp });
    return manifest;
  }
}
