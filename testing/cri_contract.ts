/**
 * The CRI contract: what tinylet relies on the runtime to do. Run against the
 * fake (served over gRPC) and against a real containerd; where they disagree,
 * the fake is wrong.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ContainerConfig, Cri, PodSandboxConfig } from "../lib/runtime/cri.ts";
import { CriError, isNotFound } from "../lib/runtime/errors.ts";
import { waitFor } from "./wait.ts";

/** What the suite needs to know about the runtime under test. */
export interface ContractEnv {
  /** An image the runtime has. */
  image: string;
  /** A directory the runtime may write container logs under. */
  logRoot: string;
  /** How long to wait for the runtime to change a state on its own. */
  settleMs: number;
}

const decoder = new TextDecoder();

function sandboxConfig(
  name: string,
  env: ContractEnv,
  hostNetwork: boolean,
): PodSandboxConfig {
  const uid = crypto.randomUUID();
  return {
    metadata: { name, namespace: "contract", uid, attempt: 0 },
    ...(hostNetwork ? {} : { hostname: name }),
    logDirectory: `${env.logRoot}/contract_${name}_${uid}`,
    labels: { "tinylet": "true", "contract/case": name },
    annotations: { "contract/note": "made by the contract suite" },
    linux: {
      securityContext: {
        namespaceOptions: {
          network: hostNetwork ? "NODE" : "POD",
          pid: "CONTAINER",
          ipc: "POD",
        },
      },
    },
  };
}

function containerConfig(
  name: string,
  env: ContractEnv,
  command: string[],
): ContainerConfig {
  return {
    metadata: { name, attempt: 0 },
    image: { image: env.image },
    command,
    logPath: `${name}/0.log`,
    labels: { "tinylet": "true", "contract/container": name },
  };
}

async function expectNotFound(what: string, p: Promise<unknown>) {
  await assert.rejects(p, (err) => {
    assert.ok(err instanceof CriError, `${what}: not a CriError: ${err}`);
    assert.equal(err.kind, "NotFound", `${what}: ${err.message}`);
    assert.ok(isNotFound(err));
    return true;
  });
}

/** Runs every contract case as a step of `t`. */
export async function runContract(
  t: Deno.TestContext,
  cri: Cri,
  env: ContractEnv,
): Promise<void> {
  const settle = { timeoutMs: env.settleMs };

  await t.step("Version names the CRI v1 API", async () => {
    const v = await cri.version();
    assert.equal(v.runtimeApiVersion, "v1");
    assert.ok(v.runtimeName.length > 0);
  });

  await t.step(
    "ImageStatus finds a present image and returns null for an absent one",
    async () => {
      const present = await cri.imageStatus({ image: env.image });
      assert.ok(present, `${env.image} should be present`);
      assert.match(present.id, /^sha256:[0-9a-z-]+$/);
      assert.ok(
        present.repoTags.includes(env.image),
        present.repoTags.join(","),
      );
      const absent = await cri.imageStatus({
        image: "tinylet.invalid/absent:0",
      });
      assert.equal(absent, null);
    },
  );

  await t.step(
    "a host-network sandbox runs, is listed READY and has no pod IP",
    async () => {
      const config = sandboxConfig("hostnet", env, true);
      const id = await cri.runPodSandbox(config);
      const listed = await cri.listPodSandbox({
        labelSelector: { "contract/case": "hostnet" },
      });
      assert.deepEqual(listed.map((s) => [s.id, s.state]), [[
        id,
        "SANDBOX_READY",
      ]]);
      const sb = listed[0]!;
      assert.deepEqual(sb.metadata, config.metadata);
      assert.equal(sb.labels["tinylet"], "true");
      assert.equal(
        sb.annotations["contract/note"],
        "made by the contract suite",
      );
      assert.ok(
        sb.createdAt > 1e18,
        `createdAt ${sb.createdAt} is in nanoseconds`,
      );
      const status = await cri.podSandboxStatus(id);
      assert.equal(status.state, "SANDBOX_READY");
      assert.equal(status.ip, "");
      await cri.stopPodSandbox(id);
      await cri.removePodSandbox(id);
    },
  );

  await t.step(
    "a pod-network sandbox gets an IP in 198.18.0.0/15",
    async () => {
      const id = await cri.runPodSandbox(sandboxConfig("podnet", env, false));
      const status = await cri.podSandboxStatus(id);
      assert.equal(status.state, "SANDBOX_READY");
      assert.match(status.ip, /^198\.1[89]\.\d+\.\d+$/);
      await cri.stopPodSandbox(id);
      await cri.removePodSandbox(id);
    },
  );

  const config = sandboxConfig("main", env, true);
  const sandboxId = await cri.runPodSandbox(config);

  await t.step(
    "a container is created, started, listed and stopped",
    async () => {
      const id = await cri.createContainer(
        sandboxId,
        containerConfig("sleeper", env, ["sleep", "3600"]),
        config,
      );
      assert.equal((await cri.containerStatus(id)).state, "CONTAINER_CREATED");
      await cri.startContainer(id);
      const running = await cri.containerStatus(id);
      assert.equal(running.state, "CONTAINER_RUNNING");
      assert.ok(running.startedAt > 0);
      assert.equal(running.metadata.name, "sleeper");
      assert.equal(running.labels["contract/container"], "sleeper");
      assert.equal(running.logPath, `${config.logDirectory}/sleeper/0.log`);
      const listed = await cri.listContainers({ podSandboxId: sandboxId });
      assert.deepEqual(listed.map((c) => [c.id, c.state]), [[
        id,
        "CONTAINER_RUNNING",
      ]]);
      assert.equal(listed[0]!.podSandboxId, sandboxId);
      await cri.stopContainer(id, 0);
      const stopped = await cri.containerStatus(id);
      assert.equal(stopped.state, "CONTAINER_EXITED");
      assert.ok(stopped.finishedAt >= stopped.startedAt);
      await cri.removeContainer(id);
      await expectNotFound(
        "ContainerStatus after remove",
        cri.containerStatus(id),
      );
    },
  );

  await t.step(
    "ExecSync returns stdout, stderr and the exit code",
    async () => {
      const id = await cri.createContainer(
        sandboxId,
        containerConfig("exec", env, ["sleep", "3600"]),
        config,
      );
      await cri.startContainer(id);
      const r = await cri.execSync(id, [
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
      ], 10);
      assert.equal(decoder.decode(r.stdout), "out\n");
      assert.equal(decoder.decode(r.stderr), "err\n");
      assert.equal(r.exitCode, 3);
      const ok = await cri.execSync(id, ["echo", "hello"], 10);
      assert.equal(decoder.decode(ok.stdout), "hello\n");
      assert.equal(ok.exitCode, 0);
      await cri.stopContainer(id, 0);
      await cri.removeContainer(id);
    },
  );

  await t.step(
    "an ExecSync past its timeout fails as DeadlineExceeded at the timeout",
    async () => {
      const id = await cri.createContainer(
        sandboxId,
        containerConfig("late", env, ["sleep", "3600"]),
        config,
      );
      await cri.startContainer(id);
      const t0 = performance.now();
      await assert.rejects(cri.execSync(id, ["sleep", "30"], 1), (err) => {
        assert.ok(err instanceof CriError, `not a CriError: ${err}`);
        assert.equal(err.kind, "DeadlineExceeded", err.message);
        return true;
      });
      const ms = performance.now() - t0;
      assert.ok(ms >= 900 && ms < 5_000, `failed after ${Math.round(ms)} ms`);
      await cri.stopContainer(id, 0);
      await cri.removeContainer(id);
    },
  );

  await t.step(
    "an ExecSync cancelled while it runs ends as Cancelled at once; the container and the runtime go on",
    async () => {
      const id = await cri.createContainer(
        sandboxId,
        containerConfig("cancel", env, ["sleep", "3600"]),
        config,
      );
      await cri.startContainer(id);
      const controller = new AbortController();
      const exec = cri.execSync(id, ["sleep", "30"], 60, { signal: controller.signal });
      // It is running: a 30 s command has not answered after half a second.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const early = await Promise.race([
        exec.then(() => "answered", (err) => `failed: ${err}`),
        new Promise<string>((resolve) => timer = setTimeout(() => resolve("running"), 500)),
      ]);
      clearTimeout(timer);
      assert.equal(early, "running");
      const t0 = performance.now();
      controller.abort();
      await assert.rejects(exec, (err) => {
        assert.ok(err instanceof CriError, `not a CriError: ${err}`);
        assert.equal(err.kind, "Cancelled", err.message);
        return true;
      });
      const ms = performance.now() - t0;
      assert.ok(ms < 1_000, `cancelled after ${Math.round(ms)} ms`);
      assert.equal((await cri.containerStatus(id)).state, "CONTAINER_RUNNING");
      const after = await cri.execSync(id, ["echo", "still"], 10);
      assert.equal(decoder.decode(after.stdout), "still\n");
      await cri.stopContainer(id, 0);
      await cri.removeContainer(id);
    },
  );

  await t.step(
    "a call past its own deadline (an ExecSync with no exec timeout) fails as DeadlineExceeded at that deadline; the container and the runtime go on",
    async () => {
      const id = await cri.createContainer(
        sandboxId,
        containerConfig("deadline", env, ["sleep", "3600"]),
        config,
      );
      await cri.startContainer(id);
      const t0 = performance.now();
      await assert.rejects(cri.execSync(id, ["sleep", "30"], 0, { timeoutMs: 1_000 }), (err) => {
        assert.ok(err instanceof CriError, `not a CriError: ${err}`);
        assert.equal(err.kind, "DeadlineExceeded", err.message);
        return true;
      });
      const ms = performance.now() - t0;
      assert.ok(ms >= 950 && ms < 5_000, `failed after ${Math.round(ms)} ms`);
      assert.equal((await cri.containerStatus(id)).state, "CONTAINER_RUNNING");
      const after = await cri.execSync(id, ["echo", "still"], 10);
      assert.equal(decoder.decode(after.stdout), "still\n");
      await cri.stopContainer(id, 0);
      await cri.removeContainer(id);
    },
  );

  await t.step(
    "an exited container reports its exit code and reason",
    async () => {
      const failing = await cri.createContainer(
        sandboxId,
        containerConfig("fails", env, ["sh", "-c", "exit 3"]),
        config,
      );
      const succeeding = await cri.createContainer(
        sandboxId,
        containerConfig("succeeds", env, ["sh", "-c", "exit 0"]),
        config,
      );
      await cri.startContainer(failing);
      await cri.startContainer(succeeding);
      const f = await waitFor("the failing container to exit", async () => {
        const s = await cri.containerStatus(failing);
        return s.state === "CONTAINER_EXITED" && s;
      }, settle);
      assert.equal(f.exitCode, 3);
      assert.equal(f.reason, "Error");
      const s = await waitFor("the succeeding container to exit", async () => {
        const s = await cri.containerStatus(succeeding);
        return s.state === "CONTAINER_EXITED" && s;
      }, settle);
      assert.equal(s.exitCode, 0);
      assert.equal(s.reason, "Completed");
      const exited = await cri.listContainers({
        podSandboxId: sandboxId,
        state: "CONTAINER_EXITED",
      });
      assert.deepEqual(
        exited.map((c) => c.id).sort(),
        [failing, succeeding].sort(),
      );
      await cri.removeContainer(failing);
      await cri.removeContainer(succeeding);
    },
  );

  await t.step("list filters select by label, state and sandbox", async () => {
    const a = await cri.createContainer(
      sandboxId,
      containerConfig("filter-a", env, ["sleep", "3600"]),
      config,
    );
    const b = await cri.createContainer(
      sandboxId,
      containerConfig("filter-b", env, ["sleep", "3600"]),
      config,
    );
    await cri.startContainer(a);
    const byLabel = await cri.listContainers({
      labelSelector: { "tinylet": "true", "contract/container": "filter-b" },
    });
    assert.deepEqual(byLabel.map((c) => c.id), [b]);
    const running = await cri.listContainers({
      podSandboxId: sandboxId,
      state: "CONTAINER_RUNNING",
    });
    assert.deepEqual(running.map((c) => c.id), [a]);
    const created = await cri.listContainers({
      state: "CONTAINER_CREATED",
      podSandboxId: sandboxId,
    });
    assert.deepEqual(created.map((c) => c.id), [b]);
    const none = await cri.listContainers({
      labelSelector: { "contract/container": "nobody" },
    });
    assert.deepEqual(none, []);
    const sandboxes = await cri.listPodSandbox({
      labelSelector: { "contract/case": "main" },
      state: "SANDBOX_READY",
    });
    assert.deepEqual(sandboxes.map((s) => s.id), [sandboxId]);
    const byId = await cri.listPodSandbox({ id: sandboxId });
    assert.deepEqual(byId.map((s) => s.id), [sandboxId]);
    await cri.stopContainer(a, 0);
    await cri.removeContainer(a);
    await cri.removeContainer(b);
  });

  await t.step(
    "a second container with the same name and attempt is refused",
    async () => {
      const first = await cri.createContainer(
        sandboxId,
        containerConfig("twice", env, ["sleep", "3600"]),
        config,
      );
      await assert.rejects(
        cri.createContainer(
          sandboxId,
          containerConfig("twice", env, ["sleep", "3600"]),
          config,
        ),
        (err) => err instanceof CriError && /reserved/.test(err.message),
      );
      await cri.removeContainer(first);
    },
  );

  await t.step("a missing id is NotFound", async () => {
    const missing = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    await expectNotFound("ContainerStatus", cri.containerStatus(missing));
    await expectNotFound("PodSandboxStatus", cri.podSandboxStatus(missing));
    await expectNotFound("StopContainer", cri.stopContainer(missing, 0));
    await expectNotFound("StartContainer", cri.startContainer(missing));
    await expectNotFound("StopPodSandbox", cri.stopPodSandbox(missing));
    await expectNotFound(
      "CreateContainer",
      cri.createContainer(missing, containerConfig("x", env, ["true"]), config),
    );
  });

  await t.step("stop and remove are idempotent", async () => {
    const id = await cri.createContainer(
      sandboxId,
      containerConfig("idem", env, ["sleep", "3600"]),
      config,
    );
    await cri.startContainer(id);
    await cri.stopContainer(id, 0);
    await cri.stopContainer(id, 0);
    await cri.removeContainer(id);
    await cri.removeContainer(id);
  });

  await t.step(
    "stopping a sandbox ends its containers; removing it removes them",
    async () => {
      const id = await cri.createContainer(
        sandboxId,
        containerConfig("inside", env, ["sleep", "3600"]),
        config,
      );
      await cri.startContainer(id);
      await cri.stopPodSandbox(sandboxId);
      await cri.stopPodSandbox(sandboxId);
      assert.equal(
        (await cri.podSandboxStatus(sandboxId)).state,
        "SANDBOX_NOTREADY",
      );
      assert.equal((await cri.containerStatus(id)).state, "CONTAINER_EXITED");
      await cri.removePodSandbox(sandboxId);
      await cri.removePodSandbox(sandboxId);
      await expectNotFound(
        "ContainerStatus of a removed sandbox's container",
        cri.containerStatus(id),
      );
      assert.deepEqual(await cri.listPodSandbox({ id: sandboxId }), []);
      await expectNotFound(
        "StopPodSandbox after remove",
        cri.stopPodSandbox(sandboxId),
      );
    },
  );
}
