/**
 * A pod's ConfigMaps and Secrets: which objects it references (its containers' `env` and
 * `envFrom`, its `configMap`, `secret` and `projected` volumes), its containers' env resolved
 * from them, and its config volumes' content. What a pod cannot start without (a missing
 * object or key that is not optional) is a wait, with kubelet's reason and message:
 * `CreateContainerConfigError` for env, `FailedMount` for a volume.
 *
 * @module
 */
import type { Pod } from "../manifest/pod.ts";
import type { V1Container, V1Volume } from "../manifest/types.ts";
import type { ConfigLookup } from "./config_lookup.ts";
import { type EnvEntry, type EnvSpec, referencedEnvHash, resolveEnv } from "./config_env.ts";
import {
  type PodFacts,
  volumePayload,
  volumeReferences,
  type VolumeSource as ConfigVolumeSource,
} from "./config_volumes.ts";
import type { Payload } from "../node/atomic_writer.ts";

/** One reference of a pod to a ConfigMap or Secret, with the field that makes it. */
export interface ConfigRef {
  kind: "ConfigMap" | "Secret";
  name: string;
  optional: boolean;
  /** e.g. `spec.containers[0].env[1].valueFrom.configMapKeyRef`, `spec.volumes[2].secret`. */
  field: string;
}

/** Why a pod cannot start now; kubelet's reason and message. */
export interface ConfigWait {
  reason: "CreateContainerConfigError" | "FailedMount";
  message: string;
  /** The field at fault, as in {@linkcode ConfigRef.field}. */
  field: string;
  /** The container whose env failed (CreateContainerConfigError). */
  container?: string;
  /** The volume that cannot be set up (FailedMount). */
  volume?: string;
  /** What to do, when the message does not say it. */
  action?: string;
}

/** The containers of a pod with where they are in the spec, init containers first. */
function containersOf(pod: Pod): { c: V1Container; at: string }[] {
  return [
    ...(pod.spec.initContainers ?? []).map((c, i) => ({ c, at: `spec.initContainers[${i}]` })),
    ...pod.spec.containers.map((c, i) => ({ c, at: `spec.containers[${i}]` })),
  ];
}

/** The container's env fields as config_env reads them. */
function envSpec(c: V1Container): EnvSpec {
  return c as unknown as EnvSpec;
}

const SERVED_PROJECTIONS = new Set(["configMap", "secret", "downwardAPI"]);

/**
 * The volume's config source, or undefined for other kinds (hostPath, emptyDir), and for a
 * projected volume with a source tinylet cannot serve.
 */
export function configVolumeSource(v: V1Volume): ConfigVolumeSource | undefined {
  const r = v as Record<string, unknown>;
  if (r.configMap != null) return { configMap: r.configMap } as ConfigVolumeSource;
  if (r.secret != null) return { secret: r.secret } as ConfigVolumeSource;
  if (r.projected != null) {
    // One with a source only a cluster fills (it passed the checks unmounted) is ignored.
    const sources = (r.projected as { sources?: unknown[] }).sources ?? [];
    const served = sources.every((s) =>
      typeof s === "object" && s !== null &&
      Object.entries(s).every(([k, v]) => v == null || SERVED_PROJECTIONS.has(k))
    );
    return served ? { projected: r.projected } as ConfigVolumeSource : undefined;
  }
  return undefined;
}

/** The directory of kubelet's plugin for a config volume source, under a pod's `volumes/`. */
export function configVolumePlugin(source: ConfigVolumeSource): string {
  if ("configMap" in source) return "kubernetes.io~configmap";
  if ("secret" in source) return "kubernetes.io~secret";
  return "kubernetes.io~projected";
}

/** True when some container reads env from a ConfigMap or Secret (its hash then covers it). */
export function hasEnvReferences(pod: Pod): boolean {
  return containersOf(pod).some(({ c }) => {
    const spec = envSpec(c);
    return (spec.envFrom ?? []).length > 0 ||
      (spec.env ?? []).some((e) =>
        e.valueFrom?.configMapKeyRef != null || e.valueFrom?.secretKeyRef != null
      );
  });
}

/** Every ConfigMap and Secret the pod references, in spec order. */
export function podConfigRefs(pod: Pod): ConfigRef[] {
  const refs: ConfigRef[] = [];
  for (const { c, at } of containersOf(pod)) {
    const spec = envSpec(c);
    for (const [i, from] of (spec.envFrom ?? []).entries()) {
      if (from.configMapRef) {
        const { name, optional } = from.configMapRef;
        refs.push({
          kind: "ConfigMap",
          name,
          optional: optional === true,
          field: `${at}.envFrom[${i}].configMapRef`,
        });
      }
      if (from.secretRef) {
        const { name, optional } = from.secretRef;
        refs.push({
          kind: "Secret",
          name,
          optional: optional === true,
          field: `${at}.envFrom[${i}].secretRef`,
        });
      }
    }
    for (const [i, e] of (spec.env ?? []).entries()) {
      const cm = e.valueFrom?.configMapKeyRef;
      const sec = e.valueFrom?.secretKeyRef;
      if (cm) {
        refs.push({
          kind: "ConfigMap",
          name: cm.name,
          optional: cm.optional === true,
          field: `${at}.env[${i}].valueFrom.configMapKeyRef`,
        });
      }
      if (sec) {
        refs.push({
          kind: "Secret",
          name: sec.name,
          optional: sec.optional === true,
          field: `${at}.env[${i}].valueFrom.secretKeyRef`,
        });
      }
    }
  }
  for (const [i, v] of (pod.spec.volumes ?? []).entries()) {
    const source = configVolumeSource(v);
    if (!source) continue;
    const kind = Object.keys(source)[0]!;
    for (const ref of volumeReferences(source)) {
      refs.push({ ...ref, field: `spec.volumes[${i}].${kind}` });
    }
  }
  return refs;
}

/** The containers' env resolved, or the first container that cannot get its env. */
export type PodEnv =
  | { ok: true; env: Map<string, EnvEntry[]>; warnings: string[]; hash: string }
  | { ok: false; wait: ConfigWait };

/**
 * Resolves every container's env through `lookup`, stopping at the first that fails (kubelet
 * fails that container's creation with `CreateContainerConfigError`). `hash` covers every
 * value read from a ConfigMap or Secret, so a change to one of them changes it.
 */
export async function resolvePodEnv(pod: Pod, lookup: ConfigLookup): Promise<PodEnv> {
  const namespace = pod.metadata.namespace ?? "default";
  const env = new Map<string, EnvEntry[]>();
  const warnings: string[] = [];
  for (const { c, at } of containersOf(pod)) {
    // envFrom names are judged by the classic rule (IsEnvVarName, as kubelet did until 1.30):
    // a name a shell cannot use, such as one starting with a digit, is skipped and said.
    const r = resolveEnv(namespace, envSpec(c), lookup, { names: "strict" });
    if (!r.ok) {
      return {
        ok: false,
        wait: {
          reason: r.reason,
          message: r.message,
          field: `${at}.${r.field}`,
          container: c.name,
          action: r.action,
        },
      };
    }
    env.set(c.name, r.env);
    warnings.push(...r.warnings.map((w) => `Container ${c.name}: ${w}`));
  }
  const hash = await referencedEnvHash([...env].map(([container, e]) => ({ container, env: e })));
  return { ok: true, env, warnings, hash };
}

/** A config volume's content and medium. */
export interface ConfigVolumeContent {
  name: string;
  /** `kubernetes.io~configmap`, `kubernetes.io~secret` or `kubernetes.io~projected`. */
  plugin: string;
  /** On a tmpfs (every secret and projected volume, as kubelet mounts them). */
  memory: boolean;
  payload: Payload;
}

/** The pod's config volumes' content, or the first volume that cannot be set up. */
export type PodVolumes =
  | { ok: true; volumes: ConfigVolumeContent[] }
  | { ok: false; wait: ConfigWait };

/** The content of every config volume of `pod` (whose facts are `facts`) through `lookup`. */
export function resolvePodVolumes(pod: Pod, facts: PodFacts, lookup: ConfigLookup): PodVolumes {
  const volumes: ConfigVolumeContent[] = [];
  for (const [i, v] of (pod.spec.volumes ?? []).entries()) {
    const source = configVolumeSource(v);
    if (!source) continue;
    const r = volumePayload(facts, source, lookup);
    if (!r.ok) {
      return {
        ok: false,
        wait: {
          reason: "FailedMount",
          // kubelet's event: `MountVolume.SetUp failed for volume "NAME" : MESSAGE`.
          message: `MountVolume.SetUp failed for volume "${v.name}" : ${r.message}`,
          field: `spec.volumes[${i}].${Object.keys(source)[0]}`,
          volume: v.name,
        },
      };
    }
    volumes.push({
      name: v.name,
      plugin: configVolumePlugin(source),
      memory: r.memory,
      payload: r.payload,
    });
  }
  return { ok: true, volumes };
}
