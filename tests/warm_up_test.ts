/**
 * The warm-up: it runs the runtime's message codecs and a pod's translation with no runtime
 * at all, and leaves nothing on disk.
 */
import assert from "node:assert/strict";
import { warmUp, warmUpTranslation } from "../lib/agent/warm_up.ts";
import { criServices } from "../lib/runtime/grpc_services.ts";
import { HOT_METHODS, warmCodecs } from "../lib/runtime/grpc_warm_up.ts";

/** The entries under `dir`, as paths relative to it. */
function entries(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    out.push(e.name);
    if (e.isDirectory) out.push(...entries(`${dir}/${e.name}`).map((n) => `${e.name}/${n}`));
  }
  return out;
}

Deno.test("the codec warm-up encodes and decodes every message of a pod's start, with no runtime to call", () => {
  // No socket anywhere: the warm-up only runs the codecs.
  warmCodecs();
  // Every method named exists in the CRI definition (a renamed one would be skipped silently).
  const { RuntimeService, ImageService } = criServices();
  for (const m of HOT_METHODS) {
    assert.ok(m in RuntimeService.service || m in ImageService.service, m);
  }
  for (const m of ["RunPodSandbox", "CreateContainer", "StartContainer", "ListContainers"]) {
    assert.ok(HOT_METHODS.includes(m), m);
  }
});

Deno.test("the translation warm-up goes through a sample pod and leaves nothing on disk", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-warm-" });
  try {
    const options = {
      instance: "warm",
      podLogRoot: `${dir}/logs`,
      root: `${dir}/root`,
      nodeName: "node1",
      hostDns: { servers: [], searches: [], options: [] },
    };
    await warmUpTranslation(options);
    await warmUp(options);
    assert.deepEqual(entries(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
