/**
 * What ships, run for real: main.ts under exactly the compile task's
 * permissions, from another working directory, through a full pod life on a
 * real containerd; and the local demo from start to Ctrl-C.
 */
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { agentFlags, denoRunArgs } from "../testing/agent_args.ts";
import { waitFor } from "../testing/wait.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
const COMPILE_PERMISSIONS = String(config.tasks.compile).split(/\s+/).filter((a) =>
  a.startsWith("--allow-")
);

realRuntimeTest(
  "main.ts with exactly the compile task's permissions, from another directory, runs a pod's whole life",
  async (t, rc) => {
    const elsewhere = await Deno.makeTempDir({ prefix: "tinylet-cwd-" });
    const dir = `${rc.dir}/perm`;
    await Deno.mkdir(`${dir}/manifests`, { recursive: true });
    using cri = connectCri(rc.socket);
    const child = new Deno.Command(Deno.execPath(), {
      args: denoRunArgs(
        agentFlags({
          socket: rc.socket,
          manifests: `${dir}/manifests`,
          root: `${dir}/root`,
          podLogRoot: `${dir}/logs`,
          instance: "perm",
          listen: "127.0.0.1:0",
        }),
        ["--no-prompt", ...COMPILE_PERMISSIONS],
      ),
      cwd: elsewhere,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const lines: string[] = [];
    const pump = (async () => {
      for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) {
        lines.push(...c.split("\n"));
      }
    })();
    const out = child.stdout.cancel();
    try {
      await t.step(
        "a pod with a Memory emptyDir, a subPath and an init container starts",
        async () => {
          await Deno.writeTextFile(
            `${dir}/manifests/full.yaml`,
            `apiVersion: v1
kind: Pod
metadata: {name: full}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
    - name: prep
      image: ${rc.busyboxImage}
      command: ["sh", "-c", "mkdir -p /data/sub && echo ready > /data/sub/flag"]
      volumeMounts: [{name: data, mountPath: /data}]
  containers:
    - name: app
      image: ${rc.busyboxImage}
      command: ["sh", "-c", "cat /flag/flag; trap 'exit 0' TERM; sleep 3600 & wait"]
      volumeMounts:
        - {name: data, mountPath: /flag, subPath: sub}
        - {name: mem, mountPath: /mem}
  volumes:
    - {name: data, emptyDir: {}}
    - {name: mem, emptyDir: {medium: Memory, sizeLimit: 4Mi}}
`,
          );
          await waitFor(
            () => `the pod running; the agent logged:\n${lines.join("\n")}`,
            async () => {
              const cs = await cri.listContainers({
                labelSelector: {
                  "tinylet/instance": "perm",
                  [KEYS.podName]: "full",
                  [KEYS.containerName]: "app",
                },
              });
              return cs[0]?.state === "CONTAINER_RUNNING";
            },
            { timeoutMs: 30_000 },
          );
          assert.deepEqual(
            lines.filter((l) => /Requires|NotCapable|PermissionDenied|permission/i.test(l)),
            [],
          );
        },
      );
      await t.step("deleting the file removes the pod, its tmpfs and its state", async () => {
        await Deno.remove(`${dir}/manifests/full.yaml`);
        await waitFor(
          "the pod gone",
          async () =>
            (await cri.listPodSandbox({ labelSelector: { "tinylet/instance": "perm" } })).length ===
              0,
          {
            timeoutMs: 30_000,
          },
        );
        const pods = [];
        for await (const e of Deno.readDir(`${dir}/root/pods`)) pods.push(e.name);
        assert.deepEqual(pods, []);
        assert.deepEqual(lines.filter((l) => /ERROR/.test(l)), []);
      });
    } finally {
      child.kill("SIGTERM");
      const status = await child.status;
      await pump;
      await out;
      await Deno.remove(elsewhere, { recursive: true });
      assert.equal(status.code, 0, lines.join("\n"));
    }
  },
);
