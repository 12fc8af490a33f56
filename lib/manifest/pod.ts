/**
 * The `v1` Pod as tinylet holds it, and the identity rules of the contract:
 * the spec hash, the UID and the per-container hash.
 *
 * @module
 */
import type { V1Container, V1PodSpec } from "./types.ts";

/** Pod metadata, reduced to what identifies and labels a pod. */
export interface PodMetadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** One container of a pod. */
export type ContainerSpec = V1Container;

/** A pod's spec. */
export type PodSpec = V1PodSpec;

/** A `v1` Pod: what every accepted manifest form becomes. */
export interface Pod {
  apiVersion: "v1";
  kind: "Pod";
  metadata: PodMetadata;
  spec: PodSpec;
}

export const DEFAULT_NAMESPACE = "default";

/** The metadata fields an API server sets: a manifest's are ignored (with a warning unless empty). */
export const SERVER_SET_METADATA: ReadonlySet<string> = new Set([
  "uid",
  "resourceVersion",
  "creationTimestamp",
  "generation",
  "managedFields",
  "selfLink",
  "ownerReferences",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
]);
export const DEFAULT_GRACE_PERIOD_SECONDS = 30;

/** The most bytes one file or directory name may have on Linux (`NAME_MAX`). */
export const NAME_MAX = 255;
/** The most bytes a whole path may have on Linux, its final NUL included (`PATH_MAX`). */
export const PATH_MAX = 4096;
/** The characters of a pod UID: a UUID, dashes included (see {@linkcode podUid}). */
export const POD_UID_LENGTH = 36;

/**
 * The name of a pod's log directory under `--pod-log-root`:
 * `<namespace>_<name>_<uid>`, kubelet's layout. It is one path component, so
 * it may have at most {@linkcode NAME_MAX} bytes.
 */
export function podLogDirName(namespace: string, name: string, uid: string): string {
  return `${namespace}_${name}_${uid}`;
}

/** `namespace/name`, the identity of a pod. */
export function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** JSON with object keys sorted and no whitespace. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        sorted[k] = (v as Record<string, unknown>)[k];
      }
      return sorted;
    }
    return v;
  });
}

const encoder = new TextEncoder();

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.digest("SHA-256", encoder.encode(text)),
  );
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The spec hash: `v1:` + hex SHA-256 of the canonical JSON of the pod with
 * metadata reduced to name, namespace, labels and annotations. No defaults
 * are filled in, so equivalent manifests written differently hash alike.
 */
export async function specHash(pod: Pod): Promise<string> {
  const { name, namespace, labels, annotations } = pod.metadata;
  const reduced = {
    apiVersion: pod.apiVersion,
    kind: pod.kind,
    metadata: { name, namespace, labels, annotations },
    spec: pod.spec,
  };
  return `v1:${hex(await sha256(canonicalJson(reduced)))}`;
}

/**
 * The pod UID: the first 128 bits of SHA-256 over
 * `namespace + "\n" + name + "\n" + specHash`, written as a UUID.
 */
export async function podUid(
  namespace: string,
  name: string,
  hash: string,
): Promise<string> {
  const h = hex(
    (await sha256(`${namespace}\n${name}\n${hash}`)).subarray(0, 16),
  );
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${
    h.slice(20, 32)
  }`;
}

/** The hash of one container's own spec (first 64 bits of SHA-256, hex). */
export async function containerHash(container: ContainerSpec): Promise<string> {
  return hex((await sha256(canonicalJson(container))).subarray(0, 8));
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `value` is not a DNS-1123 label (container and volume names, namespaces, host names). */
export function dns1123LabelError(value: string): string | undefined {
  if (value.length > 63) {
    return `must be at most 63 characters (it has ${value.length})`;
  }
  if (!DNS1123_LABEL.test(value)) {
    return "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit";
  }
  return undefined;
}

/** Why `value` is not a DNS-1123 subdomain (pod names). */
export function dns1123SubdomainError(value: string): string | undefined {
  if (value.length > 253) {
    return `must be at most 253 characters (it has ${value.length})`;
  }
  if (!DNS1123_SUBDOMAIN.test(value)) {
    return "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit";
  }
  return undefined;
}

/** Whether `value` is a v1 Pod (as the translation needs it) whose spec hash is `hash`. */
export async function isPodOfHash(value: unknown, hash: string): Promise<boolean> {
  const p = value as Pod;
  if (
    typeof p !== "object" || p === null || typeof p.metadata?.name !== "string" ||
    !Array.isArray(p.spec?.containers)
  ) {
    return false;
  }
  try {
    return await specHash(p) === hash;
  } catch {
    return false;
  }
}
