/**
 * A small file of the agent's own under `--root`, kept across restarts (the rollback state, the
 * kept document of `--manifest-url`): in a directory of mode 0700, written whole through a temp
 * file (0600, created exclusively, synced), renamed over the file, the directory synced. A reader
 * sees the old content or the new, never half of one; a temp file a crash left is replaced.
 *
 * @module
 */

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/** The system's reason without Deno's decoration: "Is a directory (os error 21)" → "is a directory". */
export function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const reason = message.replace(/ \(os error \d+\).*$/s, "");
  return reason.charAt(0).toLowerCase() + reason.slice(1);
}

/** Rethrows `err` unless it says a path does not exist. */
export function ignoreNotFound(err: unknown): void {
  if (!(err instanceof Deno.errors.NotFound)) throw err;
}

/**
 * Makes `dir` a directory of mode 0700. Returns what stands there instead (`"symlink"` or
 * `"file"`), which it leaves alone, or undefined once the directory is there.
 */
export async function ensurePrivateDir(dir: string): Promise<"symlink" | "file" | undefined> {
  const info = await Deno.lstat(dir).catch(async (err) => {
    ignoreNotFound(err);
    await Deno.mkdir(dir, { recursive: true, mode: DIR_MODE });
    return await Deno.lstat(dir);
  });
  if (!info.isDirectory) return info.isSymlink ? "symlink" : "file";
  if ((info.mode! & 0o7777) !== DIR_MODE) await Deno.chmod(dir, DIR_MODE);
  return undefined;
}

/** Syncs directory `dir`, so a rename or removal in it lasts. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/**
 * Replaces `file` (in `dir`, which must be there) with `text`, through the temp file `tmp` in the
 * same directory, then syncs the directory. On failure the temp file is removed, `file` is as it
 * was, and the error is rethrown as it came.
 */
export async function writePrivateFile(
  dir: string,
  file: string,
  tmp: string,
  text: string,
): Promise<void> {
  try {
    await Deno.remove(tmp).catch(ignoreNotFound); // left by a crash
    const handle = await Deno.open(tmp, { write: true, createNew: true, mode: FILE_MODE });
    try {
      await Deno.chmod(tmp, FILE_MODE); // whatever the umask
      const bytes = new TextEncoder().encode(text);
      for (let at = 0; at < bytes.length;) at += await handle.write(bytes.subarray(at));
      await handle.sync();
    } finally {
      handle.close();
    }
    await Deno.rename(tmp, file);
    await syncDir(dir);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}
