/**
 * Pod volumes on the host: `hostPath` and `emptyDir`, made ready before a pod's
 * containers start and released before its state directory is removed.
 *
 * Mirrors kubelet: the hostPath type checks of `pkg/volume/hostpath/host_path.go`
 * (`checkTypeInternal`), the emptyDir layout and modes of
 * `pkg/volume/emptydir/empty_dir.go`, and the subPath rules of
 * `pkg/kubelet/kubelet_pods.go` (`makeMounts`) with
 * `pkg/volume/util/subpath/subpath_linux.go` (`doSafeMakeDir`).
 *
 * @module
 */

import { HOST_PATH_TYPES } from "../manifest/types.ts";
import { dirname } from "node:path";
import { isBelow, quoteRuntimeValue, UnsafePathError } from "./paths.ts";
import { dns1123LabelError } from "../manifest/pod.ts";

/** A `hostPath` volume source. */
export interface HostPathVolume {
  /** Absolute path on the host. */
  path: string;
  /**
   * `""` (no check), `DirectoryOrCreate`, `Directory`, `FileOrCreate`, `File`, `Socket`,
   * `CharDevice` or `BlockDevice`.
   */
  type?: string;
}

/** An `emptyDir` volume source. */
export interface EmptyDirVolume {
  /** `""` (the node's disk) or `Memory` (a tmpfs). */
  medium?: string;
  /** The size of a `Memory` emptyDir's tmpfs, in bytes. */
  sizeLimitBytes?: number;
}

/** One entry of `spec.volumes`; exactly one source is set. */
export interface VolumeSource {
  name: string;
  hostPath?: HostPathVolume;
  emptyDir?: EmptyDirVolume;
}

/** A volume that could not be provided; the message says which volume, what is wrong and what to do. */
export class VolumeError extends Error {
  /** The name of the volume, as in `spec.volumes[].name`. */
  readonly volume: string;
  constructor(volume: string, message: string, options?: ErrorOptions) {
    super(`Volume "${volume}": ${message}`, options);
    this.name = "VolumeError";
    this.volume = volume;
  }
}

type HostPathType = (typeof HOST_PATH_TYPES)[number];

const EMPTY_DIR_PLUGIN = "kubernetes.io~empty-dir";

/** Where emptyDir `name` of the pod whose state dir is `podDir` lives: `${podDir}/volumes/kubernetes.io~empty-dir/${name}` (kubelet's layout). */
export function emptyDirPath(podDir: string, name: string): string {
  return `${podDir}/volumes/${EMPTY_DIR_PLUGIN}/${name}`;
}

/** The host path of each volume, without touching the disk (pure). */
export function volumeHostPaths(volumes: VolumeSource[], podDir: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const volume of volumes) {
    validate(volume);
    if (paths.has(volume.name)) {
      throw new VolumeError(
        volume.name,
        "the name is used by more than one volume: give each volume its own name",
      );
    }
    paths.set(
      volume.name,
      volume.hostPath ? volume.hostPath.path : emptyDirPath(podDir, volume.name),
    );
  }
  return paths;
}

/**
 * Makes every volume ready before containers start: hostPath type checks and creation exactly
 * as Kubernetes documents them, emptyDir directories (mode 0777, as kubelet makes them, so
 * non-root containers can write), and `medium: Memory` as a tmpfs mounted there (size =
 * `sizeLimitBytes` when given).
 *
 * Idempotent: a second call on a ready pod changes nothing (it does not mount a second tmpfs on
 * top). Throws {@linkcode VolumeError} for the first volume that cannot be provided.
 */
export async function prepareVolumes(volumes: VolumeSource[], podDir: string): Promise<void> {
  volumeHostPaths(volumes, podDir); // validates everything before touching the disk
  for (const volume of volumes) {
    if (volume.hostPath) {
      await prepareHostPath(volume.name, volume.hostPath);
    } else if (volume.emptyDir) {
      await prepareEmptyDir(volume.name, volume.emptyDir, podDir);
    }
  }
}

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
      const plain = await run("umount", [mountPoint]);
      if (plain.ok) continue;
      if (!(await isMountPoint(mountPoint))) break; // unmounted meanwhile
      if (/busy/i.test(plain.stderr)) {
        const lazy = await run("umount", ["-l", mountPoint]);
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

// --- validation (pure) ---

function validate(volume: VolumeSource): void {
  const { name } = volume;
  if (dns1123LabelError(name)) {
    throw new VolumeError(
      name,
      'the name must be a DNS-1123 label: lowercase letters, digits and "-", at most 63 characters',
    );
  }
  if (volume.hostPath && volume.emptyDir) {
    throw new VolumeError(name, "has both hostPath and emptyDir: keep one of them");
  }
  if (volume.hostPath) {
    const { path, type = "" } = volume.hostPath;
    if (!path.startsWith("/")) {
      throw new VolumeError(name, `hostPath "${path}" must be an absolute path`);
    }
    if (path.split("/").includes("..")) {
      // Kubelet: ValidatePathNoBacksteps in hostPathMounter.SetUp.
      throw new VolumeError(name, `hostPath "${path}" must not contain ".."`);
    }
    if (!isHostPathType(type)) {
      throw new VolumeError(
        name,
        `unknown hostPath type "${type}": use one of ${
          HOST_PATH_TYPES.map((t) => `"${t}"`).join(", ")
        }`,
      );
    }
    return;
  }
  if (volume.emptyDir) {
    const { medium = "", sizeLimitBytes } = volume.emptyDir;
    if (medium !== "" && medium !== "Memory") {
      throw new VolumeError(name, `unsupported emptyDir medium "${medium}": use "" or "Memory"`);
    }
    if (
      sizeLimitBytes !== undefined && (!Number.isSafeInteger(sizeLimitBytes) || sizeLimitBytes < 0)
    ) {
      throw new VolumeError(
        name,
        `emptyDir sizeLimit "${sizeLimitBytes}" must be a whole number of bytes, not negative`,
      );
    }
    return;
  }
  throw new VolumeError(
    name,
    "has no supported source: tinylet provides hostPath and emptyDir volumes",
  );
}

function isHostPathType(type: string): type is HostPathType {
  return (HOST_PATH_TYPES as readonly string[]).includes(type);
}

// --- hostPath ---

const WANTED: Record<Exclude<HostPathType, "">, string> = {
  DirectoryOrCreate: "a directory",
  Directory: "a directory",
  FileOrCreate: "a file",
  File: "a file",
  Socket: "a socket",
  CharDevice: "a character device",
  BlockDevice: "a block device",
};

const HINT: Record<Exclude<HostPathType, "">, string> = {
  DirectoryOrCreate: "remove it or point the volume elsewhere",
  Directory: `create it, or use type "DirectoryOrCreate"`,
  FileOrCreate: "remove it or point the volume elsewhere",
  File: `create it, or use type "FileOrCreate"`,
  Socket: "start the program that serves it, or point the volume elsewhere",
  CharDevice: "point the volume at a character device",
  BlockDevice: "point the volume at a block device",
};

async function prepareHostPath(name: string, source: HostPathVolume): Promise<void> {
  const { path } = source;
  const type = (source.type ?? "") as HostPathType;
  if (type === "") return;
  const info = await statOrNull(name, path);

  if (info === null && type === "DirectoryOrCreate") {
    // Kubelet: os.MkdirAll(path, 0755); the umask applies, as it does to kubelet.
    try {
      await Deno.mkdir(path, { recursive: true, mode: 0o755 });
    } catch (error) {
      throw new VolumeError(
        name,
        `cannot create hostPath "${path}" (type DirectoryOrCreate): ${messageOf(error)}`,
        { cause: error },
      );
    }
    return;
  }
  if (info === null && type === "FileOrCreate") {
    // Kubelet: os.OpenFile(path, O_CREATE, 0644); the parent directory is not created.
    const parent = dirname(path);
    if ((await statOrNull(name, parent)) === null) {
      throw new VolumeError(
        name,
        `cannot create hostPath "${path}" (type FileOrCreate): its parent directory "${parent}" does not exist: create it first (FileOrCreate does not create parent directories)`,
      );
    }
    try {
      const file = await Deno.open(path, { write: true, create: true, mode: 0o644 });
      file.close();
    } catch (error) {
      throw new VolumeError(
        name,
        `cannot create hostPath "${path}" (type FileOrCreate): ${messageOf(error)}`,
        { cause: error },
      );
    }
    return;
  }

  const actual = info === null ? null : kindOf(info);
  const wanted = WANTED[type];
  if (actual === wanted) return;
  throw new VolumeError(
    name,
    `hostPath "${path}" must be ${wanted} (type ${type}), but ${
      actual === null ? "it does not exist" : `it is ${actual}`
    }: ${info === null ? HINT[type] : "point the volume at the right path, or change its type"}`,
  );
}

/** `Deno.stat` (symlinks followed, as kubelet's `os.Stat`), or null when nothing is there. */
async function statOrNull(name: string, path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw new VolumeError(name, `cannot inspect "${path}": ${messageOf(error)}`, {
      cause: error,
    });
  }
}

function kindOf(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a directory";
  if (info.isFile) return "a file";
  if (info.isSocket) return "a socket";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isFifo) return "a named pipe";
  return "something else";
}

// --- emptyDir ---

async function prepareEmptyDir(
  name: string,
  source: EmptyDirVolume,
  podDir: string,
): Promise<void> {
  const dir = emptyDirPath(podDir, name);
  try {
    // Kubelet makes the pod's volumes directory 0750, then MkdirAll(dir, 0777).
    await Deno.mkdir(`${podDir}/volumes`, { recursive: true, mode: 0o750 });
    await Deno.mkdir(dir, { recursive: true, mode: 0o777 });
  } catch (error) {
    throw new VolumeError(name, `cannot create emptyDir "${dir}": ${messageOf(error)}`, {
      cause: error,
    });
  }
  const info = await statOrNull(name, dir);
  if (info === null || !info.isDirectory) {
    throw new VolumeError(
      name,
      `emptyDir "${dir}" must be a directory, but it is ${
        info === null ? "missing" : kindOf(info)
      }: remove it and let tinylet create it`,
    );
  }
  if (source.medium === "Memory" && (await isMountPoint(dir))) return;
  if (((info.mode ?? 0) & 0o7777) !== 0o777) {
    // Kubelet's setupDir: chmod, because the umask narrowed MkdirAll's 0777.
    try {
      await Deno.chmod(dir, 0o777);
    } catch (error) {
      throw new VolumeError(name, `cannot chmod emptyDir "${dir}" to 0777: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }
  if (source.medium !== "Memory") return;

  const options = ["mode=0777"];
  if (source.sizeLimitBytes !== undefined && source.sizeLimitBytes > 0) {
    options.push(`size=${source.sizeLimitBytes}`);
  }
  const mounted = await run("mount", ["-t", "tmpfs", "-o", options.join(","), "tmpfs", dir]);
  if (!mounted.ok) {
    throw new VolumeError(
      name,
      `cannot mount a tmpfs on emptyDir "${dir}" (medium Memory): ${mounted.stderr} (tinylet must run as root to mount)`,
    );
  }
}

// --- mounts ---

/**
 * The mount points of the agent's mount namespace. Deno refuses to read /proc/self without
 * full permissions, so `cat` reads it for us (the same namespace).
 */
async function mountPoints(): Promise<Set<string>> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("cat", {
      args: ["/proc/self/mountinfo"],
      stdout: "piped",
      stderr: "null",
    }).output();
  } catch (error) {
    throw new Error(`Cannot read the mount table with "cat": ${messageOf(error)}`, {
      cause: error,
    });
  }
  const points = new Set<string>();
  for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
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
async function isMountPoint(path: string): Promise<boolean> {
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
  return (await mountPoints()).has(real);
}

/** The volume name a mount point under a pod directory belongs to, for error messages. */
function volumeOfMountPoint(mountPoint: string): string {
  const marker = `/volumes/${EMPTY_DIR_PLUGIN}/`;
  const at = mountPoint.lastIndexOf(marker);
  if (at >= 0) return mountPoint.slice(at + marker.length).split("/")[0] ?? mountPoint;
  return mountPoint.slice(mountPoint.lastIndexOf("/") + 1);
}

async function run(
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

// --- subPath bind mounts ---

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
 * reported. Idempotent: an existing mount at `target` is checked again.
 */
export async function bindSubPath(
  volume: string,
  base: string,
  subPath: string,
  target: string,
): Promise<void> {
  const resolved = await resolveSubPath(volume, base, subPath, true);
  const realBase = await Deno.realPath(base);
  const info = await Deno.stat(resolved);
  if (!(await isMountPoint(target))) {
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true, mode: 0o750 });
    try {
      if (info.isDirectory) await Deno.mkdir(target, { mode: 0o750 });
      else await Deno.writeFile(target, new Uint8Array(), { mode: 0o640 });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    const bound = await run("mount", ["--bind", resolved, target]);
    if (!bound.ok) {
      throw new VolumeError(volume, `cannot bind-mount subPath "${subPath}": ${bound.stderr}`);
    }
  }
  const [mounted, now] = await Promise.all([Deno.stat(target), Deno.realPath(resolved)]);
  const again = await Deno.stat(now);
  if (!isWithin(now, realBase) || mounted.ino !== again.ino || mounted.dev !== again.dev) {
    await run("umount", [target]);
    throw new VolumeError(
      volume,
      `subPath "${subPath}" changed while it was mounted (a symlink out of the volume?): refusing it`,
    );
  }
}

// --- paths ---

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
