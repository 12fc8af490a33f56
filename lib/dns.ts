/**
 * A pod's DNS settings, as kubelet's `pkg/kubelet/network/dns` computes them
 * for `RunPodSandbox` on a node with no cluster DNS.
 *
 * @module
 */

import type { DnsConfig } from "./cri.ts";

/** What a resolv.conf says. */
export interface ResolvConf {
  servers: string[];
  searches: string[];
  /** Options as written: `"ndots:5"`, `"rotate"`. */
  options: string[];
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
 * Parses resolv.conf text:
 * - each `nameserver` line adds its first address;
 * - `search` lists the search domains and `domain` names a single one; the
 *   last of these lines wins, as in glibc. A trailing dot is dropped, as
 *   kubelet does (`example.com.` is `example.com`; a lone `.` is no domain);
 * - `options` lines add their space-separated options, merged across lines
 *   by name (a later `ndots:2` replaces an earlier `ndots:1`);
 * - lines starting with `#` or `;` are comments; other lines are ignored.
 */
export function parseResolvConf(text: string): ResolvConf {
  const conf: ResolvConf = { servers: [], searches: [], options: [] };
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (trimmed.startsWith("#") || trimmed.startsWith(";")) continue;
    const [keyword, ...args] = trimmed.split(/\s+/);
    switch (keyword) {
      case "nameserver":
        if (args[0] !== undefined) conf.servers.push(args[0]);
        break;
      case "search":
      case "domain":
        conf.searches = (keyword === "domain" ? args.slice(0, 1) : args)
          .map((s) => s.replace(/\.$/, ""))
          .filter((s) => s !== "");
        break;
      case "options":
        conf.options = mergeOptions(conf.options, args);
        break;
    }
  }
  return conf;
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
 * Last, kubelet's limits: at most 3 nameservers; search domains of at most
 * 253 characters, at most 32 of them, and a search line (the domains joined
 * by spaces) of at most 2048 characters. The excess is dropped, from the end,
 * and each drop gives one warning.
 */
export function podDnsConfig(
  input: PodDnsInput,
  host: ResolvConf,
): { config: DnsConfig; warnings: string[] } {
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
