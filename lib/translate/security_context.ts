/**
 * The Linux security settings kubelet derives from a pod's and a container's security
 * contexts: the namespaces, the merged context, seccomp, capabilities, users and the default
 * masked and read-only paths. Pure.
 *
 * @module
 */
import type {
  LinuxContainerSecurityContext,
  NamespaceOption,
  SecurityProfile,
} from "../runtime/cri.ts";
import type { Pod } from "../manifest/pod.ts";
import type { ContainerSecurityContext, SeccompProfile, V1Container } from "../manifest/types.ts";

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

/** A seccomp profile of the manifest, as the runtime names it. */
function seccompOf(p: SeccompProfile | undefined): SecurityProfile | undefined {
  if (!p) return undefined;
  return p.type === "Localhost"
    ? { profileType: "Localhost", localhostRef: p.localhostProfile ?? "" }
    : { profileType: p.type };
}

/** The pod's namespaces: the host's (`hostNetwork`, `hostPID`, `hostIPC`), the pod's, or the container's own. */
export function namespaceOptions(pod: Pod): NamespaceOption {
  const s = pod.spec;
  return {
    network: s.hostNetwork ? "NODE" : "POD",
    pid: s.hostPID ? "NODE" : s.shareProcessNamespace ? "POD" : "CONTAINER",
    ipc: s.hostIPC ? "NODE" : "POD",
  };
}

/** The container's security context over the pod's, as kubelet merges them. */
export function effectiveSecurity(pod: Pod, c: V1Container): ContainerSecurityContext {
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

/** The container's Linux security context, as kubelet sends it in `CreateContainer`. */
export function containerSecurity(pod: Pod, c: V1Container): LinuxContainerSecurityContext {
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
