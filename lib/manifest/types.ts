/**
 * The parts of the Kubernetes `v1` Pod that tinylet reads, as TypeScript
 * types. A manifest checked by `pod_schema.ts` has these shapes.
 *
 * @module
 */

export interface ObjectFieldSelector {
  fieldPath: string;
  apiVersion?: string;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: ObjectFieldSelector };
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

export interface V1Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  emptyDir?: { medium?: string; sizeLimit?: Quantity };
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
