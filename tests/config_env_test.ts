import assert from "node:assert/strict";
import {
  type EnvEntry,
  type EnvResolution,
  type EnvSpec,
  expandResolved,
  isEnvVarName,
  referencedEnvHash,
  resolveEnv,
} from "../lib/translate/config_env.ts";
import type { ConfigData, ConfigLookup, SecretData } from "../lib/translate/config_lookup.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

const CONFIG_MAPS: Record<string, ConfigData> = {
  "default/cfg": { data: { B: "2", A: "1" }, binaryData: { BIN: bytes("binary") } },
  "default/cfg2": { data: { C: "30", B: "20" } },
  "default/dollars": { data: { R: "$(A)" } },
  "default/names": { data: { "1abc": "v1", "a b": "v2", "ok.key": "v3", GOOD: "v4" } },
  "other/cfg": { data: { A: "other-1" } },
  "default/refs": { data: { LIT: "$(DB_PW)" } },
};

const SECRETS: Record<string, SecretData> = {
  "default/sec": { data: { pw: bytes("hunter2"), uni: new Uint8Array([0xc3, 0xa9]) } },
  "default/badsec": { data: { "1x": bytes("topsecret"), Y: bytes("y") } },
  // "hunter2" then 0xff, a byte that is never UTF-8; "1x" is no strict env name.
  "default/binsec": {
    data: { bin: new Uint8Array([104, 117, 110, 116, 101, 114, 50, 0xff]), ok: bytes("fine") },
  },
  "default/skipbin": { data: { "1x": new Uint8Array([0xff]), ok: bytes("fine") } },
  // EF BB BF is U+FEFF, the byte order mark, then "a".
  "default/bom": { data: { b: new Uint8Array([0xef, 0xbb, 0xbf, 0x61]) } },
};

function lookupOf(
  maps: Record<string, ConfigData> = CONFIG_MAPS,
  secrets: Record<string, SecretData> = SECRETS,
): ConfigLookup {
  return {
    configMap: (ns, name) => maps[`${ns}/${name}`],
    secret: (ns, name) => secrets[`${ns}/${name}`],
  };
}

const entry = (literal: boolean, secret: boolean) => (name: string, value: string): EnvEntry => ({
  name,
  value,
  literal,
  secret,
});
const lit = entry(true, false);
const sec = entry(true, true);
const plain = entry(false, false);

function ok(r: EnvResolution): { env: EnvEntry[]; warnings: string[] } {
  if (!r.ok) assert.fail(`expected a resolved env, got: ${r.message}`);
  return { env: r.env, warnings: r.warnings };
}

const resolved: {
  name: string;
  spec: EnvSpec;
  namespace?: string;
  strict?: boolean;
  env: EnvEntry[];
  warnings?: string[];
}[] = [
  {
    name: "a ConfigMap's data becomes variables in key order, and its binaryData does not",
    spec: { envFrom: [{ configMapRef: { name: "cfg" } }] },
    env: [lit("A", "1"), lit("B", "2")],
  },
  {
    name: "a prefix goes before each key",
    spec: { envFrom: [{ prefix: "P_", configMapRef: { name: "cfg" } }] },
    env: [lit("P_A", "1"), lit("P_B", "2")],
  },
  {
    name: "a Secret's values are its bytes read as UTF-8 and marked secret",
    spec: { envFrom: [{ secretRef: { name: "sec" } }] },
    env: [sec("pw", "hunter2"), sec("uni", "é")],
  },
  {
    name: "the objects are looked up in the pod's namespace",
    namespace: "other",
    spec: { envFrom: [{ configMapRef: { name: "cfg" } }] },
    env: [lit("A", "other-1")],
  },
  {
    name: "relaxed names take keys starting with a digit, with spaces and dots",
    spec: { envFrom: [{ configMapRef: { name: "names" } }] },
    env: [lit("1abc", "v1"), lit("GOOD", "v4"), lit("a b", "v2"), lit("ok.key", "v3")],
  },
  {
    name: "strict names skip a key starting with a digit and one with a space, in one warning",
    strict: true,
    spec: { envFrom: [{ configMapRef: { name: "names" } }] },
    env: [lit("GOOD", "v4"), lit("ok.key", "v3")],
    warnings: [
      "Keys [1abc, a b] from the EnvFrom configMap default/names were skipped since they are considered invalid environment variable names.",
    ],
  },
  {
    name: "strict names judge the prefixed name",
    strict: true,
    spec: { envFrom: [{ prefix: "p_", configMapRef: { name: "names" } }] },
    env: [lit("p_1abc", "v1"), lit("p_GOOD", "v4"), lit("p_ok.key", "v3")],
    warnings: [
      "Keys [p_a b] from the EnvFrom configMap default/names were skipped since they are considered invalid environment variable names.",
    ],
  },
  {
    name: "skipped Secret keys are said as from a secret",
    strict: true,
    spec: { envFrom: [{ secretRef: { name: "badsec" } }] },
    env: [sec("Y", "y")],
    warnings: [
      "Keys [1x] from the EnvFrom secret default/badsec were skipped since they are considered invalid environment variable names.",
    ],
  },
  {
    name: "relaxed names skip names with '='",
    spec: { envFrom: [{ prefix: "X=", configMapRef: { name: "cfg" } }] },
    env: [],
    warnings: [
      "Keys [X=A, X=B] from the EnvFrom configMap default/cfg were skipped since they are considered invalid environment variable names.",
    ],
  },
  {
    name: "a missing optional envFrom object is skipped",
    spec: {
      envFrom: [
        { configMapRef: { name: "nope", optional: true } },
        { secretRef: { name: "nope", optional: true } },
        { configMapRef: { name: "cfg2" } },
      ],
    },
    env: [lit("B", "20"), lit("C", "30")],
  },
  {
    name: "envFrom sources are assigned in order, a later one after an earlier one",
    spec: { envFrom: [{ configMapRef: { name: "cfg" } }, { configMapRef: { name: "cfg2" } }] },
    env: [lit("A", "1"), lit("B", "2"), lit("B", "20"), lit("C", "30")],
  },
  {
    name: "env items are assigned after envFrom, plain values not literal",
    spec: {
      envFrom: [{ configMapRef: { name: "cfg" } }],
      env: [
        { name: "B", value: "x" },
        { name: "S", valueFrom: { secretKeyRef: { name: "sec", key: "pw" } } },
        { name: "K", valueFrom: { configMapKeyRef: { name: "cfg2", key: "C" } } },
      ],
    },
    env: [lit("A", "1"), lit("B", "2"), plain("B", "x"), sec("S", "hunter2"), lit("K", "30")],
  },
  {
    name: "an optional env reference to a missing object or key assigns nothing",
    spec: {
      envFrom: [{ configMapRef: { name: "cfg" } }],
      env: [
        { name: "A", valueFrom: { configMapKeyRef: { name: "nope", key: "A", optional: true } } },
        { name: "B", valueFrom: { configMapKeyRef: { name: "cfg", key: "Z", optional: true } } },
        { name: "S", valueFrom: { secretKeyRef: { name: "nope", key: "pw", optional: true } } },
        { name: "T", valueFrom: { secretKeyRef: { name: "sec", key: "Z", optional: true } } },
      ],
    },
    env: [lit("A", "1"), lit("B", "2")],
  },
  {
    name: "a non-empty value wins over valueFrom",
    spec: {
      env: [{ name: "V", value: "v", valueFrom: { configMapKeyRef: { name: "nope", key: "k" } } }],
    },
    env: [plain("V", "v")],
  },
  {
    name: "a field reference is an entry for the caller to fill",
    spec: { env: [{ name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }] },
    env: [{ name: "POD", value: "", literal: true, secret: false, fieldPath: "metadata.name" }],
  },
  {
    name: "a secretRef beside a configMapRef written null reads the Secret",
    spec: { envFrom: [{ configMapRef: null, secretRef: { name: "sec" } }] },
    env: [sec("pw", "hunter2"), sec("uni", "é")],
  },
  {
    name: "a configMapRef beside a secretRef written null reads the ConfigMap",
    spec: { envFrom: [{ secretRef: null, configMapRef: { name: "cfg" } }] },
    env: [lit("A", "1"), lit("B", "2")],
  },
  {
    name: "a Secret value keeps its byte order mark, as Go's string(bytes) does",
    spec: {
      envFrom: [{ prefix: "F_", secretRef: { name: "bom" } }],
      env: [{ name: "K", valueFrom: { secretKeyRef: { name: "bom", key: "b" } } }],
    },
    env: [sec("F_b", "\uFEFFa"), sec("K", "\uFEFFa")],
  },
  {
    name: "a skipped Secret key need not be UTF-8: it reaches no container",
    strict: true,
    spec: { envFrom: [{ secretRef: { name: "skipbin" } }] },
    env: [sec("ok", "fine")],
    warnings: [
      "Keys [1x] from the EnvFrom secret default/skipbin were skipped since they are considered invalid environment variable names.",
    ],
  },
  {
    name: "an item with neither value nor source is an empty plain value",
    spec: { env: [{ name: "E" }] },
    env: [plain("E", "")],
  },
];

for (const c of resolved) {
  Deno.test(`resolveEnv: ${c.name}`, () => {
    const got = ok(
      resolveEnv(c.namespace ?? "default", c.spec, lookupOf(), {
        names: c.strict ? "strict" : "relaxed",
      }),
    );
    assert.deepEqual(got.env, c.env);
    assert.deepEqual(got.warnings, c.warnings ?? []);
  });
}

const failures: { name: string; spec: EnvSpec; message: string; field: string }[] = [
  {
    name: "a missing envFrom ConfigMap",
    spec: { envFrom: [{ configMapRef: { name: "cfg" } }, { configMapRef: { name: "nope" } }] },
    message: `configmap "nope" not found`,
    field: "envFrom[1].configMapRef",
  },
  {
    name: "a missing envFrom Secret, optional: false",
    spec: { envFrom: [{ secretRef: { name: "nope", optional: false } }] },
    message: `secret "nope" not found`,
    field: "envFrom[0].secretRef",
  },
  {
    name: "a missing ConfigMap of an env item",
    spec: { env: [{ name: "A", valueFrom: { configMapKeyRef: { name: "nope", key: "A" } } }] },
    message: `configmap "nope" not found`,
    field: "env[0].valueFrom.configMapKeyRef",
  },
  {
    name: "a missing key of a ConfigMap",
    spec: {
      env: [
        { name: "OK", value: "v" },
        { name: "A", valueFrom: { configMapKeyRef: { name: "cfg", key: "BIN" } } },
      ],
    },
    message: "couldn't find key BIN in ConfigMap default/cfg",
    field: "env[1].valueFrom.configMapKeyRef",
  },
  {
    name: "a missing Secret of an env item",
    spec: { env: [{ name: "S", valueFrom: { secretKeyRef: { name: "nope", key: "pw" } } }] },
    message: `secret "nope" not found`,
    field: "env[0].valueFrom.secretKeyRef",
  },
  {
    name: "a missing key of a Secret",
    spec: { env: [{ name: "S", valueFrom: { secretKeyRef: { name: "sec", key: "Z" } } }] },
    message: "couldn't find key Z in Secret default/sec",
    field: "env[0].valueFrom.secretKeyRef",
  },
];

for (const c of failures) {
  Deno.test(`resolveEnv: the container cannot start with ${c.name}`, () => {
    const r = resolveEnv("default", c.spec, lookupOf());
    if (r.ok) assert.fail("expected a failure");
    assert.equal(r.reason, "CreateContainerConfigError");
    assert.equal(r.message, c.message);
    assert.equal(r.field, c.field);
    assert.match(r.action, /mark the reference optional$/);
  });
}

const refused: { name: string; spec: EnvSpec; message: string; field: string; action: string }[] = [
  {
    name: "a Secret key that is not UTF-8, read by an env item",
    spec: { env: [{ name: "S", valueFrom: { secretKeyRef: { name: "binsec", key: "bin" } } }] },
    message:
      'Store the value of key "bin" in the Secret "binsec" in namespace "default" as UTF-8 text, or read the key from a file of a secret volume: its value is not valid UTF-8, and an environment variable can hold only UTF-8 text',
    field: "env[0].valueFrom.secretKeyRef",
    action:
      'Store the value of key "bin" in the Secret "binsec" in namespace "default" as UTF-8 text, or read the key from a file of a secret volume',
  },
  {
    name: "a Secret key that is not UTF-8, read by envFrom",
    spec: { envFrom: [{ configMapRef: { name: "cfg" } }, { secretRef: { name: "binsec" } }] },
    message:
      'Store the value of key "bin" in the Secret "binsec" in namespace "default" as UTF-8 text, or read the key from a file of a secret volume: its value is not valid UTF-8, and an environment variable can hold only UTF-8 text',
    field: "envFrom[1].secretRef",
    action:
      'Store the value of key "bin" in the Secret "binsec" in namespace "default" as UTF-8 text, or read the key from a file of a secret volume',
  },
  {
    name: "a Secret key that is not UTF-8 and is a relaxed env name",
    spec: { envFrom: [{ secretRef: { name: "skipbin" } }] },
    message:
      'Store the value of key "1x" in the Secret "skipbin" in namespace "default" as UTF-8 text, or read the key from a file of a secret volume: its value is not valid UTF-8, and an environment variable can hold only UTF-8 text',
    field: "envFrom[0].secretRef",
    action:
      'Store the value of key "1x" in the Secret "skipbin" in namespace "default" as UTF-8 text, or read the key from a file of a secret volume',
  },
  {
    name: "an envFrom source with both a configMapRef and a secretRef",
    spec: { envFrom: [{ configMapRef: { name: "cfg" }, secretRef: { name: "sec" } }] },
    message: "envFrom[0] may not have more than one field specified at a time",
    field: "envFrom[0]",
    action: "Split envFrom[0] into two sources, one with configMapRef and one with secretRef",
  },
  {
    name: "an envFrom source with neither",
    spec: { envFrom: [{ configMapRef: { name: "cfg" } }, { prefix: "P_" }] },
    message: "envFrom[1] must specify one of: `configMapRef` or `secretRef`",
    field: "envFrom[1]",
    action: "Add a configMapRef or a secretRef to envFrom[1], or remove it",
  },
  {
    name: "an envFrom source with both refs written null",
    spec: { envFrom: [{ configMapRef: null, secretRef: null }] },
    message: "envFrom[0] must specify one of: `configMapRef` or `secretRef`",
    field: "envFrom[0]",
    action: "Add a configMapRef or a secretRef to envFrom[0], or remove it",
  },
];

for (const c of refused) {
  Deno.test(`resolveEnv: the container cannot start with ${c.name}`, () => {
    const r = resolveEnv("default", c.spec, lookupOf());
    if (r.ok) assert.fail("expected a failure");
    assert.deepEqual(r, {
      ok: false,
      reason: "CreateContainerConfigError",
      message: c.message,
      field: c.field,
      action: c.action,
    });
    // The bad value starts with "hunter2": no part of it may show.
    assert.ok(!JSON.stringify(r).includes("hunter"));
  });
}

Deno.test("resolveEnv: a failure says what to add, and where", () => {
  const r = resolveEnv("ns1", {
    env: [{ name: "S", valueFrom: { secretKeyRef: { name: "db", key: "password" } } }],
  }, lookupOf({}, { "ns1/db": { data: { user: bytes("hunter2") } } }));
  if (r.ok) assert.fail("expected a failure");
  assert.equal(
    r.action,
    `Add the key "password" to the Secret "db" in namespace "ns1", or mark the reference optional`,
  );
  assert.ok(!JSON.stringify(r).includes("hunter2"));
});

Deno.test("resolveEnv: a warning names keys, never their values", () => {
  const got = ok(
    resolveEnv("default", { envFrom: [{ secretRef: { name: "badsec" } }] }, lookupOf(), {
      names: "strict",
    }),
  );
  assert.equal(got.warnings.length, 1);
  assert.ok(!got.warnings[0]?.includes("topsecret"));
});

const names: { name: string; strict: boolean; relaxed: boolean }[] = [
  { name: "MY_ENV.NAME", strict: true, relaxed: true },
  { name: "-x", strict: true, relaxed: true },
  { name: ".a", strict: true, relaxed: true },
  { name: ".", strict: false, relaxed: true },
  { name: "..", strict: false, relaxed: true },
  { name: "..a", strict: false, relaxed: true },
  { name: "1abc", strict: false, relaxed: true },
  { name: "a b", strict: false, relaxed: true },
  { name: "a:b", strict: false, relaxed: true },
  { name: "~", strict: false, relaxed: true },
  { name: "", strict: false, relaxed: false },
  { name: "a=b", strict: false, relaxed: false },
  { name: "a\tb", strict: false, relaxed: false },
  { name: "é", strict: false, relaxed: false },
];

Deno.test("isEnvVarName: Kubernetes' strict and relaxed rules", () => {
  for (const c of names) {
    assert.equal(isEnvVarName(c.name, "strict"), c.strict, `strict ${JSON.stringify(c.name)}`);
    assert.equal(isEnvVarName(c.name, "relaxed"), c.relaxed, `relaxed ${JSON.stringify(c.name)}`);
    assert.equal(isEnvVarName(c.name), c.relaxed, `default ${JSON.stringify(c.name)}`);
  }
});

const FIELDS: Record<string, string> = { "metadata.name": "web-1" };
const fieldValue = (path: string) => FIELDS[path] ?? "";

Deno.test("expandResolved: the last assignment wins and the name keeps its first place", () => {
  const { env } = ok(resolveEnv("default", {
    envFrom: [{ configMapRef: { name: "cfg" } }, { configMapRef: { name: "cfg2" } }],
    env: [{ name: "A", value: "over" }],
  }, lookupOf()));
  assert.deepEqual(expandResolved(env, fieldValue), [
    { name: "A", value: "over", secret: false },
    { name: "B", value: "20", secret: false },
    { name: "C", value: "30", secret: false },
  ]);
});

Deno.test("expandResolved: an explicit value sees every envFrom variable and earlier items", () => {
  const { env } = ok(resolveEnv("default", {
    envFrom: [{ configMapRef: { name: "cfg" } }],
    env: [
      // A is overridden after X: X still sees the ConfigMap's A, as in kubelet.
      { name: "X", value: "$(B)-$(A)-$(Y)" },
      { name: "A", value: "over" },
      { name: "Y", value: "y" },
      { name: "Z", value: "$(A)-$(Y)-$(POD)" },
      { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "W", value: "$(POD)" },
    ],
  }, lookupOf()));
  assert.deepEqual(expandResolved(env, fieldValue), [
    { name: "A", value: "over", secret: false },
    { name: "B", value: "2", secret: false },
    { name: "X", value: "2-1-$(Y)", secret: false },
    { name: "Y", value: "y", secret: false },
    { name: "Z", value: "over-y-$(POD)", secret: false },
    { name: "POD", value: "web-1", secret: false },
    { name: "W", value: "web-1", secret: false },
  ]);
});

Deno.test("expandResolved: values from references are taken literally", () => {
  const { env } = ok(resolveEnv("default", {
    envFrom: [{ configMapRef: { name: "cfg" } }, { configMapRef: { name: "dollars" } }],
    env: [
      { name: "K", valueFrom: { configMapKeyRef: { name: "dollars", key: "R" } } },
      { name: "D", value: "$$(A)" },
    ],
  }, lookupOf()));
  assert.deepEqual(expandResolved(env, fieldValue), [
    { name: "A", value: "1", secret: false },
    { name: "B", value: "2", secret: false },
    { name: "R", value: "$(A)", secret: false },
    { name: "K", value: "$(A)", secret: false },
    { name: "D", value: "$(A)", secret: false },
  ]);
});

Deno.test("expandResolved: a value that may hold Secret data is marked secret", () => {
  const { env } = ok(resolveEnv("default", {
    envFrom: [{ configMapRef: { name: "cfg" } }],
    env: [
      { name: "DB_PW", valueFrom: { secretKeyRef: { name: "sec", key: "pw" } } },
      { name: "COPY", value: "$(DB_PW)" },
      // Through another variable.
      { name: "URL", value: "postgres://u:$(COPY)@db" },
      // Conservative: marked though it stays as written.
      { name: "ESC", value: "$$(DB_PW)" },
      { name: "EARLY", value: "x$(LATE)" },
      { name: "LATE", valueFrom: { secretKeyRef: { name: "sec", key: "uni" } } },
      // Taken literally from a ConfigMap: no Secret data reaches it.
      { name: "LIT", valueFrom: { configMapKeyRef: { name: "refs", key: "LIT" } } },
      { name: "PLAIN", value: "$(A)" },
      { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    ],
  }, lookupOf()));
  assert.deepEqual(expandResolved(env, fieldValue), [
    { name: "A", value: "1", secret: false },
    { name: "B", value: "2", secret: false },
    { name: "DB_PW", value: "hunter2", secret: true },
    { name: "COPY", value: "hunter2", secret: true },
    { name: "URL", value: "postgres://u:hunter2@db", secret: true },
    { name: "ESC", value: "$(DB_PW)", secret: true },
    { name: "EARLY", value: "x$(LATE)", secret: true },
    { name: "LATE", value: "é", secret: true },
    { name: "LIT", value: "$(DB_PW)", secret: false },
    { name: "PLAIN", value: "1", secret: false },
    { name: "POD", value: "web-1", secret: false },
  ]);
});

Deno.test("expandResolved: the last assignment of a name decides whether it is secret", () => {
  const { env } = ok(resolveEnv("default", {
    envFrom: [{ secretRef: { name: "sec" } }, { configMapRef: { name: "cfg" } }],
    env: [
      // Sees the Secret's pw before it is replaced.
      { name: "BEFORE", value: "$(pw)" },
      { name: "pw", value: "plain" },
      { name: "A", valueFrom: { secretKeyRef: { name: "sec", key: "pw" } } },
    ],
  }, lookupOf()));
  assert.deepEqual(expandResolved(env, fieldValue), [
    { name: "pw", value: "plain", secret: false },
    { name: "uni", value: "é", secret: true },
    { name: "A", value: "hunter2", secret: true },
    { name: "B", value: "2", secret: false },
    { name: "BEFORE", value: "hunter2", secret: true },
  ]);
});

// The canonical form, written by hand: [[container, [[name, value], ...]], ...].
// printf '%s' '[["app",[["A","1"],["B","2"],["S","hunter2"]]]]' | sha256sum
const APP_HASH = "26463c8077eb7eccba98d3e46e9e3a2847c0e54deb4ac12975d41ada8bf09359";
// printf '%s' '[["app",[["A","1"]]],["web",[["X","x"],["X","y"]]]]' | sha256sum
const TWO_HASH = "df5f809747a8f09f3b2c2fda0313496e1cb7f56cd6ab300f07b5771f6fcf87cb";

const APP: EnvSpec = {
  envFrom: [{ configMapRef: { name: "cfg" } }],
  env: [
    { name: "S", valueFrom: { secretKeyRef: { name: "sec", key: "pw" } } },
    { name: "P", value: "plain" },
    { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
  ],
};

function appHash(
  spec: EnvSpec,
  maps: Record<string, ConfigData> = CONFIG_MAPS,
): Promise<string> {
  const { env } = ok(resolveEnv("default", spec, lookupOf(maps)));
  return referencedEnvHash([{ container: "app", env }]);
}

Deno.test("referencedEnvHash: the SHA-256 of the referenced values, names sorted", async () => {
  assert.equal(await appHash(APP), APP_HASH);
});

Deno.test("referencedEnvHash: containers sorted, those that read nothing left out", async () => {
  const hash = await referencedEnvHash([
    { container: "web", env: [lit("X", "x"), plain("P", "p"), sec("X", "y")] },
    { container: "side", env: [plain("P", "p")] },
    { container: "app", env: [lit("A", "1")] },
  ]);
  assert.equal(hash, TWO_HASH);
});

Deno.test("referencedEnvHash: changes when a referenced value changes", async () => {
  const changed = { ...CONFIG_MAPS, "default/cfg": { data: { A: "1", B: "3" } } };
  const after = await appHash(APP, changed);
  assert.notEqual(after, APP_HASH);
  assert.match(after, /^[0-9a-f]{64}$/);
});

Deno.test("referencedEnvHash: changes when an optional referenced object appears", async () => {
  const spec: EnvSpec = { envFrom: [{ configMapRef: { name: "late", optional: true } }] };
  const before = await appHash(spec);
  const after = await appHash(spec, { ...CONFIG_MAPS, "default/late": { data: { L: "l" } } });
  assert.notEqual(before, after);
});

Deno.test("referencedEnvHash: a plain value or a field reference does not change it", async () => {
  const spec: EnvSpec = {
    ...APP,
    env: [
      { name: "S", valueFrom: { secretKeyRef: { name: "sec", key: "pw" } } },
      { name: "P", value: "another plain value" },
      { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.uid" } } },
      { name: "Q", value: "one more" },
    ],
  };
  assert.equal(await appHash(spec), APP_HASH);
});
