/**
 * A subPath of a config volume across an update: the running container's bind mount keeps
 * its file, and the next bind (a container restarting) shows the file the update wrote.
 *
 * @module
 */
import assert from "node:assert/strict";
import { writePayload } from "../lib/node/atomic_writer.ts";
import { bindSubPath, subPathTarget } from "../lib/node/sub_path.ts";
import { releaseVolumes } from "../lib/node/volume_release.ts";

const encoder = new TextEncoder();

function payload(text: string) {
  return new Map([["app.conf", { data: encoder.encode(text), mode: 0o644 }]]);
}

Deno.test("a subPath bound before a config volume's update is bound again to the new file", async () => {
  // Bind mounts need root; CI runs as root, where nothing may skip.
  if (Deno.uid() !== 0) {
    assert.notEqual(Deno.env.get("CI"), "true", "CI runs the tests as root");
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "tinylet-subpath-update-" });
  try {
    const base = `${dir}/pod/volumes/kubernetes.io~configmap/conf`;
    await Deno.mkdir(base, { recursive: true });
    await writePayload(base, payload("port=1\n"));
    const target = subPathTarget(`${dir}/pod`, "conf", "app", 0);
    await bindSubPath("conf", base, "app.conf", target);
    assert.equal(await Deno.readTextFile(target), "port=1\n");
    // The update writes a new timestamped directory and removes the old one: the mount still
    // holds the old file (as a running container's does).
    assert.deepEqual(await writePayload(base, payload("port=2\n")), { changed: true });
    assert.equal(await Deno.readTextFile(target), "port=1\n");
    // A restart binds again: no refusal, the new content.
    await bindSubPath("conf", base, "app.conf", target);
    assert.equal(await Deno.readTextFile(target), "port=2\n");
    assert.equal(await Deno.readTextFile(`${base}/app.conf`), "port=2\n");
  } finally {
    await releaseVolumes(`${dir}/pod`);
    await Deno.remove(dir, { recursive: true });
  }
});
