/**
 * The keyring's pieces: an image's repository as Docker normalises it, an `"auths"` key as
 * kubelet indexes it, and host globs as Go's `filepath.Match` reads them. Expected values are
 * derived by hand from those rules.
 */
import assert from "node:assert/strict";
import {
  type ImageRepository,
  imageRepository,
  RegistryKey,
  RegistryKeyError,
} from "../lib/node/registry_keys.ts";

const repositories: { image: string; want: ImageRepository }[] = [
  {
    image: "busybox",
    want: {
      repository: "docker.io/library/busybox",
      host: "docker.io",
      port: "",
      path: "/library/busybox",
    },
  },
  {
    image: "busybox:1.35",
    want: {
      repository: "docker.io/library/busybox",
      host: "docker.io",
      port: "",
      path: "/library/busybox",
    },
  },
  {
    image: "alice/app:latest",
    want: { repository: "docker.io/alice/app", host: "docker.io", port: "", path: "/alice/app" },
  },
  {
    image: "index.docker.io/busybox",
    want: {
      repository: "docker.io/library/busybox",
      host: "docker.io",
      port: "",
      path: "/library/busybox",
    },
  },
  {
    image: "registry-1.docker.io/x/y",
    want: { repository: "docker.io/x/y", host: "docker.io", port: "", path: "/x/y" },
  },
  {
    image: "localhost:5000/app:1",
    want: { repository: "localhost:5000/app", host: "localhost", port: "5000", path: "/app" },
  },
  {
    image: "localhost/app",
    want: { repository: "localhost/app", host: "localhost", port: "", path: "/app" },
  },
  {
    image: "localhost:5000",
    want: {
      repository: "docker.io/library/localhost",
      host: "docker.io",
      port: "",
      path: "/library/localhost",
    },
  },
  {
    image: `Registry.Example.com:5000/team/app@sha256:${"0".repeat(64)}`,
    want: {
      repository: "registry.example.com:5000/team/app",
      host: "registry.example.com",
      port: "5000",
      path: "/team/app",
    },
  },
  {
    image: "[::1]:5000/app:2",
    want: { repository: "[::1]:5000/app", host: "[::1]", port: "5000", path: "/app" },
  },
  {
    image: "MyHost/app",
    want: { repository: "myhost/app", host: "myhost", port: "", path: "/app" },
  },
];

for (const { image, want } of repositories) {
  Deno.test(`imageRepository: ${image}`, () => {
    assert.deepEqual(imageRepository(image), want);
  });
}

const keys: { raw: string; key: string }[] = [
  { raw: "https://index.docker.io/v1/", key: "index.docker.io" },
  { raw: "http://index.docker.io/v2/", key: "index.docker.io" },
  { raw: "HTTPS://Quay.IO/v2/Team/", key: "quay.io/Team/" },
  { raw: "quay.io/", key: "quay.io" },
  { raw: "quay.io/v1", key: "quay.io/v1" },
  { raw: "quay.io/v1/", key: "quay.io" },
  { raw: "127.0.0.1:5000", key: "127.0.0.1:5000" },
  { raw: "https://[::1]:5000/v2/", key: "[::1]:5000" },
  { raw: "*.Example.com", key: "*.example.com" },
];

for (const { raw, key } of keys) {
  Deno.test(`RegistryKey: "${raw}" is indexed as "${key}"`, () => {
    assert.equal(new RegistryKey(raw).key, key);
  });
}

const globs: { key: string; image: string; want: boolean }[] = [
  { key: "reg?.example.com", image: "reg1.example.com/x", want: true },
  { key: "reg?.example.com", image: "reg.example.com/x", want: false },
  { key: "reg?.example.com", image: "reg12.example.com/x", want: false },
  { key: "*reg*.example.com", image: "myregistry.example.com/x", want: true },
  { key: "*reg*.example.com", image: "registry.example.com/x", want: true },
  { key: "*reg*.example.com", image: "rg.example.com/x", want: false },
  { key: "r*y.example.com", image: "ry.example.com/x", want: true },
  { key: "r*y.example.com", image: "ray.example.com/x", want: true },
  { key: "r*y.example.com", image: "rays.example.com/x", want: false },
  { key: "m[a-c0]x.example.com", image: "mbx.example.com/x", want: true },
  { key: "m[a-c0]x.example.com", image: "m0x.example.com/x", want: true },
  { key: "m[a-c0]x.example.com", image: "mdx.example.com/x", want: false },
  { key: "*", image: "localhost/x", want: true },
  { key: "*", image: "localhost:5000/x", want: false },
  { key: "[::1]:5000", image: "[::1]:5000/x", want: true },
  { key: "[::1]:5000", image: "[::2]:5000/x", want: false },
];

for (const { key, image, want } of globs) {
  Deno.test(`RegistryKey: "${key}" ${want ? "matches" : "does not match"} ${image}`, () => {
    assert.equal(new RegistryKey(key).matches(imageRepository(image)), want);
  });
}

Deno.test("RegistryKey: a long run of stars against a long label is answered, right", () => {
  // What this guards is that the answer comes at all: a matcher that backtracks would try each
  // way of splitting 63 characters among 30 stars (about 10^17) before it said no, and this
  // test would never end. One that walks the positions reachable after each glob token, as the
  // key's does, takes 61 tokens × 64 positions. No clock is read: how fast is not the question.
  const key = new RegistryKey(`${"a*".repeat(30)}b.example.com`);
  assert.equal(key.matches(imageRepository(`${"a".repeat(63)}.example.com/x`)), false);
  assert.equal(key.matches(imageRepository(`${"a".repeat(62)}b.example.com/x`)), true);
  assert.equal(key.matches(imageRepository(`${"a".repeat(29)}b.example.com/x`)), false);
});

const refused: { raw: string; reason: string }[] = [
  { raw: "", reason: "it names no registry host" },
  { raw: "http:///v2/", reason: "it names no registry host" },
  { raw: "a:1:2", reason: `"a:1:2" is not a host with an optional ":port"` },
  {
    raw: "a]b.example.com",
    reason: `the host label "a]b" is not a valid glob: a "]" without its "["`,
  },
  {
    raw: "a[]b.example.com",
    reason:
      `the host label "a[]b" is not a valid glob: "]" where a character of a "[...]" class belongs`,
  },
  {
    raw: "a[b-].example.com",
    reason: `the host label "a[b-]" is not a valid glob: a range "b-" without its end`,
  },
];

for (const { raw, reason } of refused) {
  Deno.test(`RegistryKey: "${raw}" is refused: ${reason}`, () => {
    assert.throws(() => new RegistryKey(raw), (err: unknown) => {
      assert.ok(err instanceof RegistryKeyError);
      assert.equal(err.key, raw);
      assert.equal(err.message, reason);
      return true;
    });
  });
}
