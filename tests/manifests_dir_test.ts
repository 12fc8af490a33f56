import assert from "node:assert/strict";
import { ManifestSource } from "../lib/manifest/source.ts";

Deno.test("every example in manifests/ is valid and warning-free", async () => {
  const dir = new URL("../manifests", import.meta.url).pathname;
  const scan = await new ManifestSource(dir).scan();
  assert.ok(scan.manifests.length > 0);
  for (const m of scan.manifests) {
    assert.deepEqual(m.problems, [], m.file);
    assert.ok(m.valid && m.pods.length > 0, m.file);
  }
});
