/**
 * Registry credentials for `PullImage`, read from a Docker-style `config.json` and matched to
 * images as kubelet's credential keyring matches them (the rules are in `registry_keys.ts`).
 *
 * Only the `"auths"` section is used. Credential helpers (`"credsStore"`, `"credHelpers"`) are
 * not run; their presence gives a warning, not an error.
 *
 * What an image gets, in the order a pull tries them: the credentials of every key that
 * matches it, keys taken in reverse lexicographic order (so `quay.io/team` comes before
 * `quay.io`); when none matches and the image is on Docker Hub, those of the key
 * `index.docker.io` (what `https://index.docker.io/v1/`, the key `docker login` writes,
 * becomes), as kubelet does, then those of `registry-1.docker.io`. That last one is tinylet's
 * own addition, so that the keys `docker.io` (which matches Docker Hub's images by the common
 * rules), `index.docker.io` and `registry-1.docker.io` all mean Docker Hub; image names on
 * `index.docker.io` and `registry-1.docker.io` are on Docker Hub too.
 *
 * The credentials are sent as kubelet sends those of a Docker config: user name and password,
 * identity token, registry token, and no server address (containerd 1.6 reads a server address
 * as a URL and drops credentials whose address does not name the registry it pulls from).
 * containerd 1.6 logs in with the user name and password, else with the identity token; it
 * does not use a registry token.
 *
 * @module
 */
import type { AuthConfig } from "../runtime/cri.ts";
import { imageRepository, isDockerHub, RegistryKey, RegistryKeyError } from "./registry_keys.ts";

/**
 * The keys whose credentials a Docker Hub image gets when no key matched it, in order:
 * kubelet's (`https://index.docker.io/v1/` becomes `index.docker.io`), then tinylet's.
 */
const DOCKER_HUB_FALLBACK_KEYS = ["index.docker.io", "registry-1.docker.io"];

/**
 * The places a `config.json` is looked for, in order; the first that exists
 * wins (see {@linkcode RegistryCredentials.loadFirst}). Duplicates (HOME is
 * `/root`) are listed once.
 */
export function defaultDockerConfigPaths(
  env: { get(name: string): string | undefined },
): string[] {
  const paths: string[] = [];
  // The directory the docker CLI is told to use instead of ~/.docker.
  const dockerConfig = env.get("DOCKER_CONFIG");
  if (dockerConfig) paths.push(joinPath(dockerConfig, "config.json"));
  // Where `docker login` writes for the user running tinylet.
  const home = env.get("HOME");
  if (home) paths.push(joinPath(home, ".docker/config.json"));
  // Where `docker login` writes for root, when HOME is unset or another user's.
  paths.push("/root/.docker/config.json");
  // Where kubelet looks (its root directory), so a node set up for kubelet works as is.
  paths.push("/var/lib/kubelet/config.json");
  // tinylet's own place, for credentials meant for tinylet only.
  paths.push("/etc/tinylet/config.json");
  return [...new Set(paths)];
}

/** A `config.json` that cannot be read or does not have the expected shape. */
export class RegistryConfigError extends Error {
  /** The file that was being read. */
  readonly file: string;
  constructor(file: string, reason: string, options?: ErrorOptions) {
    super(`Cannot read registry credentials from "${file}": ${reason}`, options);
    this.name = "RegistryConfigError";
    this.file = file;
  }
}

/**
 * Credentials loaded from one `config.json`, by `"auths"` key.
 *
 * Secrets are kept in private fields, so logging an instance shows only its
 * warnings.
 */
export class RegistryCredentials {
  /**
   * Problems that did not stop loading, one line each, naming the file and
   * never a secret (e.g. `"credsStore"` is present but not supported).
   */
  readonly warnings: readonly string[];
  /** Each usable key with its credentials (file order), in the order keys are tried. */
  readonly #index: readonly { readonly key: RegistryKey; readonly auths: AuthConfig[] }[];

  /**
   * Credentials for the given `"auths"`-style keys, read as a file's keys are. Credentials of
   * keys that come to the same key (`quay.io` and `https://quay.io/`) are all kept, in the
   * order given. A key that cannot be used is skipped with a warning naming `file` (default
   * "registry credentials") and the key. `warnings` are kept before those. A `serverAddress`
   * given is dropped. Without arguments: no credentials.
   */
  constructor(
    entries: Iterable<readonly [key: string, auth: AuthConfig]> = [],
    options: { file?: string; warnings?: readonly string[] } = {},
  ) {
    const warnings = [...(options.warnings ?? [])];
    const byKey = new Map<string, { key: RegistryKey; auths: AuthConfig[] }>();
    for (const [raw, auth] of entries) {
      let key: RegistryKey;
      try {
        key = new RegistryKey(raw);
      } catch (err) {
        if (!(err instanceof RegistryKeyError)) throw err;
        warnings.push(
          `${
            options.file ?? "registry credentials"
          }: skipped "auths" key "${raw}": ${err.message} (write the registry as host[:port][/path], such as "registry.example.com:5000/team")`,
        );
        continue;
      }
      // A server address is never sent (see the module's doc).
      const { serverAddress: _, ...sent } = auth;
      const same = byKey.get(key.key);
      if (same) same.auths.push(sent);
      else byKey.set(key.key, { key, auths: [sent] });
    }
    // Reverse lexicographic order, as kubelet's keyring: a longer path before its prefix.
    this.#index = [...byKey.values()].sort((a, b) =>
      a.key.key < b.key.key ? 1 : a.key.key > b.key.key ? -1 : 0
    );
    this.warnings = warnings;
  }

  /**
   * Parses the text of a `config.json`. Throws a
   * {@linkcode RegistryConfigError} naming `file` when the text is not JSON,
   * `"auths"` or an entry is not an object, a field is not a string, or an
   * `"auth"` field is not base64 of "user:password". Messages never quote
   * the file's text, so they never carry a secret.
   *
   * Each entry gives: `"auth"` decoded into `username` and `password` (the
   * `auth` field itself is left out, and it wins over `"username"` and
   * `"password"` in the same entry, as in Docker); else `"username"` and
   * `"password"`; plus `"identitytoken"` and `"registrytoken"`. Entries with
   * none of these (Docker Desktop writes `{}` next to `"credsStore"`) are
   * skipped. No `serverAddress` is set. A key that cannot be used gives a
   * warning naming `file` and the key, and is skipped.
   */
  static parse(file: string, text: string): RegistryCredentials {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      // V8's message may quote the text around the mistake, so only its
      // position is kept, and the SyntaxError is not attached as the cause.
      const where = err instanceof Error ? /\((line \d+ column \d+)\)/.exec(err.message) : null;
      throw new RegistryConfigError(
        file,
        `the file is not valid JSON${
          where ? ` at ${where[1]}` : ""
        } (fix the JSON or remove the file)`,
      );
    }
    if (!isObject(doc)) {
      throw new RegistryConfigError(
        file,
        `the file is not a JSON object (write { "auths": { "registry.example.com": { "auth": "..." } } })`,
      );
    }

    const warnings: string[] = [];
    for (const field of ["credsStore", "credHelpers"]) {
      if (doc[field] !== undefined) {
        warnings.push(
          `${file}: "${field}" is not supported (tinylet does not run credential helpers); put credentials in "auths"`,
        );
      }
    }

    const auths = doc["auths"];
    // A null section or entry is an empty one, as Go's encoding/json reads it for Docker.
    if (auths === undefined || auths === null) {
      return new RegistryCredentials([], { file, warnings });
    }
    if (!isObject(auths)) {
      throw new RegistryConfigError(
        file,
        `"auths" is not an object (write "auths": { "registry.example.com": { "auth": "..." } })`,
      );
    }
    const entries: [string, AuthConfig][] = [];
    for (const [key, entry] of Object.entries(auths)) {
      const auth = parseEntry(file, key, entry);
      if (auth) entries.push([key, auth]);
    }
    return new RegistryCredentials(entries, { file, warnings });
  }

  /**
   * Loads `file`. A missing file gives empty credentials; a file that cannot
   * be read or parsed rejects with a {@linkcode RegistryConfigError}.
   */
  static async load(file: string): Promise<RegistryCredentials> {
    const text = await readIfExists(file);
    return text === undefined ? new RegistryCredentials() : RegistryCredentials.parse(file, text);
  }

  /**
   * Loads the first file of `paths` that exists (empty credentials when none
   * does), and says which file that was. A file that exists but is broken
   * rejects; it is not skipped in favour of the next one.
   */
  static async loadFirst(
    paths: string[],
  ): Promise<{ credentials: RegistryCredentials; file: string | undefined }> {
    for (const file of paths) {
      const text = await readIfExists(file);
      if (text !== undefined) {
        return { credentials: RegistryCredentials.parse(file, text), file };
      }
    }
    return { credentials: new RegistryCredentials(), file: undefined };
  }

  /**
   * The credentials to try, in order, when pulling `image`; empty when none applies. Every key
   * that matches the image's repository gives its credentials, keys in reverse lexicographic
   * order (`quay.io/team` before `quay.io`); when none matches and the image is on Docker Hub,
   * the keys `index.docker.io` and then `registry-1.docker.io` give theirs (see the module's
   * doc). No entry has a `serverAddress`. Each call returns fresh objects.
   */
  forImage(image: string): AuthConfig[] {
    const repository = imageRepository(image);
    const found: AuthConfig[] = [];
    for (const { key, auths } of this.#index) {
      if (key.matches(repository)) found.push(...auths);
    }
    if (found.length === 0 && isDockerHub(repository)) {
      for (const fallback of DOCKER_HUB_FALLBACK_KEYS) {
        found.push(...(this.#index.find(({ key }) => key.key === fallback)?.auths ?? []));
      }
    }
    return found.map((auth) => ({ ...auth }));
  }
}

/** The AuthConfig of one `"auths"` entry, or undefined when it holds no credentials. */
function parseEntry(file: string, key: string, entry: unknown): AuthConfig | undefined {
  const path = `"auths"."${key}"`;
  if (entry === null) return undefined;
  if (!isObject(entry)) {
    throw new RegistryConfigError(
      file,
      `${path} is not an object (write { "auth": "..." } or { "username": "...", "password": "..." })`,
    );
  }
  const field = (name: string): string | undefined => {
    const value = entry[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") {
      throw new RegistryConfigError(file, `${path}."${name}" is not a string (quote the value)`);
    }
    return value;
  };

  const result: AuthConfig = {};
  const encoded = field("auth");
  if (encoded) {
    const decoded = decodeAuth(encoded);
    if (!decoded) {
      throw new RegistryConfigError(
        file,
        `${path}."auth" is not base64 of "user:password" (set it to the output of: printf '%s' 'user:password' | base64 -w0)`,
      );
    }
    result.username = decoded.username;
    result.password = decoded.password;
  } else {
    const username = field("username");
    const password = field("password");
    if (username) result.username = username;
    if (password) result.password = password;
  }
  const identityToken = field("identitytoken");
  const registryToken = field("registrytoken");
  if (identityToken) result.identityToken = identityToken;
  if (registryToken) result.registryToken = registryToken;
  return Object.keys(result).length === 0 ? undefined : result;
}

/** Splits base64 of "user:password" (UTF-8) at its first ":", or undefined when it is not that. */
function decodeAuth(encoded: string): { username: string; password: string } | undefined {
  let binary: string;
  try {
    binary = atob(encoded);
  } catch {
    return undefined;
  }
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
  const colon = text.indexOf(":");
  if (colon === -1) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * `text` with every secret of `auths` replaced by `***`: each password, identity token,
 * registry token and `auth` string, and the base64 of "user:password" (what an `"auth"` field
 * and a Basic authorization header hold). Longer secrets are replaced first, so a secret that
 * holds another is hidden whole. Use it on any error text of a pull before it is kept, logged
 * or thrown.
 */
export function redactCredentials(text: string, auths: readonly AuthConfig[]): string {
  const secrets = new Set<string>();
  for (const auth of auths) {
    for (const secret of [auth.password, auth.identityToken, auth.registryToken, auth.auth]) {
      if (secret) secrets.add(secret);
    }
    if (auth.password) secrets.add(encodeAuth(auth.username ?? "", auth.password));
  }
  let redacted = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    redacted = redacted.replaceAll(secret, "***");
  }
  return redacted;
}

/** Base64 of "user:password" in UTF-8, as Docker writes an `"auth"` field. */
function encodeAuth(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  return btoa(String.fromCharCode(...bytes));
}

/** The text of `file`, or undefined when it does not exist. */
async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    const detail = err instanceof Error ? err.message : String(err);
    const hint = err instanceof Deno.errors.PermissionDenied
      ? "let tinylet's user read the file, or run as root"
      : "make it a readable file, or remove it";
    throw new RegistryConfigError(
      file,
      `${detail} (${hint})`,
      { cause: err },
    );
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function joinPath(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, "")}/${name}`;
}
