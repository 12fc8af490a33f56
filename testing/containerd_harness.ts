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
import { findMissing, resolveTools, type Tools } from "./host_prerequisites.ts";
import { errorMessage } from "./host_command.ts";
import { removeDir } from "./dir_entries.ts";
import { BUSYBOX_IMAGE, imageArchive, importImages, PAUSE_IMAGE } from "./busybox_images.ts";
import {
  chooseNetwork,
  cniConflist,
  deleteBridge,
  type Network,
  removeCniResults,
} from "./cni_network.ts";
import {
  chooseSnapshotter,
  containerdConfig,
  type Layout,
  layoutOf,
  makeDirs,
} from "./containerd_config.ts";
import {
  containerdVersion,
  signal,
  spawnContainerd,
  stopContainerd,
  waitForCri,
  waitForSocket,
} from "./containerd_process.ts";
import { killLeftovers, removeAllSandboxes, unmountUnder } from "./containerd_teardown.ts";

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
  /**
   * The CRI plugin's `registry.config_path`, inside {@linkcode dir}: a
   * registry is trusted once `<hostsDir>/HOST:PORT/hosts.toml` names it (see
   * `testing/registry_harness.ts`).
   */
  hostsDir: string;
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

/** Options of {@linkcode realRuntimeTest}. */
export interface RealRuntimeTestOptions {
  /**
   * Further prerequisites of the test beyond containerd's (as
   * `findRegistryMissing` from `testing/host_prerequisites.ts`): one line per
   * problem, `[]` when ready. Handled as containerd's are.
   */
  prerequisites?: () => string[];
}

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
  options: RealRuntimeTestOptions = {},
): void {
  const missing = [...findMissing(), ...options.prerequisites?.() ?? []];
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
  readonly hostsDir: string;
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
    this.hostsDir = layout.hostsDir;
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
    await step("stop containerd", async () => {
      if (this.#child) await stopContainerd(this.#child, this.#log);
    });
    await step(
      "kill containers containerd left",
      () => killLeftovers(this.#tools, l, this.#log),
    );
    await step(
      "unmount under the temp dir",
      () => unmountUnder(this.#tools, l.dir),
    );
    await step("delete the CNI bridge", async () => {
      if (this.#network) await deleteBridge(this.#tools.ip, this.#network);
    });
    await step("remove cached CNI results", async () => {
      if (!this.#network) return;
      const cri = "io.containerd.grpc.v1.cri";
      const criDirs = [`${l.root}/${cri}`, `${l.state}/${cri}`];
      await removeCniResults(this.#network, criDirs, this.#log);
    });
    await step("remove the temp dir", () => removeDir(l.dir));
    if (failures.length > 0) {
      throw new Error(
        `Tear down the private containerd in "${l.dir}": ${failures.join("; ")}`,
      );
    }
  }
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
