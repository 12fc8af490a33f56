/**
 * `tinylet exec`: runs a command in a running container through the runtime's ExecSync and
 * passes its exit code through.
 *
 * The command's own output is passed through as it is, as `kubectl exec` does; tinylet's own
 * messages go through `printableIo`, so names from the runtime show their control characters
 * escaped.
 *
 * @module
 */
import type { AgentConfig, PodRef } from "./cli.ts";
import type { Io } from "./io.ts";
import { findPod, listOurs, pickContainer } from "./pods.ts";
import type { Cri } from "../runtime/cri.ts";
import { printableIo } from "../base/escape.ts";

/** `tinylet exec`: runs a command in a container through ExecSync; its exit code is passed through. */
export async function execCommand(
  config: AgentConfig,
  cri: Cri,
  options: { pod: PodRef; container: string | undefined; cmd: string[] },
  raw: Io & { outBytes(b: Uint8Array): void; errBytes(b: Uint8Array): void },
): Promise<number> {
  const io = printableIo(raw);
  const o = findPod(await listOurs(cri, config.instance), options.pod);
  if (!o || o.sandbox.state !== "SANDBOX_READY") {
    io.err(`Pod ${options.pod.namespace}/${options.pod.name} is not running: see "tinylet pods"`);
    return 1;
  }
  const picked = pickContainer(o, options.container, io);
  if (typeof picked === "string") {
    io.err(picked);
    return 1;
  }
  const c = picked.instances.at(-1)!;
  if (c.state !== "CONTAINER_RUNNING") {
    io.err(
      `Container "${picked.name}" of pod ${o.key} is not running: see "tinylet describe ${o.key}"`,
    );
    return 1;
  }
  const r = await cri.execSync(c.id, options.cmd, 0);
  raw.outBytes(r.stdout);
  raw.errBytes(r.stderr);
  return r.exitCode;
}
