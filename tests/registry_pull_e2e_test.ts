/**
 * Private-registry pulls by the agent itself, as a user runs it: `main.ts` with
 * `--registry-config`, a real containerd and a real registry with TLS and basic auth. Good
 * credentials, path-scoped ones, wrong ones shown by `tinylet pods` and `describe` and then
 * fixed in the file without a restart, and no secret anywhere the agent writes or serves.
 */
import { tinylet as runTinylet } from "../testing/in_container.ts";
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Cri } from "../lib/runtime/cri.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { startAgent } from "../testing/agent_process.ts";
import { agentFlags } from "../testing/agent_args.ts";
import { variantArchive } from "../testing/busybox_images.ts";
import { configDigest, realRegistryTest } from "../testing/registry_harness.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "registry-pull-e2e";

// What containerd 1.6 says when the registry answers 401 to the manifest request.
const UNAUTHORIZED = "401 Unauthorized";

// What the registry logs when a user's password does not match.
const BAD_PASSWORD = (user: string) =>
  `error authenticating user \\"${user}\\": authentication failure`;

/** A pod of one long-running container of `image`, stopped at once. */
function podYaml(name: string, image: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: app
      image: ${image}
      command: ["sh", "-c", "trap 'exit 0' TERM; cat /version; sleep 3600 & wait"]
`;
}

/** The text of a Docker `config.json` with the given `"auths"` keys and user:password pairs. */
function dockerConfig(auths: Record<string, [user: string, password: string]>): string {
  const entries = Object.entries(auths).map(([key, [u, p]]) => [key, { auth: btoa(`${u}:${p}`) }]);
  return JSON.stringify({ auths: Object.fromEntries(entries) }, null, 2) + "\n";
}

/** Writes `text` to `file` mode 0600 (atomically: the agent reads it at each pull). */
async function writeSecretFile(file: string, text: string): Promise<void> {
  const tmp = `${file}.new`;
  await Deno.writeTextFile(tmp, text, { mode: 0o600 });
  await Deno.chmod(tmp, 0o600);
  await Deno.rename(tmp, file);
}

realRegistryTest(
  "the agent pulls from a private registry with the credentials of --registry-config",
  async (t, rc, registry) => {
    const dir = `${rc.dir}/pull`;
    const manifests = `${dir}/manifests`;
    const root = `${dir}/root`;
    const configFile = `${dir}/config.json`;
    await Deno.mkdir(manifests, { recursive: true });
    const host = registry.host;
    const user = registry.username;
    const wrong = `wrong-${crypto.randomUUID()}`;
    const secrets = [
      registry.password,
      wrong,
      btoa(`${user}:${registry.password}`),
      btoa(`${user}:${wrong}`),
    ];

    const work = await Deno.makeTempDir({ dir: registry.dir, prefix: "archives-" });
    const pushed = new Map<string, string>();
    for (const repo of ["app", "team/app", "other/app"]) {
      pushed.set(repo, await registry.push(await variantArchive(work, repo), `${repo}:1`));
    }
    await writeSecretFile(configFile, dockerConfig({ [host]: [user, registry.password] }));

    using cri = connectCri(rc.socket);
    const common = ["--socket", rc.socket, "--instance", INSTANCE, "--root", root];
    await using agent = startAgent(agentFlags({
      socket: rc.socket,
      manifests,
      instance: INSTANCE,
      root,
      podLogRoot: `${dir}/logs`,
      interval: "1s",
      listen: "127.0.0.1:0",
      logLevel: "debug",
      extra: ["--registry-config", configFile],
    }));
    const serving = await agent.waitForLine(/Serving \/healthz, \/metrics and \/pods on /);
    const endpoint = `http://${/ on (127\.0\.0\.1:\d+)/.exec(serving)![1]}`;
    const agentLog = () => agent.lines.join("\n");
    const failedLines = (image: string) =>
      agent.lines.filter((l) => l.includes("Failed") && l.includes(`"${image}"`));
    const outputs: string[] = [];
    const tinylet = async (args: string[]) => {
      const r = await tinyletCommand([...args, ...common]);
      outputs.push(r.stdout, r.stderr);
      return r;
    };

    await t.step("a pod of HOST/app:1 runs with the credentials of the config file", async () => {
      const image = `${host}/app:1`;
      await Deno.writeTextFile(`${manifests}/app.yaml`, podYaml("app", image));
      const [c] = await runningContainers(cri, "app", agentLog);
      assert.equal(c!.image.image, image);
      assert.equal(c!.imageRef, await configDigest(registry, "app", pushed.get("app")!));
      assert.deepEqual(failedLines(image), []);
    });

    await t.step("a path-scoped key is tried before its host's", async () => {
      // HOST/team is right and HOST is wrong: the wrong password is never offered for team/app.
      await writeSecretFile(
        configFile,
        dockerConfig({ [`${host}/team`]: [user, registry.password], [host]: [user, wrong] }),
      );
      const since = (await Deno.stat(registry.log)).size;
      const image = `${host}/team/app:1`;
      await Deno.writeTextFile(`${manifests}/team.yaml`, podYaml("team", image));
      const [c] = await runningContainers(cri, "team", agentLog);
      assert.equal(c!.imageRef, await configDigest(registry, "team/app", pushed.get("team/app")!));
      const logged = await logSince(registry.log, since);
      assert.ok(!logged.includes(BAD_PASSWORD(user)), logged);
      assert.ok(logged.includes("/v2/team/app/manifests/1"), logged);
      assert.deepEqual(failedLines(image), []);
    });

    const other = `${host}/other/app:1`;
    let failedAt = 0;
    await t.step("HOST/other/app:1 gets only the host's wrong key and fails with 401", async () => {
      const since = (await Deno.stat(registry.log)).size;
      await Deno.writeTextFile(`${manifests}/other.yaml`, podYaml("other", other));
      const shown = await watchPullStatus(tinylet, agent.pid, root);
      console.log(`STATUS in tinylet pods: ${shown.pods.map(([s]) => s).join(" → ")}`);
      console.log(`Reason in tinylet describe: ${shown.describe.map(([s]) => s).join(" → ")}`);
      for (const [, text] of [...shown.pods, ...shown.describe]) console.log(text.trimEnd());
      assert.deepEqual(shown.pods.map(([s]) => s), ["ErrImagePull", "ImagePullBackOff"]);
      assert.deepEqual(shown.describe.map(([s]) => s), ["ErrImagePull", "ImagePullBackOff"]);
      for (const [reason, text] of shown.describe) {
        assert.match(text, new RegExp(`^Status: {7}${reason}$`, "m"));
        const message = /^ {6}Message: {6}(.*)$/m.exec(text)?.[1] ?? "";
        assert.ok(message.startsWith(`Failed to pull image "${other}": `), text);
        assert.ok(message.includes(UNAUTHORIZED), text);
        const lastError = /^Last Error: {3}(.*)$/m.exec(text)?.[1] ?? "";
        assert.ok(lastError.includes(UNAUTHORIZED), text);
      }
      const line = await agent.waitForLine(/Failed to start pod default\/other/);
      console.log(line);
      failedAt = Date.parse(line.slice(0, line.indexOf(" ")));
      assert.ok(failedAt > 0, line);
      assert.ok(line.includes(`Failed to pull image "${other}"`), line);
      assert.ok(line.includes(UNAUTHORIZED), line);
      await waitFor(
        "the registry to log the refused password",
        async () => (await logSince(registry.log, since)).includes(BAD_PASSWORD(user)),
        { timeoutMs: 5_000 },
      );
      assert.equal(await cri.imageStatus({ image: other }), null);
    });

    await t.step("the right password in the file makes the pod run at the next try", async () => {
      const before = await agentStatus(root);
      assert.equal(before.pid, agent.pid);
      await writeSecretFile(
        configFile,
        dockerConfig({
          [`${host}/team`]: [user, registry.password],
          [host]: [user, registry.password],
        }),
      );
      const fixedAt = Date.now();
      const [c] = await runningContainers(cri, "other", agentLog, 40_000);
      const now = Date.now();
      console.log(
        `config fixed → running: ${now - fixedAt} ms ` +
          `(the failed pull → running: ${now - failedAt} ms)`,
      );
      // The first retry, after kubelet's 10 s back-off; a second would come 20 s after it.
      assert.ok(now - failedAt >= 9_500 && now - failedAt < 25_000, `${now - failedAt} ms`);
      assert.equal(
        c!.imageRef,
        await configDigest(registry, "other/app", pushed.get("other/app")!),
      );
      assert.equal(agent.exited, false);
      const after = await agentStatus(root);
      assert.equal(after.pid, agent.pid);
      assert.equal(agent.lines.filter((l) => l.includes("tinylet starting")).length, 1);
      await waitFor("tinylet pods to show the pod Running", async () => {
        const r = await tinylet(["pods"]);
        return /^default\s+other\s+1\/1\s+Running\s+0\s+\S+$/m.test(r.stdout);
      }, { timeoutMs: 10_000, everyMs: 0 });
    });

    await t.step(
      "no password and no base64 auth is in anything the agent wrote or served",
      async () => {
        outputs.push((await tinylet(["pods", "-o", "json"])).stdout);
        for (const pod of ["app", "team", "other"]) {
          const d = await tinylet(["describe", `default/${pod}`]);
          assert.equal(d.code, 0, d.stderr);
        }
        const places: [string, string][] = [
          ["the agent's log", agentLog()],
          ["status.json", await Deno.readTextFile(`${root}/status.json`)],
          ["/metrics", await (await fetch(`${endpoint}/metrics`)).text()],
          ["/pods", await (await fetch(`${endpoint}/pods`)).text()],
          ["the commands' output", outputs.join("\n")],
        ];
        // The texts are those that a leak would be in: the 401 and the images are there.
        assert.ok(places[1]![1].includes(other));
        assert.ok(places[0]![1].includes(UNAUTHORIZED));
        for (const [where, text] of places) {
          for (const secret of secrets) {
            assert.ok(!text.includes(secret), `${where} holds a secret`);
          }
        }
      },
    );

    assert.equal(await agent.stop(), 0);
  },
);

type Tinylet = (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

/**
 * Follows `<root>/status.json` until pod `other` shows ErrImagePull, then ImagePullBackOff.
 * At each, the agent is stopped (SIGSTOP) while `tinylet pods` and `tinylet describe` read
 * what it published, so they print that state however long they take to start; then it goes
 * on (SIGCONT). Returns each command's STATUS or Reason with its output, in order.
 */
async function watchPullStatus(tinylet: Tinylet, agentPid: number, root: string) {
  const row = /^default\s+other\s+0\/1\s+(\S+)\s+0\s+\S+$/m;
  const reason = /^ {4}State: {10}Waiting\n {6}Reason: {7}(\S+)$/m;
  const pods: [string, string][] = [];
  const describe: [string, string][] = [];
  for (const want of ["ErrImagePull", "ImagePullBackOff"]) {
    await waitFor(`status.json to show pod other ${want}`, async () => {
      const text = await Deno.readTextFile(`${root}/status.json`).catch(() => "{}");
      const status = (JSON.parse(text) as { pods?: { name: string; status: string }[] }).pods
        ?.find((p) => p.name === "other")?.status;
      return status === want;
    }, { timeoutMs: 30_000, everyMs: 5 });
    Deno.kill(agentPid, "SIGSTOP");
    try {
      const [p, d] = await Promise.all([tinylet(["pods"]), tinylet(["describe", "default/other"])]);
      pods.push([row.exec(p.stdout)?.[1] ?? "(no row)", p.stdout]);
      describe.push([reason.exec(d.stdout)?.[1] ?? "(no reason)", d.stdout]);
    } finally {
      Deno.kill(agentPid, "SIGCONT");
    }
  }
  return { pods, describe };
}

/** Runs `tinylet <args>` as a user does (`testing/in_container.ts`), its output by name. */
async function tinyletCommand(args: string[]) {
  const r = await runTinylet(args);
  return { code: r.code, stdout: r.out, stderr: r.err };
}

/** Waits until pod `name` has a ready sandbox whose containers all run; returns them. */
function runningContainers(cri: Cri, name: string, log: () => string, timeoutMs = 30_000) {
  return waitFor(() => `pod ${name} running; the agent logged:\n${log()}`, async () => {
    const sandboxes = await cri.listPodSandbox({
      labelSelector: { "tinylet/instance": INSTANCE, [KEYS.podName]: name },
    });
    const sb = sandboxes.find((s) => s.state === "SANDBOX_READY");
    if (!sb) return undefined;
    const cs = await cri.listContainers({ podSandboxId: sb.id });
    return cs.length > 0 && cs.every((c) => c.state === "CONTAINER_RUNNING") && cs;
  }, { timeoutMs, everyMs: 50 });
}

/** The agent part of `<root>/status.json`. */
async function agentStatus(root: string): Promise<{ pid: number; updatedAt: string }> {
  return JSON.parse(await Deno.readTextFile(`${root}/status.json`)).agent;
}

async function logSince(file: string, offset: number): Promise<string> {
  const bytes = await Deno.readFile(file);
  return new TextDecoder().decode(bytes.subarray(offset));
}
