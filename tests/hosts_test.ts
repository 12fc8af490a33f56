import assert from "node:assert/strict";
import { type HostAlias, hostNetworkHostsFile, podHostsFile } from "../lib/translate/hosts.ts";

// kubelet's fixed lines (managedHostsFileContent), written out by hand.
const MANAGED = "# Kubernetes-managed hosts file.\n" +
  "127.0.0.1\tlocalhost\n" +
  "::1\tlocalhost ip6-localhost ip6-loopback\n" +
  "fe00::0\tip6-localnet\n" +
  "fe00::0\tip6-mcastprefix\n" +
  "fe00::1\tip6-allnodes\n" +
  "fe00::2\tip6-allrouters\n";

const ALIASES: HostAlias[] = [
  { ip: "123.45.67.89", hostnames: ["foo", "bar", "baz"] },
  { ip: "456.78.90.123", hostnames: ["park", "doo", "boo"] },
];

const ALIAS_SECTION = "\n" +
  "# Entries added by HostAliases.\n" +
  "123.45.67.89\tfoo\tbar\tbaz\n" +
  "456.78.90.123\tpark\tdoo\tboo\n";

const cases: {
  name: string;
  podIPs: string[];
  hostname: string;
  aliases: HostAlias[];
  hostDomain?: string;
  want: string;
}[] = [
  {
    name: "one pod IP gives one line with the hostname",
    podIPs: ["203.0.113.1"],
    hostname: "podFoo",
    aliases: [],
    want: MANAGED + "203.0.113.1\tpodFoo\n",
  },
  {
    name: "dual-stack pod IPs give one line each, in order",
    podIPs: ["203.0.113.1", "fd00::6"],
    hostname: "podFoo",
    aliases: [],
    want: MANAGED + "203.0.113.1\tpodFoo\nfd00::6\tpodFoo\n",
  },
  {
    name: "no pod IP gives only the fixed lines",
    podIPs: [],
    hostname: "podFoo",
    aliases: [],
    want: MANAGED,
  },
  {
    name: "aliases follow a blank line and a comment, names separated by tabs",
    podIPs: ["203.0.113.1"],
    hostname: "podFoo",
    aliases: ALIASES,
    want: MANAGED + "203.0.113.1\tpodFoo\n" + ALIAS_SECTION,
  },
  {
    name: "an alias with one name gives one name",
    podIPs: ["203.0.113.1"],
    hostname: "web",
    aliases: [{ ip: "127.0.0.1", hostnames: ["db.local"] }],
    want: MANAGED + "203.0.113.1\tweb\n" +
      "\n# Entries added by HostAliases.\n127.0.0.1\tdb.local\n",
  },
  {
    name: "aliases come after the fixed lines when there is no pod IP",
    podIPs: [],
    hostname: "web",
    aliases: ALIASES,
    want: MANAGED + ALIAS_SECTION,
  },
  {
    name: "a host domain gives the full name first, then the short one",
    podIPs: ["203.0.113.1", "fd00::6"],
    hostname: "podFoo",
    aliases: [],
    hostDomain: "domainFoo.default.svc.cluster.local",
    want: MANAGED +
      "203.0.113.1\tpodFoo.domainFoo.default.svc.cluster.local\tpodFoo\n" +
      "fd00::6\tpodFoo.domainFoo.default.svc.cluster.local\tpodFoo\n",
  },
];

for (const c of cases) {
  Deno.test(`podHostsFile: ${c.name}`, () => {
    assert.equal(podHostsFile(c.podIPs, c.hostname, c.aliases, c.hostDomain), c.want);
  });
}

const HOST_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
  "192.168.1.10\tnode1.example node1\n";

const hostCases: { name: string; hostHosts: string; aliases: HostAlias[]; want: string }[] = [
  {
    name: "the host's file follows a header of its own",
    hostHosts: HOST_HOSTS,
    aliases: [],
    want: "# Kubernetes-managed hosts file (host network).\n" + HOST_HOSTS,
  },
  {
    name: "aliases are appended after the host's file",
    hostHosts: HOST_HOSTS,
    aliases: ALIASES,
    want: "# Kubernetes-managed hosts file (host network).\n" + HOST_HOSTS + ALIAS_SECTION,
  },
  {
    name: "a host file without a final newline is kept as it is",
    hostHosts: "127.0.0.1 localhost",
    aliases: [{ ip: "10.0.0.5", hostnames: ["db"] }],
    want: "# Kubernetes-managed hosts file (host network).\n" +
      "127.0.0.1 localhost\n# Entries added by HostAliases.\n10.0.0.5\tdb\n",
  },
  {
    name: "an empty host file gives the header alone",
    hostHosts: "",
    aliases: [],
    want: "# Kubernetes-managed hosts file (host network).\n",
  },
];

for (const c of hostCases) {
  Deno.test(`hostNetworkHostsFile: ${c.name}`, () => {
    assert.equal(hostNetworkHostsFile(c.hostHosts, c.aliases), c.want);
  });
}
