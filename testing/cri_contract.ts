/**
 * The CRI contract: what tinylet relies on the runtime to do. Run against the
 * fake (served over gRPC) and against a real containerd; where they disagree,
 * the fake is wrong. The cases are grouped by theme: the runtime and its images
 * (`cri_contract_images.ts`), sandboxes (`cri_contract_sandboxes.ts`), containers
 * (`cri_contract_containers.ts`), ExecSync (`cri_contract_exec.ts`), resource usage
 * (`cri_contract_stats.ts`), images pulled from a registry whose tags move
 * (`cri_contract_tags.ts`, the registry behind `cri_contract_registry.ts`), and missing ids
 * and repeated calls (`cri_contract_errors.ts`).
 *
 * @module
 */
import type { Cri } from "../lib/runtime/cri.ts";
import { containerCases, containerLifeCase } from "./cri_contract_containers.ts";
import { errorCases } from "./cri_contract_errors.ts";
import { execCases } from "./cri_contract_exec.ts";
import { type ContractEnv, sandboxConfig } from "./cri_contract_fixtures.ts";
import { imageCases } from "./cri_contract_images.ts";
import { sandboxCases, sandboxRemovalCase } from "./cri_contract_sandboxes.ts";
import { statsCases } from "./cri_contract_stats.ts";
import { tagCases } from "./cri_contract_tags.ts";

/**
 * Runs every contract case as a step of `t`: the runtime, its images and sandboxes of their
 * own first; then, in one shared sandbox, a container's life, ExecSync, exit codes, list
 * filters and a name taken twice, resource usage, pulls of moving tags, and the error cases;
 * the last case stops and removes it.
 */
export async function runContract(
  t: Deno.TestContext,
  cri: Cri,
  env: ContractEnv,
): Promise<void> {
  await imageCases(t, cri, env);
  await sandboxCases(t, cri, env);
  const config = sandboxConfig("main", env, true);
  const pod = { config, id: await cri.runPodSandbox(config) };
  await containerLifeCase(t, cri, env, pod);
  await execCases(t, cri, env, pod);
  await containerCases(t, cri, env, pod);
  await statsCases(t, cri, env, pod);
  await tagCases(t, cri, env, pod);
  await errorCases(t, cri, env, pod);
  await sandboxRemovalCase(t, cri, env, pod);
}
