/**
 * A `v1` Pod, translated into what tinylet asks of the runtime, as kubelet
 * translates it: the sandbox config and one container config per container,
 * with the contract's labels and annotations. Pure: host facts (resolv.conf,
 * the cgroup mode, the node name, the pod IP) come in as arguments.
 *
 * @module
 */
import type {
  ContainerConfig,
  KeyValue,
  LinuxContainerResources,
  LinuxContainerSecurityContext,
  Mount,
  MountPropagation,
  NamespaceOption,
  PodSandboxConfig,
  PortMapping,
  SecurityProfile,
} from "../runtime/cri.ts";
import { KEYS, LABEL_INSTANCE, LABEL_MANAGED } from "../runtime/labels.ts";
import type { PullPolicy } from "../manifest/types.ts";
import { hostsFilePath, podLogDirectory, podStateDir } from "../node/paths.ts";
import { podDnsConfig, type ResolvConf } from "./dns.ts";
import { expandEnv, expandVars } from "./expand.ts";
import {
  containerHash,
  DEFAULT_GRACE_PERIOD_SECONDS,
  DEFAULT_NAMESPACE,
  type Pod,
  podKey,
  podUid,
  specHash,
} from "../manifest/pod.ts";
import type {
  ContainerSecurityContext,
  SeccompProfile,
  V1Container,
  VolumeMount,
} from "../manifest/types.ts";
import { cpuMillis, memoryBytes } from "../manifest/quantity.ts";
import { emptyDirPath, type VolumeSource } from "../node/volumes.ts";
import { subPathTarget } from "../node/sub_path.ts";

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
}

/** A pod tinylet should be running. */
export interface DesiredPod {
  key: string;
  namespace: string;
  name: string;
  uid: string;
  hash: string;
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

/** kubelet's default masked and read-only paths (the runtime ignores them for privileged containers). */
export const DEFAULT_MASKED_PATHS = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];
export const DEFAULT_READONLY_PATHS = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

/** kubelet's hostname rule: at most 63 characters, no trailing '-' or '.'. */
function hostnameOf(name: string): string {
  return name.slice(0, 63).replace(/[-.]+$/, "");
}

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

function seccompOf(p: SeccompProfile | undefined): SecurityProfile | undefined {
  if (!p) return undefined;
  return p.type === "Localhost"
    ? { profileType: "Localhost", localhostRef: p.localhostProfile ?? "" }
    : { profileType: p.type };
}

function namespaceOptions(pod: Pod): NamespaceOption {
  const s = pod.spec;
  return {
    network: s.hostNetwork ? "NODE" : "POD",
    pid: s.hostPID ? "NODE" : s.shareProcessNamespace ? "POD" : "CONTAINER",
    ipc: s.hostIPC ? "NODE" : "POD",
  };
}

/** The container's security context over the pod's, as kubelet merges them. */
function effectiveSecurity(pod: Pod, c: V1Container): ContainerSecurityContext {
  const p = pod.spec.securityContext ?? {};
  const own = c.securityContext ?? {};
  const merged: ContainerSecurityContext = { ...own };
  if (merged.runAsUser === undefined && p.runAsUser !== undefined) merged.runAsUser = p.runAsUser;
  if (merged.runAsGroup === undefined && p.runAsGroup !== undefined) {
    merged.runAsGroup = p.runAsGroup;
  }
  if (merged.runAsNonRoot === undefined && p.runAsNonRoot !== undefined) {
    merged.runAsNonRoot = p.runAsNonRoot;
  }
  if (merged.seccompProfile === undefined && p.seccompProfile !== undefined) {
    merged.seccompProfile = p.seccompProfile;
  }
  return merged;
}

function containerSecurity(pod: Pod, c: V1Container): LinuxContainerSecurityContext {
  const sc = effectiveSecurity(pod, c);
  const out: LinuxContainerSecurityContext = {
    privileged: sc.privileged ?? false,
    namespaceOptions: namespaceOptions(pod),
    readonlyRootfs: sc.readOnlyRootFilesystem ?? false,
    // kubelet sets no_new_privs only when allowPrivilegeEscalation is explicitly false.
    noNewPrivs: sc.allowPrivilegeEscalation === false,
  };
  if (sc.capabilities) {
    out.capabilities = {
      addCapabilities: [...(sc.capabilities.add ?? [])],
      dropCapabilities: [...(sc.capabilities.drop ?? [])],
    };
  }
  if (sc.runAsUser !== undefined) out.runAsUser = { value: sc.runAsUser };
  if (sc.runAsGroup !== undefined) out.runAsGroup = { value: sc.runAsGroup };
  const groups = pod.spec.securityContext?.supplementalGroups;
  if (groups?.length) out.supplementalGroups = [...groups];
  // kubelet: Unconfined unless a profile is set (its SeccompDefault gate is off by default).
  out.seccomp = seccompOf(sc.seccompProfile) ?? { profileType: "Unconfined" };
  // Sent for privileged containers too, as kubelet does; the runtime drops them for those.
  out.maskedPaths = [...DEFAULT_MASKED_PATHS];
  out.readonlyPaths = [...DEFAULT_READONLY_PATHS];
  return out;
}

const PROPAGATION: Record<string, MountPropagation> = {
  None: "PROPAGATION_PRIVATE",
  HostToContainer: "PROPAGATION_HOST_TO_CONTAINER",
  Bidirectional: "PROPAGATION_BIDIRECTIONAL",
};

/** The host path of volume `name` of `pod`. */
export function volumeBase(pod: DesiredPod, name: string): string {
  const v = pod.volumes.find((x) => x.name === name);
  return v?.hostPath ? v.hostPath.path : emptyDirPath(pod.podDir, name);
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
  const mounts: Mount[] = (c.volumeMounts ?? []).map((m, i) => ({
    containerPath: m.mountPath,
    hostPath: mountSource(pod, c.name, m, i),
    readonly: m.readOnly ?? false,
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

function fieldRefValue(pod: DesiredPod, path: string, facts: RuntimeFacts): string {
  switch (path) {
    case "metadata.name":
      return pod.name;
    case "metadata.namespace":
      return pod.namespace;
    case "metadata.uid":
      return pod.uid;
    case "spec.nodeName":
      return pod.nodeName;
    case "status.podIP":
      return facts.podIPs[0] ?? "";
    default:
      return "";
  }
}

/** The environment of a container: values and field references, `$(VAR)` expanded in order. */
export function containerEnv(pod: DesiredPod, c: V1Container, facts: RuntimeFacts): KeyValue[] {
  const raw = (c.env ?? []).map((e) => ({
    name: e.name,
    value: e.valueFrom?.fieldRef
      ? fieldRefValue(pod, e.valueFrom.fieldRef.fieldPath, facts)
      : e.value ?? "",
    // Field references are taken literally, never expanded.
    literal: e.valueFrom?.fieldRef !== undefined,
  }));
  const expanded = expandEnv(
    raw.map((e) => ({ name: e.name, value: e.literal ? e.value.replaceAll("$", "$$") : e.value })),
  );
  return expanded.map((e) => ({ key: e.name, value: e.value }));
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
  const envs = containerEnv(pod, c, facts);
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

/** kubelet's port mappings: the regular containers' ports (a host-network pod's host port is its container port). */
function portMappings(pod: Pod): PortMapping[] {
  const out: PortMapping[] = [];
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? []) {
      const m: PortMapping = {
        protocol: p.protocol ?? "TCP",
        containerPort: p.containerPort,
        hostPort: p.hostPort ?? (pod.spec.hostNetwork ? p.containerPort : 0),
      };
      if (p.hostIP) m.hostIp = p.hostIP;
      out.push(m);
    }
  }
  return out;
}

function dnsOf(pod: Pod, hostDns: ResolvConf): ReturnType<typeof podDnsConfig> {
  const s = pod.spec;
  const input: Parameters<typeof podDnsConfig>[0] = { hostNetwork: s.hostNetwork ?? false };
  if (s.dnsPolicy !== undefined) input.dnsPolicy = s.dnsPolicy;
  if (s.dnsConfig !== undefined) input.dnsConfig = s.dnsConfig;
  return podDnsConfig(input, hostDns);
}

/** Translates `pod` from `source` into what the runtime runs. */
export async function translatePod(
  pod: Pod,
  source: string,
  options: TranslateOptions,
): Promise<DesiredPod> {
  const s = pod.spec;
  const name = pod.metadata.name;
  const namespace = pod.metadata.namespace ?? DEFAULT_NAMESPACE;
  const hash = await specHash(pod);
  const uid = await podUid(namespace, name, hash);
  const gracePeriodSeconds = s.terminationGracePeriodSeconds ?? DEFAULT_GRACE_PERIOD_SECONDS;
  const hostNetwork = s.hostNetwork ?? false;
  const dns = dnsOf(pod, options.hostDns);
  const warnings = [...dns.warnings];
  const identity = {
    [LABEL_MANAGED]: "true",
    [LABEL_INSTANCE]: options.instance,
    [KEYS.podName]: name,
    [KEYS.podNamespace]: namespace,
    [KEYS.podUid]: uid,
  };
  const podSc = s.securityContext;
  const all = [...(s.initContainers ?? []), ...s.containers];
  const anyPrivileged = all.some((c) => c.securityContext?.privileged === true);
  const sysctls: Record<string, string> = {};
  for (const x of podSc?.sysctls ?? []) sysctls[x.name] = x.value;
  const sandbox: PodSandboxConfig = {
    metadata: { name, namespace, uid, attempt: 0 },
    logDirectory: podLogDirectory(options.podLogRoot, namespace, name, uid),
    dnsConfig: dns.config,
    portMappings: portMappings(pod),
    labels: { ...pod.metadata.labels, ...identity },
    annotations: {
      ...pod.metadata.annotations,
      [KEYS.specHash]: hash,
      [KEYS.source]: source,
      [KEYS.configSource]: "file",
    },
    linux: {
      cgroupParent: "",
      securityContext: {
        namespaceOptions: namespaceOptions(pod),
        readonlyRootfs: false,
        privileged: anyPrivileged,
        ...(podSc?.runAsUser !== undefined ? { runAsUser: { value: podSc.runAsUser } } : {}),
        ...(podSc?.runAsGroup !== undefined ? { runAsGroup: { value: podSc.runAsGroup } } : {}),
        ...(podSc?.supplementalGroups?.length
          ? { supplementalGroups: [...podSc.supplementalGroups] }
          : {}),
        // kubelet always runs the sandbox (pause) container under the runtime's default profile.
        seccomp: { profileType: "RuntimeDefault" },
      },
      sysctls,
    },
  };
  if (!hostNetwork) sandbox.hostname = hostnameOf(s.hostname ?? name);
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
    });
  }
  const volumes: VolumeSource[] = (s.volumes ?? [])
    .filter((v) => v.hostPath || v.emptyDir)
    .map((v) => {
      const out: VolumeSource = { name: v.name };
      if (v.hostPath) {
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
