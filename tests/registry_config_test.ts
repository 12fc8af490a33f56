/**
 * Reading a Docker `config.json`: where it is looked for, what a broken one says (naming the
 * file and the field, never a secret), and the warnings that do not stop it.
 */
import assert from "node:assert/strict";
import {
  defaultDockerConfigPaths,
  RegistryConfigError,
  RegistryCredentials,
} from "../lib/node/registry_auth.ts";

// Base64 written by hand:
//   "alice:s3cret" -> YWxpY2U6czNjcmV0
//   "bob:hunter2"  -> Ym9iOmh1bnRlcjI=
//   "alice"        -> YWxpY2U=  (no ":")
const ALICE_AUTH = "YWxpY2U6czNjcmV0";
const BOB_AUTH = "Ym9iOmh1bnRlcjI=";
const NO_COLON = "YWxpY2U=";

const FILE = "/etc/tinylet/config.json";

const alice = { username: "alice", password: "s3cret" };
const bob = { username: "bob", password: "hunter2" };
const HUB_V1 = { "https://index.docker.io/v1/": { auth: ALICE_AUTH } };

const errors: { name: string; text: string; message: string }[] = [
  {
    name: "invalid JSON names the file and does not quote its text",
    text: `{"auths": {"registry.example.com": {"auth": s3cret}}}`,
    message:
      `Cannot read registry credentials from "${FILE}": the file is not valid JSON (fix the JSON or remove the file)`,
  },
  {
    name: "invalid JSON gives the line and column when known",
    text: `{"auths": {}}\n}`,
    message:
      `Cannot read registry credentials from "${FILE}": the file is not valid JSON at line 2 column 1 (fix the JSON or remove the file)`,
  },
  {
    name: "a file that is not an object says what to write",
    text: `["registry.example.com"]`,
    message:
      `Cannot read registry credentials from "${FILE}": the file is not a JSON object (write { "auths": { "registry.example.com": { "auth": "..." } } })`,
  },
  {
    name: "auths that is not an object says what to write",
    text: `{"auths": ["registry.example.com"]}`,
    message:
      `Cannot read registry credentials from "${FILE}": "auths" is not an object (write "auths": { "registry.example.com": { "auth": "..." } })`,
  },
  {
    name: "an entry that is not an object names its key",
    text: `{"auths": {"registry.example.com": "s3cret"}}`,
    message:
      `Cannot read registry credentials from "${FILE}": "auths"."registry.example.com" is not an object (write { "auth": "..." } or { "username": "...", "password": "..." })`,
  },
  {
    name: "a bad base64 auth names the field and not the secret",
    text: `{"auths": {"registry.example.com": {"auth": "s3cret-not-base64!"}}}`,
    message:
      `Cannot read registry credentials from "${FILE}": "auths"."registry.example.com"."auth" is not base64 of "user:password" (set it to the output of: printf '%s' 'user:password' | base64 -w0)`,
  },
  {
    name: "a base64 auth without a colon is refused",
    text: `{"auths": {"registry.example.com": {"auth": "${NO_COLON}"}}}`,
    message:
      `Cannot read registry credentials from "${FILE}": "auths"."registry.example.com"."auth" is not base64 of "user:password" (set it to the output of: printf '%s' 'user:password' | base64 -w0)`,
  },
  {
    name: "a field that is not a string names the field and not the value",
    text: `{"auths": {"registry.example.com": {"username": "bob", "password": 271828}}}`,
    message:
      `Cannot read registry credentials from "${FILE}": "auths"."registry.example.com"."password" is not a string (quote the value)`,
  },
];

for (const { name, text, message } of errors) {
  Deno.test(`parse: ${name}`, () => {
    assert.throws(() => RegistryCredentials.parse(FILE, text), (err: unknown) => {
      assert.ok(err instanceof RegistryConfigError);
      assert.equal(err.file, FILE);
      assert.equal(err.message, message);
      assert.ok(!err.message.includes("s3cret"));
      assert.ok(!err.message.includes("271828"));
      assert.equal(err.cause, undefined);
      return true;
    });
  });
}

Deno.test("credsStore gives a warning and parsing goes on", () => {
  const credentials = RegistryCredentials.parse(
    FILE,
    JSON.stringify({
      auths: { "https://index.docker.io/v1/": {}, "registry.example.com": { auth: ALICE_AUTH } },
      credsStore: "desktop",
    }),
  );
  assert.deepEqual(credentials.warnings, [
    `${FILE}: "credsStore" is not supported (tinylet does not run credential helpers); put credentials in "auths"`,
  ]);
  assert.deepEqual(credentials.forImage("busybox"), []);
  assert.deepEqual(credentials.forImage("registry.example.com/app"), [alice]);
});

Deno.test("a key that cannot be used is skipped with a warning naming the file and the key", () => {
  const credentials = RegistryCredentials.parse(
    FILE,
    JSON.stringify({
      auths: {
        "https://": { auth: BOB_AUTH },
        "ftp://files.example.com": { auth: BOB_AUTH },
        "registry.example.com:http": { auth: BOB_AUTH },
        "bad host.example.com": { auth: BOB_AUTH },
        "[ab].example.com": { auth: BOB_AUTH },
        "x[.example.com": { auth: BOB_AUTH },
        "quay.io": { auth: ALICE_AUTH },
      },
    }),
  );
  const hint =
    `(write the registry as host[:port][/path], such as "registry.example.com:5000/team")`;
  assert.deepEqual(credentials.warnings, [
    `${FILE}: skipped "auths" key "https://": it names no registry host ${hint}`,
    `${FILE}: skipped "auths" key "ftp://files.example.com": the scheme "ftp://" is not https:// or http:// ${hint}`,
    `${FILE}: skipped "auths" key "registry.example.com:http": the port "http" is not a number ${hint}`,
    `${FILE}: skipped "auths" key "bad host.example.com": the host "bad host.example.com" may hold only letters, digits, ".", "-", "_" and the globs "*", "?" and "[...]" ${hint}`,
    `${FILE}: skipped "auths" key "[ab].example.com": "[ab].example.com" is not a host with an optional ":port" ${hint}`,
    `${FILE}: skipped "auths" key "x[.example.com": the host label "x[" is not a valid glob: a "[" without its "]" ${hint}`,
  ]);
  assert.deepEqual(credentials.forImage("quay.io/app"), [alice]);
  for (const w of credentials.warnings) {
    assert.ok(!w.includes(BOB_AUTH) && !w.includes("hunter2"), w);
  }
});

Deno.test("credHelpers gives a warning", () => {
  const credentials = RegistryCredentials.parse(
    FILE,
    JSON.stringify({ credHelpers: { "gcr.io": "gcloud" } }),
  );
  assert.deepEqual(credentials.warnings, [
    `${FILE}: "credHelpers" is not supported (tinylet does not run credential helpers); put credentials in "auths"`,
  ]);
});

const pathCases: { name: string; env: Record<string, string>; want: string[] }[] = [
  {
    name: "DOCKER_CONFIG comes first, then HOME, root, kubelet and tinylet",
    env: { DOCKER_CONFIG: "/opt/docker/", HOME: "/home/alice" },
    want: [
      "/opt/docker/config.json",
      "/home/alice/.docker/config.json",
      "/root/.docker/config.json",
      "/var/lib/kubelet/config.json",
      "/etc/tinylet/config.json",
    ],
  },
  {
    name: "without DOCKER_CONFIG HOME comes first",
    env: { HOME: "/home/alice" },
    want: [
      "/home/alice/.docker/config.json",
      "/root/.docker/config.json",
      "/var/lib/kubelet/config.json",
      "/etc/tinylet/config.json",
    ],
  },
  {
    name: "HOME=/root lists root's file once",
    env: { HOME: "/root" },
    want: ["/root/.docker/config.json", "/var/lib/kubelet/config.json", "/etc/tinylet/config.json"],
  },
  {
    name: "with neither variable only the fixed places are listed",
    env: {},
    want: ["/root/.docker/config.json", "/var/lib/kubelet/config.json", "/etc/tinylet/config.json"],
  },
];

for (const { name, env, want } of pathCases) {
  Deno.test(`defaultDockerConfigPaths: ${name}`, () => {
    assert.deepEqual(defaultDockerConfigPaths(new Map(Object.entries(env))), want);
  });
}

Deno.test("load: a missing file gives empty credentials, an existing one is read, a directory is named", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = await RegistryCredentials.load(`${dir}/missing.json`);
    assert.deepEqual(missing.forImage("busybox"), []);
    assert.deepEqual(missing.warnings, []);
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ auths: HUB_V1 }));
    const read = await RegistryCredentials.load(`${dir}/config.json`);
    assert.deepEqual(read.forImage("busybox"), [alice]);
    await assert.rejects(RegistryCredentials.load(dir), (err: unknown) => {
      assert.ok(err instanceof RegistryConfigError);
      assert.equal(err.file, dir);
      assert.ok(err.message.startsWith(`Cannot read registry credentials from "${dir}": `));
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadFirst picks the first file that exists, and none gives empty credentials", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const second = `${dir}/second.json`;
    const third = `${dir}/third.json`;
    await Deno.writeTextFile(
      second,
      JSON.stringify({ auths: { "docker.io": { auth: BOB_AUTH } } }),
    );
    await Deno.writeTextFile(
      third,
      JSON.stringify({ auths: { "docker.io": { auth: ALICE_AUTH } } }),
    );
    const found = await RegistryCredentials.loadFirst([`${dir}/first.json`, second, third]);
    assert.equal(found.file, second);
    assert.deepEqual(found.credentials.forImage("busybox"), [bob]);
    const none = await RegistryCredentials.loadFirst([`${dir}/a.json`, `${dir}/b.json`]);
    assert.equal(none.file, undefined);
    assert.deepEqual(none.credentials.forImage("busybox"), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadFirst rejects a broken first file instead of skipping it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const broken = `${dir}/broken.json`;
    const good = `${dir}/good.json`;
    await Deno.writeTextFile(broken, "{");
    await Deno.writeTextFile(good, "{}");
    await assert.rejects(RegistryCredentials.loadFirst([broken, good]), (err: unknown) => {
      assert.ok(err instanceof RegistryConfigError);
      assert.equal(err.file, broken);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
