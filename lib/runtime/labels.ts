/**
 * The names tinylet writes on the runtime's objects (see the contract): the ownership labels
 * it filters on, and the label and annotation keys that carry a pod's identity.
 */

/** The labels every object tinylet creates carries, and that it filters on. */
export const LABEL_MANAGED = "tinylet";
export const LABEL_INSTANCE = "tinylet/instance";

/** The keys of the labels and annotations the contract puts on runtime objects. */
export const KEYS = {
  podName: "io.kubernetes.pod.name",
  podNamespace: "io.kubernetes.pod.namespace",
  podUid: "io.kubernetes.pod.uid",
  containerName: "io.kubernetes.container.name",
  containerHash: "io.kubernetes.container.hash",
  restartCount: "io.kubernetes.container.restartCount",
  gracePeriod: "io.kubernetes.pod.terminationGracePeriod",
  containerType: "tinylet/container-type",
  specHash: "tinylet/spec-hash",
  /** On a sandbox whose env reads ConfigMaps or Secrets: the hash of the values it read. */
  envHash: "tinylet/env-hash",
  source: "tinylet/source",
  configSource: "kubernetes.io/config.source",
} as const;
