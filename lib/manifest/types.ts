/**
 * The parts of the Kubernetes `v1` Pod that tinylet reads, as TypeScript
 * types. A manifest checked by `pod_document.ts` has these shapes.
 *
 * @module
 */

export interface ObjectFieldSelector {
  fieldPath: string;
  apiVersion?: string;
}

/** A reference to one key of a ConfigMap or Secret (`configMapKeyRef`, `secretKeyRef`). */
export interface KeySelector {
  name: string;
  key: string;
  optional?: boolean;
}

/** A reference to a whole ConfigMap or Secret (`envFrom[].configMapRef`, `secretRef`). */
export interface ObjectReference {
  name: string;
  optional?: boolean;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: ObjectFieldSelector;
    configMapKeyRef?: KeySelector;
    secretKeyRef?: KeySelector;
  };
}

/** One `envFrom` item: every key of a ConfigMap or a Secret, each name after `prefix`. */
export interface EnvFromSource {
  prefix?: string;
  configMapRef?: ObjectReference;
  secretRef?: ObjectReference;
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  hostPort?: number;
  hostIP?: string;
  protocol?: "TCP" | "UDP" | "SCTP";
}

export type Quantity = string | number;

export interface ResourceRequirements {
  requests?: Record<string, Quantity>;
  limits?: Record<string, Quantity>;
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
  mountPropagation?: "None" | "HostToContainer" | "Bidirectional";
}

export interface SeccompProfile {
  type: "RuntimeDefault" | "Unconfined" | "Localhost";
  localhostProfile?: string;
}

export interface ContainerSecurityContext {
  privileged?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  seccompProfile?: SeccompProfile;
}

export interface PodSecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  supplementalGroups?: number[];
  sysctls?: { name: string; value: string }[];
  seccompProfile?: SeccompProfile;
}

/** How a probe or hook reaches the container. */
export interface HandlerSpec {
  exec?: { command: string[] };
  httpGet?: {
    path?: string;
    port: number | string;
    host?: string;
    scheme?: "HTTP" | "HTTPS";
    httpHeaders?: { name: string; value: string }[];
  };
  tcpSocket?: { port: number | string; host?: string };
  grpc?: { port: number; service?: string };
  sleep?: { seconds: number };
}

export interface ProbeSpec extends HandlerSpec {
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  successThreshold?: number;
  terminationGracePeriodSeconds?: number;
}

export interface V1Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  ports?: ContainerPort[];
  resources?: ResourceRequirements;
  volumeMounts?: VolumeMount[];
  securityContext?: ContainerSecurityContext;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  livenessProbe?: ProbeSpec;
  readinessProbe?: ProbeSpec;
  startupProbe?: ProbeSpec;
  lifecycle?: { postStart?: HandlerSpec; preStop?: HandlerSpec };
  /** Only on init containers: "Always" makes a sidecar. */
  restartPolicy?: "Always";
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  [field: string]: unknown;
}

/** An `items` entry of a configMap, secret or projected volume: `key` written at `path`. */
export interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

/** A `configMap` volume: the ConfigMap `name`, all its keys or its `items`. */
export interface ConfigMapVolumeSource {
  name: string;
  items?: KeyToPath[];
  defaultMode?: number;
  optional?: boolean;
}

/** A `secret` volume: the Secret `secretName`, all its keys or its `items`. */
export interface SecretVolumeSource {
  secretName: string;
  items?: KeyToPath[];
  defaultMode?: number;
  optional?: boolean;
}

/** A `configMap` or `secret` source of a projected volume. */
export interface ObjectProjection {
  name: string;
  items?: KeyToPath[];
  optional?: boolean;
}

/** An item of a projected `downwardAPI` source: a field of the pod, written at `path`. */
export interface DownwardApiVolumeFile {
  path: string;
  fieldRef?: ObjectFieldSelector;
  mode?: number;
}

/** One source of a projected volume: exactly one of its kinds (others are refused). */
export interface VolumeProjection {
  configMap?: ObjectProjection;
  secret?: ObjectProjection;
  downwardAPI?: { items?: DownwardApiVolumeFile[] };
  [kind: string]: unknown;
}

/** A `projected` volume: its sources merged into one directory. */
export interface ProjectedVolumeSource {
  sources?: VolumeProjection[];
  defaultMode?: number;
}

/** A pod's volume: its name and exactly one source. */
export interface V1Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  emptyDir?: { medium?: string; sizeLimit?: Quantity };
  configMap?: ConfigMapVolumeSource;
  secret?: SecretVolumeSource;
  projected?: ProjectedVolumeSource;
  [kind: string]: unknown;
}

export interface HostAliasSpec {
  ip: string;
  hostnames?: string[];
}

export interface PodDnsConfigSpec {
  nameservers?: string[];
  searches?: string[];
  options?: { name: string; value?: string }[];
}

export interface V1PodSpec {
  containers: V1Container[];
  initContainers?: V1Container[];
  restartPolicy?: "Always" | "OnFailure" | "Never";
  volumes?: V1Volume[];
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  shareProcessNamespace?: boolean;
  hostname?: string;
  terminationGracePeriodSeconds?: number;
  dnsPolicy?: string;
  dnsConfig?: PodDnsConfigSpec;
  hostAliases?: HostAliasSpec[];
  securityContext?: PodSecurityContext;
  nodeName?: string;
  [field: string]: unknown;
}

export type PullPolicy = "Always" | "IfNotPresent" | "Never";

/** The hostPath `type` values Kubernetes defines ("" checks nothing). */
export const HOST_PATH_TYPES = [
  "",
  "DirectoryOrCreate",
  "Directory",
  "FileOrCreate",
  "File",
  "Socket",
  "CharDevice",
  "BlockDevice",
] as const;
