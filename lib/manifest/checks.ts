/**
 * Checks across one container's fields (env names and sources, ports, mounts, probe ports,
 * resources, security context), run after the per-field schema, and the rules the pod's checks
 * share: paths Linux can have, IP addresses, a security context that contradicts itself.
 *
 * @module
 */
import { checkFieldRefVersion, present } from "./config_refs_check.ts";
import { NAME_MAX, PATH_MAX } from "./pod.ts";
import type { Reporter } from "./reporter.ts";
import { checkResources } from "./schema_check.ts";
import { isRecord, q, records } from "./values.ts";
import type { FieldPath } from "./yaml.ts";

/** Field paths `env[].valueFrom.fieldRef.fieldPath` may name. */
export const SUPPORTED_FIELD_REFS = [
  "metadata.name",
  "metadata.namespace",
  "metadata.uid",
  "spec.nodeName",
  "status.podIP",
] as const;

const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** True for an IPv4 or IPv6 address. */
export function isIp(s: string): boolean {
  if (IPV4.test(s)) return true;
  if (!s.includes(":") || !/^[0-9a-fA-F:.]+$/.test(s)) return false;
  try {
    new URL(`http://[${s}]/`);
    return true;
  } catch {
    return false;
  }
}

const utf8 = new TextEncoder();

/**
 * Why Linux cannot have `path` (a host or container path tinylet or the
 * runtime creates), or undefined: a component longer than {@linkcode NAME_MAX}
 * bytes, or more than {@linkcode PATH_MAX} - 1 bytes in all. Either fails
 * with "File name too long" when the directory is made.
 */
export function pathLengthError(path: string): string | undefined {
  const total = utf8.encode(path).length;
  if (total >= PATH_MAX) {
    return `it has ${total} bytes, more than the ${
      PATH_MAX - 1
    } a path may have (File name too long)`;
  }
  for (const part of path.split("/")) {
    const bytes = utf8.encode(part).length;
    if (bytes > NAME_MAX) {
      return `its component ${
        q(part.slice(0, 24))
      }... has ${bytes} bytes, more than the ${NAME_MAX} a file name may have (File name too long)`;
    }
  }
  return undefined;
}

/** Reports `value` at `at` when it is a path Linux cannot have. */
export function checkPathLength(r: Reporter, value: unknown, at: FieldPath, what: string): void {
  if (typeof value !== "string") return;
  const bad = pathLengthError(value);
  if (bad) r.error(at, `Shorten the ${what}: ${bad}`);
}

/**
 * Checks one container across its fields, after the schema: variable names and sources
 * (`config_refs_check.ts`), mounts, ports, probes and hooks, resources, security context.
 */
export function checkContainerFields(
  r: Reporter,
  c: Record<string, unknown>,
  at: FieldPath,
): void {
  checkPathLength(r, c.workingDir, [...at, "workingDir"], "workingDir");
  const envNames = new Set<string>();
  for (const [env, i] of records(c.env)) {
    const p = [...at, "env", i];
    const name = env.name;
    if (typeof name === "string") {
      if (name === "" || name.includes("=")) {
        r.error(
          [...p, "name"],
          `Rename the variable ${q(name)}: a name must be non-empty without "="`,
        );
      }
      envNames.add(name);
    }
  }
  checkEnvSources(r, c, at);

  const mountPaths = new Map<string, number>();
  for (const [m, i] of records(c.volumeMounts)) {
    const p = [...at, "volumeMounts", i];
    const mountPath = m.mountPath;
    checkPathLength(r, mountPath, [...p, "mountPath"], "mountPath");
    checkPathLength(r, m.subPath, [...p, "subPath"], "subPath");
    if (typeof mountPath === "string" && mountPath !== "") {
      if (!mountPath.startsWith("/")) {
        r.error(
          [...p, "mountPath"],
          `Make the mountPath ${q(mountPath)} absolute (start it with "/")`,
        );
      }
      const first = mountPaths.get(mountPath);
      if (first !== undefined) {
        r.error(
          [...p, "mountPath"],
          `Mount one volume at ${q(mountPath)}: volumeMounts[${first}] uses the same path`,
        );
      }
      mountPaths.set(mountPath, i);
    }
    const subPath = m.subPath;
    if (typeof subPath === "string" && subPath !== "") {
      if (subPath.startsWith("/")) {
        r.error([...p, "subPath"], `Make the subPath ${q(subPath)} relative to the volume`);
      } else if (subPath.split("/").includes("..")) {
        r.error(
          [...p, "subPath"],
          `Remove ".." from the subPath ${q(subPath)}: it must stay inside the volume`,
        );
      }
    }
  }

  for (const [port, i] of records(c.ports)) {
    const p = [...at, "ports", i];
    const name = port.name;
    if (typeof name === "string" && name !== "") {
      if (name.length > 15 || !PORT_NAME.test(name) || !/[a-z]/.test(name)) {
        r.error(
          [...p, "name"],
          `Rename the port ${
            q(name)
          }: at most 15 lower-case letters, digits and '-', with at least one letter`,
        );
      }
    }
    const hostIP = port.hostIP;
    if (typeof hostIP === "string" && hostIP !== "" && !isIp(hostIP)) {
      r.error([...p, "hostIP"], `Set "hostIP" to an IP address: it is ${q(hostIP)}`);
    }
  }

  for (const kind of ["livenessProbe", "readinessProbe", "startupProbe"] as const) {
    const probe = c[kind];
    if (!isRecord(probe)) continue;
    const p = [...at, kind];
    const handlers = ["exec", "httpGet", "tcpSocket", "grpc"].filter((h) => isRecord(probe[h]));
    if (handlers.length !== 1) {
      r.error(
        p,
        `Give ${kind} exactly one of exec, httpGet, tcpSocket or grpc: it has ${handlers.length}`,
      );
    }
    if (
      kind !== "readinessProbe" && probe.successThreshold !== undefined &&
      probe.successThreshold !== 1
    ) {
      r.error(
        [...p, "successThreshold"],
        `Set successThreshold of ${kind} to 1, or leave it out: it must be 1`,
      );
    }
    for (const h of ["httpGet", "tcpSocket"]) {
      const handler = probe[h];
      if (isRecord(handler)) checkProbePort(r, handler.port, [...p, h, "port"], c);
    }
  }
  if (isRecord(c.lifecycle)) {
    for (const when of ["postStart", "preStop"]) {
      const hook = c.lifecycle[when];
      if (!isRecord(hook)) continue;
      const handlers = ["exec", "httpGet", "tcpSocket", "sleep"].filter((h) => isRecord(hook[h]));
      if (handlers.length !== 1) {
        r.error(
          [...at, "lifecycle", when],
          `Give ${when} exactly one of exec, httpGet or sleep: it has ${handlers.length}`,
        );
      }
      for (const h of ["httpGet", "tcpSocket"]) {
        const handler = hook[h];
        if (isRecord(handler)) {
          checkProbePort(r, handler.port, [...at, "lifecycle", when, h, "port"], c);
        }
      }
    }
  }

  if (isRecord(c.resources)) {
    checkResources(
      c.resources as { requests?: Record<string, unknown>; limits?: Record<string, unknown> },
      [...at, "resources"],
      r,
    );
  }
  checkSecurity(r, c.securityContext, [...at, "securityContext"]);
}

const VALUE_SOURCES = ["fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef"] as const;
const SOURCES_TEXT = "fieldRef, configMapKeyRef or secretKeyRef";

/**
 * Checks where one container's variables come from, after the schema: each `env[].valueFrom`
 * has exactly one of `fieldRef` (a field tinylet provides), `configMapKeyRef` or
 * `secretKeyRef` and no `value` beside it (`resourceFieldRef` is refused), and each `envFrom`
 * item exactly one of `configMapRef` or `secretRef`.
 */
function checkEnvSources(r: Reporter, c: Record<string, unknown>, at: FieldPath): void {
  for (const [env, i] of records(c.env)) {
    const from = env.valueFrom;
    if (!isRecord(from)) continue;
    const p = [...at, "env", i, "valueFrom"];
    const name = q(env.name);
    const kinds = present(from, VALUE_SOURCES);
    if (kinds.length === 0) {
      r.error(p, `Give "valueFrom" of ${name} one of ${SOURCES_TEXT}: it has none`);
    } else if (env.value !== undefined && env.value !== null && env.value !== "") {
      r.error(p, `Remove "value" or "valueFrom" from ${name}: give only one`);
    } else if (kinds.length > 1) {
      r.error(
        [...p, kinds[1]!],
        `Give "valueFrom" of ${name} one source: it has ${kinds.join(" and ")}`,
      );
    }
    if (from.resourceFieldRef !== undefined && from.resourceFieldRef !== null) {
      r.error(
        [...p, "resourceFieldRef"],
        `Replace "valueFrom.resourceFieldRef" of ${name}: tinylet does not provide container resources as variables; use ${SOURCES_TEXT}, or write the value itself with "value"`,
      );
    }
    const ref = from.fieldRef;
    if (!isRecord(ref)) continue;
    checkFieldRefVersion(r, ref, [...p, "fieldRef"]);
    const fieldPath = ref.fieldPath;
    if (fieldPath === undefined || fieldPath === null) {
      r.error([...p, "fieldRef", "fieldPath"], `Add "fieldPath" to the fieldRef of ${name}`);
    } else if (
      typeof fieldPath === "string" &&
      !(SUPPORTED_FIELD_REFS as readonly string[]).includes(fieldPath)
    ) {
      r.error(
        [...p, "fieldRef", "fieldPath"],
        `Change the fieldPath ${q(fieldPath)}: tinylet can provide ${
          SUPPORTED_FIELD_REFS.join(", ")
        }`,
      );
    }
  }
  for (const [item, i] of records(c.envFrom)) {
    const p = [...at, "envFrom", i];
    const kinds = present(item, ["configMapRef", "secretRef"]);
    if (kinds.length === 0) {
      r.error(p, `Give envFrom[${i}] a configMapRef or a secretRef: it has neither`);
    } else if (kinds.length > 1) {
      r.error(
        [...p, "secretRef"],
        `Give envFrom[${i}] one of configMapRef or secretRef: it has both`,
      );
    }
  }
}

/** A probe's port: a number from 1 to 65535, or the name of one of the container's ports. */
function checkProbePort(
  r: Reporter,
  port: unknown,
  at: FieldPath,
  c: Record<string, unknown>,
): void {
  if (typeof port === "number") {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      r.error(at, `Set the port to a number from 1 to 65535, or a port name: it is ${q(port)}`);
    }
    return;
  }
  if (typeof port !== "string") {
    r.error(at, `Write the port as a number or a port name: it is ${q(port)}`);
    return;
  }
  const names = records(c.ports).map(([p]) => p.name).filter((n) => typeof n === "string");
  if (!names.includes(port)) {
    r.error(
      at,
      `Name one of the container's ports, or give a number: ${q(port)} is not among ${
        names.length ? names.map(q).join(", ") : "its ports (it names none)"
      }`,
    );
  }
}

/** Checks a pod's or a container's security context for settings that contradict. */
export function checkSecurity(r: Reporter, sc: unknown, at: FieldPath): void {
  if (!isRecord(sc)) return;
  if (sc.runAsNonRoot === true && sc.runAsUser === 0) {
    r.error(
      [...at, "runAsUser"],
      `Set "runAsUser" to a non-zero user, or drop "runAsNonRoot": they contradict`,
    );
  }
  const profile = sc.seccompProfile;
  if (isRecord(profile)) {
    if (profile.type === "Localhost" && !profile.localhostProfile) {
      r.error(
        [...at, "seccompProfile", "localhostProfile"],
        `Add "localhostProfile" for type Localhost`,
      );
    }
    if (profile.type !== "Localhost" && profile.localhostProfile) {
      r.error(
        [...at, "seccompProfile", "localhostProfile"],
        `Remove "localhostProfile": it goes only with type Localhost`,
      );
    }
  }
}
