/**
 * What the executor's steps share: the executor's options, the pod events they emit, and
 * the runtime calls they make the same way (NotFound as done, a removal confirmed, a
 * lifecycle hook whose failure is an outcome, not a throw).
 *
 * @module
 */
import type { CallOptions, Cri } from "../runtime/cri.ts";
import { isNotFound } from "../runtime/errors.ts";
import type { ImagePuller } from "../node/images.ts";
import type { Logger } from "../base/log.ts";
import type { RotationPolicy } from "../node/log_rotation.ts";
import type { HandlerSpec } from "../manifest/types.ts";
import type { ProbeOutcome, ProbeTarget } from "../probe/probes.ts";
import { runHandler } from "../probe/handlers.ts";
import type { KillRequest } from "./kills.ts";

/** Something that happened to a pod, for `describe` and the logs. */
export interface PodEvent {
  pod: string;
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

/** What the executor needs. */
export interface ExecutorOptions {
  cri: Cri;
  log: Logger;
  images: ImagePuller;
  /** The agent's state root (`--root`); pod state lives in `<root>/pods/<uid>`. */
  root: string;
  podLogRoot: string;
  /** Reads the host's /etc/hosts (for host-network pods); injectable for tests. */
  readHostHosts?: () => Promise<string>;
  /** Told about each event. */
  onEvent?: (event: PodEvent) => void;
  /** Told each sandbox IP the executor asked the runtime for. */
  onSandboxIp?: (sandboxId: string, ip: string) => void;
  /** Runs a lifecycle hook (postStart, preStop); defaults to the agent's probe handlers. */
  hook?: (
    handler: HandlerSpec,
    target: ProbeTarget,
    timeoutSeconds: number,
  ) => Promise<ProbeOutcome>;
  /** Where a container whose postStart hook failed is recorded to be killed; not killed without. */
  kills?: { record(request: KillRequest): void };
  /** Container log rotation; defaults to 10Mi and 5 files. */
  logRotation?: RotationPolicy;
  /** Milliseconds since the epoch, for rotated log names and the grace left after a preStop hook; defaults to `Date.now`. */
  now?: () => number;
  /** How many pods change at once. */
  parallel: number;
  signal?: AbortSignal;
}

/** The call options of every runtime call: the executor's signal. */
export function callOptions(o: ExecutorOptions): CallOptions {
  return o.signal ? { signal: o.signal } : {};
}

/** Emits a pod event. */
export function event(
  o: ExecutorOptions,
  pod: string,
  reason: string,
  message: string,
  warning = false,
) {
  o.onEvent?.({ pod, type: warning ? "Warning" : "Normal", reason, message });
}

/** Treats NotFound as done: whatever was to be stopped, removed or reopened is gone. */
export async function idempotent(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/**
 * Fails unless `status` (the runtime asked about what was just removed) says NotFound: a
 * removal the runtime accepted but did not carry out is a failed action, which backs off
 * like any other, not a success to plan again at once.
 */
export async function stillThere(status: Promise<unknown>, action: string): Promise<void> {
  try {
    await status;
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  throw new Error(`${action}: the runtime accepted its removal but still has it`);
}

/** Runs a lifecycle hook; a hook that throws is a failed outcome. */
export async function runHook(
  o: ExecutorOptions,
  handler: HandlerSpec,
  target: ProbeTarget,
  timeoutSeconds: number,
): Promise<ProbeOutcome> {
  try {
    const signal = o.signal ? { signal: o.signal } : {};
    return await (o.hook ?? ((h, t, s) => runHandler(h, t, s, { cri: o.cri, ...signal })))(
      handler,
      target,
      timeoutSeconds,
    );
  } catch (err) {
    return { ok: false, output: (err as Error).message };
  }
}

/** Where a pod's spec is kept, for its preStop hooks when its file is gone. */
export function podSpecFile(podDir: string): string {
  return `${podDir}/pod.json`;
}
