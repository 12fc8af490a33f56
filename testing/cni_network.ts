/**
 * The pod network of a private containerd: a bridge of its own and a free /24
 * inside 198.18.0.0/15, its CNI conflist, and removing the bridge and the
 * cached CNI results at teardown.
 *
 * @module
 */
import { which } from "./host_prerequisites.ts";
import { run } from "./host_command.ts";
import { entries, subdirs } from "./dir_entries.ts";

/** Where libcni caches attachments; containerd 1.6 does not let us move it. */
const CNI_RESULTS_DIR = "/var/lib/cni/results";

/** What makes one instance unique on the host. */
export interface Network {
  name: string;
  bridge: string;
  subnet: string;
}

/** A fresh bridge name and a /24 in 198.18.0.0/15 not in use on this host. */
export async function chooseNetwork(dir: string): Promise<Network> {
  const used = new Set([
    ...await subnetsOnInterfaces(),
    ...await subnetsOfSiblings(dirname(dir)),
  ]);
  const suffix = randomHex(4);
  for (let attempt = 0; attempt < 100; attempt++) {
    const n = crypto.getRandomValues(new Uint16Array(1))[0]! % 512;
    const subnet = `198.${18 + (n >> 8)}.${n & 255}.0/24`;
    if (!used.has(subnet)) {
      return { name: `tinylet-${suffix}`, bridge: `tl${suffix}`, subnet };
    }
  }
  throw new Error(
    "Choose a pod subnet: every /24 tried in 198.18.0.0/15 is in use (delete stale tl* bridges)",
  );
}

/** The /24s of 198.18.0.0/15 addresses already on an interface. */
async function subnetsOnInterfaces(): Promise<string[]> {
  const r = await run(which("ip") ?? "ip", ["-o", "-4", "addr", "show"]);
  const found = r.stdout.matchAll(/inet (198\.1[89]\.\d+)\.\d+\//g);
  return [...found].map((m) => `${m[1]}.0/24`);
}

/** The subnets other harnesses on this host (in sibling temp dirs) use. */
async function subnetsOfSiblings(parent: string): Promise<string[]> {
  const subnets: string[] = [];
  for await (const entry of Deno.readDir(parent)) {
    if (!entry.name.startsWith("tinylet-ctd-")) continue;
    const conf = `${parent}/${entry.name}/cni/conf`;
    try {
      for await (const file of Deno.readDir(conf)) {
        const text = await Deno.readTextFile(`${conf}/${file.name}`);
        for (const m of text.matchAll(/"subnet":\s*"([^"]+)"/g)) {
          subnets.push(m[1]!);
        }
      }
    } catch {
      // Not set up yet, or being removed: nothing to avoid.
    }
  }
  return subnets;
}

/** The CNI conflist of `network`: a bridge with host-local IPAM keeping its data in `dataDir`, and loopback. */
export function cniConflist(network: Network, dataDir: string): string {
  const conflist = {
    cniVersion: "1.0.0",
    name: network.name,
    plugins: [
      {
        type: "bridge",
        bridge: network.bridge,
        isGateway: true,
        ipMasq: false,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: network.subnet }]],
          routes: [{ dst: "0.0.0.0/0" }],
          dataDir,
        },
      },
      { type: "loopback" },
    ],
  };
  return JSON.stringify(conflist, null, 2);
}

/** Deletes the bridge `network` made; a bridge already gone is fine. */
export async function deleteBridge(ip: string, network: Network): Promise<void> {
  const r = await run(ip, ["link", "delete", network.bridge]);
  if (!r.success && !/Cannot find device/i.test(r.stderr)) {
    throw new Error(
      `ip link delete ${network.bridge}: ${r.stderr.trim()} (delete it by hand)`,
    );
  }
}

/**
 * CNI DEL removes a pod's cached results; a pod whose removal failed
 * leaves `<network>-<sandbox>-eth0` and `cni-loopback-<sandbox>-lo`. Removes
 * those of `network` and of the sandboxes under `criDirs` (containerd's CRI
 * root and state dirs).
 */
export async function removeCniResults(
  network: Network,
  criDirs: string[],
  log: (line: string) => void,
): Promise<void> {
  const sandboxDirs: string[] = [];
  for (const d of criDirs) sandboxDirs.push(...await subdirs(`${d}/sandboxes`));
  const loopbacks = new Set(
    sandboxDirs.map((d) => `cni-loopback-${basename(d)}-lo`),
  );
  for (const name of await entries(CNI_RESULTS_DIR)) {
    if (!name.startsWith(`${network.name}-`) && !loopbacks.has(name)) continue;
    log(`teardown: removing cached CNI result ${name}`);
    await Deno.remove(`${CNI_RESULTS_DIR}/${name}`);
  }
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}
