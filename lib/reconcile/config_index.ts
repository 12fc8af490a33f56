/**
 * The ConfigMaps and Secrets of the manifest directory, indexed by kind, namespace and name
 * for pods to read: each file's valid content, or its last valid content while it is invalid
 * (the rule pods follow), the lexically first file winning a name declared twice. And what a
 * pod's references to them say: a missing object a pod waits for (a warning), an object of
 * the other kind under the name (an error: the reference is wrong).
 *
 * @module
 */
import type { ConfigMapObject, SecretObject } from "../manifest/config_objects.ts";
import type { Manifest, Problem } from "../manifest/parse.ts";
import type { Position } from "../manifest/yaml.ts";
import type { ConfigLookup } from "../translate/config_lookup.ts";
import type { ConfigRef } from "../translate/pod_config.ts";
import type { DesiredPod } from "../translate/desired_pod.ts";
import { KEYS } from "../runtime/labels.ts";
import type { ObservedPod } from "./observe.ts";

/** A ConfigMap or Secret. */
export type ConfigObject = ConfigMapObject | SecretObject;

/** The objects in force, and the conflicts between files. */
export interface ObjectIndex {
  lookup: ConfigLookup;
  /** The object of `kind` named `namespace/name`, if any. */
  find(kind: ConfigObject["kind"], namespace: string, name: string): ConfigObject | undefined;
  /** One object declared in two files. */
  problems: Problem[];
}

function indexKey(kind: string, namespace: string, name: string): string {
  return `${kind}\0${namespace}\0${name}`;
}

/** Where a pod or an object is declared. */
export interface Declared extends Position {
  file: string;
}

/**
 * The problems of `id` (a pod's or an object's `namespace/name`) declared in two files: an
 * error at `again`, which is ignored, and a warning at `first`, the lexically first file, which
 * wins.
 */
export function declaredTwice(
  kind: "Pod" | ConfigObject["kind"],
  id: string,
  again: Declared,
  first: Declared,
): Problem[] {
  const rule = "(the lexically first file)";
  return [{
    file: again.file,
    line: again.line,
    column: again.column,
    severity: "error",
    field: "",
    message: `Rename or remove this ${
      kind === "Pod" ? "pod" : kind
    }: "${id}" is also declared in ${first.file}:${first.line}, which wins ${rule}`,
  }, {
    file: first.file,
    line: first.line,
    column: first.column,
    severity: "warning",
    field: "",
    message:
      `${kind} "${id}" is also declared in ${again.file}:${again.line}; this file wins ${rule}`,
  }];
}

/** Indexes the objects of `manifests` (each the content in force for its file), in order. */
export function indexObjects(manifests: Manifest[]): ObjectIndex {
  const objects = new Map<string, { object: ConfigObject; file: string } & Position>();
  const problems: Problem[] = [];
  for (const m of manifests) {
    for (const mo of m.objects) {
      const o = mo.object;
      const key = indexKey(o.kind, o.namespace, o.name);
      const first = objects.get(key);
      const id = `${o.namespace}/${o.name}`;
      if (first) {
        problems.push(...declaredTwice(o.kind, id, { file: m.file, ...mo }, first));
        continue;
      }
      objects.set(key, { object: o, file: m.file, line: mo.line, column: mo.column });
    }
  }
  const find = (kind: ConfigObject["kind"], namespace: string, name: string) =>
    objects.get(indexKey(kind, namespace, name))?.object;
  return {
    find,
    problems,
    lookup: {
      configMap: (namespace, name) => find("ConfigMap", namespace, name) as ConfigMapObject,
      secret: (namespace, name) => find("Secret", namespace, name) as SecretObject,
    },
  };
}

/**
 * A lookup over `index` in which the objects of `found` (one pod's references, some of them
 * objects gone from the directory, see `TranslationCache.gone`) stand for themselves.
 */
export function lookupOf(
  index: ObjectIndex,
  found: readonly (ConfigObject | undefined)[],
  pod: DesiredPod,
): ConfigLookup {
  const standIn = (kind: ConfigObject["kind"], name: string) =>
    found.find((o) => o?.kind === kind && o.name === name);
  return {
    configMap: (namespace, name) =>
      index.lookup.configMap(namespace, name) ??
        (namespace === pod.namespace ? standIn("ConfigMap", name) as ConfigMapObject : undefined),
    secret: (namespace, name) =>
      index.lookup.secret(namespace, name) ??
        (namespace === pod.namespace ? standIn("Secret", name) as SecretObject : undefined),
  };
}

/** The objects `refs` of a pod in `namespace` find now, in order (undefined where none). */
export function referenced(
  index: ObjectIndex,
  namespace: string,
  refs: readonly ConfigRef[],
): (ConfigObject | undefined)[] {
  return refs.map((r) => index.find(r.kind, namespace, r.name));
}

/**
 * Whether a pod that waits for a ConfigMap or Secret is planned all the same (a pod that does
 * not wait always is):
 * - its volume cannot be set up now (`FailedMount`, its object gone while the agent was down),
 *   but a ready sandbox of its very spec and env runs with the files it wrote before;
 * - or it is held (see {@linkcode held}) and a ready sandbox of its spec runs, or nothing of it
 *   runs and all it misses is optional.
 * It is then planned as any other (its containers restart in place), with no env replacement
 * and none of its waiting volumes written. Otherwise what runs of it is only kept.
 */
export function plannable(pod: DesiredPod, observed: readonly ObservedPod[] | undefined): boolean {
  if (!pod.waiting) return true;
  const runs = (env: boolean) =>
    (observed ?? []).some((o) =>
      o.sandbox.annotations[KEYS.specHash] === pod.hash && o.sandbox.state === "SANDBOX_READY" &&
      (!env || o.sandbox.annotations[KEYS.envHash] === pod.envHash) &&
      o.unsafeIdentity === undefined
    );
  if (pod.held) return runs(false) || (pod.held.optionalOnly && (observed ?? []).length === 0);
  return pod.waiting.reason === "FailedMount" && runs(true);
}

/**
 * A pod some of whose references find nothing while invalid files the agent never saw valid
 * (`unreadable`) may declare them: it is held, as waiting, so nothing is taken for absent that
 * may be there. Its env is not replaced, the volumes that read a missing object are not
 * written (their payloads are dropped), and it is planned only as {@linkcode plannable} says.
 * Undefined when it is not held.
 */
export function held(
  d: DesiredPod,
  found: readonly (ConfigObject | undefined)[],
  unreadable: ReadonlySet<string>,
): DesiredPod | undefined {
  if (unreadable.size === 0) return undefined;
  const missing = d.configRefs.filter((_, i) => !found[i]);
  if (missing.length === 0) return undefined;
  // Volumes are named by their field: spec.volumes[N].<kind>.
  const waitingVolumes = new Set(
    missing.flatMap((r) => {
      const at = /^spec\.volumes\[(\d+)\]/.exec(r.field);
      return at ? [d.pod.spec.volumes?.[Number(at[1])]?.name] : [];
    }),
  );
  const named = [...new Set(missing.map((r) => `${r.kind} "${r.name}"`))];
  const names = named.join(", ");
  const files = [...unreadable].join(", ");
  const volume = missing.find((r) => r.field.startsWith("spec.volumes"));
  return {
    ...d,
    held: { optionalOnly: missing.every((r) => r.optional) },
    volumes: d.volumes.map((v) => {
      if (!v.config || !waitingVolumes.has(v.name)) return v;
      const { payload: _dropped, ...config } = v.config;
      return { ...v, config };
    }),
    waiting: {
      reason: d.waiting?.reason ?? (volume ? "FailedMount" : "CreateContainerConfigError"),
      message: `${names} not found, and ${files} cannot be read (it may declare ${
        named.length === 1 ? "it" : "them"
      }): fix ${unreadable.size === 1 ? "that file" : "those files"}`,
      field: d.waiting?.field ?? (volume ?? missing[0]!).field,
    },
  };
}

const FIX: Record<ConfigRef["kind"], string> = {
  ConfigMap: "configMapKeyRef, configMapRef or a configMap volume",
  Secret: "secretKeyRef, secretRef or a secret volume",
};

/**
 * What `pod`'s references say, placed at the pod's document: a reference whose name is an
 * object of the other kind (an error), and why the pod waits (a warning: it starts once the
 * object is there), or with `gone` (objects it read that are gone, see `TranslationCache`),
 * that it keeps running with the data it had.
 */
export function referenceProblems(
  pod: DesiredPod,
  index: ObjectIndex,
  at: Position,
  gone: readonly string[] | false = false,
): Problem[] {
  const kept = gone !== false;
  const problems: Problem[] = [];
  const place = { file: pod.source, line: at.line, column: at.column };
  for (const r of pod.configRefs) {
    if (index.find(r.kind, pod.namespace, r.name)) continue;
    const other = r.kind === "ConfigMap" ? "Secret" : "ConfigMap";
    if (!index.find(other, pod.namespace, r.name)) continue;
    problems.push({
      ...place,
      severity: "error",
      field: r.field,
      message:
        `Fix the reference of pod "${pod.key}" to ${r.kind} "${r.name}": "${r.name}" is a ${other} in namespace "${pod.namespace}", not a ${r.kind}; reference it with ${
          FIX[other]
        }`,
    });
  }
  const wait = pod.waiting;
  if (wait) {
    const action = wait.action ? `: ${wait.action}` : "";
    problems.push({
      ...place,
      severity: "warning",
      field: wait.field,
      message: kept
        ? `Pod "${pod.key}" keeps running with the ConfigMap and Secret data it had: ${wait.message}${action}`
        : `Pod "${pod.key}" waits (${wait.reason}): ${wait.message}${action} (it starts as soon as this is fixed; what runs of it meanwhile keeps running as it is)`,
    });
  }
  if (kept && !wait && gone.length > 0) {
    problems.push({
      ...place,
      severity: "warning",
      field: "",
      message: `Pod "${pod.key}" keeps running with the ConfigMap and Secret data it had: ${
        gone.join(", ")
      } ${
        gone.length === 1 ? "is" : "are"
      } gone (it is not restarted; its env and files stay as they were)`,
    });
  }
  for (const w of pod.configWarnings) {
    problems.push({ ...place, severity: "warning", field: "", message: `Pod "${pod.key}": ${w}` });
  }
  return problems;
}
