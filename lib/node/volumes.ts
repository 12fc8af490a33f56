/**
 * Pod volumes on the host: `hostPath`, `emptyDir` and config (`configMap`, `secret`,
 * `projected`) sources, checked and made ready before a pod's containers start; config
 * volumes written with the atomic writer (`atomic_writer.ts`).
 *
 * Mirrors kubelet: the hostPath type checks of `pkg/volume/hostpath/host_path.go`
 * (`checkTypeInternal`) and the emptyDir layout and modes of
 * `pkg/volume/emptydir/empty_dir.go`. Their release is in `volume_release.ts`, subPaths in
 * `sub_path.ts`.
 *
 * @module
 */

import { HOST_PATH_TYPES } from "../manifest/types.ts";
import { dirname } from "node:path";
import { isMountPoint, runCommand } from "./mount_table.ts";
import { dns1123LabelError } from "../manifest/pod.ts";
import type { Payload } from "./atomic_writer.ts";
import { VolumeError } from "./volume_error.ts";
import { writeConfigVolume } from "./config_volume_write.ts";

export { VolumeError };
export {
  forgetConfigVolume,
  writeConfigVolume,
  writtenConfigVolume,
} from "./config_volume_write.ts";

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

/**
 * A `configMap`, `secret` or `projected` volume: kubelet's plugin directory, whether it is a
 * tmpfs, and its content (absent while a ConfigMap or Secret it needs is missing).
 */
export interface ConfigVolume {
  /** `kubernetes.io~configmap`, `kubernetes.io~secret` or `kubernetes.io~projected`. */
  plugin: string;
  memory: boolean;
  payload?: Payload;
}

/** One entry of `spec.volumes`; exactly one source is set. */
export interface VolumeSource {
  name: string;
  hostPath?: HostPathVolume;
  emptyDir?: EmptyDirVolume;
  config?: ConfigVolume;
}

type HostPathType = (typeof HOST_PATH_TYPES)[number];

/** The directory of kubelet's emptyDir plugin under a pod's `volumes/`. */
export const EMPTY_DIR_PLUGIN = "kubernetes.io~empty-dir";

/** Where emptyDir `name` of the pod whose state dir is `podDir` lives: `${podDir}/volumes/kubernetes.io~empty-dir/${name}` (kubelet's layout). */
export function emptyDirPath(podDir: string, name: string): string {
  return `${podDir}/volumes/${EMPTY_DIR_PLUGIN}/${name}`;
}

/** Where a config volume lives: `${podDir}/volumes/${plugin}/${name}` (kubelet's layout). */
export function configVolumePath(podDir: string, name: string, plugin: string): string {
  return `${podDir}/volumes/${plugin}/${name}`;
}

/** The host directory of volume `volume` of the pod whose state dir is `podDir`. */
export function volumePath(volume: VolumeSource, podDir: string): string {
  if (volume.hostPath) return volume.hostPath.path;
  if (volume.config) return configVolumePath(podDir, volume.name, volume.config.plugin);
  return emptyDirPath(podDir, volume.name);
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
    paths.set(volume.name, volumePath(volume, podDir));
  }
  return paths;
}

/**
 * Makes every volume ready before containers start: hostPath type checks and creation exactly
 * as Kubernetes documents them, emptyDir directories (mode 0777, as kubelet makes them, so
 * non-root containers can write), and `medium: Memory` as a tmpfs mounted there (size =
 * `sizeLimitBytes` when given). Config volumes get their directory (a tmpfs for secret and
 * projected ones) and their content, when they have it.
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
      const dir = emptyDirPath(podDir, volume.name);
      await prepareEmptyDir(volume.name, volume.emptyDir, podDir, dir);
    } else if (volume.config) {
      const dir = volumePath(volume, podDir);
      const medium = volume.config.memory ? "Memory" : "";
      await prepareEmptyDir(volume.name, { medium }, podDir, dir);
      const { payload, memory } = volume.config;
      if (payload) await writeConfigVolume(volume.name, dir, payload, memory);
    }
  }
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
  const kinds = [
    volume.hostPath && "hostPath",
    volume.emptyDir && "emptyDir",
    volume.config && volume.config.plugin.replace("kubernetes.io~", ""),
  ].filter((k) => typeof k === "string");
  if (kinds.length > 1) {
    throw new VolumeError(name, `has both ${kinds.join(" and ")}: keep one of them`);
  }
  if (volume.config) return;
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
    "has no supported source: tinylet provides hostPath, emptyDir, configMap, secret and projected volumes",
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

/**
 * Makes the directory `dir` of a volume as kubelet's emptyDir does (config volumes are
 * emptyDirs underneath in kubelet too): mode 0777, a tmpfs for `medium: Memory`.
 */
async function prepareEmptyDir(
  name: string,
  source: EmptyDirVolume,
  podDir: string,
  dir: string,
): Promise<void> {
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
  const mounted = await runCommand("mount", ["-t", "tmpfs", "-o", options.join(","), "tmpfs", dir]);
  if (!mounted.ok) {
    throw new VolumeError(
      name,
      `cannot mount a tmpfs on ${
        source.medium === "Memory" && dir === emptyDirPath(podDir, name)
          ? `emptyDir "${dir}" (medium Memory)`
          : `"${dir}" (secret and projected volumes are a tmpfs, so their files never land on disk)`
      }: ${mounted.stderr} (tinylet must run as root to mount)`,
    );
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
