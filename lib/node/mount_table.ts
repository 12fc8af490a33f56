/**
 * The mount table of the agent's mount namespace, and the `mount`/`umount` commands that
 * change it: which paths are mount points, and a command's outcome with its stderr.
 *
 * @module
 */
import { type CommandOutput, commandOutput } from "../base/command_output.ts";

/**
 * The text of /proc/self/mountinfo of the agent's mount namespace, read by `cat`: Deno refuses
 * to read /proc without full permissions. Throws when `cat` cannot be run or fails.
 */
export async function readMountinfo(): Promise<string> {
  let output: CommandOutput;
  try {
    output = await commandOutput("cat", { args: ["/proc/self/mountinfo"] });
  } catch (error) {
    throw new Error(`Cannot read the mount table with "cat": ${messageOf(error)}`, {
      cause: error,
    });
  }
  if (!output.success) {
    throw new Error(`Cannot read the mount table with "cat" (exit ${output.code})`);
  }
  return new TextDecoder().decode(output.stdout);
}

/**
 * The mount points of the agent's mount namespace. Deno refuses to read /proc/self without
 * full permissions, so `cat` reads it for us (the same namespace).
 */
export async function mountPoints(): Promise<Set<string>> {
  const points = new Set<string>();
  for (const line of (await readMountinfo()).split("\n")) {
    // 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    const field = line.split(" ")[4];
    if (field) {
      points.add(
        field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))),
      );
    }
  }
  return points;
}

/** True when `path` is a mount point (bind mounts of files included). */
export async function isMountPoint(path: string): Promise<boolean> {
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
  return (await mountPoints()).has(real);
}

/** Runs `command` with `args`; `stderr` says why it failed (its stderr, or its exit code). */
export async function runCommand(
  command: string,
  args: string[],
): Promise<{ ok: boolean; stderr: string }> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).output();
  } catch (error) {
    return { ok: false, stderr: `cannot run "${command}": ${messageOf(error)}` };
  }
  const stderr = new TextDecoder().decode(output.stderr).trim();
  return { ok: output.success, stderr: stderr || `"${command}" exited with ${output.code}` };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
