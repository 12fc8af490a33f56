/**
 * The node's config hash key (`lib/node/hash_key.ts`) and the keyed hash of a pod whose env
 * reads ConfigMaps or Secrets (`configSpecHash`). The expected MACs were computed outside
 * tinylet, with `openssl dgst -sha256 -hmac` and python's `hmac`, and pasted here.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readHashKey } from "../lib/node/hash_key.ts";
import { configSpecHash } from "../lib/manifest/pod.ts";

async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinylet_hash_key_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

/** The permission bits of `path`, in octal. */
async function modeOf(path: string): Promise<string> {
  return ((await Deno.stat(path)).mode! & 0o777).toString(8);
}

Deno.test("the key is made 0600 with 32 bytes, in a root made 0700, and read back the same", async () => {
  await inTempDir(async (dir) => {
    const root = `${dir}/root`;
    const made = await readHashKey(root, { create: true });
    assert.ok(made);
    assert.equal(made.length, 32);
    assert.equal(await modeOf(root), "700");
    assert.equal(await modeOf(`${root}/config-hash.key`), "600");
    // Nothing beside it: the temporary file it was written to is gone.
    assert.deepEqual(await names(root), ["config-hash.key"]);
    assert.deepEqual(await Deno.readFile(`${root}/config-hash.key`), made);
    assert.deepEqual(await readHashKey(root), made);
    assert.deepEqual(await readHashKey(root, { create: true }), made);
  });
});

Deno.test("two keys made in two roots differ (they are random)", async () => {
  await inTempDir(async (dir) => {
    const a = await readHashKey(`${dir}/a`, { create: true });
    const b = await readHashKey(`${dir}/b`, { create: true });
    assert.ok(a && b);
    assert.notDeepEqual(a, b);
  });
});

Deno.test("without create, a missing key is undefined and nothing is made", async () => {
  await inTempDir(async (dir) => {
    assert.equal(await readHashKey(dir), undefined);
    assert.equal(await readHashKey(`${dir}/absent`), undefined);
    assert.deepEqual(await names(dir), []);
  });
});

Deno.test("a key already there is read, never replaced", async () => {
  await inTempDir(async (dir) => {
    const key = new Uint8Array(32).map((_, i) => 255 - i);
    await Deno.writeFile(`${dir}/config-hash.key`, key, { mode: 0o600 });
    assert.deepEqual(await readHashKey(dir, { create: true }), key);
    assert.deepEqual(await Deno.readFile(`${dir}/config-hash.key`), key);
    assert.deepEqual(await names(dir), ["config-hash.key"]);
  });
});

Deno.test("agents making the key at once all get the one key that was written", async () => {
  await inTempDir(async (dir) => {
    const keys = await Promise.all(
      Array.from({ length: 6 }, () => readHashKey(dir, { create: true })),
    );
    const onDisk = await Deno.readFile(`${dir}/config-hash.key`);
    for (const k of keys) assert.deepEqual(k, onDisk);
    assert.deepEqual(await names(dir), ["config-hash.key"]);
  });
});

Deno.test("a key file of the wrong length is refused, naming its path, and left as it is", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/config-hash.key`;
    for (const length of [0, 31, 33]) {
      await Deno.writeFile(path, new Uint8Array(length).fill(7), { mode: 0o600 });
      const expected = new Error(
        `The config hash key ${path} holds ${length} bytes, not 32: remove it and restart tinylet to make a new one (pods whose env reads ConfigMaps or Secrets are then replaced once)`,
      );
      await assert.rejects(readHashKey(dir), expected);
      await assert.rejects(readHashKey(dir, { create: true }), expected);
      assert.equal((await Deno.readFile(path)).length, length);
    }
  });
});

// printf 'v1:0123456789abcdef\nenv:fedcba9876543210' | openssl dgst -sha256 -hmac ""
const EMPTY_KEY_MAC = "ec87f39fbbe38850b963f4d35cac21da5ec2c5ef38bacbb2a2aed14ee7fd44ea";
// python3: hmac.new(bytes(range(32)), b"v1:0123456789abcdef\nenv:fedcba9876543210", sha256)
const KEY_0_TO_31_MAC = "551000df8351cd6597e555dea4c8b9eefd0efd17ca114fefffcd70435ee79fc0";

Deno.test("configSpecHash with no key or an empty key is the HMAC with the key [0]", async () => {
  const spec = "v1:0123456789abcdef";
  const env = "fedcba9876543210";
  assert.equal(await configSpecHash(spec, env), `v1:${EMPTY_KEY_MAC}`);
  assert.equal(await configSpecHash(spec, env, new Uint8Array()), `v1:${EMPTY_KEY_MAC}`);
  assert.equal(await configSpecHash(spec, env, new Uint8Array([0])), `v1:${EMPTY_KEY_MAC}`);
});

Deno.test("configSpecHash with another key is that key's HMAC, another hash", async () => {
  const spec = "v1:0123456789abcdef";
  const env = "fedcba9876543210";
  const key = Uint8Array.from({ length: 32 }, (_, i) => i);
  assert.equal(await configSpecHash(spec, env, key), `v1:${KEY_0_TO_31_MAC}`);
  assert.notEqual(await configSpecHash(spec, env, key), await configSpecHash(spec, env));
  // Any change of spec or env changes it.
  assert.notEqual(await configSpecHash(spec, "fedcba9876543211", key), `v1:${KEY_0_TO_31_MAC}`);
  assert.notEqual(
    await configSpecHash("v1:0123456789abcdeg", env, key),
    `v1:${KEY_0_TO_31_MAC}`,
  );
});
