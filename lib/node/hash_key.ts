/**
 * The node's config hash key, `<root>/config-hash.key`: 32 random bytes, readable by the
 * agent's user only, made once. The hash of a pod whose env reads ConfigMaps or Secrets is
 * keyed with it (`configSpecHash` in `lib/manifest/pod.ts`), so that hash, which the runtime,
 * `status.json` and `/pods` show, cannot be used to test guesses of a Secret's value.
 *
 * @module
 */

/** The key file's name under `--root`. */
export const HASH_KEY_FILE = "config-hash.key";

/** The key's length in bytes. */
export const HASH_KEY_BYTES = 32;

/** The path of the key under `root`. */
export function hashKeyPath(root: string): string {
  return `${root}/${HASH_KEY_FILE}`;
}

function checked(path: string, bytes: Uint8Array): Uint8Array {
  if (bytes.length !== HASH_KEY_BYTES) {
    throw new Error(
      `The config hash key ${path} holds ${bytes.length} bytes, not ${HASH_KEY_BYTES}: remove it and restart tinylet to make a new one (pods whose env reads ConfigMaps or Secrets are then replaced once)`,
    );
  }
  return bytes;
}

/**
 * Reads the key under `root`. With `create`, makes it first when there is none (mode 0600,
 * never over an existing file, so two agents starting at once agree on one key); without,
 * returns undefined when there is none.
 */
export async function readHashKey(
  root: string,
  { create = false }: { create?: boolean } = {},
): Promise<Uint8Array | undefined> {
  const path = hashKeyPath(root);
  try {
    return checked(path, await Deno.readFile(path));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    if (!create) return undefined;
  }
  await Deno.mkdir(root, { recursive: true, mode: 0o700 });
  const key = crypto.getRandomValues(new Uint8Array(HASH_KEY_BYTES));
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeFile(tmp, key, { mode: 0o600, createNew: true });
    // A link never replaces an existing name: the first agent's key wins.
    await Deno.link(tmp, path);
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
  return checked(path, await Deno.readFile(path));
}
