/**
 * The host's cgroup mode, as kubelet decides it (libcontainer's `IsCgroup2UnifiedMode`: the
 * file system mounted at /sys/fs/cgroup is cgroup2). Deno has no `statfs`, so the mount
 * table says it instead: the last mount at that path is the one `statfs` would see.
 *
 * @module
 */

import { readMountinfo } from "./mount_table.ts";

/** Where the cgroup hierarchy is mounted. */
export const CGROUP_MOUNT_POINT = "/sys/fs/cgroup";

/** Undoes the octal escapes of /proc/self/mountinfo (`\040` is a space). */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * Whether `mountinfo` (the text of /proc/self/mountinfo) has a cgroup2 file system on top at
 * /sys/fs/cgroup. A hybrid host (a tmpfs there, cgroup2 at /sys/fs/cgroup/unified) is not v2,
 * as for kubelet.
 */
export function isCgroupV2Mountinfo(mountinfo: string): boolean {
  let fsType: string | undefined;
  for (const line of mountinfo.split("\n")) {
    // id parent major:minor root mount-point options [optional fields...] - fstype source super
    const fields = line.split(" ");
    const dash = fields.indexOf("-", 6);
    const mountPoint = fields[4];
    if (dash < 0 || mountPoint === undefined) continue;
    if (unescapeMountPath(mountPoint) === CGROUP_MOUNT_POINT) fsType = fields[dash + 1];
  }
  return fsType === "cgroup2";
}

/**
 * Whether this host runs cgroup v2, from /proc/self/mountinfo as `cat` reads it (Deno does not
 * read /proc under plain read permission), or what `read` returns. When the table cannot be
 * read the host counts as v1, as libcontainer assumes when `statfs` fails.
 */
export async function detectCgroupV2(
  read: () => Promise<string> = readMountinfo,
): Promise<boolean> {
  try {
    return isCgroupV2Mountinfo(await read());
  } catch {
    return false;
  }
}
