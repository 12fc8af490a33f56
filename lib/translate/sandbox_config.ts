/**
 * The `RunPodSandbox` config of a pod, as kubelet builds it: metadata, log directory, DNS,
 * port mappings, the contract's labels and annotations, the pod-level security context,
 * sysctls and the hostname. Pure.
 *
 * @module
 */
import type { DnsConfig, PodSandboxConfig, PortMapping } from "../runtime/cri.ts";
import { KEYS, LABEL_INSTANCE, LABEL_MANAGED } from "../runtime/labels.ts";
import type { Pod } from "../manifest/pod.ts";
import { podLogDirectory } from "../node/paths.ts";
import { podDnsConfig, type ResolvConf } from "./dns.ts";
import { namespaceOptions } from "./security_context.ts";

/** Who a pod is: what its sandbox is named, labelled and annotated with. */
export interface SandboxIdentity {
  name: string;
  namespace: string;
  uid: string;
  /** The pod's spec hash. */
  hash: string;
  /** The hash of the values its env reads from ConfigMaps and Secrets, when it reads any. */
  envHash?: string;
  /** Absolute path of the manifest file. */
  source: string;
}

/** The agent settings the sandbox config depends on. */
export interface SandboxOptions {
  instance: string;
  podLogRoot: string;
}

/** kubelet's hostname rule: at most 63 characters, no trailing '-' or '.'. */
function hostnameOf(name: string): string {
  return name.slice(0, 63).replace(/[-.]+$/, "");
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

/** The pod's DNS settings from its policy and config over the host's resolv.conf. */
export function podDns(pod: Pod, hostDns: ResolvConf): ReturnType<typeof podDnsConfig> {
  const s = pod.spec;
  const input: Parameters<typeof podDnsConfig>[0] = { hostNetwork: s.hostNetwork ?? false };
  if (s.dnsPolicy !== undefined) input.dnsPolicy = s.dnsPolicy;
  if (s.dnsConfig !== undefined) input.dnsConfig = s.dnsConfig;
  return podDnsConfig(input, hostDns);
}

/** The sandbox config for attempt 0 of `pod`, with `dnsConfig` from {@linkcode podDns}. */
export function buildSandboxConfig(
  pod: Pod,
  id: SandboxIdentity,
  options: SandboxOptions,
  dnsConfig: DnsConfig,
): PodSandboxConfig {
  const s = pod.spec;
  const { name, namespace, uid, hash, source } = id;
  const hostNetwork = s.hostNetwork ?? false;
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
    dnsConfig,
    portMappings: portMappings(pod),
    labels: { ...pod.metadata.labels, ...identity },
    annotations: {
      ...pod.metadata.annotations,
      [KEYS.specHash]: hash,
      ...(id.envHash !== undefined ? { [KEYS.envHash]: id.envHash } : {}),
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
  return sandbox;
}
