import assert from "node:assert/strict";
import { desiredState, TranslationCache } from "../lib/reconcile/desired.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import { translatePod } from "../lib/translate/desired_pod.ts";

const OPTIONS = {
  instance: "default",
  podLogRoot: "/var/log/pods",
  root: "/var/lib/tinylet",
  nodeName: "node1",
  hostDns: { servers: ["192.0.2.53"], searches: [], options: [] },
};

const WEB = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
    - name: app
      image: docker.io/library/busybox:1.35
`;

async function withManifests(
  files: Record<string, string>,
  fn: (source: ManifestSource, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinylet_desired_test_" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    await fn(new ManifestSource(dir), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("with a cache, a pod of an unchanged file is not translated again", async () => {
  await withManifests({ "web.yaml": WEB }, async (source) => {
    const cache = new TranslationCache();
    const first = await desiredState(await source.scan(), OPTIONS, cache);
    const second = await desiredState(await source.scan(), OPTIONS, cache);
    const a = first.pods.get("default/web");
    assert.ok(a);
    assert.equal(second.pods.get("default/web"), a, "the very same translation");
    // And it is what an uncached translation gives.
    const manifest = (await source.scan()).manifests[0]!;
    assert.deepEqual(a, await translatePod(manifest.pods[0]!.pod, manifest.file, OPTIONS));
  });
});

Deno.test("with a cache, an edit, other options or another file translate again", async () => {
  await withManifests({ "web.yaml": WEB }, async (source, dir) => {
    const cache = new TranslationCache();
    const first = (await desiredState(await source.scan(), OPTIONS, cache)).pods.get(
      "default/web",
    );
    const dns = { ...OPTIONS, hostDns: { servers: ["192.0.2.54"], searches: [], options: [] } };
    const otherDns = (await desiredState(await source.scan(), dns, cache)).pods.get("default/web");
    assert.notEqual(otherDns, first);
    assert.deepEqual(otherDns?.sandbox.dnsConfig?.servers, ["192.0.2.54"]);
    const node = (await desiredState(await source.scan(), { ...OPTIONS, nodeName: "n2" }, cache))
      .pods.get("default/web");
    assert.notEqual(node, first);
    await Deno.writeTextFile(`${dir}/web.yaml`, WEB.replace("busybox:1.35", "busybox:1.36"));
    const edited = (await desiredState(await source.scan(), OPTIONS, cache)).pods.get(
      "default/web",
    );
    assert.notEqual(edited?.hash, first?.hash);
    assert.equal(edited?.containers[0]?.image, "docker.io/library/busybox:1.36");
    // The same pod object read from another file (a rename's last valid content) is its own.
    const scan = await source.scan();
    const m = scan.manifests[0]!;
    const moved = { ...scan, manifests: [{ ...m, file: `${dir}/moved.yaml` }] };
    const fromMoved = (await desiredState(moved, OPTIONS, cache)).pods.get("default/web");
    assert.equal(fromMoved?.source, `${dir}/moved.yaml`);
  });
});

Deno.test("a cached translation is frozen: nothing downstream can change it", async () => {
  await withManifests({ "web.yaml": WEB }, async (source) => {
    const cache = new TranslationCache();
    const pod = (await desiredState(await source.scan(), OPTIONS, cache)).pods.get("default/web");
    assert.ok(pod);
    assert.throws(() => {
      (pod.containers[0] as { image: string }).image = "other";
    }, TypeError);
    assert.throws(() => {
      (pod.sandbox.labels as Record<string, string>)["x"] = "y";
    }, TypeError);
  });
});
