/**
 * Host paths built from what the runtime says, against a private real
 * containerd and the agent as a process. Sandboxes carrying tinylet's labels
 * are made through the CRI by hand, as anyone who can reach the socket could:
 * one with the UID `../../../victim` (its state directory would be a directory
 * outside `--root`), one whose container logs outside `--pod-log-root`, and
 * one with a valid UID whose state and log directories are symlinks out of the
 * roots. The agent removes each through the runtime; everything outside the
 * roots stays; each is said once, and the agent does not loop.
 */
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Cri, PodSandboxConfig } from "../lib/runtime/cri.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { startAgent } from "../testing/agent_process.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "runtime-paths-e2e";
const VALID_UID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
/** How long the agent is watched once it has acted, for lines it should not write. */
const QUIET_MS = 3_000;

/** A hostNetwork sandbox config with tinylet's labels for this instance. */
function forged(name: string, uid: string, logDirectory?: string): PodSandboxConfig {
  return {
    metadata: { name, namespace: "default", uid, attempt: 0 },
    labels: {
      "tinylet": "true",
      "tinylet/instance": INSTANCE,
      [KEYS.podName]: name,
      [KEYS.podNamespace]: "default",
      [KEYS.podUid]: uid,
    },
    ...(logDirectory ? { logDirectory } : {}),
    linux: { securityContext: { namespaceOptions: { network: "NODE" } } },
  };
}

async function ours(cri: Cri) {
  return await cri.listPodSandbox({
    labelSelector: { "tinylet": "true", "tinylet/instance": INSTANCE },
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

realRuntimeTest(
  "sandboxes with tinylet's labels and paths out of the roots: nothing outside --root or --pod-log-root goes, and no hot loop",
  async (t, rc) => {
    const dir = `${rc.dir}/paths`;
    const root = `${dir}/a/root`;
    const logs = `${dir}/a/logs`;
    const manifests = `${dir}/a/manifests`;
    // <root>/pods/../../../victim is this directory: <root>/pods exists once a pod ran.
    const victim = `${dir}/victim`;
    const victimLogs = `${dir}/victim-logs`;
    await Deno.mkdir(`${root}/pods`, { recursive: true });
    await Deno.mkdir(logs, { recursive: true });
    await Deno.mkdir(manifests, { recursive: true });
    await Deno.mkdir(victim);
    await Deno.writeTextFile(`${victim}/precious`, "keep me");
    using cri = connectCri(rc.socket);

    // The traversal: UID ../../../victim, and a running container logging outside the root.
    const evilConfig = forged("evil", "../../../victim", victimLogs);
    const evil = await cri.runPodSandbox(evilConfig);
    const container = await cri.createContainer(evil, {
      metadata: { name: "main", attempt: 0 },
      image: { image: rc.busyboxImage },
      command: ["sh", "-c", "echo hello; sleep 3600"],
      logPath: "main/0.log",
      labels: { ...evilConfig.labels, [KEYS.containerName]: "main" },
    }, evilConfig);
    await cri.startContainer(container);
    await waitFor("the forged container's log line", async () => {
      const text = await Deno.readTextFile(`${victimLogs}/main/0.log`).catch(() => "");
      return text.includes("hello");
    });
    // A valid identity whose directories are symlinks out of the roots.
    const linked = await cri.runPodSandbox(forged("linked", VALID_UID));
    await Deno.symlink(victim, `${root}/pods/${VALID_UID}`);
    await Deno.symlink(victim, `${logs}/default_linked_${VALID_UID}`);

    await using agent = startAgent([
      `--socket=${rc.socket}`,
      "--manifests",
      manifests,
      "--interval",
      "300ms",
      "--instance",
      INSTANCE,
      "--root",
      root,
      "--pod-log-root",
      logs,
      "--log-level",
      "debug",
    ]);
    const failed = (step: string) => `${step}; the agent logged:\n${agent.lines.join("\n")}`;

    await t.step("both sandboxes are stopped and removed through the runtime", async () => {
      await waitFor(() => failed("no sandbox of this instance left"), async () => {
        return (await ours(cri)).length === 0;
      }, { timeoutMs: 30_000 });
      // The agent says "Removed pod" once its teardown has finished, which is after the
      // runtime stops listing the sandbox.
      await waitFor(() => failed("both removals said"), () => {
        const said = (name: string) =>
          agent.lines.some((l) => l.includes(`Removed pod default/${name}`));
        return said("evil") && said("linked");
      }, { timeoutMs: 10_000 });
      assert.ok(
        !(await cri.listPodSandbox()).some((s) => s.id === evil || s.id === linked),
        failed("the forged sandboxes are gone"),
      );
    });

    await t.step("nothing outside the roots was removed; the links were, as links", async () => {
      assert.equal(await Deno.readTextFile(`${victim}/precious`), "keep me");
      assert.match(await Deno.readTextFile(`${victimLogs}/main/0.log`), /hello/);
      assert.equal(await exists(`${root}/pods/${VALID_UID}`), false);
      assert.equal(await exists(`${logs}/default_linked_${VALID_UID}`), false);
    });

    await t.step("each is said once, and the agent stays quiet afterwards", async () => {
      const done = agent.lines.length;
      const passesBefore = agent.lines.filter((l) => l.includes("Pass done")).length;
      const t0 = performance.now();
      await waitFor("the end of the quiet period", () => performance.now() - t0 >= QUIET_MS, {
        timeoutMs: QUIET_MS + 1_000,
        everyMs: 100,
      });
      const lines = agent.lines;
      const count = (re: RegExp) => lines.filter((l) => re.test(l)).length;
      assert.equal(count(/Leaving the host directories of sandbox/), 1, failed("one warning"));
      assert.equal(
        count(/UID \\?"\.\.\/\.\.\/\.\.\/victim\\?" is not a pod UID/),
        2,
        failed("uid"),
      );
      assert.equal(count(/Removed pod default\/evil/), 1, failed("one removal of evil"));
      assert.equal(count(/Removed pod default\/linked/), 1, failed("one removal of linked"));
      assert.equal(count(/ERROR|Failed/), 0, failed("no failure"));
      // Only idle passes since: one per interval (300 ms), nothing else.
      const later = lines.slice(done);
      assert.deepEqual(later.filter((l) => !l.includes("Pass done actions=0")), [], failed("idle"));
      const passes = lines.filter((l) => l.includes("Pass done")).length - passesBefore;
      assert.ok(passes <= QUIET_MS / 300 + 3, failed(`${passes} passes in ${QUIET_MS} ms`));
      console.log(
        `runtime paths: ${passes} passes and ${later.length} lines in the ${QUIET_MS} ms after`,
      );
    });

    assert.equal(await agent.stop(), 0, agent.lines.join("\n"));
  },
);
