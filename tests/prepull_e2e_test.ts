/**
 * Images first on a replacement, with the agent (`main.ts`) on a real containerd: v1 runs; v2
 * names an image no registry serves, and v1's container keeps running (the same container, in
 * the same sandbox) pass after pass and through a retry, while `tinylet pods` and `describe`
 * show the pod ErrImagePull, then ImagePullBackOff, with containerd's reason; then v3, with an
 * image that is there, replaces it.
 */
import { tinylet as runTinylet } from "../testing/in_container.ts";
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Container, Cri } from "../lib/runtime/cri.ts";
import { KEYS, LABEL_INSTANCE } from "../lib/runtime/labels.ts";
import { startAgent } from "../testing/agent_process.ts";
import { agentFlags } from "../testing/agent_args.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "prepull-e2e";
/** An image whose registry (port 1 of loopback) refuses every connection. */
const MISSING = "127.0.0.1:1/nope:1";
/**
 * What containerd 1.6 says when it cannot reach `MISSING`'s registry (it tries plain HTTP for
 * a loopback registry with no hosts.toml).
 */
const CONTAINERD_SAYS =
  `failed to pull and unpack image "${MISSING}": failed to resolve reference "${MISSING}": ` +
  `failed to do request: Head "http://127.0.0.1:1/v2/nope/manifests/1": ` +
  `dial tcp 127.0.0.1:1: connect: connection refused`;

/** Pod web of `image`, printing `version`, stopped at once on TERM. */
function web(image: string, version: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 5
  containers:
    - name: app
      image: ${image}
      imagePullPolicy: IfNotPresent
      command: ["sh", "-c", "trap 'exit 0' TERM; echo ${version}; sleep 3600 & wait"]
`;
}

realRuntimeTest(
  "a replacement whose image cannot be pulled never stops the running pod",
  async (t, rc) => {
    const dir = `${rc.dir}/prepull`;
    const manifests = `${dir}/manifests`;
    const root = `${dir}/root`;
    await Deno.mkdir(manifests, { recursive: true });
    using cri = connectCri(rc.socket);
    await using agent = startAgent(agentFlags({
      socket: rc.socket,
      manifests,
      instance: INSTANCE,
      root,
      podLogRoot: `${dir}/logs`,
      interval: "1s",
      logLevel: "debug",
    }));
    const common = ["--socket", rc.socket, "--instance", INSTANCE, "--root", root];
    const tinylet = (args: string[]) => tinyletCommand([...args, ...common]);
    const file = `${manifests}/web.yaml`;
    const log = () => agent.lines.join("\n");

    let v1: Container | undefined;
    await t.step("v1 runs", async () => {
      await Deno.writeTextFile(file, web(rc.busyboxImage, "v1"));
      [v1] = await running(cri, log);
    });
    const v1Id = v1!.id;
    const v1Sandbox = v1!.podSandboxId;

    await t.step(
      "v2 names a missing image: v1 runs on while tinylet pods shows ErrImagePull, then ImagePullBackOff",
      async () => {
        const from = agent.lines.length;
        const editedAt = Date.now();
        await Deno.writeTextFile(file, web(MISSING, "v2"));
        const shown: [string, string, string][] = [];
        for (const want of ["ErrImagePull", "ImagePullBackOff"]) {
          await waitFor(
            `status.json to show pod web ${want}; the agent logged:\n${log()}`,
            async () => {
              return (await publishedStatus(root)) === want;
            },
            { timeoutMs: 30_000, everyMs: 5 },
          );
          // The agent waits while the commands read what it published, however long they take.
          Deno.kill(agent.pid, "SIGSTOP");
          try {
            const [p, d] = await Promise.all([
              tinylet(["pods"]),
              tinylet(["describe", "default/web"]),
            ]);
            shown.push([want, p.stdout, d.stdout]);
          } finally {
            Deno.kill(agent.pid, "SIGCONT");
          }
          await assertV1Runs(cri, v1Id, v1Sandbox);
        }
        for (const [want, pods, describe] of shown) {
          console.log(pods.trimEnd());
          console.log(describe.trimEnd());
          assert.match(pods, new RegExp(`^default\\s+web\\s+0/1\\s+${want}\\s+0\\s+\\S+$`, "m"));
          assert.match(describe, new RegExp(`^Status: {7}${want}$`, "m"));
          assert.match(
            describe,
            new RegExp(`^ {4}State: {10}Waiting\\n {6}Reason: {7}${want}$`, "m"),
          );
          const message = /^ {6}Message: {6}(.*)$/m.exec(describe)?.[1] ?? "";
          assert.ok(message.startsWith(`Failed to pull image "${MISSING}": `), describe);
          assert.ok(message.includes(CONTAINERD_SAYS), describe);
        }
        const failed = await agent.waitForLine(/Failed to start pod default\/web/, { after: from });
        console.log(failed);
        assert.ok(failed.includes(`Failed to pull image "${MISSING}"`), failed);
        assert.ok(failed.includes(CONTAINERD_SAYS), failed);
        // Pass after pass, and through the retry after the 10 s backoff, v1 is never stopped.
        const pulls = (re: RegExp) => agent.lines.slice(from).filter((l) => re.test(l));
        await waitFor(
          () => `a second failed pull of ${MISSING}; the agent logged:\n${log()}`,
          () =>
            pulls(new RegExp(`Failed to pull image ${MISSING.replaceAll(".", "\\.")}`)).length >= 2,
          { timeoutMs: 40_000, everyMs: 100 },
        );
        const retriedAt = Date.now();
        await assertV1Runs(cri, v1Id, v1Sandbox);
        const passes = pulls(/Pass done/).length;
        console.log(
          `edit → second failed pull: ${
            retriedAt - editedAt
          } ms, ${passes} passes, v1 running throughout`,
        );
        assert.ok(passes >= 5, `${passes} passes`);
        assert.ok(retriedAt - editedAt >= 9_500, `${retriedAt - editedAt} ms`);
        assert.deepEqual(pulls(/Removed pod default\/web/), []);
        assert.equal(await cri.imageStatus({ image: MISSING }), null);
      },
    );

    await t.step("v3 with an image that is there replaces v1", async () => {
      const editedAt = Date.now();
      await Deno.writeTextFile(file, web(rc.busyboxImage, "v3"));
      // The pod's failure backoff (20 s after the second failure) may still run.
      const [v3] = await running(cri, log, (c) => c.id !== v1Id, 45_000);
      console.log(`edit to v3 → v3 running: ${Date.now() - editedAt} ms`);
      assert.notEqual(v3!.podSandboxId, v1Sandbox);
      const sandboxes = await cri.listPodSandbox({ labelSelector: { [LABEL_INSTANCE]: INSTANCE } });
      assert.deepEqual(sandboxes.map((s) => s.id), [v3!.podSandboxId], "v1's sandbox is gone");
      await waitFor("tinylet pods to show web Running", async () => {
        const r = await tinylet(["pods"]);
        return /^default\s+web\s+1\/1\s+Running\s+0\s+\S+$/m.test(r.stdout);
      }, { timeoutMs: 10_000, everyMs: 0 });
    });

    assert.equal(await agent.stop(), 0);
  },
);

/** Fails unless v1's container runs, in its sandbox, the only sandbox of the agent's. */
async function assertV1Runs(cri: Cri, id: string, sandboxId: string): Promise<void> {
  const sandboxes = await cri.listPodSandbox({ labelSelector: { [LABEL_INSTANCE]: INSTANCE } });
  assert.deepEqual(sandboxes.map((s) => [s.id, s.state]), [[sandboxId, "SANDBOX_READY"]]);
  const cs = await cri.listContainers({ podSandboxId: sandboxId });
  assert.deepEqual(cs.map((c) => [c.id, c.state]), [[id, "CONTAINER_RUNNING"]]);
}

/** The STATUS of pod web in `<root>/status.json`, when there is one. */
async function publishedStatus(root: string): Promise<string | undefined> {
  const text = await Deno.readTextFile(`${root}/status.json`).catch(() => "{}");
  const pods = (JSON.parse(text) as { pods?: { name: string; status: string }[] }).pods;
  return pods?.find((p) => p.name === "web")?.status;
}

/** Waits until pod web has a ready sandbox whose containers all run and pass `which`; returns them. */
function running(
  cri: Cri,
  log: () => string,
  which: (c: Container) => boolean = () => true,
  timeoutMs = 30_000,
) {
  return waitFor(() => `pod web running; the agent logged:\n${log()}`, async () => {
    const sandboxes = await cri.listPodSandbox({
      labelSelector: { [LABEL_INSTANCE]: INSTANCE, [KEYS.podName]: "web" },
    });
    const sb = sandboxes.find((s) => s.state === "SANDBOX_READY");
    if (!sb) return undefined;
    const cs = await cri.listContainers({ podSandboxId: sb.id });
    return cs.length > 0 && cs.every((c) => c.state === "CONTAINER_RUNNING" && which(c)) && cs;
  }, { timeoutMs, everyMs: 50 });
}

/** Runs `tinylet <args>` as a user does (`testing/in_container.ts`), its output by name. */
async function tinyletCommand(args: string[]) {
  const r = await runTinylet(args);
  return { code: r.code, stdout: r.out, stderr: r.err };
}
