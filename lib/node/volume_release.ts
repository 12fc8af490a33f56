/**
 * Releasing a pod's volumes before its state directory is removed: every mount below the
 * directory comes off (subPath bind mounts, then tmpfs emptyDirs, then the directory
 * itself), and a mount left there stops the removal.
 *
 * @module
 */

import { isBelow, quoteRuntimeValue, UnsafePathError } from "./paths.ts";
import { isMountPoint, mountPoints, runCommand } from "./mount_table.ts";
import { EMPTY_DIR_PLUGIN, VolumeError } from "./volumes.ts";

/**
 * Unmounts every mount point under `podDir`, `podDir` included (deepest first; tmpfs
 * emptyDirs), so the directory can be removed. Safe when nothing
 * is mounted or `podDir` does not exist. A `podDir` that is a symlink is not followed (tinylet
 * makes a directory there; the link is removed with the pod). With `within`, `podDir` must
 * resolve to a path strictly below it, or nothing is unmounted and {@linkcode UnsafePathError}
 * is thrown. It is thrown too when a mount tinylet did not make is left below `podDir`, so
 * that removing the directory never goes through a mount.
 */
export async function releaseVolumes(podDir: string, within?: string): Promise<void> {
  let root: string;
  try {
    if ((await Deno.lstat(podDir)).isSymlink) return;
    root = await Deno.realPath(podDir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (within !== undefined && !isBelow(root, await Deno.realPath(within))) {
    throw new UnsafePathError(
      `Refusing to unmount below ${quoteRuntimeValue(podDir)}: it resolves to ${
        quoteRuntimeValue(root)
      }, which is not below ${quoteRuntimeValue(within)}`,
    );
  }
  // tinylet mounts only at `<podDir>/volume-subpaths/<volume>/<container>/<index>` and
  // `<podDir>/volumes/<plugin>/<name>`; subPaths first (they may sit on an emptyDir), podDir last.
  const candidates: string[] = [];
  try {
    for await (const v of Deno.readDir(`${root}/volume-subpaths`)) {
      for await (const c of Deno.readDir(`${root}/volume-subpaths/${v.name}`)) {
        for await (const i of Deno.readDir(`${root}/volume-subpaths/${v.name}/${c.name}`)) {
          candidates.push(`${root}/volume-subpaths/${v.name}/${c.name}/${i.name}`);
        }
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory)) {
      throw error;
    }
  }
  try {
    for await (const plugin of Deno.readDir(`${root}/volumes`)) {
      if (!plugin.isDirectory) continue;
      for await (const v of Deno.readDir(`${root}/volumes/${plugin.name}`)) {
        if (v.isDirectory) candidates.push(`${root}/volumes/${plugin.name}/${v.name}`);
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  candidates.push(root);
  for (const mountPoint of candidates) {
    // Stacked mounts come off one at a time.
    for (let i = 0; i < 16 && (await isMountPoint(mountPoint)); i++) {
      const volume = volumeOfMountPoint(mountPoint);
      const plain = await runCommand("umount", [mountPoint]);
      if (plain.ok) continue;
      if (!(await isMountPoint(mountPoint))) break; // unmounted meanwhile
      if (/busy/i.test(plain.stderr)) {
        const lazy = await runCommand("umount", ["-l", mountPoint]);
        if (lazy.ok) continue;
        throw new VolumeError(
          volume,
          `cannot unmount "${mountPoint}" (also tried "umount -l"): ${lazy.stderr}`,
        );
      }
      throw new VolumeError(volume, `cannot unmount "${mountPoint}": ${plain.stderr}`);
    }
  }
  // A mount left below the pod directory (one tinylet did not make there) would take the
  // recursive removal that follows through it, outside the root: refuse instead.
  const left = [...await mountPoints()].filter((p) => p === root || p.startsWith(`${root}/`));
  if (left.length > 0) {
    throw new UnsafePathError(
      `Refusing to remove ${quoteRuntimeValue(podDir)}: ${
        left.map((p) => quoteRuntimeValue(p)).join(", ")
      } below it is still mounted (unmount it; the removal is tried again)`,
    );
  }
}

/** The volume name a mount point under a pod directory belongs to, for error messages. */
function volumeOfMountPoint(mountPoint: string): string {
  const marker = `/volumes/${EMPTY_DIR_PLUGIN}/`;
  const at = mountPoint.lastIndexOf(marker);
  if (at >= 0) return mountPoint.slice(at + marker.length).split("/")[0] ?? mountPoint;
  return mountPoint.slice(mountPoint.lastIndexOf("/") + 1);
}
