/**
 * A private, throw-away containerd for tests against the real runtime.
 *
 * Each instance lives in its own temp dir (root, state, socket, config, CNI
 * config and IPAM data, images, log), serves the CRI with locally built
 * busybox images, and puts pods on their own bridge and /24 inside the
 * 198.18.0.0/15 benchmarking range. `stop()` undoes everything, in this
 * order: remove every pod sandbox through the CRI, stop containerd (then
 * force-delete containers and shims it left, if that failed), unmount what is
 * left under the temp dir, delete the bridge (and cached CNI results), remove
 * the temp dir. `kill()` and `restart()` play a containerd crash and its
 * return (pods and shims live on meanwhile); `stop()` works after either.
 *
 * @module
 */
import { connectCri } from "../lib/runtime/grpc.ts";
import type { RuntimeStatus } from "../lib/runtime/cri.ts";
import { isNotFound } from "../lib/runtime/errors.ts";
import { waitFor } from "./wait.ts";

/** A running private containerd. Disposing it stops it. */
export interface RealContainerd extends AsyncDisposable {
  /** Absolute path of the gRPC (and CRI) unix socket. */
  socket: string;
  /** The private temp dir holding everything of this instance. */
  dir: string;
  /** The containerd version from `containerd --version`, e.g. `1.6.20~ds1`. */
  version: string;
  /** Name of the local busybox image (`sh` by default). */
  busyboxImage: string;
  /** Name of the local sandbox ("pause") image, which sleeps forever. */
  pauseImage: string;
  /** The pod CIDR of this instance, a /24 inside 198.18.0.0/15. */
  subnet: string;
  /** How long `startContainerd` took, in milliseconds. */
  startMs: number;
  /**
   * SIGKILLs containerd and waits until it is gone, as a crash would: its
   * state dirs, mounts, shims and running containers stay.
   */
  kill(): Promise<void>;
  /**
   * Starts containerd again with the same config, root, state and socket
   * (after {@linkcode kill}, or after it died); resolves when the CRI reports
   * RuntimeReady and NetworkReady, as the first start does.
   */
  restart(): Promise<void>;
  /** Tears everything down in a safe order; idempotent. Rejects, after all steps ran, naming each step that failed. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startContainerd}. */
export interface StartOptions {
  /** Receives progress lines (timings, leftovers found at teardown). */
  log?: (line: string) => void;
}

const BUSYBOX_IMAGE = "docker.io/library/busybox:1.35";
const PAUSE_IMAGE = "tinylet.local/pause:1";
const CNI_BIN_DIR = "/usr/lib/cni";
const CNI_PLUGINS = ["bridge", "host-local", "loopback"];
/** Where libcni caches attachments; containerd 1.6 does not let us move it. */
const CNI_RESULTS_DIR = "/var/lib/cni/results";
const BUSYBOX = "/bin/busybox";
const CRI_NAMESPACE = "k8s.io";
const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const SOCKET_TIMEOUT_MS = 20_000;
const CRI_READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;
const CRI_CALL_TIMEOUT_MS = 120_000;

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
type Tool = keyof typeof TOOLS;
type Tools = Record<Tool, string>;

// ---------------------------------------------------------------------------
// Prerequisites

/**
 * What this machine lacks to run a private containerd: `[]` when ready,
 * otherwise one line per problem naming the fix.
 */
export function missingPrerequisites(): Promise<string[]> {
  return Promise.resolve(findMissing());
}

function findMissing(): string[] {
  const missing: string[] = [];
  if (Deno.uid() !== 0) {
    missing.push(
      "not root (containerd and runc need it: run the tests as root)",
    );
  }
  for (const [tool, pkg] of Object.entries(TOOLS)) {
    if (!which(tool)) {
      missing.push(`${tool} not installed (apt-get install -y ${pkg})`);
    }
  }
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

function which(name: string): string | undefined {
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

function resolveTools(): Tools {
  const entries = Object.keys(TOOLS).map((tool) => [tool, which(tool) ?? tool]);
  return Object.fromEntries(entries) as Tools;
}

// ---------------------------------------------------------------------------
// Test registration

/**
 * Registers one `Deno.test` named `name` that starts a private containerd,
 * runs `fn`, and always stops it.
 *
 * When prerequisites are missing it prints what is missing and registers the
 * test as ignored; but when `CI` is `"true"` the test runs and fails with
 * that message instead (nothing skips in CI).
 */
export function realRuntimeTest(
  name: string,
  fn: (t: Deno.TestContext, rc: RealContainerd) => Promise<void>,
): void {
  const missing = findMissing();
  if (missing.length === 0) {
    Deno.test(name, (t) => withContainerd(t, fn));
    return;
  }
  const message = `Cannot run "${name}" against the real containerd: ${missing.join("; ")}`;
  if (Deno.env.get("CI") === "true") {
    Deno.test(name, () => {
      throw new Error(message);
    });
    return;
  }
  console.log(`ignored: ${message}`);
  Deno.test({ name, ignore: true, fn: () => {} });
}

async function withContainerd(
  t: Deno.TestContext,
  fn: (t: Deno.TestContext, rc: RealContainerd) => Promise<void>,
): Promise<void> {
  const lines: string[] = [];
  const rc = await startContainerd({ log: (line) => lines.push(line) });
  let failure: { error: unknown } | undefined;
  try {
    await fn(t, rc);
  } catch (error) {
    failure = { error };
  }
  try {
    await rc.stop();
  } catch (stopError) {
    console.error(lines.join("\n"));
    if (!failure) throw stopError;
    throw new AggregateError(
      [failure.error, stopError],
      `Test failed, and so did the teardown: ${errorMessage(failure.error)}`,
    );
  }
  if (failure) throw failure.error;
}

// ---------------------------------------------------------------------------
// Start

/** Where each part of one instance lives inside its temp dir. */
interface Layout {
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
}

function layoutOf(dir: string): Layout {
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
  };
}

/** What makes one instance unique on the host. */
interface Network {
  name: string;
  bridge: string;
  subnet: string;
}

/**
 * Starts a private containerd in a new temp dir, with the busybox and pause
 * images imported and the CRI ready. Stop it with `stop()` (or `await using`).
 * Rejects with the tail of containerd's log when it does not come up.
 */
export async function startContainerd(
  options: StartOptions = {},
): Promise<RealContainerd> {
  const started = performance.now();
  const missing = findMissing();
  if (missing.length > 0) {
    throw new Error(`Cannot start containerd: ${missing.join("; ")}`);
  }
  const dir = await Deno.makeTempDir({ prefix: "tinylet-ctd-" });
  const instance = new PrivateContainerd(
    layoutOf(dir),
    resolveTools(),
    options.log ?? (() => {}),
  );
  try {
    await instance.boot(started);
  } catch (err) {
    throw await instance.failStart(err);
  }
  return instance;
}

class PrivateContainerd implements RealContainerd {
  readonly socket: string;
  readonly dir: string;
  readonly busyboxImage = BUSYBOX_IMAGE;
  readonly pauseImage = PAUSE_IMAGE;
  version = "";
  subnet = "";
  startMs = 0;

  readonly #layout: Layout;
  readonly #tools: Tools;
  readonly #log: (line: string) => void;
  #network: Network | undefined;
  #child: Deno.ChildProcess | undefined;
  /** True from spawning containerd until the process is known to have exited. */
  #running = false;
  #criReady = false;
  #stopping: Promise<void> | undefined;

  constructor(layout: Layout, tools: Tools, log: (line: string) => void) {
    this.#layout = layout;
    this.#tools = tools;
    this.#log = log;
    this.socket = layout.socket;
    this.dir = layout.dir;
  }

  /** Writes the config, starts containerd, imports the images, waits for the CRI. */
  async boot(started: number): Promise<void> {
    const l = this.#layout;
    await makeDirs(l);
    const [snapshotter, network] = await Promise.all([
      chooseSnapshotter(l.tmp, this.#tools),
      chooseNetwork(l.dir),
    ]);
    this.subnet = network.subnet;
    this.#network = network;
    await Promise.all([
      Deno.writeTextFile(l.config, containerdConfig(l, snapshotter)),
      Deno.writeTextFile(
        `${l.cniConf}/10-${network.name}.conflist`,
        cniConflist(network, l.cniIpam),
      ),
    ]);
    const child = this.#spawn();
    const [, archive, version] = await allSettledOrThrow([
      waitForSocket(l.socket, child),
      imageArchive(l.images, this.#tools),
      containerdVersion(this.#tools),
    ]);
    this.version = version;
    await allSettledOrThrow([
      importImages(this.#tools, l.socket, archive, snapshotter),
      waitForCri(l.socket),
    ]);
    this.#criReady = true;
    this.startMs = Math.round(performance.now() - started);
    this.#log(
      `containerd ${version} (${snapshotter}) ready on ${l.socket} in ${this.startMs} ms`,
    );
  }

  /** Cleans up after a failed boot; returns the error to throw. */
  async failStart(err: unknown): Promise<Error> {
    const tail = await logTail(this.#layout.log);
    let cleanup = "";
    try {
      await this.stop();
    } catch (stopError) {
      cleanup = `\nThe cleanup failed too: ${errorMessage(stopError)}`;
    }
    return new Error(
      `Start a private containerd in "${this.dir}": ${
        errorMessage(err)
      }${cleanup}\n--- end of containerd.log ---\n${tail}`,
      { cause: err },
    );
  }

  async kill(): Promise<void> {
    if (this.#stopping) throw new Error("Kill containerd: it was stopped");
    const child = this.#child;
    if (!child) throw new Error("Kill containerd: it was never started");
    this.#criReady = false;
    signal(child, "SIGKILL");
    await child.status;
    this.#running = false;
    this.#log("containerd killed with SIGKILL; its shims and containers stay");
  }

  async restart(): Promise<void> {
    if (this.#stopping) throw new Error("Restart containerd: it was stopped");
    if (this.#running) {
      throw new Error("Restart containerd: it is still running (kill it first)");
    }
    const started = performance.now();
    const l = this.#layout;
    const child = this.#spawn();
    try {
      // The dead process's socket file stays until the new one replaces it:
      // connecting to it is refused, so waiting for the socket still works.
      await waitForSocket(l.socket, child);
      await waitForCri(l.socket);
    } catch (err) {
      throw new Error(
        `Restart the private containerd in "${l.dir}": ${
          errorMessage(err)
        }\n--- end of containerd.log ---\n${await logTail(l.log)}`,
        { cause: err },
      );
    }
    this.#criReady = true;
    this.#log(
      `containerd restarted and ready in ${Math.round(performance.now() - started)} ms`,
    );
  }

  /** Starts the containerd process (the CRI is not ready yet when this returns). */
  #spawn(): Deno.ChildProcess {
    const child = spawnContainerd(this.#tools, this.#layout);
    this.#child = child;
    this.#running = true;
    child.status.then(() => {
      if (this.#child === child) this.#running = false;
    });
    return child;
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#teardown();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #teardown(): Promise<void> {
    const l = this.#layout;
    const failures: string[] = [];
    const step = async (what: string, action: () => Promise<void>) => {
      try {
        await action();
      } catch (err) {
        failures.push(`${what}: ${errorMessage(err)}`);
        this.#log(`teardown: ${what} failed: ${errorMessage(err)}`);
      }
    };
    if (this.#criReady) {
      await step(
        "remove pod sandboxes through the CRI",
        () => removeAllSandboxes(l.socket),
      );
    } else if (this.#child && !this.#running) {
      // Killed and not restarted: no CRI to ask; the next steps delete what runc and the shims hold.
      this.#log("teardown: containerd is not running: removing its containers without the CRI");
    }
    await step("stop containerd", () => this.#stopProcess());
    await step(
      "kill containers containerd left",
      () => killLeftovers(this.#tools, l, this.#log),
    );
    await step(
      "unmount under the temp dir",
      () => unmountUnder(this.#tools, l.dir),
    );
    await step("delete the CNI bridge", () => this.#deleteBridge());
    await step("remove cached CNI results", () => this.#removeCniResults());
    await step("remove the temp dir", () => removeDir(l.dir));
    if (failures.length > 0) {
      throw new Error(
        `Tear down the private containerd in "${l.dir}": ${failures.join("; ")}`,
      );
    }
  }

  async #stopProcess(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    signal(child, "SIGTERM");
    if (await exitsWithin(child, STOP_GRACE_MS)) return;
    this.#log(`containerd ignored SIGTERM for ${STOP_GRACE_MS} ms: SIGKILL`);
    signal(child, "SIGKILL");
    await child.status;
  }

  async #deleteBridge(): Promise<void> {
    const bridge = this.#network?.bridge;
    if (!bridge) return;
    const r = await run(this.#tools.ip, ["link", "delete", bridge]);
    if (!r.success && !/Cannot find device/i.test(r.stderr)) {
      throw new Error(
        `ip link delete ${bridge}: ${r.stderr.trim()} (delete it by hand)`,
      );
    }
  }

  /**
   * CNI DEL removes a pod's cached results; a pod whose removal failed
   * leaves `<network>-<sandbox>-eth0` and `cni-loopback-<sandbox>-lo`.
   */
  async #removeCniResults(): Promise<void> {
    const network = this.#network?.name;
    if (!network) return;
    const l = this.#layout;
    const sandboxDirs = [
      ...await subdirs(`${l.root}/io.containerd.grpc.v1.cri/sandboxes`),
      ...await subdirs(`${l.state}/io.containerd.grpc.v1.cri/sandboxes`),
    ];
    const loopbacks = new Set(
      sandboxDirs.map((d) => `cni-loopback-${basename(d)}-lo`),
    );
    for (const name of await entries(CNI_RESULTS_DIR)) {
      if (!name.startsWith(`${network}-`) && !loopbacks.has(name)) continue;
      this.#log(`teardown: removing cached CNI result ${name}`);
      await Deno.remove(`${CNI_RESULTS_DIR}/${name}`);
    }
  }
}

async function makeDirs(l: Layout): Promise<void> {
  const dirs = [l.root, l.state, l.tmp, l.cniConf, l.cniIpam, l.images, l.opt];
  await Promise.all(dirs.map((d) => Deno.mkdir(d, { recursive: true })));
}

async function containerdVersion(tools: Tools): Promise<string> {
  const out = await runOk(tools.containerd, ["--version"]);
  // "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3"
  return out.trim().split(/\s+/)[2] ?? out.trim();
}

let overlayVerdict: Promise<boolean> | undefined;

/** `overlayfs` when this kernel and file system can mount it, else `native`. */
async function chooseSnapshotter(
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

// ---------------------------------------------------------------------------
// Network

/** A fresh bridge name and a /24 in 198.18.0.0/15 not in use on this host. */
async function chooseNetwork(dir: string): Promise<Network> {
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

function cniConflist(network: Network, dataDir: string): string {
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

// ---------------------------------------------------------------------------
// containerd

/** A version-2 config that keeps every path of this instance in its temp dir. */
function containerdConfig(l: Layout, snapshotter: string): string {
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

/** Runs containerd in the background, its output appended to the log file. */
function spawnContainerd(tools: Tools, l: Layout): Deno.ChildProcess {
  // `exec` keeps the PID the one of containerd itself.
  const script = 'exec "$0" --config "$1" >>"$2" 2>&1';
  return new Deno.Command("/bin/sh", {
    args: ["-c", script, tools.containerd, l.config, l.log],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function waitForSocket(
  socket: string,
  child: Deno.ChildProcess,
): Promise<void> {
  let exit: Deno.CommandStatus | undefined;
  child.status.then((s) => exit = s);
  const outcome = await waitFor(
    `containerd to accept connections on "${socket}"`,
    async () => {
      if (exit) return exit;
      const conn = await Deno.connect({ transport: "unix", path: socket });
      conn.close();
      return "ready";
    },
    { timeoutMs: SOCKET_TIMEOUT_MS, everyMs: 20 },
  );
  if (outcome !== "ready") {
    throw new Error(
      `containerd exited with code ${outcome.code} before serving its socket`,
    );
  }
}

/** Waits until the CRI answers and reports both the runtime and the network ready. */
async function waitForCri(socket: string): Promise<void> {
  const cri = connectCri(socket, { timeoutMs: 2_000 });
  let last = "no answer";
  try {
    const outcome = await waitFor(
      "the CRI to report RuntimeReady and NetworkReady",
      async () => {
        try {
          last = notReady(await cri.status());
        } catch (err) {
          last = errorMessage(err);
          // The CRI plugin failed to load: waiting will not help.
          if (/unknown service runtime\.v1/.test(last)) return "absent";
          throw err;
        }
        return last === "" && "ready";
      },
      { timeoutMs: CRI_READY_TIMEOUT_MS, everyMs: 20 },
    );
    if (outcome === "absent") {
      throw new Error(
        "containerd does not serve the CRI (its log says why the cri plugin failed to load)",
      );
    }
  } catch (err) {
    throw new Error(`${errorMessage(err)} (last status: ${last})`, {
      cause: err,
    });
  } finally {
    cri.close();
  }
}

function notReady(status: RuntimeStatus): string {
  const wanted = ["RuntimeReady", "NetworkReady"];
  return wanted.flatMap((type) => {
    const c = status.conditions.find((c) => c.type === type);
    if (c?.status) return [];
    return [`${type} false${c ? `: ${c.reason} ${c.message}` : ""}`];
  }).join("; ");
}

async function importImages(
  tools: Tools,
  socket: string,
  archive: string,
  snapshotter: string,
): Promise<void> {
  await runOk(tools.ctr, [
    "--address",
    socket,
    "-n",
    CRI_NAMESPACE,
    "images",
    "import",
    "--snapshotter",
    snapshotter,
    archive,
  ]);
}

// ---------------------------------------------------------------------------
// Images

let archiveBytes: Promise<Uint8Array<ArrayBuffer>> | undefined;

/** Writes the image archive into `dir`; built once per process, then copied. */
async function imageArchive(dir: string, tools: Tools): Promise<string> {
  const tarball = `${dir}/images.tar`;
  archiveBytes ??= buildImageArchive(dir, tools).then((p) => Deno.readFile(p));
  try {
    await Deno.writeFile(tarball, await archiveBytes);
  } catch (err) {
    archiveBytes = undefined; // let the next start try again
    throw err;
  }
  return tarball;
}

/**
 * Builds a docker-archive tar holding the busybox and pause images (one
 * shared layer: static busybox, its applets, passwd/group, /tmp).
 */
async function buildImageArchive(dir: string, tools: Tools): Promise<string> {
  const rootfs = `${dir}/rootfs`;
  const archive = `${dir}/archive`;
  await Promise.all([makeRootfs(rootfs), Deno.mkdir(archive)]);
  await runOk(tools.tar, [
    "--numeric-owner",
    "--owner=0",
    "--group=0",
    "--sort=name",
    "--mtime=@0",
    "-C",
    rootfs,
    "-cf",
    `${archive}/layer.tar`,
    ".",
  ]);
  const diffId = `sha256:${await sha256(
    await Deno.readFile(`${archive}/layer.tar`),
  )}`;
  const images = [
    { tag: BUSYBOX_IMAGE, cmd: ["sh"] },
    { tag: PAUSE_IMAGE, cmd: ["/bin/sleep", "2147483647"] },
  ];
  const manifest = [];
  for (const { tag, cmd } of images) {
    const config = new TextEncoder().encode(imageConfig(diffId, cmd));
    const name = `${await sha256(config)}.json`;
    await Deno.writeFile(`${archive}/${name}`, config);
    manifest.push({ Config: name, RepoTags: [tag], Layers: ["layer.tar"] });
  }
  await Deno.writeTextFile(
    `${archive}/manifest.json`,
    JSON.stringify(manifest),
  );
  const tarball = `${dir}/images.tar`;
  const members = [
    "manifest.json",
    "layer.tar",
    ...manifest.map((m) => m.Config),
  ];
  await runOk(tools.tar, ["-C", archive, "-cf", tarball, ...members]);
  return tarball;
}

async function makeRootfs(rootfs: string): Promise<void> {
  for (const d of ["bin", "etc", "root", "proc", "sys", "dev", "tmp"]) {
    await Deno.mkdir(`${rootfs}/${d}`, { recursive: true });
  }
  await Deno.chmod(`${rootfs}/tmp`, 0o1777);
  await Deno.copyFile(BUSYBOX, `${rootfs}/bin/busybox`);
  await Deno.chmod(`${rootfs}/bin/busybox`, 0o755);
  const applets = (await busyboxApplets()).filter((a) => a !== "busybox");
  await Promise.all(
    applets.map((a) => Deno.symlink("busybox", `${rootfs}/bin/${a}`)),
  );
  await Deno.writeTextFile(
    `${rootfs}/etc/passwd`,
    "root:x:0:0:root:/root:/bin/sh\n" +
      "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
  );
  await Deno.writeTextFile(
    `${rootfs}/etc/group`,
    "root:x:0:\nnobody:x:65534:\n",
  );
}

let appletList: Promise<string[]> | undefined;

/** The applets the static busybox provides (`sh`, `sleep`, `httpd`, ...). */
function busyboxApplets(): Promise<string[]> {
  appletList ??= runOk(BUSYBOX, ["--list"]).then((out) =>
    out.split("\n").map((s) => s.trim()).filter((s) => /^[\w.[\]-]+$/.test(s))
  );
  return appletList;
}

function imageConfig(diffId: string, cmd: string[]): string {
  return JSON.stringify({
    architecture: goArch(),
    os: "linux",
    created: "1970-01-01T00:00:00Z",
    config: { Cmd: cmd, Env: [PATH_ENV], WorkingDir: "/" },
    rootfs: { type: "layers", diff_ids: [diffId] },
  });
}

function goArch(): string {
  switch (Deno.build.arch) {
    case "x86_64":
      return "amd64";
    case "aarch64":
      return "arm64";
    default:
      return Deno.build.arch;
  }
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

// ---------------------------------------------------------------------------
// Teardown

/**
 * How long teardown keeps trying to remove sandboxes: a container the runtime is still starting
 * (its agent stopped while the start was in flight) cannot be removed until the start ends.
 */
const REMOVE_SANDBOXES_MS = 60_000;

async function removeAllSandboxes(socket: string): Promise<void> {
  const cri = connectCri(socket, { timeoutMs: CRI_CALL_TIMEOUT_MS });
  try {
    const deadline = Date.now() + REMOVE_SANDBOXES_MS;
    for (;;) {
      const sandboxes = await cri.listPodSandbox();
      // Four at a time: on two cores, dozens at once make containerd miss its deadlines.
      const queue = [...sandboxes];
      const errors: string[] = [];
      await Promise.all(Array.from({ length: 4 }, async () => {
        for (let s = queue.shift(); s; s = queue.shift()) {
          try {
            await ignoreNotFound(cri.stopPodSandbox(s.id));
            await ignoreNotFound(cri.removePodSandbox(s.id));
          } catch (err) {
            errors.push(errorMessage(err));
          }
        }
      }));
      if (errors.length === 0) return;
      if (Date.now() >= deadline) {
        throw new Error(
          `${errors.length} of ${sandboxes.length} sandboxes not removed: ${errors.join("; ")}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    cri.close();
  }
}

async function ignoreNotFound(call: Promise<void>): Promise<void> {
  try {
    await call;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

function signal(child: Deno.ChildProcess, sig: Deno.Signal): void {
  try {
    child.kill(sig);
  } catch {
    // Already exited.
  }
}

/** True when the child exits within `ms`; the timer never outlives the call. */
async function exitsWithin(
  child: Deno.ChildProcess,
  ms: number,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([child.status.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * After containerd is gone: force-deletes containers runc still knows in this
 * instance's runc root, and kills shims still serving this instance. Both
 * exist only when removing the sandboxes through the CRI failed.
 */
async function killLeftovers(
  tools: Tools,
  l: Layout,
  log: (line: string) => void,
): Promise<void> {
  for (const root of await subdirs(l.runcRoot)) {
    const out = await runOk(tools.runc, ["--root", root, "list", "-q"]);
    for (const id of out.split("\n").filter((s) => s.trim() !== "")) {
      log(`teardown: runc container ${id} was left behind: deleting it`);
      await runOk(tools.runc, ["--root", root, "delete", "--force", id]);
    }
  }
  for (const pid of await processesWithArg(l.socket)) {
    log(`teardown: containerd shim ${pid} was left behind: killing it`);
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Exited meanwhile.
    }
  }
  await removeShimSockets(l.state, log);
}

/**
 * Shims listen under the host's /run/containerd/s (a path containerd 1.6
 * does not let us move); a killed shim leaves its socket there. Each task
 * bundle in our state dir names its shim's socket in an `address` file.
 */
async function removeShimSockets(
  state: string,
  log: (line: string) => void,
): Promise<void> {
  const tasks = `${state}/io.containerd.runtime.v2.task`;
  for (const ns of await subdirs(tasks)) {
    for (const bundle of await subdirs(ns)) {
      const address = await readOptional(`${bundle}/address`);
      const socket = address?.trim().replace(/^unix:\/\//, "");
      if (!socket?.startsWith("/run/containerd/s/")) continue;
      try {
        await Deno.remove(socket);
        log(`teardown: removed stale shim socket ${socket}`);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** Paths of the directories in `dir`; none when `dir` does not exist. */
async function subdirs(dir: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) found.push(`${dir}/${e.name}`);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return found;
}

/** Names in `dir`; none when `dir` does not exist. */
async function entries(dir: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) found.push(e.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return found;
}

/** PIDs of processes that have `arg` as one of their command-line arguments. */
async function processesWithArg(arg: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${e.name}/cmdline`);
      if (cmdline.split("\0").includes(arg)) pids.push(Number(e.name));
    } catch {
      // Exited meanwhile.
    }
  }
  return pids;
}

/** Unmounts everything mounted at or under `dir`, deepest first. */
async function unmountUnder(tools: Tools, dir: string): Promise<void> {
  // Stacked mounts need one pass each; three passes is plenty.
  for (let pass = 0; pass < 3; pass++) {
    const mounts = await mountsUnder(dir);
    if (mounts.length === 0) return;
    for (const m of mounts) {
      const r = await run(tools.umount, [m]);
      if (!r.success) await run(tools.umount, ["-l", m]);
    }
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) {
    throw new Error(`still mounted: ${left.join(", ")} (umount -l them)`);
  }
}

/** Mount points at or under `dir`, deepest first, from /proc/self/mountinfo. */
async function mountsUnder(dir: string): Promise<string[]> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  const points = info.split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined)
    .map(unescapeMountPath)
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  const depth = (p: string) => p.split("/").length;
  return [...new Set(points)].sort((a, b) => depth(b) - depth(a));
}

function unescapeMountPath(p: string): string {
  return p.replace(
    /\\([0-7]{3})/g,
    (_, oct: string) => String.fromCharCode(parseInt(oct, 8)),
  );
}

async function removeDir(dir: string): Promise<void> {
  try {
    await Deno.remove(dir, { recursive: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

// ---------------------------------------------------------------------------
// Small helpers

interface RunResult {
  success: boolean;
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: string[]): Promise<RunResult> {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    success: out.success,
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

/** Runs `cmd` and returns its stdout; throws with its stderr when it fails. */
async function runOk(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (!r.success) {
    throw new Error(
      `Run "${cmd} ${args.join(" ")}": exit code ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`,
    );
  }
  return r.stdout;
}

/** Settles every promise (so none keeps running unobserved), then throws the first error. */
async function allSettledOrThrow<T extends readonly unknown[]>(
  promises: { [K in keyof T]: Promise<T[K]> },
): Promise<T> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

async function logTail(path: string, lines = 40): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch (err) {
    return `(cannot read ${path}: ${errorMessage(err)})`;
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

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
