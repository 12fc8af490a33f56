/**
 * Registry credentials for `PullImage`, read from a Docker-style
 * `config.json` and matched by registry host, as kubelet and crictl do.
 *
 * Only the `"auths"` section is used. Credential helpers (`"credsStore"`,
 * `"credHelpers"`) are not run; their presence gives a warning, not an error.
 *
 * @module
 */
import type { AuthConfig } from "../runtime/cri.ts";

/** The host Docker gives an image with no registry in its name. */
const DOCKER_HUB = "docker.io";

/** Other names of Docker Hub, as they appear in image names and `"auths"` keys. */
const DOCKER_HUB_ALIASES = new Set(["index.docker.io", "registry-1.docker.io"]);

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
 * The registry host of an image reference, lower-cased, with Docker's
 * normalisation: the first path component is the host only when it contains
 * "." or ":" or is "localhost"; otherwise the image is on "docker.io".
 * "index.docker.io" and "registry-1.docker.io" also give "docker.io".
 *
 * `registryHostOf("busybox:1.35")` is "docker.io";
 * `registryHostOf("localhost:5000/app:1")` is "localhost:5000".
 */
export function registryHostOf(image: string): string {
  const slash = image.indexOf("/");
  // Without a "/" the whole reference is a repository (and tag or digest) on Docker Hub.
  if (slash === -1) return DOCKER_HUB;
  const first = image.slice(0, slash);
  if (!first.includes(".") && !first.includes(":") && first !== "localhost") {
    return DOCKER_HUB;
  }
  return canonicalHost(first);
}

/**
 * Credentials loaded from one `config.json`, by registry host.
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
  /** Credentials by exact host (`registry.example.com:5000`). */
  readonly #byHost: ReadonlyMap<string, AuthConfig>;
  /** Credentials for `*.example.com` keys, in file order, by the part after `*`. */
  readonly #byGlob: ReadonlyArray<readonly [suffix: string, auth: AuthConfig]>;

  /**
   * Credentials for the given `"auths"`-style keys (normalised as in a
   * file: scheme and path dropped, lower-cased, Docker Hub aliases merged;
   * the first key for a host wins). Without arguments: no credentials.
   */
  constructor(
    entries: Iterable<readonly [key: string, auth: AuthConfig]> = [],
    warnings: readonly string[] = [],
  ) {
    const byHost = new Map<string, AuthConfig>();
    const byGlob: [string, AuthConfig][] = [];
    for (const [key, auth] of entries) {
      const host = normaliseKey(key);
      if (host.startsWith("*.")) {
        if (!byGlob.some(([suffix]) => suffix === host.slice(1))) {
          byGlob.push([host.slice(1), { ...auth }]);
        }
      } else if (!byHost.has(host)) {
        byHost.set(host, { ...auth });
      }
    }
    this.#byHost = byHost;
    this.#byGlob = byGlob;
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
   * skipped. `serverAddress` is set to the registry host.
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
    if (auths === undefined || auths === null) return new RegistryCredentials([], warnings);
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
    return new RegistryCredentials(entries, warnings);
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
   * The credentials for pulling `image`, or undefined when no entry matches
   * its registry host (see {@linkcode registryHostOf}). An exact host match
   * wins; otherwise a `*.example.com` key matches a host with exactly one
   * more label in front (`a.example.com`, not `example.com` nor
   * `b.a.example.com`), with the same port. The path of the image plays no
   * part. Each call returns a fresh object.
   */
  forImage(image: string): AuthConfig | undefined {
    const host = registryHostOf(image);
    const exact = this.#byHost.get(host);
    if (exact) return { ...exact, serverAddress: host };
    const dot = host.indexOf(".");
    if (dot <= 0) return undefined;
    const suffix = host.slice(dot);
    const colon = host.indexOf(":");
    if (colon !== -1 && colon < dot) return undefined;
    for (const [globSuffix, auth] of this.#byGlob) {
      if (globSuffix === suffix) return { ...auth, serverAddress: host };
    }
    return undefined;
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
 * The bare host of an `"auths"` key: lower-cased, without scheme or path,
 * with Docker Hub's aliases (and `https://index.docker.io/v1/`) as "docker.io".
 */
function normaliseKey(key: string): string {
  let host = key.trim().toLowerCase();
  const scheme = host.indexOf("://");
  if (scheme !== -1) host = host.slice(scheme + 3);
  const slash = host.indexOf("/");
  if (slash !== -1) host = host.slice(0, slash);
  return canonicalHost(host);
}

/** `host` lower-cased, with Docker Hub's aliases as "docker.io". */
function canonicalHost(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB : lower;
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
