/**
 * Teardown steps of a private containerd that outlive its process: removing
 * every pod sandbox through the CRI (with retries), deleting containers and
 * shims it left, and unmounting what is still mounted under its temp dir.
 *
 * @module
 */
import { connectCri } from "../lib/runtime/grpc.ts";
import { isNotFound } from "../lib/runtime/errors.ts";
import type { Tools } from "./host_prerequisites.ts";
import { errorMessage, run, runOk } from "./host_command.ts";
import { readOptional, subdirs } from "./dir_entries.ts";
import type { Layout } from "./containerd_config.ts";
import { pool } from "./pool.ts";

const CRI_CALL_TIMEOUT_MS = 120_000;

/**
 * How long teardown keeps trying to remove sandboxes: a container the runtime is still starting
 * (its agent stopped while the start was in flight) cannot be removed until the start ends.
 */
const REMOVE_SANDBOXES_MS = 60_000;

/** Stops and removes every pod sandbox through the CRI on `socket`, four at a time, retrying until none fails or the deadline passes. */
export async function removeAllSandboxes(socket: string): Promise<void> {
  const cri = connectCri(socket, { timeoutMs: CRI_CALL_TIMEOUT_MS });
  try {
    const deadline = Date.now() + REMOVE_SANDBOXES_MS;
    for (;;) {
      const sandboxes = await cri.listPodSandbox();
      // Four at a time: on two cores, dozens at once make containerd miss its deadlines.
      const errors: string[] = [];
      await pool(sandboxes, 4, async (s) => {
        try {
          await ignoreNotFound(cri.stopPodSandbox(s.id));
          await ignoreNotFound(cri.removePodSandbox(s.id));
        } catch (err) {
          errors.push(errorMessage(err));
        }
      });
      if (errors.length === 0) return;
      if (Date.now() >= deadline) {
        throw new Error(
          `${errors.length} of ${sandboxes.length} sandboxes not removed: ${errors.join("; ")}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    cri.close();
  }
}

async function ignoreNotFound(call: Promise<void>): Promise<void> {
  try {
    await call;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/**
 * After containerd is gone: force-deletes containers runc still knows in this
 * instance's runc root, and kills shims still serving this instance. Both
 * exist only when removing the sandboxes through the CRI failed.
 */
export async function killLeftovers(
  tools: Tools,
  l: Layout,
  log: (line: string) => void,
): Promise<void> {
  for (const root of await subdirs(l.runcRoot)) {
    const out = await runOk(tools.runc, ["--root", root, "list", "-q"]);
    for (const id of out.split("\n").filter((s) => s.trim() !== "")) {
      log(`teardown: runc container ${id} was left behind: deleting it`);
      await runOk(tools.runc, ["--root", root, "delete", "--force", id]);
    }
  }
  for (const pid of await processesWithArg(l.socket)) {
    log(`teardown: containerd shim ${pid} was left behind: killing it`);
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Exited meanwhile.
    }
  }
  await removeShimSockets(l.state, log);
}

/**
 * Shims listen under the host's /run/containerd/s (a path containerd 1.6
 * does not let us move); a killed shim leaves its socket there. Each task
 * bundle in our state dir names its shim's socket in an `address` file.
 */
async function removeShimSockets(
  state: string,
  log: (line: string) => void,
): Promise<void> {
  const tasks = `${state}/io.containerd.runtime.v2.task`;
  for (const ns of await subdirs(tasks)) {
    for (const bundle of await subdirs(ns)) {
      const address = await readOptional(`${bundle}/address`);
      const socket = address?.trim().replace(/^unix:\/\//, "");
      if (!socket?.startsWith("/run/containerd/s/")) continue;
      try {
        await Deno.remove(socket);
        log(`teardown: removed stale shim socket ${socket}`);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
  }
}

/** PIDs of processes that have `arg` as one of their command-line arguments. */
async function processesWithArg(arg: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${e.name}/cmdline`);
      if (cmdline.split("\0").includes(arg)) pids.push(Number(e.name));
    } catch {
      // Exited meanwhile.
    }
  }
  return pids;
}

/** Unmounts everything mounted at or under `dir`, deepest first. */
export async function unmountUnder(tools: Tools, dir: string): Promise<void> {
  // Stacked mounts need one pass each; three passes is plenty.
  for (let pass = 0; pass < 3; pass++) {
    const mounts = await mountsUnder(dir);
    if (mounts.length === 0) return;
    for (const m of mounts) {
      const r = await run(tools.umount, [m]);
      if (!r.success) await run(tools.umount, ["-l", m]);
    }
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) {
    throw new Error(`still mounted: ${left.join(", ")} (umount -l them)`);
  }
}

/** Mount points at or under `dir`, deepest first, from /proc/self/mountinfo. */
async function mountsUnder(dir: string): Promise<string[]> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  const points = info.split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined)
    .map(unescapeMountPath)
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  const depth = (p: string) => p.split("/").length;
  return [...new Set(points)].sort((a, b) => depth(b) - depth(a));
}

function unescapeMountPath(p: string): string {
  return p.replace(
    /\\([0-7]{3})/g,
    (_, oct: string) => String.fromCharCode(parseInt(oct, 8)),
  );
}
