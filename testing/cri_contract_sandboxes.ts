/**
 * The CRI contract's cases on sandboxes: one on the host network and one on the pod network
 * run, list and stop; and at the end, stopping the shared sandbox ends its containers and
 * removing it removes them.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Cri } from "../lib/runtime/cri.ts";
import {
  type ContractEnv,
  type ContractPod,
  createSleeper,
  expectNotFound,
  sandboxConfig,
} from "./cri_contract_fixtures.ts";

/** Runs the cases of sandboxes of their own as steps of `t`. */
export async function sandboxCases(
  t: Deno.TestContext,
  cri: Cri,
  env: ContractEnv,
): Promise<void> {
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
}

/** Runs, as a step of `t`, the case that stops and removes the shared sandbox `pod`. */
export async function sandboxRemovalCase(
  t: Deno.TestContext,
  cri: Cri,
  env: ContractEnv,
  pod: ContractPod,
): Promise<void> {
  const { id: sandboxId } = pod;
  await t.step(
    "stopping a sandbox ends its containers; removing it removes them",
    async () => {
      const id = await createSleeper(cri, env, pod, "inside");
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
