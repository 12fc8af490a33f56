import assert from "node:assert/strict";
import { Checker, type Severity } from "../lib/manifest/checker.ts";
import {
  checkConfigMap,
  checkSecret,
  configKeyError,
  type ConfigMapObject,
  type SecretObject,
  secretSummary,
} from "../lib/manifest/config_objects.ts";
import { type FieldPath, parseYamlStream } from "../lib/manifest/yaml.ts";

/** The recognizable secret every document below carries; no finding may ever show it. */
const SECRET = "hunter2";
/** `SECRET` in base64, worked out by hand: "hun" → aHVu, "ter" → dGVy, "2" → Mg==. */
const SECRET_B64 = "aHVudGVyMg==";
/** The bytes of `SECRET` (h u n t e r 2). */
const SECRET_BYTES = new Uint8Array([104, 117, 110, 116, 101, 114, 50]);

/** What a finding must be: severity, field path and a distinctive part of the message. */
type Expected = [Severity, FieldPath, string];

function parse(text: string): Record<string, unknown> {
  const docs = parseYamlStream(text);
  assert.equal(docs.length, 1);
  assert.deepEqual(docs[0]!.errors, []);
  return docs[0]!.value as Record<string, unknown>;
}

function run(obj: Record<string, unknown>) {
  const c = new Checker();
  const out = obj.kind === "Secret" ? checkSecret(c, obj) : checkConfigMap(c, obj);
  return { out, findings: c.findings };
}

function assertFindings(findings: Checker["findings"], expected: Expected[]) {
  const shown = findings.map((f) => `${f.severity} ${JSON.stringify(f.path)}: ${f.message}`);
  assert.equal(findings.length, expected.length, shown.join("\n"));
  expected.forEach(([severity, path, part], i) => {
    const f = findings[i]!;
    const said = shown[i] ?? "";
    assert.equal(f.severity, severity, said);
    assert.deepEqual(f.path, path, said);
    assert.ok(f.message.includes(part), `${said}\nlacks: ${part}`);
  });
}

const CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n";
/** The whole message for a value that is not base64: the same whatever the value. */
const NOT_BASE64 = (key: string, field: string, plain: string) =>
  `Encode the value of "${key}" in ${field} as base64 (e.g. with \`base64 -w0\`), or move it as plain text to ${plain}: it is not standard base64 with padding (A-Z, a-z, 0-9, '+' and '/', padded with "=" to a multiple of 4 characters; URL-safe base64 is not read)`;
const SEC = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n";

const INVALID: { name: string; text: string; findings: Expected[] }[] = [
  {
    name: "a number in ConfigMap data is to be quoted",
    text: CM + "data:\n  port: 8080\n  level: " + SECRET + "\n",
    findings: [[
      "error",
      ["data", "port"],
      'Quote the value of "port" in data: values are strings',
    ]],
  },
  {
    name: "a mapping as a ConfigMap value is an error",
    text: CM + "data:\n  app:\n    password: " + SECRET + "\n",
    findings: [["error", ["data", "app"], 'Write the value of "app" in data as strings']],
  },
  {
    name: "a key with '/' is refused",
    text: CM + "data:\n  conf/app.ini: " + SECRET + "\n",
    findings: [[
      "error",
      ["data", "conf/app.ini"],
      `Rename the key "conf/app.ini" in data: it must consist of letters, digits, '-', '_' or '.'`,
    ]],
  },
  {
    name: "a key starting with '..' is refused",
    text: CM + "data:\n  ..data: " + SECRET + "\n",
    findings: [["error", ["data", "..data"], 'it must not start with ".."']],
  },
  {
    name: "the key '.' is refused",
    text: CM + 'binaryData:\n  ".": ' + SECRET_B64 + "\n",
    findings: [["error", ["binaryData", "."], 'it must not be "."']],
  },
  {
    name: "a key of 254 characters is refused",
    text: CM + `data:\n  ${"k".repeat(254)}: ${SECRET}\n`,
    findings: [[
      "error",
      ["data", "k".repeat(254)],
      "it must be at most 253 characters (it has 254)",
    ]],
  },
  {
    name: "a key in both data and binaryData is an error",
    text: CM + `data:\n  token: ${SECRET}\nbinaryData:\n  token: ${SECRET_B64}\n`,
    findings: [["error", ["binaryData", "token"], "a key may be in only one of them"]],
  },
  {
    name: "binaryData in plain text is an error naming the key",
    text: CM + `binaryData:\n  token: ${SECRET}\n`,
    findings: [["error", ["binaryData", "token"], NOT_BASE64("token", "binaryData", "data")]],
  },
  {
    name: "URL-safe base64 is refused",
    text: CM + "binaryData:\n  blob: a-b_\n",
    findings: [["error", ["binaryData", "blob"], NOT_BASE64("blob", "binaryData", "data")]],
  },
  {
    name: "base64 with '=' inside is refused",
    text: CM + "binaryData:\n  blob: ab==aHVu\n",
    findings: [["error", ["binaryData", "blob"], NOT_BASE64("blob", "binaryData", "data")]],
  },
  {
    name: "base64 folded onto one line with a space is refused",
    text: CM + "binaryData:\n  blob: aHVu\n    dGVyMg==\n",
    findings: [["error", ["binaryData", "blob"], NOT_BASE64("blob", "binaryData", "data")]],
  },
  {
    name: "a ConfigMap of another apiVersion is an error; unknown fields are warnings",
    text: CM.replace("v1", "apps/v1") +
      "  generateName: s-\n  uid: 1234\n  creationTimestamp: null\nspec: {}\n",
    findings: [
      ["error", ["apiVersion"], 'Set apiVersion to "v1" for kind: ConfigMap: it is "apps/v1"'],
      ["warning", ["spec"], 'Ignoring unknown field "spec"'],
      ["warning", ["metadata", "generateName"], 'Ignoring unknown field "generateName"'],
      ["warning", ["metadata", "uid"], 'Ignoring "uid": it is set by an API server'],
    ],
  },
  {
    name: "a name and a namespace that are no DNS names are errors",
    text: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: My_Settings\n  namespace: a.b\n",
    findings: [
      [
        "error",
        ["metadata", "name"],
        'Rename the ConfigMap "My_Settings": the name must be a DNS-1123 subdomain',
      ],
      [
        "error",
        ["metadata", "namespace"],
        'Change the namespace "a.b": it must be a DNS-1123 label',
      ],
    ],
  },
  {
    name: "a ConfigMap without metadata is an error",
    text: "apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n",
    findings: [["error", ["metadata"], 'Add "metadata" with a "name"']],
  },
  {
    name: "data as a list and immutable as a string are errors",
    text: CM + `data: [${SECRET}]\nimmutable: "true"\n`,
    findings: [
      ["error", ["data"], 'Write "data" as a mapping of keys to strings: it is a list'],
      ["error", ["immutable"], 'Write "immutable" as true or false: it is a string'],
    ],
  },
  {
    name: "Secret data in plain text is an error pointing to stringData",
    text: SEC + `data:\n  password: ${SECRET}!\n`,
    findings: [["error", ["data", "password"], NOT_BASE64("password", "data", "stringData")]],
  },
  {
    name: "a number in stringData is to be quoted, a bad key refused",
    text: SEC + `stringData:\n  pin: 1234\n  "my key": ${SECRET}\n`,
    findings: [
      ["error", ["stringData", "pin"], 'Quote the value of "pin" in stringData'],
      ["error", ["stringData", "my key"], 'Rename the key "my key" in stringData'],
    ],
  },
  {
    name: "a service account token secret is refused: it needs a cluster",
    text: SEC + `type: kubernetes.io/service-account-token\nstringData:\n  token: ${SECRET}\n`,
    findings: [[
      "error",
      ["type"],
      `Change the secret type "kubernetes.io/service-account-token": its token is issued by a cluster's token controller`,
    ]],
  },
  {
    name: "a bootstrap token secret is refused: it needs a cluster",
    text: SEC + `type: bootstrap.kubernetes.io/token\nstringData:\n  token-secret: ${SECRET}\n`,
    findings: [["error", ["type"], "join a cluster's control plane, which tinylet does not have"]],
  },
  {
    name: "another type is refused, naming the accepted ones",
    text: SEC + `type: example.com/custom\nstringData:\n  k: ${SECRET}\n`,
    findings: [[
      "error",
      ["type"],
      'Change the secret type "example.com/custom": tinylet accepts Opaque, kubernetes.io/basic-auth, kubernetes.io/ssh-auth, kubernetes.io/tls, kubernetes.io/dockercfg, kubernetes.io/dockerconfigjson',
    ]],
  },
  {
    name: "a type named like an object property is refused",
    text: SEC + "type: constructor\n",
    findings: [["error", ["type"], 'Change the secret type "constructor": tinylet accepts']],
  },
  {
    name: "basic-auth needs a username or a password",
    text: SEC + `type: kubernetes.io/basic-auth\nstringData:\n  user: ${SECRET}\n`,
    findings: [[
      "error",
      ["type"],
      'Add "username" or "password" under data or stringData: a secret of type "kubernetes.io/basic-auth" needs',
    ]],
  },
  {
    name: "ssh-auth needs a non-empty ssh-privatekey",
    text: SEC + 'type: kubernetes.io/ssh-auth\nstringData:\n  ssh-privatekey: ""\n',
    findings: [["error", ["type"], 'Add "ssh-privatekey" under data or stringData (it is empty)']],
  },
  {
    name: "tls needs tls.key beside tls.crt",
    text: SEC + `type: kubernetes.io/tls\nstringData:\n  tls.crt: ${SECRET}\n`,
    findings: [[
      "error",
      ["type"],
      'Add "tls.key" under data or stringData: a secret of type "kubernetes.io/tls" needs "tls.crt" and "tls.key"',
    ]],
  },
  {
    name: "a tls key that is not base64 is reported once, not as missing too",
    text: SEC + `type: kubernetes.io/tls\ndata:\n  tls.crt: ${SECRET_B64}\n  tls.key: ${SECRET}\n`,
    findings: [["error", ["data", "tls.key"], NOT_BASE64("tls.key", "data", "stringData")]],
  },
  {
    name: "dockerconfigjson needs .dockerconfigjson",
    text: SEC + "type: kubernetes.io/dockerconfigjson\n",
    findings: [["error", ["type"], 'Add ".dockerconfigjson" under data or stringData']],
  },
  {
    name: "a .dockerconfigjson that is not JSON is located, not quoted",
    text: SEC +
      `type: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{"auths": {"r.example": {"auth": "${SECRET}"'\n`,
    findings: [[
      "error",
      ["stringData", ".dockerconfigjson"],
      'Fix the value of ".dockerconfigjson": a secret of type "kubernetes.io/dockerconfigjson" needs ".dockerconfigjson" holding a JSON object, and it is not valid JSON at line 1 column 43',
    ]],
  },
  {
    name: "a .dockercfg whose JSON error has no position is still not quoted",
    text: SEC + `type: kubernetes.io/dockercfg\ndata:\n  .dockercfg: ${SECRET_B64}\n`,
    findings: [[
      "error",
      ["data", ".dockercfg"],
      "holding a JSON object, and it is not valid JSON",
    ]],
  },
  {
    name: "a .dockerconfigjson that is a JSON list is refused",
    text: SEC +
      `type: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '["${SECRET}"]'\n`,
    findings: [[
      "error",
      ["stringData", ".dockerconfigjson"],
      "it is JSON but a list, not an object",
    ]],
  },
  {
    name: "a non-string type is an error",
    text: SEC + "type: 3\n",
    findings: [["error", ["type"], 'Write "type" as a string, e.g. "Opaque": it is a number']],
  },
];

for (const c of INVALID) {
  Deno.test(`config objects: ${c.name}`, () => {
    const { out, findings } = run(parse(c.text));
    assertFindings(findings, c.findings);
    const errors = c.findings.some(([severity]) => severity === "error");
    assert.equal(out === undefined, errors);
  });
}

Deno.test("config objects: a ConfigMap's text and binary data, decoded", () => {
  const { out, findings } = run(parse(
    CM + "  labels: {app: web}\n  creationTimestamp: null\n" +
      "data:\n  LOG_LEVEL: debug\n  app.properties: |\n    a=1\n" +
      "binaryData:\n  logo.bin: AAH/\n  hello: |\n    aGVs\n    bG8=\nimmutable: true\n",
  ));
  assertFindings(findings, []);
  const expected: ConfigMapObject = {
    kind: "ConfigMap",
    name: "settings",
    namespace: "default",
    labels: { app: "web" },
    data: { LOG_LEVEL: "debug", "app.properties": "a=1\n" },
    // AAH/ = 000000 000000 000111 111111 = 0x00 0x01 0xff; line breaks are skipped, as Go does.
    binaryData: {
      "logo.bin": new Uint8Array([0, 1, 255]),
      hello: new Uint8Array([104, 101, 108, 108, 111]),
    },
    immutable: true,
  };
  assert.deepEqual(out, expected);
});

Deno.test("config objects: a null value reads as empty, with a warning", () => {
  const { out, findings } = run(parse(CM + "data:\n  empty:\n"));
  assertFindings(findings, [[
    "warning",
    ["data", "empty"],
    'Write "" for the empty value of "empty"',
  ]]);
  assert.deepEqual((out as ConfigMapObject).data, { empty: "" });
});

Deno.test("config objects: a key named __proto__ stays a key", () => {
  const { out } = run(parse(CM + `data:\n  __proto__: ${SECRET}\n`));
  const data = (out as ConfigMapObject).data;
  assert.deepEqual(Object.keys(data), ["__proto__"]);
  assert.equal(Object.getPrototypeOf(data), Object.prototype);
});

Deno.test("config objects: a Secret's data decoded, stringData merged over it", () => {
  const { out, findings } = run(parse(
    "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: prod}\n" +
      `type: kubernetes.io/basic-auth\ndata:\n  password: ${SECRET_B64}\n  user: ${SECRET_B64}\n` +
      "stringData:\n  username: admin\n  user: s3cret\n",
  ));
  assertFindings(findings, []);
  const expected: SecretObject = {
    kind: "Secret",
    name: "db",
    namespace: "prod",
    type: "kubernetes.io/basic-auth",
    data: {
      password: SECRET_BYTES,
      user: new Uint8Array([115, 51, 99, 114, 101, 116]), // s3cret, from stringData
      username: new Uint8Array([97, 100, 109, 105, 110]), // admin
    },
    immutable: false,
  };
  assert.deepEqual(out, expected);
  assert.deepEqual(secretSummary(out as SecretObject), [
    { key: "password", bytes: 7 },
    { key: "user", bytes: 6 },
    { key: "username", bytes: 5 },
  ]);
});

Deno.test("config objects: a Secret with no type is Opaque; the typed ones accept their keys", () => {
  const opaque = run(parse(SEC));
  assertFindings(opaque.findings, []);
  assert.deepEqual(opaque.out, {
    kind: "Secret",
    name: "db",
    namespace: "default",
    type: "Opaque",
    data: {},
    immutable: false,
  });
  for (
    const body of [
      'type: ""\n',
      'type: kubernetes.io/basic-auth\nstringData: {password: ""}\n',
      `type: kubernetes.io/ssh-auth\ndata: {ssh-privatekey: ${SECRET_B64}}\n`,
      `type: kubernetes.io/tls\nstringData: {tls.crt: a, tls.key: ${SECRET}}\n`,
      "type: kubernetes.io/dockercfg\nstringData: {.dockercfg: '{}'}\n",
      "type: kubernetes.io/dockerconfigjson\nstringData: {.dockerconfigjson: 'null'}\n",
      `type: kubernetes.io/dockerconfigjson\nstringData: {.dockerconfigjson: '{"auths": {"r.example": {"auth": "${SECRET_B64}"}}}'}\n`,
    ]
  ) {
    const { out, findings } = run(parse(SEC + body));
    assertFindings(findings, []);
    assert.ok(out !== undefined, body);
  }
});

Deno.test("config objects: the data of one object may total exactly 1 MiB, not a byte more", () => {
  const meta = { name: "big" };
  const mib = 1048576;
  const atLimit = run({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: meta,
    data: { a: "x".repeat(mib) },
  });
  assertFindings(atLimit.findings, []);
  // "é" is 2 bytes in UTF-8: 524289 of them are 1048578 bytes.
  const utf8Over = run({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: meta,
    data: { a: "é".repeat(524289) },
  });
  assertFindings(utf8Over.findings, [[
    "error",
    [],
    "Shrink the ConfigMap's data: its values total 1048578 bytes, more than the limit of 1048576 bytes (1 MiB)",
  ]]);
  const binaryOver = run({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: meta,
    data: { a: "x".repeat(mib) },
    binaryData: { b: "AA==" },
  });
  assertFindings(binaryOver.findings, [["error", [], "its values total 1048577 bytes"]]);
  // stringData replaces data under the same key: the 1 byte of data.a is not counted.
  const merged = run({
    apiVersion: "v1",
    kind: "Secret",
    metadata: meta,
    data: { a: "AA==" },
    stringData: { a: "x".repeat(mib) },
  });
  assertFindings(merged.findings, []);
  const secretOver = run({
    apiVersion: "v1",
    kind: "Secret",
    metadata: meta,
    data: { b: "AA==" },
    stringData: { a: "x".repeat(mib) },
  });
  assertFindings(secretOver.findings, [[
    "error",
    [],
    "Shrink the Secret's data: its values total 1048577 bytes, more than the limit of 1048576",
  ]]);
});

Deno.test("config objects: a document of the other kind is refused", () => {
  const c = new Checker();
  assert.equal(checkSecret(c, parse(CM)), undefined);
  assertFindings(c.findings, [["error", ["kind"], 'Set kind to "Secret": it is "ConfigMap"']]);
});

Deno.test("config objects: finding paths locate the line of the key", () => {
  const text = CM + "data:\n  a: b\n  port: 8080\n";
  const doc = parseYamlStream(text)[0]!;
  const { findings } = run(doc.value as Record<string, unknown>);
  assert.deepEqual(doc.locate(findings[0]!.path), { line: 7, column: 3 });
});

Deno.test("config objects: configKeyError follows Kubernetes' IsConfigMapKey", () => {
  const cases: [string, string | undefined][] = [
    ["app.properties", undefined],
    ["_x-Y.9", undefined],
    [".hidden", undefined],
    ["a..b", undefined],
    ["k".repeat(253), undefined],
    ["", "must not be empty"],
    ["a b", "must consist of letters, digits, '-', '_' or '.'"],
    ["a/b", "must consist of letters, digits, '-', '_' or '.'"],
    ["é", "must consist of letters, digits, '-', '_' or '.'"],
    ["k".repeat(254), "must be at most 253 characters (it has 254)"],
    [".", 'must not be "."'],
    ["..", 'must not be ".."'],
    ["..data", 'must not start with ".."'],
  ];
  for (const [key, expected] of cases) assert.equal(configKeyError(key), expected, key);
});

Deno.test("config objects: a value that is not base64 is said in the same words, whatever it is", () => {
  // A password pasted under data: its URL-safe characters, a space, a stray "=" or a bad
  // length must not show, nor where they are.
  for (const pw of ["pa-ss_w0rd", "s3cr3t=x", "two words", "abc", "=abc", "aHVu\tdGVy"]) {
    const { findings } = run({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "db" },
      data: { pw },
    });
    assertFindings(findings, [["error", ["data", "pw"], NOT_BASE64("pw", "data", "stringData")]]);
    assert.equal(findings[0]!.message, NOT_BASE64("pw", "data", "stringData"), pw);
  }
});

/**
 * Documents with a problem of every kind these checks can report, each next to `SECRET` (or
 * its base64) as a value of data, binaryData or stringData.
 */
const LEAK_DOCS: Record<string, unknown>[] = [
  ...[
    // kind, apiVersion, unknown fields, a bad name and namespace, metadata warnings.
    `apiVersion: v2\nkind: Secret\nmetadata:\n  name: My_Db\n  namespace: a.b\n  uid: x\n  foo: 1\nspec: 1\nstringData: {pw: ${SECRET}}\n`,
    `apiVersion: v1\nkind: Secrets\nmetadata: {name: db}\ndata: {pw: ${SECRET_B64}}\n`,
    `apiVersion: v1\nkind: Secret\nstringData: {pw: ${SECRET}}\n`,
    `apiVersion: v1\nkind: Secret\nmetadata: [${SECRET}]\ndata: {pw: ${SECRET_B64}}\n`,
    `apiVersion: v1\nkind: Secret\nmetadata:\n  labels: [a]\nstringData: {pw: ${SECRET}}\n`,
    // Values of every wrong shape, next to the secret.
    SEC +
    `data:\n  password: ${SECRET} ${SECRET}\n  b: "${SECRET_B64}${SECRET}"\n  c: ${SECRET}-_\n`,
    SEC + `stringData:\n  pw: [${SECRET}]\n  n: 12\n  e:\n  "bad key": ${SECRET}\n`,
    SEC + `data: [${SECRET_B64}]\nstringData: ${SECRET}\nimmutable: ${SECRET}\n`,
    CM + `data:\n  t: ${SECRET}\nbinaryData:\n  t: ${SECRET_B64}\n  u: ${SECRET}\n`,
    CM + `data:\n  m: {x: ${SECRET}}\n  b: true\nbinaryData: ${SECRET}\n`,
    // Types.
    SEC + `type: 3\nstringData: {pw: ${SECRET}}\n`,
    SEC + `type: example.com/x\nstringData: {pw: ${SECRET}}\n`,
    SEC + `type: kubernetes.io/service-account-token\nstringData: {token: ${SECRET}}\n`,
    SEC + `type: bootstrap.kubernetes.io/token\nstringData: {token-secret: ${SECRET}}\n`,
    SEC + `type: kubernetes.io/basic-auth\nstringData: {user: ${SECRET}}\n`,
    SEC + `type: kubernetes.io/tls\nstringData: {tls.crt: ${SECRET}}\n`,
    SEC + 'type: kubernetes.io/ssh-auth\nstringData: {ssh-privatekey: ""}\n',
    // JSON: with a position, without one, and JSON that is not an object.
    SEC +
    `type: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{"auths": {"r": {"auth": "${SECRET}"'\n`,
    SEC +
    `type: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{"auths": {"r": {"auth": ${SECRET}}}}'\n`,
    SEC + `type: kubernetes.io/dockercfg\nstringData:\n  .dockercfg: '${SECRET}'\n`,
    SEC + `type: kubernetes.io/dockercfg\ndata:\n  .dockercfg: ${SECRET_B64}\n`,
    SEC + `type: kubernetes.io/dockercfg\nstringData:\n  .dockercfg: '{"${SECRET}": ${SECRET}}'\n`,
    SEC +
    `type: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: "{\\"a\\":\\n ${SECRET}}"\n`,
    SEC +
    `type: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '["${SECRET}"]'\n`,
  ].map(parse),
  // More than 1 MiB of the secret, repeated: 149797 × 7 bytes = 1048579 bytes.
  {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "db" },
    stringData: { pw: SECRET.repeat(149797) },
  },
];

/** The start of each kind of finding, to show that `LEAK_DOCS` reach them all. */
const MESSAGE_KINDS = [
  "Set kind to",
  "Set apiVersion to",
  "Ignoring unknown field",
  'Ignoring "uid": it is set by an API server',
  'Add "metadata"',
  'Write "metadata" as a mapping',
  'Add the required field "name"',
  "Rename the Secret",
  "Change the namespace",
  'Write "labels" as a mapping of strings',
  'Write "immutable" as true or false',
  'Write "data" as a mapping of keys to base64 text',
  'Write "stringData" as a mapping of keys to strings',
  'Write "binaryData" as a mapping of keys to base64 text',
  'Rename the key "bad key" in stringData',
  'Write "" for the empty value',
  'Quote the value of "n" in stringData',
  'Quote the value of "b" in data',
  'Write the value of "pw" in stringData as strings',
  'Write the value of "m" in data as strings',
  'Encode the value of "password" in data',
  'Encode the value of "u" in binaryData',
  'Remove "t" from data or from binaryData',
  "Shrink the Secret's data",
  'Write "type" as a string',
  'Change the secret type "example.com/x": tinylet accepts',
  'Change the secret type "kubernetes.io/service-account-token"',
  'Change the secret type "bootstrap.kubernetes.io/token"',
  'Add "username" or "password"',
  'Add "tls.key"',
  'Add "ssh-privatekey" under data or stringData (it is empty)',
  "it is not valid JSON at line",
  "it is not valid JSON",
  "it is JSON but a list, not an object",
];

Deno.test("config objects: no finding shows a value of data, binaryData or stringData", () => {
  const messages = LEAK_DOCS.flatMap((doc) => run(doc).findings.map((f) => f.message));
  const missing = MESSAGE_KINDS.filter((kind) => !messages.some((m) => m.includes(kind)));
  assert.deepEqual(missing, [], `no document gives these:\n${messages.join("\n")}`);
  for (const message of messages) {
    for (const secret of [SECRET, SECRET_B64, "aHVudGVy", "hunter", "unter", "-_"]) {
      assert.ok(!message.includes(secret), `a finding shows the secret: ${message}`);
    }
  }
});
