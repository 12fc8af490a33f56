/**
 * The `/etc/hosts` file kubelet writes for a pod and mounts into each of its
 * containers (`pkg/kubelet/kubelet_pods.go`: `managedHostsFileContent`,
 * `nodeHostsFileContent`, `hostsEntriesFromHostAliases`).
 *
 * Kubelet mounts it only when the pod is on the host network or has an IP,
 * and not into a container that mounts something at `/etc/hosts` itself.
 *
 * @module
 */

/** One `spec.hostAliases` entry: names that resolve to `ip`. */
export interface HostAlias {
  ip: string;
  hostnames: string[];
}

const MANAGED_HEADER = "# Kubernetes-managed hosts file.\n";
const HOST_NETWORK_HEADER = "# Kubernetes-managed hosts file (host network).\n";

/**
 * The host-alias section: nothing without aliases, else a blank line, a
 * comment, and one `<ip>\t<name>\t<name>...` line per alias, in order.
 */
function aliasEntries(aliases: HostAlias[]): string {
  if (aliases.length === 0) return "";
  return "\n# Entries added by HostAliases.\n" +
    aliases.map((a) => `${a.ip}\t${a.hostnames.join("\t")}\n`).join("");
}

/**
 * The managed hosts file of a pod that is not on the host network: the
 * header, the loopback and IPv6 entries, one `<podIP>\t<hostname>` line per
 * pod IP (none without IPs), then the host-alias section.
 *
 * With `hostDomain` (kubelet's `<subdomain>.<namespace>.svc.<clusterDomain>`
 * for a pod with a `subdomain`), each pod IP line is
 * `<podIP>\t<hostname>.<hostDomain>\t<hostname>` instead.
 */
export function podHostsFile(
  podIPs: string[],
  hostname: string,
  aliases: HostAlias[],
  hostDomain = "",
): string {
  const names = hostDomain === "" ? hostname : `${hostname}.${hostDomain}\t${hostname}`;
  return MANAGED_HEADER +
    "127.0.0.1\tlocalhost\n" +
    "::1\tlocalhost ip6-localhost ip6-loopback\n" +
    "fe00::0\tip6-localnet\n" +
    "fe00::0\tip6-mcastprefix\n" +
    "fe00::1\tip6-allnodes\n" +
    "fe00::2\tip6-allrouters\n" +
    podIPs.map((ip) => `${ip}\t${names}\n`).join("") +
    aliasEntries(aliases);
}

/**
 * The hosts file of a host-network pod, as kubelet writes it: a header of its
 * own, the host's hosts file content unchanged (`hostHosts`, not re-terminated
 * when its last line has no newline), then the host-alias section.
 */
export function hostNetworkHostsFile(hostHosts: string, aliases: HostAlias[]): string {
  return HOST_NETWORK_HEADER + hostHosts + aliasEntries(aliases);
}
