/**
 * Which `"auths"` keys of a Docker `config.json` apply to an image, by the rules of kubelet's
 * credential keyring (`pkg/credentialprovider/keyring.go`).
 *
 * A key is a registry host, an optional port and an optional path: `quay.io`,
 * `127.0.0.1:5000`, `quay.io/team`, `https://index.docker.io/v1/`. Its scheme is dropped, and a
 * path starting with `/v1/` or `/v2/` loses that version (`/v1/` alone becomes no path). A key
 * matches an image when the image's repository (tag and digest dropped, normalised as Docker
 * does) has the same port or none on both sides, a host with as many labels, each matched by
 * the key's label as a glob (`*` any run of characters, `?` one character, `[a-z]` one of a
 * class, as Go's `filepath.Match`), and a path that starts with the key's path. The path test
 * is a string prefix, as kubelet's: `quay.io/team` matches `quay.io/teamx/app` too.
 *
 * @module
 */

/** The host Docker gives an image with no registry in its name. */
export const DOCKER_HUB = "docker.io";

/**
 * Hosts in image names that are Docker Hub: `index.docker.io` (Docker's own rule) and
 * `registry-1.docker.io` (tinylet's: the host Docker Hub is served from).
 */
const DOCKER_HUB_IMAGE_ALIASES = new Set(["index.docker.io", "registry-1.docker.io"]);

/** A scheme at the start of a key (only `https://` and `http://` are dropped). */
const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;
/** What a key's host may hold, once lower-cased: host characters and glob characters. */
const KEY_HOST = /^[a-z0-9._*?[\]-]+$/;
/** An IPv6 address in brackets, compared as written (lower-cased), never as a glob. */
const IPV6 = /^\[[0-9a-f.]*:[0-9a-f:.]*\]$/;

/** An `"auths"` key that cannot be used, and why. */
export class RegistryKeyError extends Error {
  /** The key as written in the file. */
  readonly key: string;
  constructor(key: string, reason: string) {
    super(reason);
    this.name = "RegistryKeyError";
    this.key = key;
  }
}

/** One host label of a key: a glob, compiled. */
type Token =
  | { kind: "star" }
  | { kind: "one" }
  | { kind: "char"; char: string }
  | { kind: "class"; ranges: readonly (readonly [lo: string, hi: string])[] };

/** An image's repository, split as a URL without scheme is: `localhost:5000/app`. */
export interface ImageRepository {
  /** `host[:port]/path`, the host lower-cased: `docker.io/library/busybox`. */
  readonly repository: string;
  /** The host without its port, lower-cased: `docker.io`, `127.0.0.1`, `[::1]`. */
  readonly host: string;
  /** The port, or "" when the name has none. */
  readonly port: string;
  /** The path after the host, with its leading "/": `/library/busybox`. */
  readonly path: string;
}

/**
 * The repository an image reference names, normalised as Docker does: tag and digest
 * dropped; the first component is the registry host only when it has a "." or a ":", is
 * `localhost`, or has an upper-case letter (which a repository path cannot have); otherwise the
 * image is on Docker Hub (`docker.io`), under `library/` when its path has one component.
 * `index.docker.io` and `registry-1.docker.io` are Docker Hub too. The host is lower-cased.
 *
 * `busybox:1.36` is `docker.io/library/busybox`; `localhost:5000/app@sha256:...` is
 * `localhost:5000/app`; `localhost:5000` alone is `docker.io/library/localhost` (tag 5000).
 */
export function imageRepository(image: string): ImageRepository {
  let name = image;
  const at = name.indexOf("@");
  if (at !== -1) name = name.slice(0, at);
  // A tag follows the last "/", after a ":" (a ":" before it belongs to a port).
  const tag = name.indexOf(":", name.lastIndexOf("/") + 1);
  if (tag !== -1) name = name.slice(0, tag);

  const slash = name.indexOf("/");
  const first = slash === -1 ? "" : name.slice(0, slash);
  const isHost = first.includes(".") || first.includes(":") || first === "localhost" ||
    first.toLowerCase() !== first;
  let domain = isHost ? first.toLowerCase() : DOCKER_HUB;
  let path = isHost ? name.slice(slash + 1) : name;
  if (DOCKER_HUB_IMAGE_ALIASES.has(domain)) domain = DOCKER_HUB;
  if (domain === DOCKER_HUB && !path.includes("/")) path = `library/${path}`;
  const { host, port } = splitHostPort(domain) ?? { host: domain, port: "" };
  return { repository: `${domain}/${path}`, host, port, path: `/${path}` };
}

/** True when `repository` is on Docker Hub (see {@linkcode imageRepository}). */
export function isDockerHub(repository: ImageRepository): boolean {
  return repository.host === DOCKER_HUB && repository.port === "";
}

/** An `"auths"` key, parsed: what it is sorted by, and what it matches. */
export class RegistryKey {
  /**
   * The key as kubelet indexes it: host (lower-cased), port, and path when the path is not
   * empty or "/". `https://index.docker.io/v1/` is `index.docker.io`; `Quay.io/v2/team` is
   * `quay.io/team`. Keys are tried in reverse order of this string.
   */
  readonly key: string;
  /** The host, lower-cased, without port: `*.example.com`, `127.0.0.1`, `[::1]`. */
  readonly host: string;
  /** The port, or "" when the key has none. */
  readonly port: string;
  /** The path, with its leading "/", or "" when the key has none. */
  readonly path: string;
  /** The host's labels as globs; undefined for an IPv6 address. */
  readonly #labels: readonly (readonly Token[])[] | undefined;

  /** Parses `raw`; throws a {@linkcode RegistryKeyError} saying why it cannot be used. */
  constructor(raw: string) {
    let rest = raw;
    const scheme = SCHEME.exec(rest);
    if (scheme) {
      const name = scheme[1]!.toLowerCase();
      if (name !== "https" && name !== "http") {
        throw new RegistryKeyError(raw, `the scheme "${scheme[0]}" is not https:// or http://`);
      }
      rest = rest.slice(scheme[0].length);
    }
    const slash = rest.indexOf("/");
    const hostPort = (slash === -1 ? rest : rest.slice(0, slash)).toLowerCase();
    let path = slash === -1 ? "" : rest.slice(slash);
    if (path.startsWith("/v1/") || path.startsWith("/v2/")) path = path.slice(3);
    if (path === "/") path = "";
    if (hostPort === "") throw new RegistryKeyError(raw, "it names no registry host");
    const split = splitHostPort(hostPort);
    if (!split) {
      throw new RegistryKeyError(raw, `"${hostPort}" is not a host with an optional ":port"`);
    }
    const { host, port } = split;
    if (port !== "" && !/^[0-9]+$/.test(port)) {
      throw new RegistryKeyError(raw, `the port "${port}" is not a number`);
    }
    if (IPV6.test(host)) {
      this.#labels = undefined;
    } else if (!KEY_HOST.test(host)) {
      throw new RegistryKeyError(
        raw,
        `the host "${host}" may hold only letters, digits, ".", "-", "_" and the globs "*", "?" and "[...]"`,
      );
    } else {
      this.#labels = host.split(".").map((label) => compileGlob(raw, label));
    }
    this.host = host;
    this.port = port;
    this.path = path;
    this.key = `${host}${port === "" ? "" : `:${port}`}${path}`;
  }

  /**
   * True when this key applies to `repository`: same port (or none on both sides), as many host
   * labels, each matching this key's glob, and this key's path a string prefix of the
   * repository's path. An IPv6 host matches only the same address.
   */
  matches(repository: ImageRepository): boolean {
    if (this.port !== repository.port) return false;
    if (!repository.path.startsWith(this.path)) return false;
    if (this.#labels === undefined || IPV6.test(repository.host)) {
      return this.host === repository.host;
    }
    const labels = repository.host.split(".");
    if (labels.length !== this.#labels.length) return false;
    return this.#labels.every((glob, i) => globMatches(glob, labels[i] ?? ""));
  }
}

/**
 * `hostPort` split at the ":" of its port: `[::1]:5000` into `[::1]` and `5000`, `quay.io` into
 * `quay.io` and "". Undefined when it has more than one ":" outside brackets, or text after a
 * bracketed host that is not a port.
 */
function splitHostPort(hostPort: string): { host: string; port: string } | undefined {
  if (hostPort.startsWith("[")) {
    const close = hostPort.indexOf("]");
    if (close === -1) return undefined;
    const after = hostPort.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) return undefined;
    return { host: hostPort.slice(0, close + 1), port: after.slice(1) };
  }
  const colon = hostPort.indexOf(":");
  if (colon === -1) return { host: hostPort, port: "" };
  if (hostPort.indexOf(":", colon + 1) !== -1) return undefined;
  return { host: hostPort.slice(0, colon), port: hostPort.slice(colon + 1) };
}

/** One host label's glob, as Go's `filepath.Match` reads it; throws when it is malformed. */
function compileGlob(raw: string, label: string): Token[] {
  const tokens: Token[] = [];
  const chars = [...label];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === "*") tokens.push({ kind: "star" });
    else if (c === "?") tokens.push({ kind: "one" });
    else if (c === "]") throw badGlob(raw, label, `a "]" without its "["`);
    else if (c !== "[") tokens.push({ kind: "char", char: c });
    else {
      const ranges: [string, string][] = [];
      i++;
      while (chars[i] !== "]" || ranges.length === 0) {
        const lo = chars[i];
        if (lo === undefined) throw badGlob(raw, label, `a "[" without its "]"`);
        if (lo === "-" || lo === "]") {
          throw badGlob(raw, label, `"${lo}" where a character of a "[...]" class belongs`);
        }
        if (chars[i + 1] === "-") {
          const hi = chars[i + 2];
          if (hi === undefined || hi === "]" || hi === "-") {
            throw badGlob(raw, label, `a range "${lo}-" without its end`);
          }
          ranges.push([lo, hi]);
          i += 3;
        } else {
          ranges.push([lo, lo]);
          i += 1;
        }
      }
      tokens.push({ kind: "class", ranges });
    }
  }
  return tokens;
}

function badGlob(raw: string, label: string, what: string): RegistryKeyError {
  return new RegistryKeyError(raw, `the host label "${label}" is not a valid glob: ${what}`);
}

/**
 * True when `glob` matches all of `label`. Runs in time proportional to their lengths'
 * product: the set of positions reachable after each token, never backtracking.
 */
function globMatches(glob: readonly Token[], label: string): boolean {
  const chars = [...label];
  let reach: boolean[] = chars.map(() => false).concat(false);
  reach[0] = true;
  for (const token of glob) {
    const next: boolean[] = reach.map(() => false);
    if (token.kind === "star") {
      const first = reach.indexOf(true);
      if (first === -1) return false;
      for (let j = first; j < next.length; j++) next[j] = true;
    } else {
      for (let i = 0; i < chars.length; i++) {
        if (reach[i] && tokenMatches(token, chars[i]!)) next[i + 1] = true;
      }
    }
    reach = next;
  }
  return reach[chars.length] === true;
}

function tokenMatches(token: Exclude<Token, { kind: "star" }>, c: string): boolean {
  switch (token.kind) {
    case "one":
      return true;
    case "char":
      return token.char === c;
    case "class":
      return token.ranges.some(([lo, hi]) => lo <= c && c <= hi);
  }
}
