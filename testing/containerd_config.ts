/**
 * Where one private containerd keeps everything (inside its temp dir), the
 * snapshotter this host supports, and the config.toml that says so.
 *
 * @module
 */
import { CNI_BIN_DIR, type Tools } from "./host_prerequisites.ts";
import { errorMessage, run, runOk } from "./host_command.ts";
import { PAUSE_IMAGE } from "./busybox_images.ts";

/** Where each part of one instance lives inside its temp dir. */
export interface Layout {
  dir: string;
  root: string;
  state: string;
  tmp: string;
  socket: string;
  config: string;
  cniConf: string;
  cniIpam: string;
  images: string;
  log: string;
  runcRoot: string;
  opt: string;
  /** The CRI plugin's `registry.config_path`: one `HOST:PORT/hosts.toml` per trusted registry. */
  hostsDir: string;
}

/** The layout of an instance whose temp dir is `dir`. */
export function layoutOf(dir: string): Layout {
  return {
    dir,
    root: `${dir}/root`,
    state: `${dir}/state`,
    tmp: `${dir}/tmp`,
    socket: `${dir}/containerd.sock`,
    config: `${dir}/config.toml`,
    cniConf: `${dir}/cni/conf`,
    cniIpam: `${dir}/cni/ipam`,
    images: `${dir}/images`,
    log: `${dir}/containerd.log`,
    runcRoot: `${dir}/state/runc`,
    opt: `${dir}/opt`,
    hostsDir: `${dir}/certs.d`,
  };
}

/** Creates the directories of the layout. */
export async function makeDirs(l: Layout): Promise<void> {
  const dirs = [
    l.root,
    l.state,
    l.tmp,
    l.cniConf,
    l.cniIpam,
    l.images,
    l.opt,
    l.hostsDir,
  ];
  await Promise.all(dirs.map((d) => Deno.mkdir(d, { recursive: true })));
}

let overlayVerdict: Promise<boolean> | undefined;

/** `overlayfs` when this kernel and file system can mount it, else `native`. */
export async function chooseSnapshotter(
  scratch: string,
  tools: Tools,
): Promise<string> {
  overlayVerdict ??= overlayWorks(`${scratch}/overlay-probe`, tools);
  try {
    return await overlayVerdict ? "overlayfs" : "native";
  } catch (err) {
    overlayVerdict = undefined; // the probe broke, not overlayfs: ask again
    throw new Error(`Probe overlayfs support: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

async function overlayWorks(probe: string, tools: Tools): Promise<boolean> {
  const [lower, upper, work, merged] = ["lower", "upper", "work", "merged"]
    .map((d) => `${probe}/${d}`) as [string, string, string, string];
  await Promise.all(
    [lower, upper, work, merged].map((d) => Deno.mkdir(d, { recursive: true })),
  );
  const opts = `lowerdir=${lower},upperdir=${upper},workdir=${work}`;
  const mounted = await run(tools.mount, [
    "-t",
    "overlay",
    "overlay",
    "-o",
    opts,
    merged,
  ]);
  if (mounted.success) await runOk(tools.umount, [merged]);
  await Deno.remove(probe, { recursive: true });
  return mounted.success;
}

/** A version-2 config that keeps every path of this instance in its temp dir. */
export function containerdConfig(l: Layout, snapshotter: string): string {
  const q = (s: string) => JSON.stringify(s);
  const cri = `plugins."io.containerd.grpc.v1.cri"`;
  return `version = 2
root = ${q(l.root)}
state = ${q(l.state)}
temp = ${q(l.tmp)}
# Not needed here; some fail or slow start-up when they probe the host.
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = ${q(l.socket)}

[ttrpc]
  address = ${q(`${l.socket}.ttrpc`)}

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = ${q(l.opt)}

  [${cri}]
    sandbox_image = ${q(PAUSE_IMAGE)}
    # The hosts lack CAP_SYS_RESOURCE: without this every RunPodSandbox fails.
    restrict_oom_score_adj = true
    # Network namespaces under the state dir instead of /var/run/netns.
    netns_mounts_under_state_dir = true
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"

    # Registries are configured per host in this directory (HOST:PORT/hosts.toml).
    # With config_path set, containerd 1.6 refuses registry.mirrors and
    # registry.configs.*.tls: its CRI plugin would not load.
    [${cri}.registry]
      config_path = ${q(l.hostsDir)}

    [${cri}.cni]
      bin_dir = ${q(CNI_BIN_DIR)}
      conf_dir = ${q(l.cniConf)}
      max_conf_num = 1

    [${cri}.containerd]
      snapshotter = ${q(snapshotter)}
      default_runtime_name = "runc"

      [${cri}.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"

        [${cri}.containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = ${q(l.runcRoot)}
`;
}
