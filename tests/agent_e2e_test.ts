/**
 * The agent end to end: `main.ts` as a user runs it, against a private real
 * containerd.
 */
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Cri, PodSandbox } from "../lib/runtime/cri.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { startAgent } from "../testing/agent_process.ts";
import { agentFlags } from "../testing/agent_args.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "e2e";

function hello(image: string, message: string, comment = ""): string {
  return `${comment}name: hello
containers:
  - name: hello
    image: ${image}
    command: ["sh", "-c"]
    args: ["trap 'exit 0' TERM; echo ${message}; sleep 3600 & wait"]
`;
}

async function ours(cri: Cri, name: string): Promise<PodSandbox[]> {
  const all = await cri.listPodSandbox({
    labelSelector: { "tinylet": "true", "tinylet/instance": INSTANCE, [KEYS.podName]: name },
  });
  return all;
}

/** Waits until pod `name` has one READY sandbox with every container RUNNING; returns its sandbox. */
function running(cri: Cri, name: string, notUid?: string): Promise<PodSandbox> {
  return waitFor(`pod ${name} running`, async () => {
    const sandboxes = (await ours(cri, name)).filter((s) =>
      s.state === "SANDBOX_READY" && s.metadata.uid !== notUid
    );
    const sb = sandboxes[0];
    if (sandboxes.length !== 1 || !sb) return undefined;
    const containers = await cri.listContainers({ podSandboxId: sb.id });
    return containers.length > 0 && containers.every((c) => c.state === "CONTAINER_RUNNING") && sb;
  }, { timeoutMs: 30_000, everyMs: 10 });
}

realRuntimeTest(
  "the agent runs, replaces and removes pods on a real containerd",
  async (t0, rc) => {
    let failed = false;
    const t = {
      step: async (name: string, fn: () => Promise<void>) => {
        const ok = await t0.step(name, fn);
        if (!ok && !failed) {
          failed = true;
          console.log(`The agent logged:\n${agentLines().join("\n")}`);
        }
        return ok;
      },
    };
    let agentLines = (): string[] => [];
    const dir = `${rc.dir}/agent`;
    const manifests = `${dir}/manifests`;
    await Deno.mkdir(manifests, { recursive: true });
    using cri = connectCri(rc.socket);

    // Someone else's sandbox on the same containerd: tinylet must never touch it.
    const foreign = await cri.runPodSandbox({
      metadata: { name: "hello", namespace: "default", uid: "not-tinylets", attempt: 0 },
      labels: { app: "foreign" },
      linux: { securityContext: { namespaceOptions: { network: "NODE" } } },
    });

    await using agent = startAgent([
      `-socket=${rc.socket}`,
      "--manifests",
      manifests,
      "-interval",
      "300ms",
      "--instance",
      INSTANCE,
      "--root",
      `${dir}/root`,
      "--pod-log-root",
      `${dir}/logs`,
      "--log-level",
      "debug",
    ], { cwd: dir });
    agentLines = () => agent.lines;
    await agent.waitForLine(/Connected to containerd/);

    let first: PodSandbox | undefined;
    await t.step("a short-form pod on the CNI network reaches RUNNING", async () => {
      const t0 = performance.now();
      await Deno.writeTextFile(`${manifests}/hello.yaml`, hello(rc.busyboxImage, "one"));
      first = await running(cri, "hello");
      console.log(`write → RUNNING: ${Math.round(performance.now() - t0)} ms`);
      const status = await cri.podSandboxStatus(first.id);
      assert.match(status.ip, /^198\.1[89]\./);
      assert.equal(first.annotations[KEYS.source], `${manifests}/hello.yaml`);
      const log = `${dir}/logs/default_hello_${first.metadata.uid}/hello/0.log`;
      const text = await waitFor("the container's log line", async () => {
        const t = await Deno.readTextFile(log).catch(() => "");
        return t.includes("one") && t;
      });
      assert.match(text, /^\S+ stdout F one$/m);
    });

    await t.step("idle passes create, start and stop nothing", async () => {
      await agent.waitForLine(/Started pod default\/hello/);
      const before = await cri.listContainers();
      const after = agent.lines.length;
      for (let i = 0; i < 3; i++) {
        await agent.waitForLine(/Pass done actions=0/, { after: agent.lines.length });
      }
      assert.deepEqual(
        agent.lines.slice(after).filter((l) => /Started|Removed|Failed/.test(l)),
        [],
      );
      assert.deepEqual(await cri.listContainers(), before);
    });

    await t.step("a cosmetic edit does not restart the pod", async () => {
      const containersBefore = await cri.listContainers({ podSandboxId: first!.id });
      await Deno.writeTextFile(
        `${manifests}/hello.yaml`,
        hello(rc.busyboxImage, "one", "# just a comment, same pod\n"),
      );
      // A second file marks a pass that has certainly read the edit.
      await Deno.writeTextFile(
        `${manifests}/marker.json`,
        JSON.stringify({
          name: "marker",
          containers: [{ name: "m", image: rc.busyboxImage, command: ["sleep", "3600"] }],
        }),
      );
      await running(cri, "marker");
      const sandboxes = await ours(cri, "hello");
      assert.deepEqual(sandboxes.map((s) => s.id), [first!.id]);
      assert.deepEqual(
        (await cri.listContainers({ podSandboxId: first!.id })).map((c) => [c.id, c.state]),
        containersBefore.map((c) => [c.id, "CONTAINER_RUNNING"]),
      );
    });

    await t.step("editing the spec replaces the pod", async () => {
      const t0 = performance.now();
      await Deno.writeTextFile(`${manifests}/hello.yaml`, hello(rc.busyboxImage, "two"));
      const second = await running(cri, "hello", first!.metadata.uid);
      console.log(`edit → replaced and RUNNING: ${Math.round(performance.now() - t0)} ms`);
      assert.notEqual(second.annotations[KEYS.specHash], first!.annotations[KEYS.specHash]);
      assert.deepEqual((await ours(cri, "hello")).map((s) => s.id), [second.id]);
      first = second;
    });

    await t.step("deleting the file makes the pod gone", async () => {
      const t0 = performance.now();
      await Deno.remove(`${manifests}/hello.yaml`);
      await waitFor("pod hello gone", async () => (await ours(cri, "hello")).length === 0, {
        timeoutMs: 30_000,
        everyMs: 10,
      });
      console.log(`delete → gone: ${Math.round(performance.now() - t0)} ms`);
      await assert.rejects(
        Deno.stat(`${dir}/root/pods/${first!.metadata.uid}`),
        Deno.errors.NotFound,
      );
    });

    await t.step("SIGTERM exits 0 and leaves pods running", async () => {
      const marker = await running(cri, "marker");
      const t0 = performance.now();
      assert.equal(await agent.stop("SIGTERM"), 0);
      const ms = performance.now() - t0;
      assert.ok(ms < 5_000, `stopped in ${ms} ms`);
      assert.equal((await cri.podSandboxStatus(marker.id)).state, "SANDBOX_READY");
    });

    await t.step("the foreign sandbox was never touched", async () => {
      const status = await cri.podSandboxStatus(foreign);
      assert.equal(status.state, "SANDBOX_READY");
      assert.equal(status.labels["app"], "foreign");
    });
  },
);

Deno.test("a missing socket gives the clear line once, and the agent keeps running", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-nosock-" });
  try {
    await Deno.mkdir(`${dir}/manifests`);
    const socket = `${dir}/no/containerd.sock`;
    await using agent = startAgent(agentFlags({
      socket,
      manifests: `${dir}/manifests`,
      root: `${dir}/root`,
      interval: "100ms",
      logLevel: "debug",
    }));
    const line = await agent.waitForLine(/Cannot reach/);
    assert.ok(
      line.endsWith(
        `Cannot reach the container runtime at "${socket}": no such socket (is containerd running? see --socket)`,
      ),
      line,
    );
    // Several retries later it is still running and has not repeated the line.
    for (let i = 0; i < 4; i++) {
      await agent.waitForLine(/Runtime unreachable, retrying/, { after: agent.lines.length });
    }
    assert.equal(await agent.stop("SIGINT"), 0);
    assert.equal(
      agent.lines.filter((l) => /Cannot reach/.test(l)).length,
      1,
      agent.lines.join("\n"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unknown flag or a bad value prints one usage line and exits 2", async () => {
  for (const args of [["--bogus"], ["--interval", "soon"], ["-parallel=0"]]) {
    await using agent = startAgent(args);
    const code = await agent.stop("SIGCONT");
    assert.equal(code, 2, args.join(" "));
    assert.match(agent.lines[0] ?? "", /^tinylet: /);
    assert.match(agent.lines[1] ?? "", /^Usage: tinylet /);
  }
});
