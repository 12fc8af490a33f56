/**
 * A volumeMount's `subPath`: resolved under its volume with kubelet's escape checks, created
 * when missing, and bind-mounted where the container's mount points
 * (`pkg/kubelet/kubelet_pods.go` `makeMounts`, `pkg/volume/util/subpath/subpath_linux.go`
 * `doSafeMakeDir`).
 *
 * @module
 */

import { isMountPoint, runCommand } from "./mount_table.ts";
import { VolumeError } from "./volumes.ts";

/**
 * Resolves a volumeMount's `subPath` under `base` (the volume's host path) and returns the
 * resolved host path, symlinks resolved.
 *
 * Rejects an absolute `subPath`, a `..` that would leave `base`, and a symlink among the
 * existing components that points outside `base` (the classic subPath escape). When `create`
 * is true, creates the missing directories as kubelet does: with the mode of the volume's
 * directory (`hu.GetMode(volumePath)`), applied with chmod so the umask does not narrow it.
 */
export async function resolveSubPath(
  volume: string,
  base: string,
  subPath: string,
  create: boolean,
): Promise<string> {
  if (subPath.startsWith("/")) {
    throw new VolumeError(
      volume,
      `subPath "${subPath}" must be a relative path: remove the leading "/"`,
    );
  }
  const segments: string[] = [];
  for (const segment of subPath.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment !== "..") {
      segments.push(segment);
    } else if (segments.pop() === undefined) {
      throw new VolumeError(
        volume,
        `subPath "${subPath}" must stay inside the volume, but its ".." leaves it`,
      );
    }
  }

  let realBase: string;
  let baseMode: number;
  try {
    realBase = await Deno.realPath(base);
    baseMode = (await Deno.stat(realBase)).mode ?? 0o755;
  } catch (error) {
    throw new VolumeError(
      volume,
      `cannot resolve subPath "${subPath}": the volume's directory "${base}" is not usable: ${
        messageOf(error)
      }`,
      { cause: error },
    );
  }

  let current = realBase;
  let missing: string[] = [];
  for (const [i, segment] of segments.entries()) {
    const candidate = join(current, segment);
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(candidate);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        missing = segments.slice(i);
        break;
      }
      throw new VolumeError(
        volume,
        `cannot resolve subPath "${subPath}": ${messageOf(error)}`,
        { cause: error },
      );
    }
    if (!info.isSymlink) {
      current = candidate;
      continue;
    }
    const shown = segments.slice(0, i + 1).join("/");
    let target: string;
    try {
      target = await Deno.realPath(candidate);
    } catch (error) {
      const link = await Deno.readLink(candidate).catch(() => "?");
      throw new VolumeError(
        volume,
        `subPath "${subPath}" goes through "${shown}", a symlink to "${link}" that cannot be resolved: point it at a directory inside the volume`,
        { cause: error },
      );
    }
    if (!isWithin(target, realBase)) {
      throw new VolumeError(
        volume,
        `subPath "${subPath}" escapes the volume: "${shown}" is a symlink to "${target}", outside "${realBase}"`,
      );
    }
    current = target;
  }

  if (missing.length === 0) return current;
  if (!create) return join(current, ...missing);

  // Kubelet: SafeMakeDir(subPath, volumePath, perm) with perm = the volume directory's mode,
  // then Fchmod of every created directory (mkdirat is narrowed by the umask).
  const mode = baseMode & 0o7777;
  for (const segment of missing) {
    current = join(current, segment);
    try {
      await Deno.mkdir(current, { mode: mode & 0o777 });
      const info = await Deno.lstat(current);
      if (!info.isDirectory) throw new Error(`"${current}" was replaced while being created`);
      await Deno.chmod(current, mode);
    } catch (error) {
      throw new VolumeError(
        volume,
        `cannot create subPath "${subPath}": "${current}": ${messageOf(error)}`,
        { cause: error },
      );
    }
  }
  return current;
}

/** Where kubelet bind-mounts a container's subPath: `<podDir>/volume-subpaths/<volume>/<container>/<index>`. */
export function subPathTarget(
  podDir: string,
  volume: string,
  container: string,
  index: number,
): string {
  return `${podDir}/volume-subpaths/${volume}/${container}/${index}`;
}

/**
 * Pins a checked subPath for the runtime, as kubelet does: resolves it under
 * `base`, bind-mounts it at `target`, then checks that what got mounted is
 * still the file or directory inside the volume. A symlink swapped in between
 * the check and the mount (the subPath escape) is caught, unmounted and
 * reported. Idempotent: an existing mount at `target` is checked again; one that no longer
 * shows what the subPath names inside the volume (a ConfigMap update replaced its file) is
 * bound again, once, to what it names now, as kubelet does for a restarting container.
 */
export async function bindSubPath(
  volume: string,
  base: string,
  subPath: string,
  target: string,
  again = false,
): Promise<void> {
  const resolved = await resolveSubPath(volume, base, subPath, true);
  const realBase = await Deno.realPath(base);
  const info = await Deno.stat(resolved);
  const wasMounted = await isMountPoint(target);
  if (!wasMounted) {
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true, mode: 0o750 });
    try {
      if (info.isDirectory) await Deno.mkdir(target, { mode: 0o750 });
      else await Deno.writeFile(target, new Uint8Array(), { mode: 0o640 });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    const bound = await runCommand("mount", ["--bind", resolved, target]);
    if (!bound.ok) {
      throw new VolumeError(volume, `cannot bind-mount subPath "${subPath}": ${bound.stderr}`);
    }
  }
  const [mounted, now] = await Promise.all([Deno.stat(target), Deno.realPath(resolved)]);
  const named = await Deno.stat(now);
  const within = isWithin(now, realBase);
  if (!within || mounted.ino !== named.ino || mounted.dev !== named.dev) {
    await runCommand("umount", [target]);
    if (wasMounted && within && !again) return bindSubPath(volume, base, subPath, target, true);
    throw new VolumeError(
      volume,
      `subPath "${subPath}" changed while it was mounted (a symlink out of the volume?): refusing it`,
    );
  }
}

function join(...parts: string[]): string {
  return parts.join("/").replace(/\/{2,}/g, "/");
}

/** Whether `path` is `base` or below it; both absolute and clean. */
function isWithin(path: string, base: string): boolean {
  return base === "/" || path === base || path.startsWith(`${base}/`);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
