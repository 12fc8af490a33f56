/**
 * The CRI contract's cases on containers in the shared sandbox: the life of one (created,
 * started, listed, stopped, removed), exit codes and reasons, list filters, and a name taken
 * twice.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Cri } from "../lib/runtime/cri.ts";
import { CriError } from "../lib/runtime/errors.ts";
import {
  containerConfig,
  type ContractEnv,
  type ContractPod,
  createSleeper,
  expectNotFound,
} from "./cri_contract_fixtures.ts";
import { waitFor } from "./wait.ts";

/** Runs the case on one container's life in the shared sandbox `pod` as a step of `t`. */
export async function containerLifeCase(
  t: Deno.TestContext,
  cri: Cri,
  env: ContractEnv,
  pod: ContractPod,
): Promise<void> {
  const { config, id: sandboxId } = pod;
  await t.step(
    "a container is created, started, listed and stopped",
    async () => {
      const id = await createSleeper(cri, env, pod, "sleeper");
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
}

/**
 * Runs the cases on exit codes and reasons, list filters and a name taken twice in the shared
 * sandbox `pod` as steps of `t`.
 */
export async function containerCases(
  t: Deno.TestContext,
  cri: Cri,
  env: ContractEnv,
  pod: ContractPod,
): Promise<void> {
  const { config, id: sandboxId } = pod;
  const settle = { timeoutMs: env.settleMs };

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
    const a = await createSleeper(cri, env, pod, "filter-a");
    const b = await createSleeper(cri, env, pod, "filter-b");
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
      const first = await createSleeper(cri, env, pod, "twice");
      await assert.rejects(
        createSleeper(cri, env, pod, "twice"),
        (err) => err instanceof CriError && /reserved/.test(err.message),
      );
      await cri.removeContainer(first);
    },
  );
}
