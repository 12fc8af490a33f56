/**
 * Names tinylet turns into one path component, against a private real
 * containerd: a pod whose log directory `<namespace>_<name>_<uid>` is exactly
 * 255 bytes runs, and one a byte longer is refused by the agent with the very
 * line `tinylet check` prints (file, line, field), before anything is created.
 */
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Cri } from "../lib/runtime/cri.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { startAgent } from "../testing/agent_process.ts";
import { agentFlags, denoRunArgs } from "../testing/agent_args.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "path-limits-e2e";
const NAMESPACE = "n".repeat(63);
// 63 + "_" + 154 + "_" + 36 (the UID) = 255 bytes: the longest file name Linux allows.
const FITS = "a".repeat(154);
// One more character: 256 bytes, and mkdir would fail with "File name too long".
const TOO_LONG = "b".repeat(155);

/** A hostNetwork busybox pod; `metadata.name` is on line 4, column 3. */
function podYaml(name: string, image: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${NAMESPACE}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: ${image}
      command: ["sh", "-c", "trap 'exit 0' TERM; echo started; sleep 3600 & wait"]
`;
}

async function sandboxesOf(cri: Cri, name: string) {
  return await cri.listPodSandbox({
    labelSelector: { "tinylet": "true", "tinylet/instance": INSTANCE, [KEYS.podName]: name },
  });
}

realRuntimeTest(
  "the agent runs a pod whose log directory name is 255 bytes and refuses a 256-byte one with check's message",
  async (t, rc) => {
    const dir = `${rc.dir}/path-limits`;
    const manifests = `${dir}/manifests`;
    const logs = `${dir}/logs`;
    await Deno.mkdir(manifests, { recursive: true });
    await Deno.writeTextFile(`${manifests}/fits.yaml`, podYaml(FITS, rc.busyboxImage));
    await Deno.writeTextFile(`${manifests}/long.yaml`, podYaml(TOO_LONG, rc.busyboxImage));

    await using agent = startAgent(
      agentFlags({
        socket: rc.socket,
        manifests,
        interval: "500ms",
        instance: INSTANCE,
        root: `${dir}/root`,
        podLogRoot: logs,
        insecureManifestPermissions: true,
        logFormat: "json",
        logLevel: "debug",
      }),
      { cwd: dir },
    );
    using cri = connectCri(rc.socket);
    const messages = () =>
      agent.lines.flatMap((l) => {
        try {
          return [String(JSON.parse(l).msg)];
        } catch {
          return [];
        }
      });

    let ok = await t.step("the 255-byte log directory is created and the pod runs", async () => {
      const sandbox = await waitFor("the pod with the longest name running", async () => {
        const ready = (await sandboxesOf(cri, FITS)).filter((s) => s.state === "SANDBOX_READY");
        if (ready.length !== 1) return undefined;
        const containers = await cri.listContainers({ podSandboxId: ready[0]!.id });
        return containers.some((c) => c.state === "CONTAINER_RUNNING") && ready[0];
      }, { timeoutMs: 30_000 });
      const dirName = `${NAMESPACE}_${FITS}_${sandbox.metadata.uid}`;
      assert.equal(new TextEncoder().encode(dirName).length, 255);
      const text = await waitFor("the container's first log line", async () => {
        const t = await Deno.readTextFile(`${logs}/${dirName}/main/0.log`).catch(() => "");
        return t.includes("started") && t;
      });
      assert.match(text, /^\S+ stdout F started$/m);
    });

    ok &&= await t.step("the 256-byte one is refused with the line check prints", async () => {
      const check = await new Deno.Command(Deno.execPath(), {
        args: denoRunArgs(["check", "--insecure-manifest-permissions", `${manifests}/long.yaml`]),
        env: { NO_COLOR: "1" },
      }).output();
      assert.equal(check.code, 1);
      const printed = new TextDecoder().decode(check.stdout).trim();
      assert.equal(
        printed,
        `${manifests}/long.yaml:4:3: error: Shorten the pod name to at most 154 characters in namespace "${NAMESPACE}": its log directory <namespace>_<name>_<uid> would be a file name of 256 bytes, more than the 255 Linux allows (File name too long) (field metadata.name)`,
      );
      const logged = await waitFor(
        "the agent's error for long.yaml",
        () => messages().find((m) => m.startsWith(`${manifests}/long.yaml:`)),
      );
      assert.ok(logged.startsWith(`${printed};`), `the agent logged: ${logged}`);
      // A few more passes: the pod is never created, nothing else fails.
      const seen = agent.lines.length;
      for (let i = 0; i < 2; i++) {
        await agent.waitForLine(/Pass done/, { after: agent.lines.length });
      }
      assert.ok(agent.lines.length > seen);
      assert.deepEqual(await sandboxesOf(cri, TOO_LONG), []);
      assert.deepEqual(messages().filter((m) => /os error 36|Failed/.test(m)), []);
    });
    if (!ok) console.log(`The agent logged:\n${agent.lines.join("\n")}`);

    await agent.stop();
    // Leave nothing for the harness but the pod it removes through CRI.
    for (const s of await sandboxesOf(cri, FITS)) {
      await cri.stopPodSandbox(s.id);
      await cri.removePodSandbox(s.id);
    }
  },
);
