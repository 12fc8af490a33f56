/**
 * What a private containerd needs from this host (root, containerd, runc,
 * tar, iproute2, mount, the CNI plugins, a static busybox), what a private
 * registry needs (docker-registry, skopeo, htpasswd, openssl), where each
 * host program lives, and the fix for each missing piece.
 *
 * @module
 */
import { errorMessage } from "./host_command.ts";

/** Where Debian's containernetworking-plugins installs the CNI plugins. */
export const CNI_BIN_DIR = "/usr/lib/cni";

/** The CNI plugins the pod network uses. */
export const CNI_PLUGINS = ["bridge", "host-local", "loopback"];

/** The static busybox the images are built from. */
export const BUSYBOX = "/bin/busybox";

/** Host programs the harness runs, and the Debian package of each. */
const TOOLS = {
  containerd: "containerd",
  ctr: "containerd",
  runc: "runc",
  tar: "tar",
  ip: "iproute2",
  mount: "mount",
  umount: "mount",
} as const;

/** The path of each host program. */
export type Tools = Record<keyof typeof TOOLS, string>;

/** Host programs a private registry runs, and the Debian package of each. */
const REGISTRY_TOOLS = {
  "docker-registry": "docker-registry",
  skopeo: "skopeo",
  htpasswd: "apache2-utils",
  openssl: "openssl",
} as const;

/** The path of each host program a private registry runs. */
export type RegistryTools = Record<keyof typeof REGISTRY_TOOLS, string>;

/**
 * What this machine lacks to run a private containerd: `[]` when ready,
 * otherwise one line per problem naming the fix.
 */
export function missingPrerequisites(): Promise<string[]> {
  return Promise.resolve(findMissing());
}

/** What this machine lacks to run a private containerd, found at once: `[]` when ready. */
export function findMissing(): string[] {
  const missing: string[] = [];
  if (Deno.uid() !== 0) {
    missing.push(
      "not root (containerd and runc need it: run the tests as root)",
    );
  }
  missing.push(...missingTools(TOOLS));
  for (const plugin of CNI_PLUGINS) {
    if (!isFile(`${CNI_BIN_DIR}/${plugin}`)) {
      missing.push(
        `CNI plugin ${CNI_BIN_DIR}/${plugin} not installed (apt-get install -y containernetworking-plugins)`,
      );
    }
  }
  const busybox = busyboxProblem();
  if (busybox) missing.push(busybox);
  return missing;
}

/**
 * What this machine lacks to run a private registry (see
 * `testing/registry_harness.ts`): `[]` when ready, otherwise one line per
 * missing program naming the package that installs it.
 */
export function findRegistryMissing(): string[] {
  return missingTools(REGISTRY_TOOLS);
}

function missingTools(table: Readonly<Record<string, string>>): string[] {
  return Object.entries(table).flatMap(([tool, pkg]) =>
    which(tool) ? [] : [`${tool} not installed (apt-get install -y ${pkg})`]
  );
}

function busyboxProblem(): string | undefined {
  const fix = "(apt-get install -y busybox-static)";
  if (!isFile(BUSYBOX)) return `${BUSYBOX} not installed ${fix}`;
  try {
    if (hasInterpreter(Deno.readFileSync(BUSYBOX))) {
      return `${BUSYBOX} is dynamically linked, images need a static one ${fix}`;
    }
  } catch (err) {
    return `Cannot read ${BUSYBOX}: ${errorMessage(err)} ${fix}`;
  }
  return undefined;
}

/** True when the ELF file asks for a dynamic loader (has a PT_INTERP header). */
function hasInterpreter(elf: Uint8Array): boolean {
  const view = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const isElf = elf[0] === 0x7f && elf[1] === 0x45 && elf[2] === 0x4c &&
    elf[3] === 0x46;
  if (!isElf || elf[5] !== 1) return true; // not a little-endian ELF: not usable
  const is64 = elf[4] === 2;
  const phoff = is64 ? Number(view.getBigUint64(0x20, true)) : view.getUint32(0x1c, true);
  const phentsize = view.getUint16(is64 ? 0x36 : 0x2a, true);
  const phnum = view.getUint16(is64 ? 0x38 : 0x2c, true);
  const PT_INTERP = 3;
  for (let i = 0; i < phnum; i++) {
    if (view.getUint32(phoff + i * phentsize, true) === PT_INTERP) return true;
  }
  return false;
}

/** The path of the program `name` on `PATH` or in the sbin and bin dirs; `undefined` when absent. */
export function which(name: string): string | undefined {
  const path = Deno.env.get("PATH") ?? "";
  const dirs = [...path.split(":"), "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
  for (const dir of dirs) {
    if (dir && isFile(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** The path of each host program (its bare name when not found). */
export function resolveTools(): Tools {
  return resolve(TOOLS);
}

/** The path of each host program a private registry runs (its bare name when not found). */
export function resolveRegistryTools(): RegistryTools {
  return resolve(REGISTRY_TOOLS);
}

function resolve<T extends string>(table: Readonly<Record<T, string>>): Record<T, string> {
  const entries = Object.keys(table).map((tool) => [tool, which(tool) ?? tool]);
  return Object.fromEntries(entries) as Record<T, string>;
}
