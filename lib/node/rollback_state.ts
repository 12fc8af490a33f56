/**
 * The rollback state of each pod identity (`namespace/name`, not a UID: it outlives every
 * spec of the pod), kept under `<root>/rollback/` so it survives an agent restart, a SIGKILL
 * included:
 *
 * ```text
 * <root>/rollback/                       mode 0700
 * <root>/rollback/<namespace>_<name>.json  mode 0600: {"version":1,"key":"ns/name",...}
 *                                          (version 2 while it holds a rollback of images)
 * ```
 *
 * A namespace is a DNS-1123 label and a name a DNS-1123 subdomain, so neither holds `_` or `/`
 * and the file name is unambiguous; any other key is refused. A write goes to a temp file in
 * the same directory (`.<file>.tmp`), synced, then renamed over the file, and the directory is
 * synced: a reader sees the old state or the new, never half of one. A temp file left by a
 * crash is never read, and the next write or removal of the same pod replaces it. A
 * file that cannot be read or understood reads as no state, with a warning naming it and what
 * to do, never an exception: one bad file costs one pod its history, not the agent its loop.
 *
 * @module
 */
import { UnsafePathError } from "./paths.ts";
import {
  ensurePrivateDir,
  ignoreNotFound,
  reasonOf,
  syncDir,
  writePrivateFile,
} from "./private_file.ts";
import { dns1123LabelError, dns1123SubdomainError, NAME_MAX } from "../manifest/pod.ts";
import { pickRollbackState, type RollbackState, rollbackStateProblem } from "./rollback_schema.ts";

export type {
  FailedImage,
  LastGood,
  RanImage,
  RollbackState,
  RolledBack,
  Watching,
} from "./rollback_schema.ts";
export { rollbackStateProblem } from "./rollback_schema.ts";

/** What a read found: the state (undefined when there is none or it cannot be used) and why not. */
export interface RollbackRead {
  state: RollbackState | undefined;
  /** Set when a file is there but cannot be read or understood: names it and what to do. */
  warning?: string;
}

/** Options of {@linkcode RollbackStore}. */
export interface RollbackStoreOptions {
  /** Told the warning of each read of a file that cannot be used (see {@linkcode RollbackRead}). */
  onWarning?: (message: string) => void;
}

const MAX_BYTES = 4 * 1024 * 1024; // a v1 Pod from a 1 MiB manifest fits well
/**
 * The version written: 2 for a state holding a rollback from new images, 1 otherwise, as before;
 * both are read. An agent that knows only version 1 ignores a version 2 file rather than take
 * the rollback for one of the spec and show `RolledBack` while its tag runs the image that failed.
 */
const VERSION = 1;
const IMAGES_VERSION = 2;

/**
 * The temp file every write of `file` goes through: `.<name>.tmp` beside it. Writes of one
 * file take turns, so one name serves; a crash leaves at most it, which is never read.
 */
export function rollbackTempPath(file: string): string {
  const slash = file.lastIndexOf("/");
  return `${file.slice(0, slash + 1)}.${file.slice(slash + 1)}.tmp`;
}

/**
 * The file name of pod `key` (`namespace/name`): `<namespace>_<name>.json`. Throws
 * {@linkcode UnsafePathError} naming the key unless it is a namespace (DNS-1123 label) and a
 * name (DNS-1123 subdomain) whose file and temp file names Linux can have.
 */
export function rollbackFileName(key: string): string {
  const why = keyProblem(key);
  if (why !== undefined) {
    throw new UnsafePathError(
      `Cannot name the rollback state file of pod ${JSON.stringify(key)}: ${why}`,
    );
  }
  const [namespace, name] = key.split("/") as [string, string];
  return `${namespace}_${name}.json`;
}

function keyProblem(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.length !== 2) return "a pod key is \"<namespace>/<name>\", with one '/'";
  const [namespace, name] = parts as [string, string];
  const ns = dns1123LabelError(namespace);
  if (ns) return `its namespace ${JSON.stringify(namespace)} ${ns}`;
  const n = dns1123SubdomainError(name);
  if (n) return `its name ${JSON.stringify(name)} ${n}`;
  const temp = `.${namespace}_${name}.json.tmp`; // the longest name it needs; ASCII
  if (temp.length > NAME_MAX) {
    return `its temp file name would have ${temp.length} bytes, more than the ${NAME_MAX} Linux allows`;
  }
  return undefined;
}

/** The key of a state file's name; undefined for any other name (temp files included). */
function keyOfFile(file: string): string | undefined {
  const m = /^([^_/]+)_([^_/]+)\.json$/.exec(file);
  if (!m) return undefined;
  const key = `${m[1]}/${m[2]}`;
  return keyProblem(key) === undefined ? key : undefined;
}

/** Thrown when a state file cannot be written, removed or listed; names the path. */
export class RollbackStateError extends Error {
  /** The file or directory the error is about. */
  readonly path: string;
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RollbackStateError";
    this.path = path;
  }
}

/** The rollback state of every pod identity under `<root>/rollback/`, one file per pod. */
export class RollbackStore {
  /** `<root>/rollback`. */
  readonly dir: string;
  readonly #onWarning: ((message: string) => void) | undefined;
  /** Per key, the end of the last write or removal this store started: they take turns. */
  readonly #turns = new Map<string, Promise<void>>();

  /** `root` is the agent's `--root`; nothing is touched until the first call. */
  constructor(root: string, options: RollbackStoreOptions = {}) {
    this.dir = `${root}/rollback`;
    this.#onWarning = options.onWarning;
  }

  /** The path of pod `key`'s file; throws {@linkcode UnsafePathError} for a bad key. */
  path(key: string): string {
    return `${this.dir}/${rollbackFileName(key)}`;
  }

  /**
   * The state of pod `key`: undefined when it has none, or when its file cannot be read or
   * understood (then `onWarning` is told why). Throws only for a bad key.
   */
  async read(key: string): Promise<RollbackState | undefined> {
    const r = await this.load(key);
    if (r.warning !== undefined) this.#onWarning?.(r.warning);
    return r.state;
  }

  /**
   * The state of pod `key` and, when its file is there but cannot be used, the warning
   * (returned, not thrown, and not told to `onWarning`). Throws only for a bad key.
   */
  async load(key: string): Promise<RollbackRead> {
    const file = this.path(key);
    const ignoring = (why: string): RollbackRead => ({
      state: undefined,
      warning: `Ignoring the rollback state file "${file}" of pod ${
        JSON.stringify(key)
      }: ${why}; remove it to start the pod's rollback history afresh (its next replacement that runs its window whole is kept as its last good spec)`,
    });
    let bytes: Uint8Array;
    try {
      const info = await Deno.lstat(file);
      if (!info.isFile) {
        const type = info.isDirectory ? "directory" : info.isSymlink ? "symlink" : "special file";
        return ignoring(`it is a ${type}, not a regular file`);
      }
      if (info.size > MAX_BYTES) return ignoring(`it has more than ${MAX_BYTES} bytes`);
      bytes = await Deno.readFile(file);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return { state: undefined };
      return ignoring(`it cannot be read (${reasonOf(err)})`);
    }
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch (err) {
      return ignoring(`it is not JSON (${reasonOf(err)})`);
    }
    const problem = rollbackStateProblem(value);
    if (problem !== undefined) return ignoring(problem);
    const { version, key: about } = value as Record<string, unknown>;
    if (version !== VERSION && version !== IMAGES_VERSION) {
      return ignoring(
        `its version is ${
          JSON.stringify(version) ?? "missing"
        }, not ${VERSION} or ${IMAGES_VERSION} (written by a newer agent?)`,
      );
    }
    if (about !== key) return ignoring(`it is about pod ${JSON.stringify(about) ?? "(none)"}`);
    return { state: pickRollbackState(value as Record<string, unknown>) };
  }

  /**
   * Replaces the state of pod `key`, atomically: temp file (0600, created exclusively,
   * synced), renamed over the file, directory synced. Writes and removals of one key take
   * turns in call order. Throws {@linkcode UnsafePathError} for a bad key, a `TypeError` for a
   * state that would not read back, {@linkcode RollbackStateError} when the write fails (the
   * old file is then untouched and no temp file is left).
   */
  async write(key: string, state: RollbackState): Promise<void> {
    const file = this.path(key);
    const problem = rollbackStateProblem(state);
    if (problem !== undefined) {
      throw new TypeError(
        `Cannot write the rollback state of pod ${JSON.stringify(key)}: ${problem}`,
      );
    }
    const text = JSON.stringify({
      version: state.rolledBack?.images ? IMAGES_VERSION : VERSION,
      key,
      ...pickRollbackState(state as Record<string, unknown>),
    }) + "\n";
    await this.#turn(key, () => this.#write(key, file, text));
  }

  /** Removes the state of pod `key` (none is fine), and any temp file a crash left of it. */
  async remove(key: string): Promise<void> {
    const file = this.path(key);
    await this.#turn(key, async () => {
      try {
        await Deno.remove(file).catch(ignoreNotFound);
        await Deno.remove(rollbackTempPath(file)).catch(ignoreNotFound);
        await syncDir(this.dir).catch(ignoreNotFound);
      } catch (err) {
        throw new RollbackStateError(
          file,
          `Cannot remove the rollback state file "${file}" of pod ${JSON.stringify(key)}: ${
            reasonOf(err)
          } (remove it by hand)`,
          { cause: err },
        );
      }
    });
  }

  /**
   * The keys that have a state file, sorted; none when the directory does not exist. Other
   * names (temp files, anything else put there) are not keys and are left out.
   */
  async list(): Promise<string[]> {
    const keys: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.dir)) {
        const key = entry.isFile ? keyOfFile(entry.name) : undefined;
        if (key !== undefined) keys.push(key);
      }
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return [];
      throw new RollbackStateError(
        this.dir,
        `Cannot list the rollback state directory "${this.dir}": ${reasonOf(err)}`,
        { cause: err },
      );
    }
    return keys.sort();
  }

  #turn(key: string, run: () => Promise<void>): Promise<void> {
    const done = (this.#turns.get(key) ?? Promise.resolve()).then(run);
    const turn = done.catch(() => {});
    this.#turns.set(key, turn);
    void turn.then(() => {
      if (this.#turns.get(key) === turn) this.#turns.delete(key);
    });
    return done;
  }

  async #write(key: string, file: string, text: string): Promise<void> {
    try {
      await this.#ensureDir();
      await writePrivateFile(this.dir, file, rollbackTempPath(file), text);
    } catch (err) {
      if (err instanceof RollbackStateError) throw err;
      throw new RollbackStateError(
        file,
        `Cannot write the rollback state file "${file}" of pod ${JSON.stringify(key)}: ${
          reasonOf(err)
        } (check that --root is writable and its disk has room)`,
        { cause: err },
      );
    }
  }

  /** Makes `<root>/rollback` a directory of mode 0700; refuses anything else in its place. */
  async #ensureDir(): Promise<void> {
    const instead = await ensurePrivateDir(this.dir);
    if (instead) {
      throw new RollbackStateError(
        this.dir,
        `Cannot keep rollback state in "${this.dir}": it is a ${instead}, not a directory (remove it; the agent makes the directory)`,
      );
    }
  }
}
