/**
 * Writing a config volume (`configMap`, `secret`, `projected`) into the directory its pod's
 * volumes made, with the atomic writer, and what each directory was last written with.
 *
 * @module
 */
import { type Payload, writePayload } from "./atomic_writer.ts";
import { isMountPoint } from "./mount_table.ts";
import { VolumeError } from "./volume_error.ts";

/** Each config volume directory's payload as last written, whoever wrote it. */
const written = new Map<string, Payload>();

/**
 * The payload last written into config volume directory `dir` in this process, by identity
 * (undefined when none, or after {@linkcode forgetConfigVolume}).
 */
export function writtenConfigVolume(dir: string): Payload | undefined {
  return written.get(dir);
}

/** Forgets what was written into `dir` (its pod is gone). */
export function forgetConfigVolume(dir: string): void {
  written.delete(dir);
}

/**
 * Writes a config volume's content into `dir` (kubelet's atomic writer); true when it
 * changed. The directory must be there, as the pod's volumes were made, and for a `memory`
 * volume be the tmpfs mounted on it: checked in the directory's turn, so a pod torn down
 * meanwhile is never written into, and a Secret never lands on disk. Throws
 * {@linkcode VolumeError}, naming the volume, when it cannot be written.
 */
export async function writeConfigVolume(
  name: string,
  dir: string,
  payload: Payload,
  memory: boolean,
): Promise<boolean> {
  const ready = async () => {
    const info = await Deno.lstat(dir).catch(() => undefined);
    if (!info?.isDirectory) throw new Error("the volume's directory is gone");
    if (memory && !(await isMountPoint(dir))) throw new Error("its tmpfs is not mounted");
  };
  try {
    const { changed } = await writePayload(dir, payload, { ready });
    // In the directory's turn: the last write to finish is what the directory holds.
    written.set(dir, payload);
    return changed;
  } catch (error) {
    throw new VolumeError(name, `cannot write its files in "${dir}": ${messageOf(error)}`, {
      cause: error,
    });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
