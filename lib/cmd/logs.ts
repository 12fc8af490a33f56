/**
 * `tinylet logs`: prints a container's output from its CRI log files, its current or previous
 * instance, optionally the last lines only, and follows it across rotations when asked.
 *
 * The container's own output is passed through as it is, as `kubectl logs` does; tinylet's own
 * messages go through `printableIo`, so names from the runtime show their control characters
 * escaped. A log path outside the pod's log directory is refused.
 *
 * @module
 */
import type { AgentConfig, PodRef } from "./cli.ts";
import type { Io } from "./io.ts";
import { findPod, listOurs, pickContainer } from "./pods.ts";
import type { Cri } from "../runtime/cri.ts";
import { formatLogLine } from "../node/container_log_format.ts";
import { readCriLog } from "../node/container_log.ts";
import { followCriLog } from "../node/container_log_follow.ts";
import { printableIo } from "../base/escape.ts";
import { containerLogPathProblem } from "../node/paths.ts";

/** `tinylet logs`: the container's output from its CRI log files. */
export async function logsCommand(
  config: AgentConfig,
  cri: Cri,
  options: {
    pod: PodRef;
    container: string | undefined;
    follow: boolean;
    tail: number | undefined;
    previous: boolean;
    timestamps: boolean;
    signal?: AbortSignal;
  },
  raw: Io,
): Promise<number> {
  const io = printableIo(raw);
  const o = findPod(await listOurs(cri, config.instance), options.pod);
  if (!o) {
    io.err(`Pod ${options.pod.namespace}/${options.pod.name} not found: see "tinylet pods"`);
    return 1;
  }
  const picked = pickContainer(o, options.container, io);
  if (typeof picked === "string") {
    io.err(picked);
    return 1;
  }
  const instances = picked.instances;
  const target = options.previous ? instances.at(-2) : instances.at(-1);
  if (!target) {
    io.err(
      `Container "${picked.name}" of pod ${o.key} has no previous instance: it has not restarted, or its dead instance was removed`,
    );
    return 1;
  }
  const logPath = (await cri.containerStatus(target.id)).logPath;
  if (!logPath) {
    io.err(`Container "${picked.name}" of pod ${o.key} has no log file`);
    return 1;
  }
  const m = o.sandbox.metadata;
  const unsafe = o.unsafeIdentity ??
    containerLogPathProblem(
      logPath,
      { namespace: m.namespace, name: m.name, uid: m.uid },
      config.podLogRoot,
    );
  if (unsafe) {
    io.err(`Cannot read the log of container "${picked.name}" of pod ${o.key}: ${unsafe}`);
    return 1;
  }
  const lines = await readCriLog(logPath, {
    includeRotated: true,
    ...(options.tail !== undefined ? { tail: options.tail } : {}),
  });
  for (const l of lines) raw.out(formatLogLine(l, options.timestamps));
  if (options.follow && !options.previous && options.signal) {
    await followCriLog(
      logPath,
      (l) => raw.out(formatLogLine(l, options.timestamps)),
      options.signal,
    );
  }
  return 0;
}
