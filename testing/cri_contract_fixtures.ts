/**
 * What every part of the CRI contract suite shares: what it needs to know about the runtime
 * under test (and the registry it pulls from), the sandbox and container configs its cases run, the sandbox they share, and
 * the check that a call failed as NotFound.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ContainerConfig, Cri, PodSandboxConfig } from "../lib/runtime/cri.ts";
import { CriError, isNotFound } from "../lib/runtime/errors.ts";
import type { ContractRegistry } from "./cri_contract_registry.ts";

/** What the suite needs to know about the runtime under test. */
export interface ContractEnv {
  /** An image the runtime has. */
  image: string;
  /** A directory the runtime may write container logs under. */
  logRoot: string;
  /** How long to wait for the runtime to change a state on its own. */
  settleMs: number;
  /** The registry the runtime pulls from, whose tags the suite moves. */
  registry: ContractRegistry;
}

/** The sandbox that the container cases share: its config and its id. */
export interface ContractPod {
  config: PodSandboxConfig;
  id: string;
}

/** Decodes an ExecSync's output. */
export const decoder = new TextDecoder();

/** A sandbox config for case `name`, labelled as the contract's, on the host network or not. */
export function sandboxConfig(
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

/** A container config named `name` that runs `command` in the image under test. */
export function containerConfig(
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

/**
 * Creates (does not start) a container `name` that sleeps an hour in the shared sandbox `pod`;
 * returns its id.
 */
export function createSleeper(
  cri: Cri,
  env: ContractEnv,
  pod: ContractPod,
  name: string,
): Promise<string> {
  return cri.createContainer(pod.id, containerConfig(name, env, ["sleep", "3600"]), pod.config);
}

/** Awaits `p`, which must reject as a NotFound CriError; `what` names the call. */
export async function expectNotFound(what: string, p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (err) => {
    assert.ok(err instanceof CriError, `${what}: not a CriError: ${err}`);
    assert.equal(err.kind, "NotFound", `${what}: ${err.message}`);
    assert.ok(isNotFound(err));
    return true;
  });
}
