/**
 * A `v1` Pod, translated into what tinylet asks of the runtime: the sandbox
 * config and one container config per container, with the contract's labels
 * and annotations.
 *
 * @module
 */
import {
  type ContainerConfig,
  LABEL_INSTANCE,
  LABEL_MANAGED,
  type PodSandboxConfig,
} from "./cri.ts";
import {
  containerHash,
  DEFAULT_GRACE_PERIOD_SECONDS,
  DEFAULT_NAMESPACE,
  type Pod,
  podKey,
  podUid,
  specHash,
} from "./pod.ts";

/** The contract's keys on the runtime's objects. */
export const K = {
  podName: "io.kubernetes.pod.name",
  podNamespace: "io.kubernetes.pod.namespace",
  podUid: "io.kubernetes.pod.uid",
  containerName: "io.kubernetes.container.name",
  containerHash: "io.kubernetes.container.hash",
  restartCount: "io.kubernetes.container.restartCount",
  gracePeriod: "io.kubernetes.pod.terminationGracePeriod",
  containerType: "tinylet/container-type",
  specHash: "tinylet/spec-hash",
  source: "tinylet/source",
  configSource: "kubernetes.io/config.source",
} as const;

/** Agent settings the translation depends on. */
export interface TranslateOptions {
  instance: string;
  podLogRoot: string;
}

/** One container as the runtime will be asked to run it. */
export interface DesiredContainer {
  name: string;
  image: string;
  hash: string;
  /** The config for `CreateContainer`, for restart count 0. */
  config: ContainerConfig;
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
  gracePeriodSeconds: number;
  /** The sandbox config, for attempt 0. */
  sandbox: PodSandboxConfig;
  containers: DesiredContainer[];
}

/** kubelet's hostname rule: at most 63 characters, no trailing '-' or '.'. */
function hostnameOf(name: string): string {
  return name.slice(0, 63).replace(/[-.]+$/, "");
}

/** The sandbox log directory: `<root>/<namespace>_<name>_<uid>`. */
export function podLogDirectory(
  root: string,
  namespace: string,
  name: string,
  uid: string,
): string {
  return `${root}/${namespace}_${name}_${uid}`;
}

/** Translates `pod` from `source` into what the runtime runs. */
export async function translatePod(
  pod: Pod,
  source: string,
  options: TranslateOptions,
): Promise<DesiredPod> {
  const name = pod.metadata.name;
  const namespace = pod.metadata.namespace ?? DEFAULT_NAMESPACE;
  const hash = await specHash(pod);
  const uid = await podUid(namespace, name, hash);
  const gracePeriodSeconds = pod.spec.terminationGracePeriodSeconds ??
    DEFAULT_GRACE_PERIOD_SECONDS;
  const identity = {
    [LABEL_MANAGED]: "true",
    [LABEL_INSTANCE]: options.instance,
    [K.podName]: name,
    [K.podNamespace]: namespace,
    [K.podUid]: uid,
  };
  const sandbox: PodSandboxConfig = {
    metadata: { name, namespace, uid, attempt: 0 },
    hostname: hostnameOf(name),
    logDirectory: podLogDirectory(options.podLogRoot, namespace, name, uid),
    labels: { ...pod.metadata.labels, ...identity },
    annotations: {
      ...pod.metadata.annotations,
      [K.specHash]: hash,
      [K.source]: source,
      [K.configSource]: "file",
    },
    linux: {
      securityContext: {
        namespaceOptions: { network: "POD", pid: "CONTAINER", ipc: "POD" },
      },
    },
  };
  const containers: DesiredContainer[] = [];
  for (const c of pod.spec.containers) {
    const cHash = await containerHash(c);
    const config: ContainerConfig = {
      metadata: { name: c.name, attempt: 0 },
      image: { image: c.image },
      logPath: `${c.name}/0.log`,
      labels: { ...identity, [K.containerName]: c.name },
      annotations: {
        [K.containerHash]: cHash,
        [K.restartCount]: "0",
        [K.gracePeriod]: String(gracePeriodSeconds),
        [K.containerType]: "regular",
      },
    };
    if (c.command) config.command = [...c.command];
    if (c.args) config.args = [...c.args];
    containers.push({ name: c.name, image: c.image, hash: cHash, config });
  }
  return {
    key: podKey(namespace, name),
    namespace,
    name,
    uid,
    hash,
    source,
    pod,
    gracePeriodSeconds,
    sandbox,
    containers,
  };
}

/** The sandbox config for a given attempt. */
export function sandboxForAttempt(
  pod: DesiredPod,
  attempt: number,
): PodSandboxConfig {
  return { ...pod.sandbox, metadata: { ...pod.sandbox.metadata, attempt } };
}
