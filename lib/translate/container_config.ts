/**
 * The `CreateContainer` config of one container of a desired pod, as kubelet builds it: its
 * labels and annotations, environment with `$(VAR)` expansion, command and args, resources,
 * security context and mounts (its volumes and the managed `/etc/hosts`). Pure.
 *
 * @module
 */
import type {
  ContainerConfig,
  KeyValue,
  LinuxContainerResources,
  Mount,
  MountPropagation,
} from "../runtime/cri.ts";
import { KEYS, LABEL_INSTANCE, LABEL_MANAGED } from "../runtime/labels.ts";
import type { V1Container, VolumeMount } from "../manifest/types.ts";
import { cpuMillis, memoryBytes } from "../manifest/quantity.ts";
import { hostsFilePath } from "../node/paths.ts";
import { emptyDirPath, volumePath } from "../node/volumes.ts";
import { subPathTarget } from "../node/sub_path.ts";
import { expandVars } from "./expand.ts";
import { expandResolved } from "./config_env.ts";
import { podFieldValue } from "./pod_fields.ts";
import { containerSecurity } from "./security_context.ts";
import type { DesiredPod, RuntimeFacts } from "./desired_pod.ts";

/** kubelet's CPU shares: request (or the limit when no request) × 1024 / 1000, at least 2. */
export function cpuShares(milli: number): number {
  if (milli === 0) return 2;
  return Math.min(262144, Math.max(2, Math.floor((milli * 1024) / 1000)));
}

/** kubelet's CFS quota for a period of 100000 µs: limit × 100, at least 1000; 0 for no limit. */
export function cpuQuota(milli: number, period = 100_000): number {
  if (milli === 0) return 0;
  return Math.max(1000, Math.floor((milli * period) / 1000));
}

/**
 * kubelet's container resources. On a cgroup v2 host kubelet also sets `memory.oom.group` to
 * 1 in `unified` (since 1.28, unless `singleProcessOOMKill`, which tinylet does not offer), so
 * an OOM kill takes down the whole container, not one of its processes. Never on cgroup v1:
 * runc refuses `unified` there.
 */
function linuxResources(c: V1Container, cgroupV2: boolean): LinuxContainerResources {
  const req = c.resources?.requests ?? {};
  const lim = c.resources?.limits ?? {};
  const cpuLimit = lim.cpu === undefined ? 0 : cpuMillis(lim.cpu);
  const cpuRequest = req.cpu === undefined ? cpuLimit : cpuMillis(req.cpu);
  const out: LinuxContainerResources = {
    cpuShares: cpuShares(cpuRequest),
    cpuPeriod: 100_000,
    cpuQuota: cpuQuota(cpuLimit),
  };
  if (lim.memory !== undefined) out.memoryLimitInBytes = memoryBytes(lim.memory);
  if (cgroupV2) out.unified = { "memory.oom.group": "1" };
  return out;
}

/** The runtime's mount propagation for each `mountPropagation` of a volumeMount. */
const PROPAGATION: Record<string, MountPropagation> = {
  None: "PROPAGATION_PRIVATE",
  HostToContainer: "PROPAGATION_HOST_TO_CONTAINER",
  Bidirectional: "PROPAGATION_BIDIRECTIONAL",
};

/** The host path of volume `name` of `pod`. */
export function volumeBase(pod: DesiredPod, name: string): string {
  const v = pod.volumes.find((x) => x.name === name);
  return v ? volumePath(v, pod.podDir) : emptyDirPath(pod.podDir, name);
}

/**
 * The host path behind a container's `index`th volume mount: the volume, or
 * for a subPath the bind mount that pins it (as kubelet does).
 */
export function mountSource(
  pod: DesiredPod,
  container: string,
  m: VolumeMount,
  index: number,
): string {
  if (!m.subPath) return volumeBase(pod, m.name);
  return subPathTarget(pod.podDir, m.name, container, index);
}

function mountsOf(pod: DesiredPod, c: V1Container): Mount[] {
  // kubelet mounts configMap, secret and projected volumes read-only, whatever the mount says.
  const config = new Set(pod.volumes.filter((v) => v.config).map((v) => v.name));
  const mounts: Mount[] = (c.volumeMounts ?? []).map((m, i) => ({
    containerPath: m.mountPath,
    hostPath: mountSource(pod, c.name, m, i),
    readonly: config.has(m.name) || (m.readOnly ?? false),
    selinuxRelabel: false,
    propagation: PROPAGATION[m.mountPropagation ?? "None"] ?? "PROPAGATION_PRIVATE",
  }));
  if (!mounts.some((m) => m.containerPath === "/etc/hosts")) {
    mounts.push({
      containerPath: "/etc/hosts",
      hostPath: hostsFilePath(pod.podDir),
      readonly: false,
      selinuxRelabel: false,
      propagation: "PROPAGATION_PRIVATE",
    });
  }
  return mounts;
}

/** A field reference's value: the node's and the runtime's fields, else the downward API's. */
function fieldRefValue(pod: DesiredPod, path: string, facts: RuntimeFacts): string {
  switch (path) {
    case "spec.nodeName":
      return pod.nodeName;
    case "status.podIP":
      return facts.podIPs[0] ?? "";
  }
  const { name, namespace, uid, pod: { metadata } } = pod;
  const field = podFieldValue({
    name,
    namespace,
    uid,
    labels: metadata.labels ?? {},
    annotations: metadata.annotations ?? {},
  }, path);
  return field.ok ? field.value : "";
}

/**
 * The environment of a container: its `envFrom` and `env` assignments as translated (values
 * from ConfigMaps and Secrets already read), field references filled in, explicit values
 * `$(VAR)` expanded in order; values read from objects and fields are taken literally.
 */
export function containerEnv(pod: DesiredPod, name: string, facts: RuntimeFacts): KeyValue[] {
  const d = pod.containers.find((x) => x.name === name);
  if (!d) throw new Error(`Pod ${pod.key} has no container "${name}"`);
  return expandResolved(d.env, (path) => fieldRefValue(pod, path, facts))
    .map((e) => ({ key: e.name, value: e.value }));
}

/** The `CreateContainer` config of container `name` in its sandbox's attempt, as kubelet builds it. */
export function buildContainerConfig(
  pod: DesiredPod,
  name: string,
  facts: RuntimeFacts,
  restartCount = 0,
): ContainerConfig {
  const d = pod.containers.find((x) => x.name === name);
  if (!d) throw new Error(`Pod ${pod.key} has no container "${name}"`);
  const c = d.spec;
  const envs = containerEnv(pod, name, facts);
  const vars = new Map(envs.map((e) => [e.key, e.value]));
  const lookup = (v: string) => vars.get(v);
  const identity = {
    [LABEL_MANAGED]: "true",
    [LABEL_INSTANCE]: pod.sandbox.labels?.[LABEL_INSTANCE] ?? "",
    [KEYS.podName]: pod.name,
    [KEYS.podNamespace]: pod.namespace,
    [KEYS.podUid]: pod.uid,
  };
  const config: ContainerConfig = {
    metadata: { name, attempt: restartCount },
    image: { image: c.image },
    logPath: `${name}/${restartCount}.log`,
    labels: { ...identity, [KEYS.containerName]: name },
    annotations: {
      [KEYS.containerHash]: d.hash,
      [KEYS.restartCount]: String(restartCount),
      [KEYS.gracePeriod]: String(pod.gracePeriodSeconds),
      [KEYS.containerType]: d.type,
    },
    envs,
    mounts: mountsOf(pod, c),
    stdin: c.stdin ?? false,
    stdinOnce: c.stdinOnce ?? false,
    tty: c.tty ?? false,
    linux: {
      resources: linuxResources(c, pod.cgroupV2),
      securityContext: containerSecurity(pod.pod, c),
    },
  };
  if (c.command) config.command = c.command.map((s) => expandVars(s, lookup));
  if (c.args) config.args = c.args.map((s) => expandVars(s, lookup));
  if (c.workingDir) config.workingDir = c.workingDir;
  return config;
}
