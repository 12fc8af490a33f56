/**
 * The CRI contract's cases on missing ids and repeated calls: a missing id is NotFound for
 * every call that looks one up, and stopping or removing twice succeeds.
 *
 * @module
 */
import type { Cri } from "../lib/runtime/cri.ts";
import {
  containerConfig,
  type ContractEnv,
  type ContractPod,
  createSleeper,
  expectNotFound,
} from "./cri_contract_fixtures.ts";

/** Runs the missing-id and repeated-call cases as steps of `t`. */
export async function errorCases(
  t: Deno.TestContext,
  cri: Cri,
  env: ContractEnv,
  pod: ContractPod,
): Promise<void> {
  const { config } = pod;

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
    const id = await createSleeper(cri, env, pod, "idem");
    await cri.startContainer(id);
    await cri.stopContainer(id, 0);
    await cri.stopContainer(id, 0);
    await cri.removeContainer(id);
    await cri.removeContainer(id);
  });
}
