/**
 * Writing a config volume through `writeConfigVolume`: only into the directory the pod's
 * volumes made (never again after a teardown), a tmpfs volume only while its tmpfs is mounted,
 * and the payload last written is the one the last write to finish wrote.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  forgetConfigVolume,
  VolumeError,
  writeConfigVolume,
  writtenConfigVolume,
} from "../lib/node/volumes.ts";

const encoder = new TextEncoder();

function payload(text: string) {
  return new Map([["key", { data: encoder.encode(text), mode: 0o644 }]]);
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-config-write-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a config volume whose directory is gone is not made again, nor written", async () => {
  await withDir(async (dir) => {
    const volume = `${dir}/pods/u/volumes/kubernetes.io~configmap/conf`;
    await assert.rejects(
      writeConfigVolume("conf", volume, payload("a"), false),
      (e: unknown) =>
        e instanceof VolumeError &&
        e.message ===
          `Volume "conf": cannot write its files in "${volume}": the volume's directory is gone`,
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    assert.equal(writtenConfigVolume(volume), undefined);
  });
});

Deno.test("a tmpfs volume whose tmpfs is not mounted is never written to disk", async () => {
  await withDir(async (dir) => {
    const volume = `${dir}/secret`;
    await Deno.mkdir(volume);
    await assert.rejects(
      writeConfigVolume("sec", volume, payload("s3cr3t"), true),
      (e: unknown) =>
        e instanceof VolumeError &&
        e.message ===
          `Volume "sec": cannot write its files in "${volume}": its tmpfs is not mounted`,
    );
    assert.deepEqual([...Deno.readDirSync(volume)], []);
  });
});

Deno.test("the payload last written is the one the last write to finish wrote", async () => {
  await withDir(async (dir) => {
    const newer = payload("new");
    const older = payload("old");
    // Two writers at once (an update and a pod's start from an older pass): the directory's
    // queue takes them in call order, and the record follows what the directory holds.
    const [a, b] = await Promise.all([
      writeConfigVolume("conf", dir, newer, false),
      writeConfigVolume("conf", dir, older, false),
    ]);
    assert.deepEqual([a, b], [true, true]);
    assert.equal(await Deno.readTextFile(`${dir}/key`), "old");
    assert.equal(writtenConfigVolume(dir), older);
    forgetConfigVolume(dir);
    assert.equal(writtenConfigVolume(dir), undefined);
  });
});
