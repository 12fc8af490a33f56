import assert from "node:assert/strict";
import { parseCommandLine, UsageError } from "../lib/cmd/cli.ts";
import { isLoopbackHost, parseUrlHeaders, urlRefusal } from "../lib/manifest/url_rules.ts";

const ENV = { cwd: "/home/ops", hostname: "node-1" };

const HEADER_CASES: { name: string; values: string[]; headers: [string, string][] }[] = [
  {
    name: "kubelet's example: pairs split at commas, the flag repeated, values of a name in order",
    values: ["a:hello,b:again,c:world", "b:beautiful"],
    headers: [["a", "hello"], ["b", "again"], ["c", "world"], ["b", "beautiful"]],
  },
  {
    name: "names and values trimmed, empty pairs skipped",
    values: [" X-Node : web-1 ,, ", ""],
    headers: [["X-Node", "web-1"]],
  },
  {
    name: "a value split at the first colon only, and an empty value",
    values: ["Authorization:Bearer a:b:c,X-Empty:"],
    headers: [["Authorization", "Bearer a:b:c"], ["X-Empty", ""]],
  },
];

for (const c of HEADER_CASES) {
  Deno.test(`--manifest-url-header: ${c.name}`, () => {
    assert.deepEqual(parseUrlHeaders(c.values), c.headers);
  });
}

const HEADER_ERRORS: { value: string; message: string }[] = [
  {
    value: "a:1,token",
    message:
      `--manifest-url-header: "token" is not NAME:VALUE; write comma-separated pairs, e.g. --manifest-url-header 'Authorization:Bearer TOKEN,X-Node:web-1'`,
  },
  {
    value: "X Node:1",
    message:
      `--manifest-url-header: "X Node" is not a header name; use letters, digits and !#$%&'*+-.^_\`|~, e.g. --manifest-url-header 'Authorization:Bearer TOKEN,X-Node:web-1'`,
  },
  {
    value: ":1",
    message:
      `--manifest-url-header: "" is not a header name; use letters, digits and !#$%&'*+-.^_\`|~, e.g. --manifest-url-header 'Authorization:Bearer TOKEN,X-Node:web-1'`,
  },
  {
    value: "If-None-Match:*",
    message:
      "--manifest-url-header: leave out If-None-Match: tinylet sends it itself, so that a poll of an unchanged document costs one small answer",
  },
  {
    value: "a:x\u0007y",
    message: "--manifest-url-header: the value of a holds a control character; remove it",
  },
];

for (const c of HEADER_ERRORS) {
  Deno.test(`--manifest-url-header ${JSON.stringify(c.value)} is refused`, () => {
    assert.throws(() => parseUrlHeaders([c.value]), { message: c.message });
  });
}

Deno.test("loopback hosts are localhost, 127.0.0.0/8 and [::1]", () => {
  const host = (u: string) => new URL(u).hostname;
  assert.equal(isLoopbackHost(host("http://localhost:8080/")), true);
  assert.equal(isLoopbackHost(host("http://LOCALHOST/")), true);
  assert.equal(isLoopbackHost(host("http://127.0.0.1/")), true);
  assert.equal(isLoopbackHost(host("http://127.200.3.4/")), true);
  assert.equal(isLoopbackHost(host("http://127.1/")), true); // the URL parser makes it 127.0.0.1
  assert.equal(isLoopbackHost(host("http://[::1]:80/")), true);
  assert.equal(isLoopbackHost(host("http://198.18.0.1/")), false);
  assert.equal(isLoopbackHost(host("http://128.0.0.1/")), false);
  assert.equal(isLoopbackHost(host("http://localhost.example.com/")), false);
  assert.equal(isLoopbackHost(host("http://127.0.0.1.nip.io/")), false);
  assert.equal(isLoopbackHost(host("http://[::2]/")), false);
});

Deno.test("urlRefusal: https anywhere, http to loopback, other schemes and credentials never", () => {
  const refusal = (u: string, insecure = false) => urlRefusal(new URL(u), insecure);
  assert.equal(refusal("https://config.example.com/web.yaml"), undefined);
  assert.equal(refusal("http://127.0.0.1:8080/web.yaml"), undefined);
  assert.equal(refusal("http://config.example.com/web.yaml", true), undefined);
  assert.equal(
    refusal("http://config.example.com/web.yaml"),
    "Use https:// for http://config.example.com/web.yaml: plain http:// is accepted for loopback addresses only, since whoever can change the document runs anything as root on this node; pass --insecure-manifest-url to accept it anyway",
  );
  assert.equal(
    refusal("ftp://127.0.0.1/x.yaml"),
    "Use an https:// URL: ftp://127.0.0.1/x.yaml is ftp://",
  );
  assert.equal(
    refusal("file:///etc/passwd", true),
    "Use an https:// URL: file:///etc/passwd is file://",
  );
  assert.equal(
    refusal("https://ops:pw@config.example.com/x.yaml"),
    "Take the credentials out of the URL https://config.example.com/x.yaml: send them as a header, e.g. --manifest-url-header 'Authorization:Bearer TOKEN,X-Node:web-1'",
  );
});

Deno.test("--manifest-url and its flags become the agent's settings, for every command", () => {
  const args = [
    "--manifest-url",
    "https://config.example.com/nodes/web.yaml",
    "--manifest-url-header",
    "Authorization:Bearer t0ken,X-Node:web-1",
    "--manifest-url-header=X-Node:web-2",
    "--manifest-url-interval",
    "1m30s",
    "--manifest-url-ca",
    "certs/ca.pem",
  ];
  const expected = {
    url: "https://config.example.com/nodes/web.yaml",
    fetchUrl: "https://config.example.com/nodes/web.yaml",
    headers: [["Authorization", "Bearer t0ken"], ["X-Node", "web-1"], ["X-Node", "web-2"]],
    intervalMs: 90_000,
    ca: "/home/ops/certs/ca.pem",
    insecure: false,
  };
  for (const command of [[], ["run"], ["plan"], ["pods"]]) {
    const c = parseCommandLine([...command, ...args], ENV);
    assert.ok("config" in c);
    assert.deepEqual(c.config.manifestUrl, expected);
  }
  const single = parseCommandLine(["-manifest-url=http://localhost:8000/a.yaml"], ENV);
  assert.ok("config" in single);
  assert.deepEqual(single.config.manifestUrl, {
    url: "http://localhost:8000/a.yaml",
    fetchUrl: "http://localhost:8000/a.yaml",
    headers: [],
    intervalMs: 20_000,
    ca: undefined,
    insecure: false,
  });
});

Deno.test("--insecure-manifest-url accepts plain http:// to any host", () => {
  const c = parseCommandLine(
    ["--manifest-url", "http://198.18.0.1/web.yaml", "--insecure-manifest-url"],
    ENV,
  );
  assert.ok("config" in c);
  assert.equal(c.config.manifestUrl?.insecure, true);
  assert.equal(c.config.manifestUrl?.url, "http://198.18.0.1/web.yaml");
});

Deno.test("tinylet check --manifest-url checks the URL alone, or with the paths named", () => {
  const url = ["--manifest-url", "https://c.example/w.yaml"];
  const alone = parseCommandLine(["check", ...url], ENV);
  assert.ok(alone.command === "check");
  assert.deepEqual(alone.paths, []);
  const named = parseCommandLine(["check", "pods", ...url], ENV);
  assert.ok(named.command === "check");
  assert.deepEqual(named.paths, ["/home/ops/pods"]);
  const plain = parseCommandLine(["check"], ENV);
  assert.ok(plain.command === "check");
  assert.deepEqual(plain.paths, ["/etc/tinylet/manifests"]);
});

const USAGE_ERRORS: { args: string[]; message: string }[] = [
  {
    args: ["--manifest-url", "http://198.18.0.1/web.yaml"],
    message:
      "--manifest-url: Use https:// for http://198.18.0.1/web.yaml: plain http:// is accepted for loopback addresses only, since whoever can change the document runs anything as root on this node; pass --insecure-manifest-url to accept it anyway",
  },
  {
    args: ["--manifest-url", "config.example.com/web.yaml"],
    message:
      `--manifest-url: "config.example.com/web.yaml" is not a URL; write it whole, e.g. https://config.example.com/nodes/web.yaml`,
  },
  {
    args: ["--manifest-url", "https://c.example/w.yaml", "--manifest-url-interval", "500ms"],
    message: `--manifest-url-interval: "500ms" is shorter than 1s`,
  },
  {
    args: ["--manifest-url", "https://c.example/w.yaml", "--manifest-url-header", "nocolon"],
    message:
      `--manifest-url-header: "nocolon" is not NAME:VALUE; write comma-separated pairs, e.g. --manifest-url-header 'Authorization:Bearer TOKEN,X-Node:web-1'`,
  },
  {
    args: ["--manifest-url-header", "a:b"],
    message:
      "--manifest-url-header qualifies --manifest-url: give --manifest-url URL too, or leave it out",
  },
  {
    args: ["--manifest-url-interval", "1m"],
    message:
      "--manifest-url-interval qualifies --manifest-url: give --manifest-url URL too, or leave it out",
  },
  {
    args: ["--insecure-manifest-url"],
    message:
      "--insecure-manifest-url qualifies --manifest-url: give --manifest-url URL too, or leave it out",
  },
  {
    args: ["--manifest-url", "https://c.example/w.yaml", "--manifest-url-ca="],
    message: "--manifest-url-ca: the path is empty",
  },
];

for (const c of USAGE_ERRORS) {
  Deno.test(`parseCommandLine refuses ${c.args.join(" ")}`, () => {
    assert.throws(() => parseCommandLine(c.args, ENV), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.equal(err.message, c.message);
      return true;
    });
  });
}
