/**
 * The one door to the container runtime: the subset of the Kubernetes CRI
 * (`runtime.v1`) that tinylet uses, in plain TypeScript types.
 *
 * Field names follow the wire messages in `proto/cri.proto`, camel-cased.
 * Production code talks to containerd through `grpc.ts`; tests use the
 * in-memory fake in `testing/fake_cri.ts`. Both implement {@linkcode Cri}. The usage
 * figures of the stats calls are typed in `stats.ts`, the names and labels both describe in
 * `metadata.ts`.
 *
 * @module
 */
import type {
  ContainerStats,
  ContainerStatsFilter,
  PodSandboxStats,
  PodSandboxStatsFilter,
} from "./stats.ts";
import type { ContainerMetadata, Labels, PodSandboxMetadata } from "./metadata.ts";

export type { ContainerMetadata, Labels, PodSandboxMetadata } from "./metadata.ts";

/** Per-call options: cancellation and an override of the default deadline. */
export interface CallOptions {
  signal?: AbortSignal;
  /** Deadline for this call in milliseconds. */
  timeoutMs?: number;
}

export interface VersionInfo {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

export interface RuntimeCondition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

export interface RuntimeStatus {
  conditions: RuntimeCondition[];
}

export type NamespaceMode = "POD" | "CONTAINER" | "NODE" | "TARGET";
export type Protocol = "TCP" | "UDP" | "SCTP";

export interface PortMapping {
  protocol?: Protocol;
  containerPort?: number;
  hostPort?: number;
  hostIp?: string;
}

export interface DnsConfig {
  servers?: string[];
  searches?: string[];
  options?: string[];
}

export interface NamespaceOption {
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
  targetId?: string;
}

export interface Int64Value {
  value: number;
}

export interface SecurityProfile {
  profileType?: "RuntimeDefault" | "Unconfined" | "Localhost";
  localhostRef?: string;
}

export interface LinuxSandboxSecurityContext {
  namespaceOptions?: NamespaceOption;
  runAsUser?: Int64Value;
  runAsGroup?: Int64Value;
  readonlyRootfs?: boolean;
  supplementalGroups?: number[];
  privileged?: boolean;
  seccomp?: SecurityProfile;
}

export interface LinuxContainerResources {
  cpuPeriod?: number;
  cpuQuota?: number;
  cpuShares?: number;
  memoryLimitInBytes?: number;
  oomScoreAdj?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  /** Raw cgroup v2 settings by file name, e.g. `{ "memory.oom.group": "1" }` (cgroup v2 hosts only). */
  unified?: Record<string, string>;
}

export interface LinuxPodSandboxConfig {
  cgroupParent?: string;
  securityContext?: LinuxSandboxSecurityContext;
  sysctls?: Labels;
  overhead?: LinuxContainerResources;
  resources?: LinuxContainerResources;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  logDirectory?: string;
  dnsConfig?: DnsConfig;
  portMappings?: PortMapping[];
  labels?: Labels;
  annotations?: Labels;
  linux?: LinuxPodSandboxConfig;
}

export type SandboxState = "SANDBOX_READY" | "SANDBOX_NOTREADY";

/** One entry of `ListPodSandbox`. */
export interface PodSandbox {
  id: string;
  metadata: PodSandboxMetadata;
  state: SandboxState;
  /** Nanoseconds since the epoch. */
  createdAt: number;
  labels: Labels;
  annotations: Labels;
  runtimeHandler: string;
}

export interface PodSandboxStatus {
  id: string;
  metadata: PodSandboxMetadata;
  state: SandboxState;
  createdAt: number;
  /** The pod's IP on the CNI network; empty for host-network pods. */
  ip: string;
  additionalIps: string[];
  labels: Labels;
  annotations: Labels;
}

export interface PodSandboxFilter {
  id?: string;
  state?: SandboxState;
  labelSelector?: Labels;
}

export interface KeyValue {
  key: string;
  value: string;
}

export type MountPropagation =
  | "PROPAGATION_PRIVATE"
  | "PROPAGATION_HOST_TO_CONTAINER"
  | "PROPAGATION_BIDIRECTIONAL";

export interface Mount {
  containerPath: string;
  hostPath: string;
  readonly?: boolean;
  selinuxRelabel?: boolean;
  propagation?: MountPropagation;
}

export interface Capability {
  addCapabilities?: string[];
  dropCapabilities?: string[];
}

export interface LinuxContainerSecurityContext {
  capabilities?: Capability;
  privileged?: boolean;
  namespaceOptions?: NamespaceOption;
  runAsUser?: Int64Value;
  runAsGroup?: Int64Value;
  runAsUsername?: string;
  readonlyRootfs?: boolean;
  supplementalGroups?: number[];
  noNewPrivs?: boolean;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  seccomp?: SecurityProfile;
}

export interface LinuxContainerConfig {
  resources?: LinuxContainerResources;
  securityContext?: LinuxContainerSecurityContext;
}

export interface ImageSpec {
  image: string;
  annotations?: Labels;
}

export interface ContainerConfig {
  metadata: ContainerMetadata;
  image: ImageSpec;
  command?: string[];
  args?: string[];
  workingDir?: string;
  envs?: KeyValue[];
  mounts?: Mount[];
  labels?: Labels;
  annotations?: Labels;
  /** Relative to the sandbox's log directory. */
  logPath?: string;
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  linux?: LinuxContainerConfig;
}

export type ContainerState =
  | "CONTAINER_CREATED"
  | "CONTAINER_RUNNING"
  | "CONTAINER_EXITED"
  | "CONTAINER_UNKNOWN";

/** One entry of `ListContainers`. */
export interface Container {
  id: string;
  podSandboxId: string;
  metadata: ContainerMetadata;
  image: ImageSpec;
  imageRef: string;
  state: ContainerState;
  createdAt: number;
  labels: Labels;
  annotations: Labels;
}

export interface ContainerStatus {
  id: string;
  metadata: ContainerMetadata;
  state: ContainerState;
  /** Nanoseconds since the epoch; 0 when not reached. */
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  image: ImageSpec;
  imageRef: string;
  reason: string;
  message: string;
  labels: Labels;
  annotations: Labels;
  mounts: Mount[];
  logPath: string;
}

export interface ContainerFilter {
  id?: string;
  state?: ContainerState;
  podSandboxId?: string;
  labelSelector?: Labels;
}

export interface ExecResult {
  stdout: Uint8Array;
  stderr: Uint8Array;
  exitCode: number;
}

export interface Image {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: number;
  /** The image's configured user, as a uid when numeric. */
  uid: Int64Value | null;
  username: string;
}

export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  serverAddress?: string;
  identityToken?: string;
  registryToken?: string;
}

export interface ImageFilter {
  image?: ImageSpec;
}

/**
 * The container runtime, as tinylet sees it. Every method rejects with a
 * {@linkcode CriError} (or one of its subclasses) when the runtime refuses.
 */
export interface Cri {
  version(opts?: CallOptions): Promise<VersionInfo>;
  status(opts?: CallOptions): Promise<RuntimeStatus>;

  runPodSandbox(config: PodSandboxConfig, opts?: CallOptions): Promise<string>;
  stopPodSandbox(id: string, opts?: CallOptions): Promise<void>;
  removePodSandbox(id: string, opts?: CallOptions): Promise<void>;
  podSandboxStatus(id: string, opts?: CallOptions): Promise<PodSandboxStatus>;
  listPodSandbox(
    filter?: PodSandboxFilter,
    opts?: CallOptions,
  ): Promise<PodSandbox[]>;

  createContainer(
    podSandboxId: string,
    config: ContainerConfig,
    sandboxConfig: PodSandboxConfig,
    opts?: CallOptions,
  ): Promise<string>;
  startContainer(id: string, opts?: CallOptions): Promise<void>;
  /** Sends SIGTERM, then SIGKILL after `timeoutSeconds` (0: at once). */
  stopContainer(
    id: string,
    timeoutSeconds: number,
    opts?: CallOptions,
  ): Promise<void>;
  removeContainer(id: string, opts?: CallOptions): Promise<void>;
  listContainers(
    filter?: ContainerFilter,
    opts?: CallOptions,
  ): Promise<Container[]>;
  containerStatus(id: string, opts?: CallOptions): Promise<ContainerStatus>;
  execSync(
    id: string,
    cmd: string[],
    timeoutSeconds: number,
    opts?: CallOptions,
  ): Promise<ExecResult>;
  reopenContainerLog(id: string, opts?: CallOptions): Promise<void>;

  /**
   * The usage of the running container `id`. containerd 1.6 refuses a container that does not
   * run (created, exited) with an `Other` error, "unexpected metrics response: []".
   */
  containerStats(id: string, opts?: CallOptions): Promise<ContainerStats>;
  /**
   * The usage of every container that passes `filter`, running or not; only the running ones
   * carry `cpu` and `memory`.
   */
  listContainerStats(
    filter?: ContainerStatsFilter,
    opts?: CallOptions,
  ): Promise<ContainerStats[]>;
  /**
   * The usage of the sandbox `id`: its pod's cgroup and its containers. containerd 1.6 reads the
   * cgroup at the sandbox's `cgroupParent`, and refuses a sandbox without one (an `Other`
   * error); a runtime without the method refuses with `Unimplemented`.
   */
  podSandboxStats(id: string, opts?: CallOptions): Promise<PodSandboxStats>;
  /**
   * The usage of every sandbox that passes `filter`, as {@linkcode Cri.podSandboxStats}; one
   * sandbox the runtime cannot measure fails the whole call.
   */
  listPodSandboxStats(
    filter?: PodSandboxStatsFilter,
    opts?: CallOptions,
  ): Promise<PodSandboxStats[]>;

  /** The image, or `null` when the runtime does not have it. */
  imageStatus(image: ImageSpec, opts?: CallOptions): Promise<Image | null>;
  /** Pulls the image and returns its reference (the image id). */
  pullImage(
    image: ImageSpec,
    auth?: AuthConfig,
    sandboxConfig?: PodSandboxConfig,
    opts?: CallOptions,
  ): Promise<string>;
  listImages(filter?: ImageFilter, opts?: CallOptions): Promise<Image[]>;

  /** Releases the connection. Calls after this reject. */
  close(): void;
}
