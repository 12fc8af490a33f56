/**
 * One parsed YAML document judged as a pod: the short form (`name`, `namespace`,
 * `containers`) or `apiVersion: v1` / `kind: Pod`, its metadata, containers and spec checked
 * field by field, into a `v1` Pod or findings.
 *
 * @module
 */
import {
  type ContainerSpec,
  DEFAULT_NAMESPACE,
  dns1123LabelError,
  dns1123SubdomainError,
  NAME_MAX,
  type Pod,
  POD_UID_LENGTH,
  podLogDirName,
  type PodMetadata,
  type PodSpec,
  SERVER_SET_METADATA,
} from "./pod.ts";
import type { Checker } from "./checker.ts";
import { checkContainerFields } from "./checks.ts";
import { checkPodFields } from "./pod_checks.ts";
import { checkOptIn } from "./opt_in.ts";
import { imageReferenceError } from "./image_ref.ts";
import { CONTAINER_SCHEMA, POD_SPEC_SCHEMA } from "./schema.ts";
import { checkSchema } from "./schema_check.ts";
import { isEmpty, isRecord, q, typeName, withoutNulls } from "./values.ts";
import type { FieldPath } from "./yaml.ts";

/** Metadata fields the API server sets; harmless in a copied manifest. */
const SHORT_FORM_KEYS = ["name", "namespace", "containers"] as const;
const POD_KEYS = ["apiVersion", "kind", "metadata", "spec", "status"] as const;
const METADATA_KEYS = ["name", "namespace", "labels", "annotations"] as const;
/** The kinds tinylet reads; `parse.ts` sends ConfigMaps and Secrets to `config_objects.ts`. */
const KINDS = ["Pod", "ConfigMap", "Secret"] as const;

function checkContainers(
  c: Checker,
  raw: unknown,
  path: FieldPath,
  seen = new Map<string, string>(),
): ContainerSpec[] {
  const init = path.at(-1) === "initContainers";
  if (init && (raw === undefined || raw === null)) return [];
  if (raw === undefined || raw === null) {
    c.error(path, 'Add at least one container under "containers"');
    return [];
  }
  if (!Array.isArray(raw)) {
    c.error(path, `Write ${q(String(path.at(-1)))} as a list: it is ${typeName(raw)}`);
    return [];
  }
  if (raw.length === 0) {
    if (!init) c.error(path, "Add at least one container: the list is empty");
    return [];
  }
  const out: ContainerSpec[] = [];
  raw.forEach((item, i) => {
    const at = [...path, i];
    if (!isRecord(item)) {
      c.error(
        at,
        `Write container ${i} as a mapping with "name" and "image": it is ${typeName(item)}`,
      );
      return;
    }
    const name = c.string(item, at, "name", true);
    if (name !== undefined) {
      const bad = dns1123LabelError(name);
      if (bad) {
        c.error(
          [...at, "name"],
          `Rename container ${q(name)}: the name ${bad}`,
        );
      }
      const first = seen.get(name);
      if (first !== undefined) {
        c.error(
          [...at, "name"],
          `Rename container ${q(name)}: ${first} has the same name`,
        );
      }
      seen.set(name, `${String(path.at(-1))}[${i}]`);
    }
    const image = c.string(item, at, "image", true);
    const badImage = image === undefined ? undefined : imageReferenceError(image);
    if (badImage) {
      c.error(
        [...at, "image"],
        `Fix the image reference ${
          q(image)
        }: ${badImage}; write it as [host[:port]/]name[:tag][@digest], e.g. "docker.io/library/busybox:1.36"`,
      );
    }
    const command = c.stringList(item, at, "command");
    const args = c.stringList(item, at, "args");
    checkSchema(CONTAINER_SCHEMA, item, at, c);
    checkContainerFields(c, item, at);
    if (!init && item.restartPolicy !== undefined && item.restartPolicy !== null) {
      c.error(
        [...at, "restartPolicy"],
        `Move container ${
          q(name ?? i)
        } to initContainers, or remove its restartPolicy: only init containers (sidecars) take one`,
      );
    }
    if (name === undefined || image === undefined) return;
    const spec: ContainerSpec = { ...withoutNulls(item), name, image };
    if (command) spec.command = command;
    if (args) spec.args = args;
    out.push(spec);
  });
  return out;
}

function checkName(c: Checker, path: FieldPath, name: string | undefined) {
  if (name === undefined) return;
  const bad = dns1123SubdomainError(name);
  if (bad) c.error(path, `Rename the pod ${q(name)}: the name ${bad}`);
}

function checkNamespace(c: Checker, path: FieldPath, ns: string | undefined) {
  if (ns === undefined) return;
  const bad = dns1123LabelError(ns);
  if (bad) c.error(path, `Change the namespace ${q(ns)}: it ${bad}`);
}

/**
 * Rejects a pod whose log directory `<namespace>_<name>_<uid>` would be a
 * file name longer than Linux allows: the agent could not create it. Names
 * are ASCII once valid, so characters are bytes. (Every other name tinylet
 * makes a path component of, container and volume names, is a DNS-1123 label
 * of at most 63 characters.)
 */
function checkLogDirName(
  c: Checker,
  path: FieldPath,
  namespace: string | undefined,
  name: string | undefined,
) {
  if (name === undefined || dns1123SubdomainError(name)) return;
  if (namespace !== undefined && dns1123LabelError(namespace)) return;
  const ns = namespace ?? DEFAULT_NAMESPACE;
  const length = podLogDirName(ns, name, "u".repeat(POD_UID_LENGTH)).length;
  if (length <= NAME_MAX) return;
  const room = NAME_MAX - (length - name.length);
  c.error(
    path,
    `Shorten the pod name to at most ${room} characters in namespace ${
      q(ns)
    }: its log directory <namespace>_<name>_<uid> would be a file name of ${length} bytes, more than the ${NAME_MAX} Linux allows (File name too long)`,
  );
}

function shortForm(c: Checker, obj: Record<string, unknown>): Pod | undefined {
  const name = c.string(obj, [], "name", true);
  checkName(c, ["name"], name);
  const namespace = c.string(obj, [], "namespace", false);
  checkNamespace(c, ["namespace"], namespace);
  checkLogDirName(c, ["name"], namespace, name);
  const containers = checkContainers(c, obj.containers, ["containers"]);
  c.unknownKeys(
    obj,
    [],
    SHORT_FORM_KEYS,
    " (the short form has name, namespace and containers; use apiVersion: v1 and kind: Pod for more)",
  );
  if (c.failed || name === undefined) return undefined;
  const metadata: PodMetadata = { name };
  if (namespace !== undefined) metadata.namespace = namespace;
  return { apiVersion: "v1", kind: "Pod", metadata, spec: { containers } };
}

function v1Pod(c: Checker, obj: Record<string, unknown>): Pod | undefined {
  const rawMeta = obj.metadata;
  if (!isRecord(rawMeta)) {
    c.error(
      ["metadata"],
      rawMeta === undefined
        ? 'Add "metadata" with a "name"'
        : `Write "metadata" as a mapping: it is ${typeName(rawMeta)}`,
    );
    return undefined;
  }
  const name = c.string(rawMeta, ["metadata"], "name", true);
  checkName(c, ["metadata", "name"], name);
  const namespace = c.string(rawMeta, ["metadata"], "namespace", false);
  checkNamespace(c, ["metadata", "namespace"], namespace);
  checkLogDirName(c, ["metadata", "name"], namespace, name);
  const labels = c.stringMap(rawMeta, ["metadata"], "labels");
  const annotations = c.stringMap(rawMeta, ["metadata"], "annotations");
  for (const key of Object.keys(rawMeta)) {
    if ((METADATA_KEYS as readonly string[]).includes(key)) continue;
    if (SERVER_SET_METADATA.has(key)) {
      // kubeadm and `kubectl create --dry-run=client -o yaml` write `creationTimestamp: null`.
      if (isEmpty(rawMeta[key])) continue;
      c.warn(
        ["metadata", key],
        `Ignoring ${q(key)}: it is set by an API server, not by a manifest`,
      );
    } else {
      c.warn(["metadata", key], `Ignoring unknown field ${q(key)}`);
    }
  }
  const rawSpec = obj.spec;
  if (!isRecord(rawSpec)) {
    c.error(
      ["spec"],
      rawSpec === undefined
        ? 'Add a "spec" with "containers"'
        : `Write "spec" as a mapping: it is ${typeName(rawSpec)}`,
    );
    return undefined;
  }
  const names = new Map<string, string>();
  const initContainers = checkContainers(
    c,
    rawSpec.initContainers,
    ["spec", "initContainers"],
    names,
  );
  const containers = checkContainers(c, rawSpec.containers, ["spec", "containers"], names);
  checkSchema(POD_SPEC_SCHEMA, rawSpec, ["spec"], c);
  checkPodFields(c, rawSpec, ["spec"]);
  checkOptIn(c, annotations, rawSpec);
  // kubeadm and `kubectl create --dry-run=client -o yaml` write `status: {}`.
  if ("status" in obj && !isEmpty(obj.status)) {
    c.warn(
      ["status"],
      'Ignoring "status": it is reported by the agent, not read',
    );
  }
  if (c.failed || name === undefined) return undefined;
  const metadata: PodMetadata = { name };
  if (namespace !== undefined) metadata.namespace = namespace;
  if (labels !== undefined) metadata.labels = labels;
  if (annotations !== undefined) metadata.annotations = annotations;
  const spec: PodSpec = { ...withoutNulls(rawSpec), containers };
  if (initContainers.length > 0) spec.initContainers = initContainers;
  return { apiVersion: "v1", kind: "Pod", metadata, spec };
}

/** Judges the plain value of one document as a pod; undefined when it is none or has errors. */
export function checkDocument(c: Checker, value: unknown): Pod | undefined {
  if (!isRecord(value)) {
    c.error(
      [],
      `Write the document as a mapping (a pod, ConfigMap or Secret): it is ${typeName(value)}`,
    );
    return undefined;
  }
  if (!("apiVersion" in value) && !("kind" in value)) {
    return shortForm(c, value);
  }
  const kind = value.kind;
  const apiVersion = value.apiVersion;
  if (kind === undefined || kind === null) {
    c.error(
      ["kind"],
      `Add "kind: Pod" (or ConfigMap, or Secret): a document with "apiVersion" must say its kind`,
    );
    return undefined;
  }
  const known = typeof kind === "string"
    ? KINDS.find((k) => k !== kind && k.toLowerCase() === kind.toLowerCase())
    : undefined;
  if (known !== undefined) {
    c.error(["kind"], `Write the kind as ${q(known)}: it is ${q(kind)}`);
    return undefined;
  }
  if (kind !== "Pod") {
    c.warn(
      ["kind"],
      `Skipping this document: kind ${
        q(kind ?? "(missing)")
      } is not read by tinylet (only kind: Pod, ConfigMap and Secret)`,
    );
    return undefined;
  }
  if (apiVersion !== "v1") {
    c.error(
      ["apiVersion"],
      `Set apiVersion to "v1" for kind: Pod: it is ${q(apiVersion ?? "(missing)")}`,
    );
    return undefined;
  }
  c.unknownKeys(value, [], POD_KEYS);
  return v1Pod(c, value);
}
