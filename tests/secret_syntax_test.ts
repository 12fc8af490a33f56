import assert from "node:assert/strict";
import { formatProblem, parseManifest } from "../lib/manifest/parse.ts";

/** Secrets written wrongly: what the parser would quote is a value's text. */
const BROKEN: [string, string, string[]][] = [
  [
    "a TLS key under-indented under a block scalar",
    `apiVersion: v1
kind: Secret
metadata: {name: tls}
stringData:
  tls.key: |
  -----BEGIN PRIVATE KEY-----
  MIIEvQIBADANBgkqhkiG9w0BAQEFAASC
  -----END PRIVATE KEY-----
`,
    ["BEGIN PRIVATE", "MIIEvQ", "END PRIVATE"],
  ],
  [
    "a URL with a colon and a space in a plain value",
    `apiVersion: v1
kind: Secret
metadata: {name: db}
stringData:
  db-url: postgres://admin: hunter2@db
`,
    ["postgres", "admin", "hunter2"],
  ],
  [
    "a password with a colon and a space",
    `apiVersion: v1
kind: Secret
metadata: {name: db}
stringData:
  pw: p@ss: word
`,
    ["p@ss", "word"],
  ],
  [
    "a password starting with '*' (an alias)",
    `kind: Secret
apiVersion: v1
metadata: {name: db}
stringData:
  password: *Tr0ub4dor
`,
    ["Tr0ub4dor"],
  ],
  [
    "a JSON Secret with a broken string",
    `{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "j"},
 "stringData": {"token": "s3cr3t-t0ken
`,
    ["s3cr3t", "t0ken"],
  ],
];

Deno.test("a Secret that does not parse is placed by line and column, its text never shown", () => {
  for (const [name, text, fragments] of BROKEN) {
    const m = parseManifest("/m/secret.yaml", text);
    assert.equal(m.valid, false, name);
    assert.ok(m.problems.length > 0, name);
    for (const p of m.problems) {
      const line = formatProblem(p);
      assert.equal(p.field, "", `${name}: ${line}`);
      assert.match(line, /in a Secret \(its text is not shown|cannot be read as a Secret/, name);
      for (const f of fragments) assert.ok(!line.includes(f), `${name}: ${line} shows ${f}`);
    }
  }
});

Deno.test("the positions of a broken Secret are kept", () => {
  const m = parseManifest("/m/secret.yaml", BROKEN[1]![1]);
  assert.deepEqual(
    m.problems.map(formatProblem),
    [
      "/m/secret.yaml:5:11: error: Fix the syntax: BLOCK_AS_IMPLICIT_KEY in a Secret (its text is not shown: it may hold a value)",
    ],
  );
});

Deno.test("a ConfigMap or Pod that does not parse still shows the parser's message and field", () => {
  const m = parseManifest(
    "/m/cm.yaml",
    `apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
data:
  url: http://a: b
`,
  );
  assert.deepEqual(m.problems.map(formatProblem), [
    "/m/cm.yaml:5:8: error: Fix the syntax: Nested mappings are not allowed in compact mappings (field data.url.http://a)",
  ]);
});
