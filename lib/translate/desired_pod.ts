/**
 * A `v1` Pod, translated into the pod tinylet should be running: its identity, state
 * directory, volumes, restart policy, the sandbox config and one entry per container with
 * its type, hash and pull policy. Pure: host facts (resolv.conf, the cgroup mode, the node
 * name) come in as options; the container configs are built from it per attempt
 * (`container_config.ts`).
 *
 * @module
 */
import type { PodSandboxConfig } from "../runtime/cri.ts";
import type { PullPolicy, V1Container } from "../manifest/types.ts";
import {
  containerHash,
  DEFAULT_GRACE_PERIOD_SECONDS,
  DEFAULT_NAMESPACE,
  type Pod,
  podKey,
  podUid,
  specHash,
} from "../manifest/pod.ts";
import { memoryBytes } from "../manifest/quantity.ts";
import { podStateDir } from "../node/paths.ts";
import type { VolumeSource } from "../node/volumes.ts";
import type { ResolvConf } from "./dns.ts";
import type { ConfigLookup } from "./config_lookup.ts";
import type { EnvEntry } from "./config_env.ts";
import {
  type ConfigRef,
  configVolumePlugin,
  configVolumeSource,
  type ConfigWait,
  hasEnvReferences,
  podConfigRefs,
  resolvePodEnv,
  resolvePodVolumes,
} from "./pod_config.ts";
import { buildSandboxConfig, podDns } from "./sandbox_config.ts";
import { effectiveSecurity } from "./security_context.ts";

/** Agent settings and host facts the translation depends on. */
export interface TranslateOptions {
  instance: string;
  podLogRoot: string;
  /** The agent's state root (`--root`). */
  root: string;
  nodeName: string;
  /** The host's resolv.conf, for pods without cluster DNS. */
  hostDns: ResolvConf;
  /**
   * Whether the host runs cgroup v2 (the unified hierarchy mounted at /sys/fs/cgroup), as
   * kubelet's `IsCgroup2UnifiedMode`; absent means cgroup v1 (a hybrid host is v1).
   */
  cgroupV2?: boolean;
}

/** Finds nothing: a pod translated without ConfigMaps and Secrets. */
const NO_OBJECTS: ConfigLookup = {
  configMap: () => undefined,
  secret: () => undefined,
};

/** How a container takes part in the pod's life. */
export type ContainerType = "init" | "sidecar" | "regular";

/** kubelet's default pull policy: `Always` for `:latest` or no tag, else `IfNotPresent`. */
export function defaultPullPolicy(image: string): PullPolicy {
  if (image.includes("@")) return "IfNotPresent";
  const last = image.slice(image.lastIndexOf("/") + 1);
  const colon = last.lastIndexOf(":");
  if (colon < 0) return "Always";
  return last.slice(colon + 1) === "latest" ? "Always" : "IfNotPresent";
}

/** One container as the runtime will be asked to run it. */
export interface DesiredContainer {
  name: string;
  image: string;
  hash: string;
  type: ContainerType;
  pullPolicy: PullPolicy;
  spec: V1Container;
  /** The effective runAsNonRoot and runAsUser, checked against the image's user at creation. */
  runAsNonRoot: boolean;
  runAsUser: number | undefined;
  /**
   * Its env assignments, values from ConfigMaps and Secrets read (empty while the pod waits
   * for them); `container_config.ts` expands them per attempt. Never shown: they may hold
   * Secret values.
   */
  env: EnvEntry[];
}

/** A pod tinylet should be running. */
export interface DesiredPod {
  key: string;
  namespace: string;
  name: string;
  uid: string;
  hash: string;
  /**
   * For a pod whose env reads ConfigMaps or Secrets: the hex SHA-256 of the values it reads
   * (`tinylet/env-hash` on its sandbox). A running sandbox with another one is replaced, as
   * for a changed spec hash; the spec hash and UID stay.
   */
  envHash?: string;
  /** Absolute path of the manifest file. */
  source: string;
  pod: Pod;
  nodeName: string;
  gracePeriodSeconds: number;
  hostNetwork: boolean;
  /** `<root>/pods/<uid>`: volumes and the managed hosts file live here. */
  podDir: string;
  volumes: VolumeSource[];
  hostAliases: { ip: string; hostnames: string[] }[];
  /** `Always` (the default), `OnFailure` or `Never`. */
  restartPolicy: "Always" | "OnFailure" | "Never";
  /** The sandbox config, for attempt 0. */
  sandbox: PodSandboxConfig;
  /** Init containers and sidecars first, in order, then the regular containers. */
  containers: DesiredContainer[];
  /** Problems found while translating (e.g. DNS entries over kubelet's limits). */
  warnings: string[];
  /** Whether the containers are built for a cgroup v2 host (see {@linkcode TranslateOptions}). */
  cgroupV2: boolean;
  /**
   * Why no sandbox can be created for this pod now (the host's resolv.conf is refused); set
   * only then. A sandbox that runs is kept, but {@linkcode sandboxForAttempt} throws, so no
   * sandbox or container is created until the cause is fixed, as in kubelet.
   */
  sandboxError?: string;
  /** The ConfigMaps and Secrets the pod references, in spec order. */
  configRefs: ConfigRef[];
  /**
   * Why the pod cannot start now: a ConfigMap, Secret or key it needs is missing. Set only
   * then; nothing of the pod is created, and what runs of it is kept, until it is resolved.
   */
  waiting?: ConfigWait;
  /** Warnings about its env (names `envFrom` skips); they name keys, never values. */
  configWarnings: string[];
  /**
   * Set when the pod is held: objects it reads are missing while a file the agent cannot read
   * may declare them (`optionalOnly`: every one missing is optional). See `config_index.ts`.
   */
  held?: { optionalOnly: boolean };
  /**
   * Set when the pod runs its last good spec again because a replacement failed within its
   * rollback window: the cause, and the hash of the spec that failed (not run again until the
   * file's content changes).
   */
  rolledBack?: {
    cause: string;
    from: string;
    at: string;
    /** The hash of the last good spec it runs (its images pinned, the pod's own hash differs). */
    good: string;
    /**
     * Set when new images of the last good spec failed (an auto-update): each as the spec
     * names it with the id that failed, by container. The pod runs its last good images,
     * pinned, until a tag names another image or the file changes.
     */
    images?: Readonly<Record<string, { image: string; id: string }>>;
  };
  /**
   * Set when the pod runs on with the ConfigMap and Secret data it had, because an object it
   * read is gone or cannot be read: what happened, for its status.
   */
  kept?: string;
}

/** The sandbox config of a pod cannot be formed; nothing of it is created. */
export class SandboxConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SandboxConfigError";
  }
}

/** What only exists once the sandbox runs. */
export interface RuntimeFacts {
  podIPs: string[];
  attempt: number;
}

/**
 * Translates `pod` from `source` into what the runtime runs, its ConfigMaps and Secrets
 * read through `lookup` (none by default).
 */
export async function translatePod(
  pod: Pod,
  source: string,
  options: TranslateOptions,
  lookup: ConfigLookup = NO_OBJECTS,
): Promise<DesiredPod> {
  const s = pod.spec;
  const name = pod.metadata.name;
  const namespace = pod.metadata.namespace ?? DEFAULT_NAMESPACE;
  const hash = await specHash(pod);
  const env = await resolvePodEnv(pod, lookup);
  const envHash = env.ok && hasEnvReferences(pod) ? env.hash : undefined;
  const uid = await podUid(namespace, name, hash);
  const configVolumes = resolvePodVolumes(pod, {
    name,
    namespace,
    uid,
    labels: pod.metadata.labels ?? {},
    annotations: pod.metadata.annotations ?? {},
  }, lookup);
  // kubelet mounts a pod's volumes before it builds any container's env: a volume that cannot
  // be set up is what the pod waits for first.
  const waiting: ConfigWait | undefined = !configVolumes.ok
    ? configVolumes.wait
    : env.ok
    ? undefined
    : env.wait;
  const contents = new Map(
    configVolumes.ok ? configVolumes.volumes.map((v) => [v.name, v] as const) : [],
  );
  const gracePeriodSeconds = s.terminationGracePeriodSeconds ?? DEFAULT_GRACE_PERIOD_SECONDS;
  const hostNetwork = s.hostNetwork ?? false;
  const dns = podDns(pod, options.hostDns);
  const warnings = [...dns.warnings];
  const sandbox = buildSandboxConfig(
    pod,
    { name, namespace, uid, hash, source, ...(envHash !== undefined ? { envHash } : {}) },
    options,
    dns.config,
  );
  const containers: DesiredContainer[] = [];
  const typed = [
    ...(s.initContainers ?? []).map((c) =>
      [c, c.restartPolicy === "Always" ? "sidecar" : "init"] as const
    ),
    ...s.containers.map((c) => [c, "regular"] as const),
  ];
  for (const [c, type] of typed) {
    const sc = effectiveSecurity(pod, c);
    containers.push({
      name: c.name,
      image: c.image,
      hash: await containerHash(c),
      type,
      pullPolicy: c.imagePullPolicy ?? defaultPullPolicy(c.image),
      spec: c,
      runAsNonRoot: sc.runAsNonRoot ?? false,
      runAsUser: sc.runAsUser,
      env: env.ok ? env.env.get(c.name) ?? [] : [],
    });
  }
  const volumes: VolumeSource[] = (s.volumes ?? [])
    .filter((v) => v.hostPath || v.emptyDir || configVolumeSource(v))
    .map((v) => {
      const out: VolumeSource = { name: v.name };
      const config = configVolumeSource(v);
      if (config) {
        const content = contents.get(v.name);
        out.config = {
          plugin: configVolumePlugin(config),
          memory: !("configMap" in config),
          ...(content ? { payload: content.payload } : {}),
        };
      } else if (v.hostPath) {
        out.hostPath = v.hostPath.type !== undefined
          ? { path: v.hostPath.path, type: v.hostPath.type }
          : { path: v.hostPath.path };
      } else if (v.emptyDir) {
        out.emptyDir = {};
        if (v.emptyDir.medium !== undefined) out.emptyDir.medium = v.emptyDir.medium;
        if (v.emptyDir.sizeLimit !== undefined) {
          out.emptyDir.sizeLimitBytes = memoryBytes(v.emptyDir.sizeLimit);
        }
      }
      return out;
    });
  return {
    key: podKey(namespace, name),
    namespace,
    name,
    uid,
    hash,
    ...(envHash !== undefined ? { envHash } : {}),
    source,
    pod,
    // Static pods run on this node: kubelet sets spec.nodeName to its own name.
    nodeName: options.nodeName,
    gracePeriodSeconds,
    hostNetwork,
    restartPolicy: s.restartPolicy ?? "Always",
    podDir: podStateDir(options.root, uid),
    volumes,
    hostAliases: (s.hostAliases ?? []).map((a) => ({
      ip: a.ip,
      hostnames: [...(a.hostnames ?? [])],
    })),
    sandbox,
    containers,
    warnings,
    cgroupV2: options.cgroupV2 ?? false,
    ...(dns.error !== undefined ? { sandboxError: dns.error } : {}),
    configRefs: podConfigRefs(pod),
    ...(waiting ? { waiting } : {}),
    configWarnings: env.ok ? env.warnings : [],
  };
}

/**
 * The sandbox config for a given attempt, for `RunPodSandbox` and `CreateContainer`. Throws a
 * {@linkcode SandboxConfigError} when it cannot be formed (see `DesiredPod.sandboxError`).
 */
export function sandboxForAttempt(pod: DesiredPod, attempt: number): PodSandboxConfig {
  if (pod.sandboxError !== undefined) throw new SandboxConfigError(pod.sandboxError);
  return { ...pod.sandbox, metadata: { ...pod.sandbox.metadata, attempt } };
}
