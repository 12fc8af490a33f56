import assert from "node:assert/strict";
import { parseResolvConf, podDnsConfig, type PodDnsInput, type ResolvConf } from "../lib/dns.ts";

const parses: { name: string; text: string; want: ResolvConf }[] = [
  {
    name: "nameservers accumulate in order",
    text: "nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver fd00::1\n",
    want: { servers: ["10.0.0.1", "10.0.0.2", "fd00::1"], searches: [], options: [] },
  },
  {
    name: "a nameserver line keeps only its first address",
    text: "nameserver 10.0.0.1 10.0.0.2\n",
    want: { servers: ["10.0.0.1"], searches: [], options: [] },
  },
  {
    name: "a nameserver line without an address is ignored",
    text: "nameserver\nnameserver 1.1.1.1",
    want: { servers: ["1.1.1.1"], searches: [], options: [] },
  },
  {
    name: "a search line lists its domains",
    text: "search a.example b.example\n",
    want: { servers: [], searches: ["a.example", "b.example"], options: [] },
  },
  {
    name: "the last search line wins",
    text: "search a.example\nsearch b.example c.example\n",
    want: { servers: [], searches: ["b.example", "c.example"], options: [] },
  },
  {
    name: "a domain line gives one search domain",
    text: "domain corp.example other.example\n",
    want: { servers: [], searches: ["corp.example"], options: [] },
  },
  {
    name: "a domain line after a search line wins",
    text: "search a.example b.example\ndomain corp.example\n",
    want: { servers: [], searches: ["corp.example"], options: [] },
  },
  {
    name: "a search line after a domain line wins",
    text: "domain corp.example\nsearch a.example\n",
    want: { servers: [], searches: ["a.example"], options: [] },
  },
  {
    name: "a trailing dot on a search domain is dropped",
    text: "search a.example. b.example\n",
    want: { servers: [], searches: ["a.example", "b.example"], options: [] },
  },
  {
    name: "a lone dot is no search domain",
    text: "search .\n",
    want: { servers: [], searches: [], options: [] },
  },
  {
    name: "a bare search line clears the search domains",
    text: "search a.example\nsearch\n",
    want: { servers: [], searches: [], options: [] },
  },
  {
    name: "options are split on spaces",
    text: "options ndots:2 rotate edns0\n",
    want: { servers: [], searches: [], options: ["ndots:2", "rotate", "edns0"] },
  },
  {
    name: "options merge across lines, a later value replacing an earlier one in place",
    text: "options ndots:1 timeout:2\noptions attempts:3 ndots:4\n",
    want: { servers: [], searches: [], options: ["ndots:4", "timeout:2", "attempts:3"] },
  },
  {
    name: "comment lines starting with # or ; are skipped",
    text: "# nameserver 9.9.9.9\n; nameserver 8.8.8.8\n  # indented\nnameserver 1.1.1.1\n",
    want: { servers: ["1.1.1.1"], searches: [], options: [] },
  },
  {
    name: "unknown lines are ignored",
    text: "sortlist 130.155.160.0/255.255.240.0\nlookup file bind\nnameserver 1.1.1.1\n",
    want: { servers: ["1.1.1.1"], searches: [], options: [] },
  },
  {
    name: "tabs, extra spaces and CRLF line ends are tolerated",
    text: "nameserver\t10.0.0.1\r\n  search   a.example\tb.example  \r\noptions  ndots:3\r\n",
    want: { servers: ["10.0.0.1"], searches: ["a.example", "b.example"], options: ["ndots:3"] },
  },
  {
    name: "a keyword must be a whole word",
    text: "nameservers 1.1.1.1\nsearching a.example\n",
    want: { servers: [], searches: [], options: [] },
  },
  {
    name: "systemd-resolved's stub file parses",
    text: "# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\n" +
      "# Do not edit.\n" +
      "\n" +
      "nameserver 127.0.0.53\n" +
      "options edns0 trust-ad\n" +
      "search lan\n",
    want: { servers: ["127.0.0.53"], searches: ["lan"], options: ["edns0", "trust-ad"] },
  },
  {
    name: "an empty file gives nothing",
    text: "",
    want: { servers: [], searches: [], options: [] },
  },
];

for (const c of parses) {
  Deno.test(`parseResolvConf: ${c.name}`, () => {
    assert.deepEqual(parseResolvConf(c.text), c.want);
  });
}

/** The host's resolv.conf most cases start from. */
function baseHost(): ResolvConf {
  return {
    servers: ["10.0.0.1", "10.0.0.2"],
    searches: ["corp.example"],
    options: ["ndots:1", "rotate"],
  };
}

const HOST_CONFIG = {
  servers: ["10.0.0.1", "10.0.0.2"],
  searches: ["corp.example"],
  options: ["ndots:1", "rotate"],
};

/** `n` search domains named d1.example, d2.example, ... */
function domains(n: number, from = 1): string[] {
  return Array.from({ length: n }, (_, i) => `d${from + i}.example`);
}

const cases: {
  name: string;
  input: PodDnsInput;
  host?: ResolvConf;
  want: { servers: string[]; searches: string[]; options: string[] };
  warnings?: string[];
}[] = [
  {
    name: "no policy is ClusterFirst, which uses the host's settings",
    input: {},
    want: HOST_CONFIG,
  },
  {
    name: "ClusterFirst uses the host's settings without cluster DNS",
    input: { dnsPolicy: "ClusterFirst" },
    want: HOST_CONFIG,
  },
  {
    name: "ClusterFirst on the host network uses the host's settings",
    input: { dnsPolicy: "ClusterFirst", hostNetwork: true },
    want: HOST_CONFIG,
  },
  {
    name: "ClusterFirstWithHostNet uses the host's settings without cluster DNS",
    input: { dnsPolicy: "ClusterFirstWithHostNet", hostNetwork: true },
    want: HOST_CONFIG,
  },
  { name: "Default uses the host's settings", input: { dnsPolicy: "Default" }, want: HOST_CONFIG },
  {
    name: "None without dnsConfig gives nothing",
    input: { dnsPolicy: "None" },
    want: { servers: [], searches: [], options: [] },
  },
  {
    name: "None uses only dnsConfig",
    input: {
      dnsPolicy: "None",
      dnsConfig: {
        nameservers: ["192.0.2.53"],
        searches: ["pod.example"],
        options: [{ name: "ndots", value: "2" }, { name: "edns0" }],
      },
    },
    want: { servers: ["192.0.2.53"], searches: ["pod.example"], options: ["ndots:2", "edns0"] },
  },
  {
    name: "dnsConfig nameservers and searches are appended to the host's",
    input: {
      dnsPolicy: "Default",
      dnsConfig: { nameservers: ["192.0.2.53"], searches: ["pod.example"] },
    },
    want: {
      servers: ["10.0.0.1", "10.0.0.2", "192.0.2.53"],
      searches: ["corp.example", "pod.example"],
      options: ["ndots:1", "rotate"],
    },
  },
  {
    name: "dnsConfig nameservers and searches already on the host are not repeated",
    input: {
      dnsConfig: {
        nameservers: ["10.0.0.2", "192.0.2.53"],
        searches: ["corp.example", "x.example"],
      },
    },
    want: {
      servers: ["10.0.0.1", "10.0.0.2", "192.0.2.53"],
      searches: ["corp.example", "x.example"],
      options: ["ndots:1", "rotate"],
    },
  },
  {
    name: "a dnsConfig option replaces the host's option of the same name",
    input: { dnsConfig: { options: [{ name: "ndots", value: "5" }] } },
    want: { ...HOST_CONFIG, options: ["ndots:5", "rotate"] },
  },
  {
    name: "a dnsConfig option without a value replaces a host option with one",
    input: { dnsConfig: { options: [{ name: "ndots" }, { name: "single-request" }] } },
    want: { ...HOST_CONFIG, options: ["ndots", "rotate", "single-request"] },
  },
  {
    name: "a dnsConfig option with an empty value is written as its name",
    input: { dnsConfig: { options: [{ name: "edns0", value: "" }] } },
    want: { ...HOST_CONFIG, options: ["ndots:1", "rotate", "edns0"] },
  },
  {
    name: "repeated dnsConfig options keep the last",
    input: {
      dnsConfig: { options: [{ name: "timeout", value: "1" }, { name: "timeout", value: "3" }] },
    },
    want: { ...HOST_CONFIG, options: ["ndots:1", "rotate", "timeout:3"] },
  },
  {
    name: "an empty dnsConfig changes nothing",
    input: { dnsConfig: {} },
    want: HOST_CONFIG,
  },
  {
    name: "repeats on the host stay without dnsConfig, as in kubelet",
    input: {},
    host: { servers: ["10.0.0.1", "10.0.0.1"], searches: ["a.example", "a.example"], options: [] },
    want: { servers: ["10.0.0.1", "10.0.0.1"], searches: ["a.example", "a.example"], options: [] },
  },
  {
    name: "repeats on the host are removed when dnsConfig is given, as in kubelet",
    input: { dnsConfig: {} },
    host: { servers: ["10.0.0.1", "10.0.0.1"], searches: ["a.example", "a.example"], options: [] },
    want: { servers: ["10.0.0.1"], searches: ["a.example"], options: [] },
  },
  {
    name: "nameservers beyond three are dropped with a warning",
    input: { dnsConfig: { nameservers: ["192.0.2.1", "192.0.2.2"] } },
    want: { ...HOST_CONFIG, servers: ["10.0.0.1", "10.0.0.2", "192.0.2.1"] },
    warnings: [
      `Remove nameservers from dnsConfig or the host's resolv.conf: a pod can use at most 3, so "192.0.2.2" is left out`,
    ],
  },
  {
    name: "with None the nameserver warning names only dnsConfig",
    input: {
      dnsPolicy: "None",
      dnsConfig: { nameservers: ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"] },
    },
    want: { servers: ["192.0.2.1", "192.0.2.2", "192.0.2.3"], searches: [], options: [] },
    warnings: [
      `Remove nameservers from dnsConfig: a pod can use at most 3, so "192.0.2.4", "192.0.2.5" are left out`,
    ],
  },
  {
    name: "32 search domains are kept",
    input: { dnsPolicy: "None", dnsConfig: { searches: domains(32) } },
    want: { servers: [], searches: domains(32), options: [] },
  },
  {
    name: "search domains beyond 32 are dropped with a warning",
    input: { dnsPolicy: "None", dnsConfig: { searches: domains(34) } },
    want: { servers: [], searches: domains(32), options: [] },
    warnings: [
      `Remove search domains from dnsConfig: a pod can use at most 32, so "d33.example", "d34.example" are left out`,
    ],
  },
  {
    name: "a search domain of 253 characters is kept",
    input: { dnsPolicy: "None", dnsConfig: { searches: ["a".repeat(253)] } },
    want: { servers: [], searches: ["a".repeat(253)], options: [] },
  },
  {
    name: "a search domain longer than 253 characters is dropped with a warning",
    input: {
      dnsPolicy: "None",
      dnsConfig: { searches: ["x.example", "a".repeat(254), "y.example"] },
    },
    want: { servers: [], searches: ["x.example", "y.example"], options: [] },
    warnings: [
      `Shorten search domain "${
        "a".repeat(254)
      }" in dnsConfig: it is longer than 253 characters, so it is left out`,
    ],
  },
  {
    // 8 domains of 250 characters: 8 * 250 + 7 spaces = 2007 characters; a 9th
    // (+ 251) makes 2258, over 2048, and a 40-character one (+ 41) makes 2048 exactly.
    name: "a search line of exactly 2048 characters is kept",
    input: {
      dnsPolicy: "None",
      dnsConfig: { searches: [..."abcdefgh"].map((c) => c.repeat(250)).concat(["z".repeat(40)]) },
    },
    want: {
      servers: [],
      searches: [..."abcdefgh"].map((c) => c.repeat(250)).concat(["z".repeat(40)]),
      options: [],
    },
  },
  {
    name: "search domains past 2048 characters are dropped from the end with a warning",
    input: {
      dnsPolicy: "None",
      dnsConfig: {
        searches: [..."abcdefgh"].map((c) => c.repeat(250)).concat(["z".repeat(41), "y.example"]),
      },
    },
    want: { servers: [], searches: [..."abcdefgh"].map((c) => c.repeat(250)), options: [] },
    warnings: [
      `Remove search domains from dnsConfig: the search line can be at most 2048 characters, so "${
        "z".repeat(41)
      }", "y.example" are left out`,
    ],
  },
  {
    name: "the count limit applies before the length limit",
    input: { dnsPolicy: "None", dnsConfig: { searches: domains(33) } },
    want: { servers: [], searches: domains(32), options: [] },
    warnings: [
      `Remove search domains from dnsConfig: a pod can use at most 32, so "d33.example" is left out`,
    ],
  },
  {
    name: "the host's search domains count towards the limit",
    input: { dnsConfig: { searches: domains(32, 2) } },
    host: { ...baseHost(), searches: ["d1.example"] },
    want: { ...HOST_CONFIG, searches: domains(32) },
    warnings: [
      `Remove search domains from dnsConfig or the host's resolv.conf: a pod can use at most 32, so "d33.example" is left out`,
    ],
  },
  {
    name: "an unknown policy is treated as ClusterFirst with a warning",
    input: { dnsPolicy: "clusterfirst" },
    want: HOST_CONFIG,
    warnings: [
      `Set dnsPolicy to "ClusterFirst", "ClusterFirstWithHostNet", "Default" or "None": "clusterfirst" is unknown, so "ClusterFirst" is used`,
    ],
  },
];

for (const c of cases) {
  Deno.test(`podDnsConfig: ${c.name}`, () => {
    const got = podDnsConfig(c.input, c.host ?? baseHost());
    assert.deepEqual(got, { config: c.want, warnings: c.warnings ?? [] });
  });
}

Deno.test("podDnsConfig: the host's settings are not changed", () => {
  const host = baseHost();
  podDnsConfig({ dnsConfig: { nameservers: ["192.0.2.1", "192.0.2.2"], searches: ["x"] } }, host);
  assert.deepEqual(host, baseHost());
});
