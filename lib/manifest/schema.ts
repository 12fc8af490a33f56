/**
 * What tinylet accepts in a Pod, field by field, as data: the type and allowed values of
 * each field, and which Kubernetes fields are supported, warned about or rejected.
 * `schema_check.ts` walks a value against it.
 *
 * @module
 */
import {
  configKeyMessage,
  envPrefixMessage,
  fileModeMessage,
  itemPathMessage,
  objectNameMessage,
} from "./config_refs_check.ts";
import { HOST_PATH_TYPES } from "./types.ts";

/** The shape one field may take. */
export type Schema =
  | {
    t: "string";
    enum?: readonly string[];
    /** The message for a value not allowed, or undefined; `field` is the field's name. */
    check?: (v: string, field: string) => string | undefined;
  }
  | {
    t: "int";
    min?: number;
    max?: number;
    /** The message for a whole number not allowed, or undefined; `field` is the field's name. */
    check?: (v: number, field: string) => string | undefined;
  }
  | { t: "bool" }
  | { t: "quantity" }
  | { t: "stringList" }
  | { t: "list"; of: Schema }
  | { t: "map"; of: Schema }
  | ObjectSchema
  | { t: "any" };

/** A mapping: its fields, those required, and those read but not applied. */
export interface ObjectSchema {
  t: "object";
  fields: Record<string, Schema>;
  required?: readonly string[];
  /** Kubernetes fields tinylet reads but does not apply: field → why. */
  unsupported?: Record<string, string>;
}

const str = (extra: Omit<Extract<Schema, { t: "string" }>, "t"> = {}): Schema => ({
  t: "string",
  ...extra,
});
const int = (min?: number, max?: number): Schema => ({
  t: "int",
  ...(min === undefined ? {} : { min }),
  ...(max === undefined ? {} : { max }),
});
const bool: Schema = { t: "bool" };
const strings: Schema = { t: "stringList" };
const any: Schema = { t: "any" };
const obj = (
  fields: Record<string, Schema>,
  more: Omit<ObjectSchema, "t" | "fields"> = {},
): ObjectSchema => ({ t: "object", fields, ...more });
const list = (of: Schema): Schema => ({ t: "list", of });

const portSchema: Schema = { t: "any" }; // a number or a port name: checked across fields
const httpGet = obj({
  path: str(),
  port: portSchema,
  host: str(),
  scheme: str({ enum: ["HTTP", "HTTPS"] }),
  httpHeaders: list(obj({ name: str(), value: str() }, { required: ["name", "value"] })),
}, { required: ["port"] });
const handlers = {
  exec: obj({ command: strings }, { required: ["command"] }),
  httpGet,
  tcpSocket: obj({ port: portSchema, host: str() }, { required: ["port"] }),
};
const probe = obj({
  ...handlers,
  grpc: obj({ port: int(1, 65535), service: str() }, { required: ["port"] }),
  initialDelaySeconds: int(0),
  periodSeconds: int(1),
  timeoutSeconds: int(1),
  failureThreshold: int(1),
  successThreshold: int(1),
  terminationGracePeriodSeconds: int(1),
});
const hook = obj({ ...handlers, sleep: obj({ seconds: int(0) }, { required: ["seconds"] }) });
const NOT_FOR_ONE_HOST = "it has no meaning without a cluster";

const seccomp = obj({
  type: str({ enum: ["RuntimeDefault", "Unconfined", "Localhost"] }),
  localhostProfile: str(),
}, { required: ["type"] });

const containerSecurityContext = obj({
  privileged: bool,
  capabilities: obj({ add: strings, drop: strings }),
  readOnlyRootFilesystem: bool,
  allowPrivilegeEscalation: bool,
  runAsUser: int(0, 2 ** 31 - 1),
  runAsGroup: int(0, 2 ** 31 - 1),
  runAsNonRoot: bool,
  seccompProfile: seccomp,
}, {
  unsupported: {
    seLinuxOptions: "SELinux labels are not set by tinylet",
    appArmorProfile: "AppArmor profiles are not set by tinylet",
    procMount: "the default /proc masking is always used",
    windowsOptions: "tinylet runs Linux containers only",
  },
});

const resourceList: Schema = { t: "map", of: { t: "quantity" } };

type ConfigKind = "ConfigMap" | "Secret";
const objectName = (kind: ConfigKind) => str({ check: objectNameMessage(kind) });
const fieldRef = obj({ fieldPath: str(), apiVersion: str() });
const keySelector = (kind: ConfigKind) =>
  obj({
    name: objectName(kind),
    key: str({ check: configKeyMessage(kind) }),
    optional: bool,
  }, { required: ["name", "key"] });
const objectRef = (kind: ConfigKind) =>
  obj({ name: objectName(kind), optional: bool }, { required: ["name"] });

/** The fields of a container (regular containers; the short form uses it too). */
export const CONTAINER_SCHEMA = obj({
  // name, image, command and args are checked by the caller, with their own messages.
  name: any,
  image: any,
  command: any,
  args: any,
  workingDir: str(),
  env: list(obj({
    name: str(),
    value: str(),
    // One source, the field tinylet provides, resourceFieldRef refused: checked by the caller.
    valueFrom: obj({
      fieldRef,
      configMapKeyRef: keySelector("ConfigMap"),
      secretKeyRef: keySelector("Secret"),
      resourceFieldRef: any,
    }),
  }, { required: ["name"] })),
  // One of configMapRef or secretRef: checked by the caller.
  envFrom: list(obj({
    prefix: str({ check: envPrefixMessage }),
    configMapRef: objectRef("ConfigMap"),
    secretRef: objectRef("Secret"),
  })),

  ports: list(obj({
    name: str(),
    containerPort: int(1, 65535),
    hostPort: int(0, 65535),
    hostIP: str(),
    protocol: str({ enum: ["TCP", "UDP", "SCTP"] }),
  }, { required: ["containerPort"] })),
  resources: obj({ requests: resourceList, limits: resourceList }, {
    unsupported: { claims: "dynamic resource claims need a cluster" },
  }),
  volumeMounts: list(obj({
    name: str(),
    mountPath: str(),
    readOnly: bool,
    subPath: str(),
    mountPropagation: str({ enum: ["None", "HostToContainer", "Bidirectional"] }),
  }, {
    required: ["name", "mountPath"],
    unsupported: {
      subPathExpr: "use subPath",
      recursiveReadOnly: "read-only mounts are not made recursively read-only",
    },
  })),
  securityContext: containerSecurityContext,
  imagePullPolicy: str({ enum: ["Always", "IfNotPresent", "Never"] }),
  livenessProbe: probe,
  readinessProbe: probe,
  startupProbe: probe,
  lifecycle: obj({ postStart: hook, preStop: hook }, {
    unsupported: { stopSignal: "containers stop with the runtime's default signal" },
  }),
  // Only "Always", and only on an init container (a sidecar): checked by the caller.
  restartPolicy: str({ enum: ["Always"] }),
  stdin: bool,
  stdinOnce: bool,
  tty: bool,
}, {
  unsupported: {
    terminationMessagePath: "termination messages are not collected",
    terminationMessagePolicy: "termination messages are not collected",
    resizePolicy: "resources are not resized in place",
    volumeDevices: "block volumes are not supported",
  },
});

/** Volume kinds Kubernetes has and tinylet cannot provide on its own. */
export const UNSUPPORTED_VOLUME_KINDS = [
  "persistentVolumeClaim",
  "downwardAPI",
  "csi",
  "ephemeral",
  "nfs",
  "iscsi",
  "image",
  "gitRepo",
  "awsElasticBlockStore",
  "azureDisk",
  "azureFile",
  "cephfs",
  "cinder",
  "fc",
  "flexVolume",
  "flocker",
  "gcePersistentDisk",
  "glusterfs",
  "photonPersistentDisk",
  "portworxVolume",
  "quobyte",
  "rbd",
  "scaleIO",
  "storageos",
  "vsphereVolume",
];

const fileMode: Schema = { t: "int", check: fileModeMessage };
const keyToPath = (kind: ConfigKind) =>
  obj({
    key: str({ check: configKeyMessage(kind) }),
    path: str({ check: itemPathMessage }),
    mode: fileMode,
  }, { required: ["key", "path"] });
const projection = (kind: ConfigKind) =>
  obj({ name: objectName(kind), items: list(keyToPath(kind)), optional: bool }, {
    required: ["name"],
  });
// Each source of one kind, the fields its items show, each path once: checked across the pod.
const projectionSource = obj({
  configMap: projection("ConfigMap"),
  secret: projection("Secret"),
  downwardAPI: obj({
    items: list(obj({
      path: str({ check: itemPathMessage }),
      fieldRef: obj({ fieldPath: str(), apiVersion: str() }, { required: ["fieldPath"] }),
      resourceFieldRef: any,
      mode: fileMode,
    }, { required: ["path"] })),
  }),
  serviceAccountToken: any,
  clusterTrustBundle: any,
  podCertificate: any,
});

const volume = obj({
  name: str(),
  hostPath: obj({
    path: str(),
    type: str({ enum: HOST_PATH_TYPES }),
  }, { required: ["path"] }),
  emptyDir: obj({ medium: str({ enum: ["", "Memory"] }), sizeLimit: { t: "quantity" } }),
  configMap: obj({
    name: objectName("ConfigMap"),
    items: list(keyToPath("ConfigMap")),
    defaultMode: fileMode,
    optional: bool,
  }, { required: ["name"] }),
  secret: obj({
    secretName: objectName("Secret"),
    items: list(keyToPath("Secret")),
    defaultMode: fileMode,
    optional: bool,
  }, { required: ["secretName"] }),
  projected: obj({ sources: list(projectionSource), defaultMode: fileMode }),
  // Sources tinylet cannot provide are checked across the pod (warned, or rejected when mounted).
  ...Object.fromEntries(UNSUPPORTED_VOLUME_KINDS.map((k) => [k, any])),
}, { required: ["name"] });

/** The fields of a pod's spec. */
export const POD_SPEC_SCHEMA = obj({
  containers: any, // checked by the caller, container by container
  initContainers: any, // likewise
  restartPolicy: str({ enum: ["Always", "OnFailure", "Never"] }),
  volumes: list(volume),
  hostNetwork: bool,
  hostPID: bool,
  hostIPC: bool,
  shareProcessNamespace: bool,
  hostname: str(),
  terminationGracePeriodSeconds: int(0),
  dnsPolicy: str({ enum: ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"] }),
  dnsConfig: obj({
    nameservers: strings,
    searches: strings,
    options: list(obj({ name: str(), value: str() }, { required: ["name"] })),
  }),
  hostAliases: list(obj({ ip: str(), hostnames: strings }, { required: ["ip"] })),
  securityContext: obj({
    runAsUser: int(0, 2 ** 31 - 1),
    runAsGroup: int(0, 2 ** 31 - 1),
    runAsNonRoot: bool,
    supplementalGroups: list(int(0, 2 ** 31 - 1)),
    sysctls: list(obj({ name: str(), value: str() }, { required: ["name", "value"] })),
    seccompProfile: seccomp,
  }, {
    unsupported: {
      fsGroup: "volume ownership is not changed by tinylet",
      fsGroupChangePolicy: "volume ownership is not changed by tinylet",
      seLinuxOptions: "SELinux labels are not set by tinylet",
      appArmorProfile: "AppArmor profiles are not set by tinylet",
      supplementalGroupsPolicy: "the runtime's default policy is used",
      seLinuxChangePolicy: "SELinux labels are not set by tinylet",
      windowsOptions: "tinylet runs Linux containers only",
    },
  }),
  nodeName: str(),
}, {
  required: ["containers"],
  unsupported: {
    ephemeralContainers: "ephemeral containers need an API server",
    serviceAccountName: "there are no service account tokens without a cluster",
    serviceAccount: "there are no service account tokens without a cluster",
    automountServiceAccountToken: "there are no service account tokens without a cluster",
    imagePullSecrets: "registry credentials come from the agent's --registry-config file",
    priorityClassName: "there is no scheduler or eviction to rank pods",
    priority: "there is no scheduler or eviction to rank pods",
    preemptionPolicy: NOT_FOR_ONE_HOST,
    nodeSelector: NOT_FOR_ONE_HOST,
    affinity: NOT_FOR_ONE_HOST,
    tolerations: NOT_FOR_ONE_HOST,
    topologySpreadConstraints: NOT_FOR_ONE_HOST,
    schedulerName: NOT_FOR_ONE_HOST,
    schedulingGates: NOT_FOR_ONE_HOST,
    readinessGates: NOT_FOR_ONE_HOST,
    activeDeadlineSeconds: "pods are not failed on a deadline by this version of tinylet",
    enableServiceLinks: "there are no services without a cluster",
    subdomain: "there is no cluster DNS domain",
    setHostnameAsFQDN: "there is no cluster DNS domain",
    runtimeClassName: "the runtime's default handler is used",
    overhead: "pod overhead is not accounted",
    os: "tinylet runs Linux containers only",
    hostUsers: "user namespaces are not set up by this version of tinylet",
    resourceClaims: "dynamic resource claims need a cluster",
    resources: "pod-level resources are not applied; set them per container",
  },
});
