/**
 * Image references as kubelet reads them: the grammar of the distribution
 * reference package (`[domain/]path[:tag][@digest]`), after Docker Hub's
 * normalisation (`busybox` is `docker.io/library/busybox`). A reference that
 * kubelet would refuse with `InvalidImageName` is refused here, before any
 * pod is created.
 *
 * The checks run on pieces split at fixed separators, never as one pattern
 * over the whole string, so a huge or hostile value costs linear time.
 *
 * @module
 */

/** The most characters the repository path may have (after normalisation). */
export const MAX_REPOSITORY_PATH = 255;

const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_PREFIX = "library/";

// One path component: lower-case letters and digits, separated by one '.', one
// or two '_', or any number of '-'.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
// A host name (components of letters, digits and inner '-', joined by '.') or
// an IPv6 address in brackets, then an optional port.
const DOMAIN =
  /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const IMAGE_ID = /^[a-f0-9]{64}$/;
/** The digest algorithms kubelet can verify, and their hex lengths. */
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
/** Every character a valid reference can hold. */
const REFERENCE_CHARS = /^[A-Za-z0-9._\-/:@[\]+]*$/;

function q(v: string): string {
  return JSON.stringify(v);
}

/** How to show one character: quoted, with control characters escaped. */
function showChar(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  if (/\s/.test(c)) return "white space";
  if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) {
    return `the control character U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
  }
  return `the character ${q(c)}`;
}

/**
 * Splits off the registry host as Docker does: the first component is a host
 * when it has a '.' or a ':', is `localhost`, or has an upper-case letter;
 * otherwise the image is on Docker Hub, and a one-component name there is
 * under `library/`.
 */
function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const slash = name.indexOf("/");
  if (slash < 0) return { domain: DEFAULT_DOMAIN, remainder: OFFICIAL_PREFIX + name };
  const first = name.slice(0, slash);
  const rest = name.slice(slash + 1);
  let domain: string;
  let remainder: string;
  if (
    first === "localhost" || /[.:]/.test(first) || first.toLowerCase() !== first ||
    first === LEGACY_DEFAULT_DOMAIN
  ) {
    domain = first === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : first;
    remainder = rest;
  } else {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  }
  if (domain === DEFAULT_DOMAIN && !remainder.includes("/")) {
    remainder = OFFICIAL_PREFIX + remainder;
  }
  return { domain, remainder };
}

function isRemoteName(s: string): boolean {
  return s.split("/").every((c) => PATH_COMPONENT.test(c));
}

/** Why a digest is not one kubelet accepts, or undefined. */
function digestError(digest: string): string | undefined {
  if (!DIGEST.test(digest)) {
    return `the digest ${
      q(digest)
    } is not an algorithm, ':' and at least 32 hex digits (such as "sha256:" and 64 hex digits)`;
  }
  const colon = digest.indexOf(":");
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const length = DIGEST_HEX_LENGTH[algorithm];
  if (length === undefined) {
    return `the digest algorithm ${q(algorithm)} is not supported: use sha256, sha384 or sha512`;
  }
  if (hex.length !== length) {
    return `a ${algorithm} digest has ${length} hex digits, this one has ${hex.length}`;
  }
  if (!/^[a-f0-9]+$/.test(hex)) {
    return `write the hex digits of the digest in lower case`;
  }
  return undefined;
}

/** Why `ref` (a normalised `domain/path[:tag][@digest]`) does not parse, or undefined. */
function parseError(ref: string): string | undefined {
  const at = ref.indexOf("@");
  const namePart = at < 0 ? ref : ref.slice(0, at);
  const digest = at < 0 ? undefined : ref.slice(at + 1);
  // A tag follows the last '/', after a ':' (a ':' before it belongs to a port).
  const colon = namePart.indexOf(":", namePart.lastIndexOf("/") + 1);
  const name = colon < 0 ? namePart : namePart.slice(0, colon);
  const tag = colon < 0 ? undefined : namePart.slice(colon + 1);
  if (tag !== undefined && !TAG.test(tag)) {
    return `the tag ${
      q(tag)
    } is not valid: 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'`;
  }
  const slash = name.indexOf("/");
  let path: string;
  if (slash > 0 && DOMAIN.test(name.slice(0, slash)) && isRemoteName(name.slice(slash + 1))) {
    path = name.slice(slash + 1);
  } else if (isRemoteName(name)) {
    path = name;
  } else {
    return `the name ${
      q(name)
    } is not a repository: an optional registry host and port, then '/'-separated components of lower-case letters and digits, joined inside by '.', '_', '__' or '-'`;
  }
  if (path.length > MAX_REPOSITORY_PATH) {
    return `the repository path has ${path.length} characters, more than ${MAX_REPOSITORY_PATH}`;
  }
  return digest === undefined ? undefined : digestError(digest);
}

/**
 * Why kubelet would refuse `image` as an image reference, or undefined when it
 * is valid. Valid: `busybox`, `library/busybox:1.36`, `localhost:5000/x`,
 * `[::1]:5000/x`, `x@sha256:<64 hex>`, `registry.k8s.io/etcd:3.5.15-0`.
 */
export function imageReferenceError(image: string): string | undefined {
  if (image === "") return "it is empty";
  const bad = [...image].find((c) => !REFERENCE_CHARS.test(c));
  if (bad !== undefined) return `it contains ${showChar(bad)}`;
  if (IMAGE_ID.test(image)) {
    return "it is a 64-digit hex image ID, not a name: give the repository too, as name@sha256:<id>";
  }
  const { domain, remainder } = splitDockerDomain(image);
  const colon = remainder.indexOf(":");
  const repository = colon < 0 ? remainder : remainder.slice(0, colon);
  if (repository.toLowerCase() !== repository) {
    return `the repository ${q(repository)} must be lower-case`;
  }
  return parseError(`${domain}/${remainder}`);
}
