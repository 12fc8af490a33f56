/**
 * Registry credentials from a Docker `config.json`: which entries an image gets and in which
 * order, by kubelet's keyring rules (expected lists derived by hand from the rules in
 * `lib/node/registry_keys.ts` and `lib/node/registry_auth.ts`); keys that cannot be used; and
 * secrets kept out of error text. Reading the file: `registry_config_test.ts`.
 */
import assert from "node:assert/strict";
import type { AuthConfig } from "../lib/runtime/cri.ts";
import { redactCredentials, RegistryCredentials } from "../lib/node/registry_auth.ts";

// Base64 written by hand:
//   "alice:s3cret"   -> YWxpY2U6czNjcmV0
//   "bob:hunter2"    -> Ym9iOmh1bnRlcjI=
//   "carol:c4rol-pw" -> Y2Fyb2w6YzRyb2wtcHc=
const ALICE_AUTH = "YWxpY2U6czNjcmV0";
const BOB_AUTH = "Ym9iOmh1bnRlcjI=";
const CAROL_AUTH = "Y2Fyb2w6YzRyb2wtcHc=";

const FILE = "/etc/tinylet/config.json";

// What each entry below gives, written out by hand.
const alice = { username: "alice", password: "s3cret" };
const bob = { username: "bob", password: "hunter2" };
const carol = { username: "carol", password: "c4rol-pw" };
const ip5000 = { username: "ip5000", password: "ip5000-pw" };
const local5000 = { username: "local5000", password: "local5000-pw" };
const reg5000 = { username: "reg5000", password: "reg5000-pw" };
const reg = { username: "reg", password: "reg-pw" };
const quay = { username: "quay", password: "quay-pw" };
const team = { username: "team", password: "team-pw" };
const teamApp = { username: "team-app", password: "team-app-pw" };
const star = { username: "star", password: "star-pw" };
const starStar = { username: "star-star", password: "star-star-pw" };
const star5000 = { username: "star5000", password: "star5000-pw" };
const numbered = { username: "numbered", password: "numbered-pw" };
const ghcr = { username: "ghcr", password: "ghcr-pw" };
const mirror = { username: "mirror", password: "mirror-pw" };
const v1Dir = { username: "v1-dir", password: "v1-dir-pw" };

/** `"auths"` entries with a user name and "<user>-pw". */
function users(byKey: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(byKey).map(([key, user]) => [key, { username: user, password: `${user}-pw` }]),
  );
}

const PORTS = users({
  "127.0.0.1:5000": "ip5000",
  "localhost:5000": "local5000",
  "registry.example.com:5000": "reg5000",
  "registry.example.com": "reg",
});
const HUB_V1 = { "https://index.docker.io/v1/": { auth: ALICE_AUTH } };
const QUAY = users({
  "quay.io": "quay",
  "quay.io/team": "team",
  "https://quay.io/v2/team/app": "team-app",
});
const GLOBS = users({
  "*.example.com": "star",
  "*.*.example.com": "star-star",
  "*.example.com:5000": "star5000",
  "registry.example.com": "reg",
  "mirror[0-9].example.org": "numbered",
});
const SCHEMES = users({
  "https://ghcr.io/v2/": "ghcr",
  "http://Mirror.Example.org/v1/mirror/": "mirror",
  "https://quay.io/v1": "v1-dir",
});

const cases: { name: string; auths: Record<string, unknown>; image: string; want: AuthConfig[] }[] =
  [
    // host:port registries
    { name: "an IP with a port", auths: PORTS, image: "127.0.0.1:5000/app:1", want: [ip5000] },
    { name: "an IP without the key's port", auths: PORTS, image: "127.0.0.1/app", want: [] },
    { name: "an IP with another port", auths: PORTS, image: "127.0.0.1:5001/app", want: [] },
    {
      name: "localhost with a port, by digest",
      auths: PORTS,
      image: `localhost:5000/app@sha256:${"a".repeat(64)}`,
      want: [local5000],
    },
    { name: "localhost without the key's port", auths: PORTS, image: "localhost/app", want: [] },
    {
      name: "a host with a port gets the host:port entry only",
      auths: PORTS,
      image: "registry.example.com:5000/team/app:1.2",
      want: [reg5000],
    },
    {
      name: "the same host without a port gets the entry without a port only",
      auths: PORTS,
      image: "registry.example.com/team/app:1.2",
      want: [reg],
    },
    {
      name: "the same host with another port gets nothing",
      auths: PORTS,
      image: "registry.example.com:443/app",
      want: [],
    },
    {
      name: "localhost:5000 without a slash is a Docker Hub image tagged 5000",
      auths: PORTS,
      image: "localhost:5000",
      want: [],
    },
    // Docker Hub and its names
    { name: "busybox gets the v1 key", auths: HUB_V1, image: "busybox", want: [alice] },
    {
      name: "library/busybox gets the v1 key",
      auths: HUB_V1,
      image: "library/busybox:1.35",
      want: [alice],
    },
    { name: "docker.io/x/y gets the v1 key", auths: HUB_V1, image: "docker.io/x/y", want: [alice] },
    {
      name: "index.docker.io/x/y gets the v1 key",
      auths: HUB_V1,
      image: "index.docker.io/x/y@sha256:0123",
      want: [alice],
    },
    {
      name: "registry-1.docker.io/x/y gets the v1 key",
      auths: HUB_V1,
      image: "registry-1.docker.io/x/y",
      want: [alice],
    },
    { name: "a user's repository gets the v1 key", auths: HUB_V1, image: "x/y:2", want: [alice] },
    {
      name: "localhost:5000 without a slash gets the v1 key",
      auths: HUB_V1,
      image: "localhost:5000",
      want: [alice],
    },
    {
      name: "docker.io with a port is not Docker Hub",
      auths: HUB_V1,
      image: "docker.io:5000/x",
      want: [],
    },
    {
      name: "another registry gets no Docker Hub key",
      auths: HUB_V1,
      image: "quay.io/x/y",
      want: [],
    },
    {
      name: "an upper-case first component is a host, not a Docker Hub user",
      auths: HUB_V1,
      image: "MyHost/app",
      want: [],
    },
    {
      name: "a docker.io key matches Docker Hub images",
      auths: { "docker.io": { auth: BOB_AUTH } },
      image: "busybox",
      want: [bob],
    },
    {
      name: "a docker.io key matches index.docker.io names",
      auths: { "docker.io": { auth: BOB_AUTH } },
      image: "index.docker.io/x/y",
      want: [bob],
    },
    {
      name: "an index.docker.io key is Docker Hub's",
      auths: { "index.docker.io": { auth: BOB_AUTH } },
      image: "docker.io/x/y",
      want: [bob],
    },
    {
      name: "a matching docker.io key leaves the v1 key unused",
      auths: { "docker.io": { auth: BOB_AUTH }, ...HUB_V1 },
      image: "busybox",
      want: [bob],
    },
    {
      name: "the v1 key and index.docker.io are one key, both entries in file order",
      auths: { "index.docker.io": { auth: BOB_AUTH }, ...HUB_V1 },
      image: "busybox",
      want: [bob, alice],
    },
    {
      name: "a registry-1.docker.io key comes after index.docker.io",
      auths: { "registry-1.docker.io": { auth: CAROL_AUTH }, ...HUB_V1 },
      image: "busybox",
      want: [alice, carol],
    },
    {
      name: "a Docker Hub path key matches its path only",
      auths: { "docker.io/team": { auth: BOB_AUTH }, ...HUB_V1 },
      image: "team/app",
      want: [bob],
    },
    {
      name: "a Docker Hub path key that does not match leaves the v1 key",
      auths: { "docker.io/team": { auth: BOB_AUTH }, ...HUB_V1 },
      image: "busybox",
      want: [alice],
    },
    // path-scoped entries
    {
      name: "the longest path comes first, then its prefixes",
      auths: QUAY,
      image: "quay.io/team/app:1",
      want: [teamApp, team, quay],
    },
    {
      name: "a path entry before the host entry",
      auths: QUAY,
      image: "quay.io/team/other",
      want: [team, quay],
    },
    {
      name: "a path is a string prefix: quay.io/team matches quay.io/teamx",
      auths: QUAY,
      image: "quay.io/teamx/app",
      want: [team, quay],
    },
    {
      name: "another path gets the host entry",
      auths: QUAY,
      image: "quay.io/other/app",
      want: [quay],
    },
    {
      name: "a shorter path gets the host entry",
      auths: QUAY,
      image: "quay.io/te:1",
      want: [quay],
    },
    // globs
    {
      name: "*.example.com matches one more label",
      auths: GLOBS,
      image: "a.example.com/app",
      want: [star],
    },
    {
      name: "*.example.com does not match example.com",
      auths: GLOBS,
      image: "example.com/app",
      want: [],
    },
    {
      name: "*.*.example.com matches two more labels",
      auths: GLOBS,
      image: "b.a.example.com/app",
      want: [starStar],
    },
    {
      name: "a glob with a port matches that port",
      auths: GLOBS,
      image: "a.example.com:5000/app",
      want: [star5000],
    },
    {
      name: "a glob with another port matches none",
      auths: GLOBS,
      image: "a.example.com:5001/app",
      want: [],
    },
    {
      name: "an exact host comes before a glob that matches it too",
      auths: GLOBS,
      image: "registry.example.com/app",
      want: [reg, star],
    },
    {
      name: "a class matches one character",
      auths: GLOBS,
      image: "mirror3.example.org/x",
      want: [numbered],
    },
    {
      name: "a class does not match another",
      auths: GLOBS,
      image: "mirrorx.example.org/x",
      want: [],
    },
    { name: "a glob in another domain", auths: GLOBS, image: "a.example.org/app", want: [] },
    // schemes and versions
    {
      name: "https:// and /v2/ are dropped",
      auths: SCHEMES,
      image: "ghcr.io/owner/app:latest",
      want: [ghcr],
    },
    {
      name: "http://, capitals and /v1/ are dropped, the path kept",
      auths: SCHEMES,
      image: "mirror.example.org/mirror/app",
      want: [mirror],
    },
    {
      name: "outside the kept path",
      auths: SCHEMES,
      image: "mirror.example.org/other/app",
      want: [],
    },
    {
      name: "/v1 without a slash is a path",
      auths: SCHEMES,
      image: "quay.io/v1/app",
      want: [v1Dir],
    },
    { name: "not under /v1", auths: SCHEMES, image: "quay.io/app", want: [] },
    // what an entry gives
    {
      name: "an auth field wins over username and password",
      auths: { "registry.example.com": { auth: ALICE_AUTH, username: "bob", password: "hunter2" } },
      image: "registry.example.com/app",
      want: [alice],
    },
    {
      name: "tokens are passed through",
      auths: {
        "tokens.example.net": { identitytoken: "id-token-1", registrytoken: "registry-token-1" },
      },
      image: "tokens.example.net/app",
      want: [{ identityToken: "id-token-1", registryToken: "registry-token-1" }],
    },
  ];

for (const { name, auths, image, want } of cases) {
  Deno.test(`forImage: ${name} (${image})`, () => {
    const credentials = RegistryCredentials.parse(FILE, JSON.stringify({ auths }));
    assert.deepEqual(credentials.warnings, []);
    const got = credentials.forImage(image);
    assert.deepEqual(got, want);
    for (const auth of got) assert.ok(!("serverAddress" in auth), JSON.stringify(auth));
  });
}

Deno.test("forImage returns fresh objects", () => {
  const credentials = RegistryCredentials.parse(FILE, JSON.stringify({ auths: HUB_V1 }));
  const [first] = credentials.forImage("busybox");
  assert.ok(first);
  first.password = "changed";
  assert.deepEqual(credentials.forImage("busybox"), [alice]);
});

Deno.test("inspecting credentials does not show secrets", () => {
  const credentials = RegistryCredentials.parse(
    FILE,
    JSON.stringify({ auths: { ...HUB_V1, ...PORTS } }),
  );
  const shown = Deno.inspect(credentials, { depth: 10 });
  assert.ok(!shown.includes("s3cret"), shown);
  assert.ok(!shown.includes("ip5000-pw"), shown);
});

Deno.test("credentials built directly read their keys as a file's and drop a server address", () => {
  const credentials = new RegistryCredentials([
    ["https://Registry.Example.com/v1/", { username: "u", password: "p", serverAddress: "x" }],
  ]);
  assert.deepEqual(credentials.forImage("registry.example.com/app"), [{
    username: "u",
    password: "p",
  }]);
  assert.deepEqual(new RegistryCredentials().forImage("busybox"), []);
});

Deno.test("a file without auths, or with null auths or entries, gives no credentials", () => {
  for (const text of ["{}", `{"auths": null}`, `{"auths": {"registry.example.com": null}}`]) {
    const credentials = RegistryCredentials.parse(FILE, text);
    assert.deepEqual(credentials.forImage("registry.example.com/app"), []);
    assert.deepEqual(credentials.warnings, []);
  }
});

Deno.test("redactCredentials hides passwords, tokens and base64 user:password", () => {
  const text =
    `401 for bob with hunter2 (Basic ${BOB_AUTH}); token id-token-1, reg registry-token-1`;
  assert.equal(
    redactCredentials(text, [bob, {
      identityToken: "id-token-1",
      registryToken: "registry-token-1",
    }]),
    "401 for bob with *** (Basic ***); token ***, reg ***",
  );
  assert.equal(
    redactCredentials("nothing secret", [{ username: "bob", password: "" }]),
    "nothing secret",
  );
});
