import assert from "node:assert/strict";
import type { AuthConfig } from "../lib/runtime/cri.ts";
import {
  defaultDockerConfigPaths,
  RegistryConfigError,
  RegistryCredentials,
  registryHostOf,
} from "../lib/node/registry_auth.ts";

// Base64 written by hand:
//   "alice:s3cret" -> YWxpY2U6czNjcmV0
//   "bob:hunter2"  -> Ym9iOmh1bnRlcjI=
//   "alice"        -> YWxpY2U=  (no ":")
const ALICE = "YWxpY2U6czNjcmV0";
const BOB = "Ym9iOmh1bnRlcjI=";
const NO_COLON = "YWxpY2U=";

const FILE = "/etc/tinylet/config.json";

/** A config.json with one entry of each kind the tests look up. */
function baseConfig(): Record<string, unknown> {
  return {
    auths: {
      "https://index.docker.io/v1/": { auth: ALICE },
      "registry.example.com:5000": { username: "bob", password: "hunter2" },
      "https://Quay.Example.org/v2/some/path": { auth: BOB },
      "*.corp.example": { identitytoken: "id-token-1" },
      "tokens.example.net": { registrytoken: "registry-token-1" },
    },
  };
}

function parse(config: unknown): RegistryCredentials {
  return RegistryCredentials.parse(FILE, JSON.stringify(config));
}

const alice = { username: "alice", password: "s3cret" };
const bob = { username: "bob", password: "hunter2" };

const lookups: { name: string; image: string; want: AuthConfig | undefined }[] = [
  {
    name: "a short name on Docker Hub uses the https://index.docker.io/v1/ entry",
    image: "busybox",
    want: { ...alice, serverAddress: "docker.io" },
  },
  {
    name: "a library path with a tag on Docker Hub uses the https://index.docker.io/v1/ entry",
    image: "library/busybox:1.35",
    want: { ...alice, serverAddress: "docker.io" },
  },
  {
    name: "a fully qualified docker.io name uses the https://index.docker.io/v1/ entry",
    image: "docker.io/library/busybox",
    want: { ...alice, serverAddress: "docker.io" },
  },
  {
    name: "an index.docker.io name with a digest uses the Docker Hub entry",
    image: "index.docker.io/library/busybox@sha256:0123456789abcdef",
    want: { ...alice, serverAddress: "docker.io" },
  },
  {
    name: "a private registry with a port matches on host and port",
    image: "registry.example.com:5000/team/app:1.2",
    want: { ...bob, serverAddress: "registry.example.com:5000" },
  },
  {
    name: "the private registry without its port does not match",
    image: "registry.example.com/team/app:1.2",
    want: undefined,
  },
  {
    name: "a key written with scheme, capitals and path matches on its bare host",
    image: "quay.example.org/team/app:2",
    want: { ...bob, serverAddress: "quay.example.org" },
  },
  {
    name: "a glob key matches a host with one more label",
    image: "build.corp.example/tools/ci",
    want: { identityToken: "id-token-1", serverAddress: "build.corp.example" },
  },
  {
    name: "a glob key does not match a host with two more labels",
    image: "a.build.corp.example/tools/ci",
    want: undefined,
  },
  {
    name: "a glob key does not match its bare domain",
    image: "corp.example/tools/ci",
    want: undefined,
  },
  {
    name: "a registry token is passed through",
    image: "tokens.example.net/app",
    want: { registryToken: "registry-token-1", serverAddress: "tokens.example.net" },
  },
  {
    name: "an image on a registry with no entry gets no credentials",
    image: "ghcr.io/owner/app:latest",
    want: undefined,
  },
  {
    name: "a localhost registry with no entry gets no credentials",
    image: "localhost:5000/app:1",
    want: undefined,
  },
];

for (const { name, image, want } of lookups) {
  Deno.test(`forImage: ${name}`, () => {
    assert.deepEqual(parse(baseConfig()).forImage(image), want);
  });
}

const hosts: { name: string; image: string; want: string }[] = [
  { name: "a bare name is on Docker Hub", image: "busybox", want: "docker.io" },
  { name: "a name with a tag is on Docker Hub", image: "busybox:1.35", want: "docker.io" },
  { name: "a user/repo name is on Docker Hub", image: "alice/app:latest", want: "docker.io" },
  {
    name: "docker.io is kept",
    image: "docker.io/library/busybox",
    want: "docker.io",
  },
  {
    name: "index.docker.io is Docker Hub",
    image: "index.docker.io/library/busybox",
    want: "docker.io",
  },
  {
    name: "localhost with a port keeps the port and drops the tag",
    image: "localhost:5000/app:1",
    want: "localhost:5000",
  },
  { name: "localhost alone is a host", image: "localhost/app", want: "localhost" },
  {
    name: "a host with a dot is a host, lower-cased",
    image: "Registry.Example.com/team/app@sha256:abcdef",
    want: "registry.example.com",
  },
  {
    name: "a name without a slash is on Docker Hub even when it looks like a host",
    image: "localhost:5000",
    want: "docker.io",
  },
];

for (const { name, image, want } of hosts) {
  Deno.test(`registryHostOf: ${name}`, () => {
    assert.equal(registryHostOf(image), want);
  });
}

Deno.test("an auth field wins over username and password in the same entry", () => {
  const credentials = parse({
    auths: { "registry.example.com": { auth: ALICE, username: "bob", password: "hunter2" } },
  });
  assert.deepEqual(credentials.forImage("registry.example.com/app"), {
    ...alice,
    serverAddress: "registry.example.com",
  });
});

Deno.test("the first key for a host wins when several name the same host", () => {
  const credentials = parse({
    auths: {
      "docker.io": { auth: BOB },
      "https://index.docker.io/v1/": { auth: ALICE },
    },
  });
  assert.deepEqual(credentials.forImage("busybox"), { ...bob, serverAddress: "docker.io" });
});

Deno.test("a file without auths, or with null auths, gives no credentials", () => {
  for (const text of ["{}", `{"auths": null}`, `{"auths": {"registry.example.com": null}}`]) {
    const credentials = RegistryCredentials.parse(FILE, text);
    assert.equal(credentials.forImage("registry.example.com/app"), undefined);
    assert.deepEqual(credentials.warnings, []);
  }
});

Deno.test("each lookup returns a fresh object", () => {
  const credentials = parse(baseConfig());
  const first = credentials.forImage("busybox");
  assert.ok(first);
  first.password = "changed";
  assert.equal(credentials.forImage("busybox")?.password, "s3cret");
});

Deno.test("inspecting credentials does not show secrets", () => {
  const shown = Deno.inspect(parse(baseConfig()), { depth: 10 });
  assert.ok(!shown.includes("s3cret"), shown);
  assert.ok(!shown.includes("hunter2"), shown);
});

Deno.test("credentials built directly normalise their keys", () => {
  const credentials = new RegistryCredentials([
    ["https://Registry.Example.com/v1/", { username: "u", password: "p" }],
  ]);
  assert.deepEqual(credentials.forImage("registry.example.com/app"), {
    username: "u",
    password: "p",
    serverAddress: "registry.example.com",
  });
  assert.equal(new RegistryCredentials().forImage("busybox"), undefined);
});

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
      auths: { "https://index.docker.io/v1/": {}, "registry.example.com": { auth: ALICE } },
      credsStore: "desktop",
    }),
  );
  assert.deepEqual(credentials.warnings, [
    `${FILE}: "credsStore" is not supported (tinylet does not run credential helpers); put credentials in "auths"`,
  ]);
  assert.equal(credentials.forImage("busybox"), undefined);
  assert.deepEqual(credentials.forImage("registry.example.com/app"), {
    ...alice,
    serverAddress: "registry.example.com",
  });
});

Deno.test("credHelpers gives a warning", () => {
  const credentials = parse({ credHelpers: { "gcr.io": "gcloud" } });
  assert.deepEqual(credentials.warnings, [
    `${FILE}: "credHelpers" is not supported (tinylet does not run credential helpers); put credentials in "auths"`,
  ]);
});

Deno.test("a plain file gives no warnings", () => {
  assert.deepEqual(parse(baseConfig()).warnings, []);
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

Deno.test("load of a missing file gives empty credentials", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const credentials = await RegistryCredentials.load(`${dir}/missing.json`);
    assert.equal(credentials.forImage("busybox"), undefined);
    assert.deepEqual(credentials.warnings, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("load reads an existing file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(baseConfig()));
    const credentials = await RegistryCredentials.load(`${dir}/config.json`);
    assert.deepEqual(credentials.forImage("busybox"), { ...alice, serverAddress: "docker.io" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("load of a directory names the path", async () => {
  const dir = await Deno.makeTempDir();
  try {
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

Deno.test("loadFirst picks the first file that exists", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const second = `${dir}/second.json`;
    const third = `${dir}/third.json`;
    await Deno.writeTextFile(second, JSON.stringify({ auths: { "docker.io": { auth: BOB } } }));
    await Deno.writeTextFile(third, JSON.stringify({ auths: { "docker.io": { auth: ALICE } } }));
    const { credentials, file } = await RegistryCredentials.loadFirst([
      `${dir}/first.json`,
      second,
      third,
    ]);
    assert.equal(file, second);
    assert.deepEqual(credentials.forImage("busybox"), { ...bob, serverAddress: "docker.io" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadFirst with no existing file gives empty credentials and no file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { credentials, file } = await RegistryCredentials.loadFirst([
      `${dir}/a.json`,
      `${dir}/b.json`,
    ]);
    assert.equal(file, undefined);
    assert.equal(credentials.forImage("busybox"), undefined);
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
