/**
 * The reconciler's work after its first idle pass, on the fake runtime: with a pod declared at
 * start, it runs once that pod runs and the loop has nothing left to do, not before.
 */
import assert from "node:assert/strict";
import { createLogger } from "../lib/base/log.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import { Reconciler } from "../lib/reconcile/reconciler.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { waitFor } from "../testing/wait.ts";

const IMAGE = "docker.io/library/busybox:1.35";

Deno.test("with a pod declared at start, the work after the first idle pass runs once, after the pod runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-idle-" });
  const manifests = `${dir}/manifests`;
  await Deno.mkdir(manifests);
  await Deno.writeTextFile(
    `${manifests}/hello.yaml`,
    `name: hello\ncontainers:\n  - name: hello\n    image: ${IMAGE}\n    command: ["sleep", "3600"]\n`,
  );
  const cri = new FakeCri({ images: [IMAGE] });
  /** At each run of the work: the runtime calls made so far, and the pods' phases. */
  const runs: { calls: string[]; phases: string[] }[] = [];
  const reconciler = new Reconciler({
    cri,
    source: new ManifestSource(manifests),
    log: createLogger({ write: () => {} }),
    socket: "/run/fake.sock",
    nodeName: "node1",
    readHostDns: () => Promise.resolve({ servers: [], searches: [], options: [] }),
    instance: "default",
    root: `${dir}/root`,
    podLogRoot: `${dir}/logs`,
    parallel: 4,
    intervalMs: 60_000,
    onFirstIdle: () => {
      runs.push({
        calls: cri.calls.map((c) => c.method),
        phases: reconciler.pods.map((p) => p.phase),
      });
      return Promise.resolve();
    },
  });
  const controller = new AbortController();
  const loop = reconciler.run(controller.signal);
  try {
    await waitFor("the work after the first idle pass", () => runs.length > 0, {
      timeoutMs: 5_000,
    });
    assert.ok(runs[0]!.calls.includes("StartContainer"), runs[0]!.calls.join(","));
    assert.deepEqual(runs[0]!.phases, ["Running"]);
    // Later passes (a new file) run it no more.
    await Deno.writeTextFile(`${manifests}/other.txt`, "not a manifest\n");
    const calls = cri.calls.length;
    await waitFor("a pass after the new file", () => cri.calls.length > calls, {
      timeoutMs: 5_000,
    });
    assert.equal(runs.length, 1);
  } finally {
    controller.abort();
    await loop;
    cri.close();
    await Deno.remove(dir, { recursive: true });
  }
});
