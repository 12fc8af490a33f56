import assert from "node:assert/strict";
import {
  MAX_RESOLV_CONF_BYTES,
  parseResolvConf,
  podDnsConfig,
  type PodDnsInput,
  readResolvConf,
  type ResolvConf,
  type ResolvConfErrors,
} from "../lib/translate/dns.ts";

/** `errors` of a file refused for a bare nameserver on each of `lines`. */
function bareNameservers(...lines: number[]): ResolvConfErrors {
  return {
    file: "/etc/resolv.conf",
    problems: lines.map((line) => ({
      line,
      message: `add an address to this "nameserver" line or remove it`,
    })),
  };
}

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
    name: "a nameserver line without an address is an error naming its line",
    text: "nameserver\nnameserver 1.1.1.1",
    want: { servers: ["1.1.1.1"], searches: [], options: [], errors: bareNameservers(1) },
  },
  {
    name: "a nameserver line of blanks only is an error",
    text: "nameserver 1.1.1.1\n  nameserver \t \r\n",
    want: { servers: ["1.1.1.1"], searches: [], options: [], errors: bareNameservers(2) },
  },
  {
    name: "every bare nameserver line is named",
    text: "# two of them\nnameserver\nsearch a.example\nnameserver\n",
    want: {
      servers: [],
      searches: ["a.example"],
      options: [],
      errors: bareNameservers(2, 4),
    },
  },
  {
    name: "a bare search line is not an error (kubelet's own table)",
    text: "nameserver 1.2.3.4\nsearch\n",
    want: { servers: ["1.2.3.4"], searches: [], options: [] },
  },
  {
    name: "a bare options line is not an error and changes nothing",
    text: "options ndots:2\noptions\n",
    want: { servers: [], searches: [], options: ["ndots:2"] },
  },
  {
    name: "a bare domain line is not an error",
    text: "domain\nnameserver 1.2.3.4\n",
    want: { servers: ["1.2.3.4"], searches: [], options: [] },
  },
  {
    name: "a commented-out bare nameserver line is no error",
    text: "#nameserver\n  # nameserver\nnameserver 1.2.3.4\n",
    want: { servers: ["1.2.3.4"], searches: [], options: [] },
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
    name: "a domain line is ignored, as kubelet reads only search lines",
    text: "domain corp.example\n",
    want: { servers: [], searches: [], options: [] },
  },
  {
    name: "a domain line after a search line leaves the search domains",
    text: "search a.example b.example\ndomain corp.example\n",
    want: { servers: [], searches: ["a.example", "b.example"], options: [] },
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

/**
 * kubelet's own table, `TestParseResolvConf` in kubernetes/kubernetes
 * `pkg/kubelet/network/dns/dns_test.go`: the text, then nameservers, searches, options, and
 * whether it is an error. Only `nameserver` without a value is one.
 */
const KUBELET_TABLE: [string, string[], string[], string[], boolean][] = [
  ["", [], [], [], false],
  [" ", [], [], [], false],
  ["\n", [], [], [], false],
  ["\t\n\t", [], [], [], false],
  ["#comment\n", [], [], [], false],
  [" #comment\n", [], [], [], false],
  ["#comment\n#comment", [], [], [], false],
  ["#comment\nnameserver", [], [], [], true], // nameserver empty
  ["#comment\nnameserver\nsearch", [], [], [], true], // nameserver and search empty
  ["#comment\nnameserver 1.2.3.4\nsearch", ["1.2.3.4"], [], [], false], // search empty
  ["nameserver 1.2.3.4", ["1.2.3.4"], [], [], false],
  [" nameserver 1.2.3.4", ["1.2.3.4"], [], [], false],
  ["\tnameserver 1.2.3.4", ["1.2.3.4"], [], [], false],
  ["nameserver\t1.2.3.4", ["1.2.3.4"], [], [], false],
  ["nameserver \t 1.2.3.4", ["1.2.3.4"], [], [], false],
  ["nameserver 1.2.3.4\nnameserver 5.6.7.8", ["1.2.3.4", "5.6.7.8"], [], [], false],
  ["nameserver 1.2.3.4 #comment", ["1.2.3.4"], [], [], false],
  ["search ", [], [], [], false], // search empty
  ["search foo", [], ["foo"], [], false],
  ["search foo bar", [], ["foo", "bar"], [], false],
  ["search foo bar bat\n", [], ["foo", "bar", "bat"], [], false],
  ["search foo\nsearch bar", [], ["bar"], [], false],
  ["nameserver 1.2.3.4\nsearch foo bar", ["1.2.3.4"], ["foo", "bar"], [], false],
  [
    "nameserver 1.2.3.4\nsearch foo\nnameserver 5.6.7.8\nsearch bar",
    ["1.2.3.4", "5.6.7.8"],
    ["bar"],
    [],
    false,
  ],
  ["#comment\nnameserver 1.2.3.4\n#comment\nsearch foo\ncomment", ["1.2.3.4"], ["foo"], [], false],
  ["options ", [], [], [], false],
  ["options ndots:5 attempts:2", [], [], ["ndots:5", "attempts:2"], false],
  ["options ndots:1\noptions ndots:5 attempts:3", [], [], ["ndots:5", "attempts:3"], false],
  [
    "nameserver 1.2.3.4\nsearch foo\nnameserver 5.6.7.8\nsearch bar\noptions ndots:5 attempts:4",
    ["1.2.3.4", "5.6.7.8"],
    ["bar"],
    ["ndots:5", "attempts:4"],
    false,
  ],
];

for (const [i, [text, servers, searches, options, isErr]] of KUBELET_TABLE.entries()) {
  Deno.test(`parseResolvConf: kubelet's case [${i}] ${JSON.stringify(text)}`, () => {
    const got = parseResolvConf(text);
    assert.equal(got.errors !== undefined, isErr, "an error");
    // kubelet checks the values only when there is no error.
    if (!isErr) assert.deepEqual(got, { servers, searches, options });
  });
}

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

const REFUSED: ResolvConf = {
  servers: ["10.0.0.1"],
  searches: [],
  options: [],
  errors: bareNameservers(3),
};

for (
  const [policy, input] of [
    ["ClusterFirst (the default)", {}],
    ["Default", { dnsPolicy: "Default" }],
    ["ClusterFirstWithHostNet on the host network", {
      dnsPolicy: "ClusterFirstWithHostNet",
      hostNetwork: true,
    }],
    ["None, as kubelet reads the host's file before the policy", {
      dnsPolicy: "None",
      dnsConfig: { nameservers: ["192.0.2.53"] },
    }],
  ] satisfies [string, PodDnsInput][]
) {
  Deno.test(`podDnsConfig: a refused host file fails a pod with dnsPolicy ${policy}`, () => {
    assert.deepEqual(podDnsConfig(input, REFUSED), {
      config: { servers: [], searches: [], options: [] },
      warnings: [],
      error:
        `Fix /etc/resolv.conf: line 3: add an address to this "nameserver" line or remove it; until then no pod sandbox can be created`,
    });
  });
}

Deno.test("readResolvConf: reads a file through a symlink and names it in errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-dns-" });
  try {
    await Deno.writeTextFile(`${dir}/target`, "nameserver 10.0.0.1\nnameserver\n");
    await Deno.symlink(`${dir}/target`, `${dir}/resolv.conf`);
    assert.deepEqual(await readResolvConf(`${dir}/resolv.conf`), {
      servers: ["10.0.0.1"],
      searches: [],
      options: [],
      errors: { ...bareNameservers(2), file: `${dir}/resolv.conf` },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readResolvConf: a file just under 10 MiB is read, one of 10 MiB is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-dns-" });
  try {
    // kubelet's ReadAtMost fails once the limit is reached: 10 MiB itself is too much.
    const head = "nameserver 10.0.0.1\n";
    const under = head + "#".repeat(MAX_RESOLV_CONF_BYTES - 1 - head.length);
    await Deno.writeTextFile(`${dir}/under`, under);
    assert.deepEqual(await readResolvConf(`${dir}/under`), {
      servers: ["10.0.0.1"],
      searches: [],
      options: [],
    });
    await Deno.writeTextFile(`${dir}/at`, under + "#");
    assert.equal((await Deno.stat(`${dir}/at`)).size, 10 * 1024 * 1024);
    assert.deepEqual(await readResolvConf(`${dir}/at`), {
      servers: [],
      searches: [],
      options: [],
      errors: {
        file: `${dir}/at`,
        problems: [{
          line: 0,
          message: "make it smaller than 10485760 bytes (10 MiB), kubelet's limit",
        }],
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readResolvConf: a FIFO is refused at once instead of hanging", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-dns-" });
  try {
    const mk = await new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).output();
    assert.ok(mk.success);
    assert.deepEqual((await readResolvConf(`${dir}/fifo`)).errors?.problems, [
      { line: 0, message: "make it a regular file: it is a FIFO (named pipe)" },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readResolvConf: a missing file throws", () => {
  assert.throws(() => readResolvConf("/nonexistent/resolv.conf"), { code: "ENOENT" });
});
