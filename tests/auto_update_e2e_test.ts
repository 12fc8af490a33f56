/**
 * Auto-update on a real containerd and a real registry (TLS, basic auth), with the agent as a
 * process: a new image pushed under a tag moves the annotated pod to it within one
 * `--auto-update-interval`, while a pod without the annotation keeps its container; then
 * `tinylet auto-update --dry-run` lists and `tinylet auto-update` does it at once.
 */
import { tinylet as run } from "../testing/in_container.ts";
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Container, Cri } from "../lib/runtime/cri.ts";
import { variantArchive } from "../testing/busybox_images.ts";
import { realRegistryTest } from "../testing/registry_harness.ts";
import { startAgent } from "../testing/agent_process.ts";
import { COMPILE_PERMISSIONS } from "../testing/agent_args.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "auto-update-e2e";
const INTERVAL_MS = 5_000;

function manifest(name: string, image: string, annotated: boolean): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
${annotated ? "  annotations:\n    tinylet.dev/auto-update: registry\n" : ""}spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: ${image}
    command: [sh, -c, "cat /version; sleep 3600"]
`;
}

/** The running `main` container of `pod` (of this test's agent), if any. */
async function mainOf(cri: Cri, pod: string): Promise<Container | undefined> {
  const list = await cri.listContainers({
    state: "CONTAINER_RUNNING",
    labelSelector: { "tinylet/instance": INSTANCE, "io.kubernetes.pod.name": pod },
  });
  return list.find((c) => c.metadata.name === "main");
}

/** Runs a tinylet command as shipped (the compile task's permissions). */
const tinylet = (args: string[]) => run(args, COMPILE_PERMISSIONS);

realRegistryTest(
  "auto-update: a push under the tag moves the annotated pod to the new image; the other pod keeps its container",
  async (t, rc, registry) => {
    using cri = connectCri(rc.socket);
    const dir = await Deno.makeTempDir({ dir: rc.dir, prefix: "auto-update-" });
    const manifests = `${dir}/manifests`;
    await Deno.mkdir(manifests, { mode: 0o755 });
    const credentials = `${dir}/config.json`;
    const auth = btoa(`${registry.username}:${registry.password}`);
    await Deno.writeTextFile(
      credentials,
      JSON.stringify({ auths: { [registry.host]: { auth } } }),
      { mode: 0o600 },
    );
    const image = `${registry.host}/app:1`;
    const digests = [await registry.push(await variantArchive(dir, "1"), "app:1")];
    await Deno.writeTextFile(`${manifests}/auto.yaml`, manifest("auto", image, true));
    await Deno.writeTextFile(`${manifests}/plain.yaml`, manifest("plain", image, false));
    const flags = [
      `--socket=${rc.socket}`,
      `--manifests=${manifests}`,
      `--instance=${INSTANCE}`,
      `--root=${dir}/root`,
      `--pod-log-root=${dir}/logs`,
      `--registry-config=${credentials}`,
    ];
    const imageId = async () => (await cri.imageStatus({ image }))?.id;

    let agent = startAgent([
      ...flags,
      "--interval=1s",
      `--auto-update-interval=${INTERVAL_MS / 1000}s`,
      "--log-level=debug",
    ], { permissions: COMPILE_PERMISSIONS });
    const said = () => agent.lines.join("\n");
    try {
      const first = await waitFor(
        () => `both pods running; the agent logged:\n${said()}`,
        async () => {
          const [a, p] = [await mainOf(cri, "auto"), await mainOf(cri, "plain")];
          return a && p ? { auto: a, plain: p } : undefined;
        },
        { timeoutMs: 30_000 },
      );
      const firstId = await imageId();
      assert.equal(first.auto.imageRef, firstId);
      assert.equal(first.plain.imageRef, firstId);

      await t.step(
        "within one interval of a push, the annotated pod runs the new image",
        async () => {
          digests.push(await registry.push(await variantArchive(dir, "2"), "app:1"));
          assert.notEqual(digests[1], digests[0]);
          const pushed = performance.now();
          let seen: number | undefined;
          const moved = await waitFor(
            () => `the annotated pod on a new image; the agent logged:\n${said()}`,
            async () => {
              if (seen === undefined && agent.lines.some((l) => l.includes("Updating pod"))) {
                seen = performance.now();
              }
              const c = await mainOf(cri, "auto");
              return c && c.imageRef !== first.auto.imageRef ? c : undefined;
            },
            { timeoutMs: INTERVAL_MS + 20_000, everyMs: 50 },
          );
          const ms = Math.round(performance.now() - pushed);
          const found = seen === undefined ? "?" : Math.round(seen - pushed);
          console.log(
            `auto-update: push to the pod running the new image: ${ms} ms (update found after ${found} ms; --auto-update-interval ${INTERVAL_MS} ms)`,
          );
          // It runs what the tag names now, pulled through the credentials.
          const newId = await imageId();
          assert.notEqual(newId, firstId);
          assert.equal(moved.imageRef, newId);
          assert.notEqual(moved.podSandboxId, first.auto.podSandboxId);
          const status = await cri.imageStatus({ image });
          assert.ok(status?.repoDigests.includes(`${registry.host}/app@${digests[1]}`));
          assert.equal(
            agent.lines.filter((l) => l.includes("Updating pod default/auto")).length,
            1,
          );
          // The pod without the annotation keeps its container, on the image it started with.
          const plain = await mainOf(cri, "plain");
          assert.equal(plain?.id, first.plain.id);
          assert.equal(plain?.imageRef, firstId);
        },
      );

      await t.step("no pass or check after that replaces anything more", async () => {
        const after = agent.lines.length;
        await agent.waitForLine(/Checked images for updates images=1 updates=0/, {
          after,
          timeoutMs: INTERVAL_MS + 10_000,
        });
        const auto = await mainOf(cri, "auto");
        assert.equal(auto?.imageRef, await imageId());
        assert.ok(
          !agent.lines.slice(after).some((l) => /Updating pod|Removed pod/.test(l)),
          said(),
        );
      });

      // The same agent with a long interval: only the command moves the pod now.
      assert.equal(await agent.stop(), 0, said());
      agent = startAgent([
        ...flags,
        "--interval=1s",
        "--auto-update-interval=1h",
        "--log-level=debug",
      ], { permissions: COMPILE_PERMISSIONS });
      await agent.waitForLine(/Checked images for updates images=1 updates=0/, {
        timeoutMs: 20_000,
      });

      await t.step(
        "tinylet auto-update --dry-run lists the new image and changes nothing",
        async () => {
          digests.push(await registry.push(await variantArchive(dir, "3"), "app:1"));
          const before = await mainOf(cri, "auto");
          const r = await tinylet(["auto-update", "--dry-run", ...flags]);
          assert.equal(r.code, 0, r.out + r.err);
          assert.match(
            r.out,
            /^default\/auto +main +\S+app:1 +sha256:[0-9a-f]{12} +sha256:[0-9a-f]{12} +new image$/m,
          );
          assert.match(r.out, /^Would replace 1 pod: default\/auto$/m);
          assert.ok(!r.out.includes("plain"), r.out);
          assert.equal((await mainOf(cri, "auto"))?.id, before?.id);
        },
      );

      await t.step("tinylet auto-update has the running agent replace the pod now", async () => {
        const started = performance.now();
        const r = await tinylet(["auto-update", ...flags]);
        const ms = Math.round(performance.now() - started);
        assert.equal(r.code, 0, r.out + r.err + said());
        console.log(`auto-update: tinylet auto-update took ${ms} ms`);
        const newId = await imageId();
        assert.match(
          r.out,
          new RegExp(`^Asked the agent \\(PID ${agent.pid}\\) to replace default/auto$`, "m"),
        );
        assert.ok(r.out.includes(`Updated default/auto: main runs ${newId?.slice(0, 19)}`), r.out);
        assert.equal((await mainOf(cri, "auto"))?.imageRef, newId);
        assert.equal((await mainOf(cri, "plain"))?.id, first.plain.id);
        assert.ok(
          agent.lines.some((l) =>
            l.includes("Checking the images of auto-update pods now (tinylet auto-update)")
          ),
        );
      });
    } finally {
      await agent.stop();
      const ours = await cri.listPodSandbox({ labelSelector: { "tinylet/instance": INSTANCE } });
      for (const s of ours) {
        await cri.stopPodSandbox(s.id);
        await cri.removePodSandbox(s.id);
      }
    }
  },
);
