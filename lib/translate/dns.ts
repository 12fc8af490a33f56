/**
 * A pod's DNS settings, as kubelet's `pkg/kubelet/network/dns` computes them
 * for `RunPodSandbox` on a node with no cluster DNS.
 *
 * @module
 */

import type { DnsConfig } from "../runtime/cri.ts";
import { readRegularFile } from "../base/safe_read.ts";

/** The host's resolv.conf, which pods take their DNS settings from. */
export const HOST_RESOLV_CONF = "/etc/resolv.conf";

/** kubelet reads at most this much of a resolv.conf (its `maxResolvConfLength`, 10 MiB). */
export const MAX_RESOLV_CONF_BYTES = 10 * 1024 * 1024;

/** A line of a resolv.conf that kubelet refuses. */
export interface ResolvConfError {
  /** 1-based; 0 when the problem is the whole file. */
  line: number;
  message: string;
}

/** Why kubelet refuses a resolv.conf. */
export interface ResolvConfErrors {
  file: string;
  problems: ResolvConfError[];
}

/** What a resolv.conf says. */
export interface ResolvConf {
  servers: string[];
  searches: string[];
  /** Options as written: `"ndots:5"`, `"rotate"`. */
  options: string[];
  /**
   * Set (and never empty) when kubelet's parser refuses the file: then no pod sandbox can be
   * created from it, whatever the pod's dnsPolicy, until the file is fixed.
   */
  errors?: ResolvConfErrors;
}

/** What to tell the operator about a refused host file. */
export function hostDnsErrorMessage(errors: ResolvConfErrors): string {
  const where = errors.problems.map((p) => p.line > 0 ? `line ${p.line}: ${p.message}` : p.message);
  return `Fix ${errors.file}: ${where.join("; ")}; until then no pod sandbox can be created`;
}

/** The most nameservers a pod gets (glibc's MAXNS; Kubernetes' MaxDNSNameservers). */
const MAX_NAMESERVERS = 3;
/** The most search domains a pod gets (Kubernetes' MaxDNSSearchPaths). */
const MAX_SEARCHES = 32;
/** The longest search line, domains joined by spaces (Kubernetes' MaxDNSSearchListChars). */
const MAX_SEARCH_CHARS = 2048;
/** The longest search domain (a DNS-1123 subdomain); longer ones make some resolvers abort. */
const MAX_SEARCH_DOMAIN_CHARS = 253;

/** The name of an option written `name` or `name:value`. */
function optionName(option: string): string {
  const colon = option.indexOf(":");
  return colon === -1 ? option : option.slice(0, colon);
}

/**
 * Merges options by name, in order: a later option replaces an earlier one
 * with the same name in its place, a new name is appended.
 */
function mergeOptions(options: string[], more: string[]): string[] {
  const byName = new Map<string, string>();
  for (const option of [...options, ...more]) byName.set(optionName(option), option);
  return [...byName.values()];
}

/** `strs` without repeats, first occurrences kept in order. */
function unique(strs: string[]): string[] {
  return [...new Set(strs)];
}

function quoted(strs: string[]): string {
  return strs.map((s) => `"${s}"`).join(", ");
}

/**
 * Parses resolv.conf text as kubelet's `parseResolvConf` does
 * (`pkg/kubelet/network/dns/dns.go`), line by line:
 * - each `nameserver` line adds its first address; a `nameserver` line
 *   without an address is an error ("nameserver list is empty"), which makes
 *   kubelet refuse to create any pod sandbox;
 * - the last `search` line gives the search domains. A trailing dot is
 *   dropped (`example.com.` is `example.com`; a lone `.` is no domain). A
 *   bare `search` line clears them: it is not an error;
 * - `options` lines add their space-separated options, merged across lines
 *   by name (a later `ndots:2` replaces an earlier `ndots:1`); a bare
 *   `options` line changes nothing;
 * - everything else is ignored, `domain` included (kubelet does not read
 *   it), and so are lines starting with `#` and anything else not a keyword.
 *
 * `file` only names the file in errors.
 */
export function parseResolvConf(text: string, file = HOST_RESOLV_CONF): ResolvConf {
  const conf: ResolvConf = { servers: [], searches: [], options: [] };
  const problems: ResolvConfError[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    const trimmed = line.trim();
    if (trimmed.startsWith("#")) continue;
    const [keyword, ...args] = trimmed.split(/\s+/);
    switch (keyword) {
      case "nameserver":
        if (args[0] !== undefined) conf.servers.push(args[0]);
        else {
          problems.push({
            line: i + 1,
            message: `add an address to this "nameserver" line or remove it`,
          });
        }
        break;
      case "search":
        conf.searches = args.map((s) => s.replace(/\.$/, "")).filter((s) => s !== "");
        break;
      case "options":
        conf.options = mergeOptions(conf.options, args);
        break;
    }
  }
  if (problems.length > 0) conf.errors = { file, problems };
  return conf;
}

/**
 * Reads and parses the resolv.conf at `path` (symlinks followed). As kubelet, it reads less
 * than {@linkcode MAX_RESOLV_CONF_BYTES}: a file that reaches it is refused. Anything but a
 * regular file is refused too, so a FIFO cannot hang a pass. Throws when the file cannot be
 * opened or read.
 */
export function readResolvConf(path = HOST_RESOLV_CONF): ResolvConf {
  const refused = (message: string): ResolvConf => ({
    servers: [],
    searches: [],
    options: [],
    errors: { file: path, problems: [{ line: 0, message }] },
  });
  const read = readRegularFile(path, MAX_RESOLV_CONF_BYTES);
  if (read.kind === "notRegular") return refused(`make it a regular file: it is ${read.type}`);
  const bytes = read.bytes;
  if (bytes.length >= MAX_RESOLV_CONF_BYTES) {
    return refused(
      `make it smaller than ${MAX_RESOLV_CONF_BYTES} bytes (10 MiB), kubelet's limit`,
    );
  }
  return parseResolvConf(new TextDecoder().decode(bytes), path);
}

/** The DNS fields of a pod spec that decide its DNS settings. */
export interface PodDnsInput {
  /** `ClusterFirst` (the default), `ClusterFirstWithHostNet`, `Default` or `None`. */
  dnsPolicy?: string;
  dnsConfig?: {
    nameservers?: string[];
    searches?: string[];
    options?: { name: string; value?: string }[];
  };
  hostNetwork?: boolean;
}

/**
 * The DnsConfig for `RunPodSandbox`, as kubelet computes it when the node has
 * no cluster DNS configured:
 * - `ClusterFirst` (the default) and `ClusterFirstWithHostNet` fall back to
 *   `Default`, as kubelet does without cluster DNS (so `hostNetwork` changes
 *   nothing here); an unknown policy is treated as `ClusterFirst`, with a
 *   warning;
 * - `Default` starts from the host's resolv.conf (`host`);
 * - `None` starts from nothing: only `dnsConfig` counts (the caller checks
 *   that it has nameservers).
 *
 * Then `dnsConfig`, when given, is merged in: nameservers and searches are
 * appended and de-duplicated, options are merged by name (the pod's value
 * wins; `{ name: "ndots", value: "5" }` is `"ndots:5"`, no value is just the
 * name).
 *
 * A host file kubelet refuses (see {@linkcode parseResolvConf}) gives an
 * error instead, whatever the policy: kubelet reads the host's file first.
 *
 * Last, kubelet's limits: at most 3 nameservers; search domains of at most
 * 253 characters, at most 32 of them, and a search line (the domains joined
 * by spaces) of at most 2048 characters. The excess is dropped, from the end,
 * and each drop gives one warning.
 */
export function podDnsConfig(
  input: PodDnsInput,
  host: ResolvConf,
): { config: DnsConfig; warnings: string[]; error?: string } {
  // kubelet's GetPodDNS reads the host's file before it looks at the policy, so a refused
  // file fails every pod, `None` and host-network pods included.
  if (host.errors) {
    return {
      config: { servers: [], searches: [], options: [] },
      warnings: [],
      error: hostDnsErrorMessage(host.errors),
    };
  }
  const warnings: string[] = [];
  let policy = input.dnsPolicy ?? "ClusterFirst";
  if (!["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"].includes(policy)) {
    warnings.push(
      `Set dnsPolicy to "ClusterFirst", "ClusterFirstWithHostNet", "Default" or "None": "${policy}" is unknown, so "ClusterFirst" is used`,
    );
    policy = "ClusterFirst";
  }

  let servers: string[] = [];
  let searches: string[] = [];
  let options: string[] = [];
  if (policy !== "None") {
    servers = [...host.servers];
    searches = [...host.searches];
    options = [...host.options];
  }

  const pod = input.dnsConfig;
  if (pod) {
    servers = unique([...servers, ...(pod.nameservers ?? [])]);
    searches = unique([...searches, ...(pod.searches ?? [])]);
    options = mergeOptions(
      options,
      (pod.options ?? []).map((o) => o.value ? `${o.name}:${o.value}` : o.name),
    );
  }

  const from = policy === "None" ? "dnsConfig" : "dnsConfig or the host's resolv.conf";

  if (servers.length > MAX_NAMESERVERS) {
    const dropped = servers.slice(MAX_NAMESERVERS);
    servers = servers.slice(0, MAX_NAMESERVERS);
    warnings.push(
      `Remove nameservers from ${from}: a pod can use at most ${MAX_NAMESERVERS}, so ${
        quoted(dropped)
      } ${dropped.length === 1 ? "is" : "are"} left out`,
    );
  }

  if (searches.length > MAX_SEARCHES) {
    const dropped = searches.slice(MAX_SEARCHES);
    searches = searches.slice(0, MAX_SEARCHES);
    warnings.push(
      `Remove search domains from ${from}: a pod can use at most ${MAX_SEARCHES}, so ${
        quoted(dropped)
      } ${dropped.length === 1 ? "is" : "are"} left out`,
    );
  }

  for (const search of searches.filter((s) => s.length > MAX_SEARCH_DOMAIN_CHARS)) {
    warnings.push(
      `Shorten search domain "${search}" in ${from}: it is longer than ${MAX_SEARCH_DOMAIN_CHARS} characters, so it is left out`,
    );
  }
  searches = searches.filter((s) => s.length <= MAX_SEARCH_DOMAIN_CHARS);

  if (searches.join(" ").length > MAX_SEARCH_CHARS) {
    const dropped: string[] = [];
    while (searches.join(" ").length > MAX_SEARCH_CHARS) {
      const last = searches.pop();
      if (last === undefined) break;
      dropped.unshift(last);
    }
    warnings.push(
      `Remove search domains from ${from}: the search line can be at most ${MAX_SEARCH_CHARS} characters, so ${
        quoted(dropped)
      } ${dropped.length === 1 ? "is" : "are"} left out`,
    );
  }

  return { config: { servers, searches, options }, warnings };
}

/**
 * The host's /etc/resolv.conf (or `path`); empty when it cannot be read. Lines kubelet
 * refuses are in its `errors`: then no pod sandbox is created until the file is fixed.
 */
export async function readHostResolvConf(path = HOST_RESOLV_CONF): Promise<ResolvConf> {
  try {
    return await readResolvConf(path);
  } catch {
    return { servers: [], searches: [], options: [] };
  }
}
