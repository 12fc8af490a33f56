/**
 * `deno task bench`: what tinylet costs, measured on one private real containerd.
 *
 * 1. Cold start: N manifest files written at once → all N containers RUNNING, against a bare
 *    CRI client making only the four calls a pod needs (the runtime's own limit).
 * 2. Reaction: one file written to a converged agent → its container RUNNING.
 * 3. Teardown: N files deleted → all their sandboxes gone.
 * 4. Idle: the agent's CPU, RSS and CRI calls per pass with pods converged.
 * 5. A pass without a runtime: read, parse, translate and plan, in-process.
 *
 * Progress goes to stderr, the table to stdout. Benchmarks are not tests: a missed target is
 * reported, never an error. Flags: `--pods 1,20,50 --runs 3 --reaction-samples 10
 * --idle-seconds 30 --idle-pods 50 --pass-pods 100,500 --quick` (see BENCHMARKS.md).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import type { ContainerConfig, PodSandboxConfig } from "../lib/runtime/cri.ts";
import { connectCri, type GrpcCri } from "../lib/runtime/grpc.ts";
import { desiredState, TranslationCache } from "../lib/reconcile/desired.ts";
import { podHostsFile } from "../lib/translate/hosts.ts";
import { silentLogger } from "../lib/base/log.ts";
import { formatProblem, parseManifest } from "../lib/manifest/parse.ts";
import { Observer, ownedBy } from "../lib/reconcile/observe.ts";
import { plan } from "../lib/reconcile/plan.ts";
import { Reconciler } from "../lib/reconcile/reconciler.ts";
import { readHostResolvConf } from "../lib/translate/dns.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import { sandboxForAttempt, translatePod } from "../lib/translate/desired_pod.ts";
import { buildContainerConfig } from "../lib/translate/container_config.ts";
import { hostsFilePath, podLogDirectory } from "../lib/node/paths.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { RUN_PERMISSIONS } from "../testing/agent_args.ts";
import { type RealContainerd, startContainerd } from "../testing/containerd_harness.ts";
import { FakeCri } from "../testing/fake_cri.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
/** The harness imports its busybox under this name; the runtime-free pass uses it too. */
const BUSYBOX = "docker.io/library/busybox:1.35";
/** `--parallel` of every agent, as the brief and the default have it. */
const PARALLEL = 4;
/** The bare client's width: as many pods at once as the agent's `--parallel`. */
const BARE_WIDTH = 4;
/** How often the bench asks the runtime whether the pods are up or gone. */
const POLL_MS = 20;
/**
 * Over long waits the poll slows to this share of the time elapsed (at most `POLL_MAX_MS`): a
 * ListContainers every 10 ms costs containerd most of a core with 50 pods, which would slow what
 * is measured. The figure is then late by at most 1 % (or 10 ms).
 */
const POLL_FRACTION = 0.01;
const POLL_MAX_MS = 250;

/** Wall-clock milliseconds (with fractions): comparable with the runtime's timestamps. */
function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** The pause before the next poll, `elapsedMs` after the clock started. */
function pollDelay(elapsedMs: number): number {
  return Math.min(POLL_MAX_MS, Math.max(POLL_MS, elapsedMs * POLL_FRACTION));
}
/** Pause after each cleanup, so containerd's and runc's asynchronous work does not leak into the next figure. */
const SETTLE_MS = 1_000;
/** The pods' `terminationGracePeriodSeconds`. */
const GRACE_SECONDS = 1;
/** How long after a write a file's stat vouches for its content (see lib/source.ts), with margin. */
const STAMP_QUIET_MS = 2_100;
/** Samples of each runtime-free pass figure. */
const PASS_SAMPLES = 20;

/** Targets printed beside the figures. */
const TARGET = {
  coldRatio: 1.1,
  reactionOverBareMs: 100,
  idleCpuPercent: 0.5,
  idleListCallsPerPass: 2,
  rssMB: 100,
  passMs: 20,
  passTargetPods: 500,
};

// ---------------------------------------------------------------------------
// Flags

/** What one run of the bench measures. */
export interface BenchOptions {
  pods: number[];
  runs: number;
  reactionSamples: number;
  idleSeconds: number;
  idlePods: number;
  passPods: number[];
  quick: boolean;
}

class UsageError extends Error {}

const USAGE = `Usage: deno task bench [flags]
  --pods LIST              cold-start and teardown sizes (default 1,20,50)
  --runs N                 repetitions for the medians (default 3)
  --reaction-samples N     samples of the reaction time (default 10)
  --idle-seconds S         length of the idle window (default 30)
  --idle-pods N            pods converged during the idle window (default 50)
  --pass-pods LIST         pods of the runtime-free pass (default 100,500)
  --quick                  a small run for the smoke test: pods 2, runs 1, reaction samples 2,
                           idle 3 s with 2 pods, pass-pods 10 (flags given still win)
  -h, --help               print this help`;

function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`Set ${flag} to a positive whole number: it is "${text}"`);
  }
  return n;
}

function intList(flag: string, text: string): number[] {
  const list = text.split(",").map((s) => positiveInt(flag, s.trim()));
  if (list.length === 0) throw new UsageError(`Give ${flag} at least one number`);
  return list;
}

/** Parses the bench's flags; `undefined` means help was asked for. */
export function parseBenchArgs(args: string[]): BenchOptions | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        pods: { type: "string" },
        runs: { type: "string" },
        "reaction-samples": { type: "string" },
        "idle-seconds": { type: "string" },
        "idle-pods": { type: "string" },
        "pass-pods": { type: "string" },
        quick: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return undefined;
  const quick = values.quick;
  const base: BenchOptions = quick
    ? {
      pods: [2],
      runs: 1,
      reactionSamples: 2,
      idleSeconds: 3,
      idlePods: 2,
      passPods: [10],
      quick,
    }
    : {
      pods: [1, 20, 50],
      runs: 3,
      reactionSamples: 10,
      idleSeconds: 30,
      idlePods: 50,
      passPods: [100, 500],
      quick,
    };
  if (values.pods !== undefined) base.pods = intList("--pods", values.pods);
  if (values.runs !== undefined) base.runs = positiveInt("--runs", values.runs);
  if (values["reaction-samples"] !== undefined) {
    base.reactionSamples = positiveInt("--reaction-samples", values["reaction-samples"]);
  }
  if (values["idle-seconds"] !== undefined) {
    base.idleSeconds = positiveInt("--idle-seconds", values["idle-seconds"]);
  }
  if (values["idle-pods"] !== undefined) {
    base.idlePods = positiveInt("--idle-pods", values["idle-pods"]);
  }
  if (values["pass-pods"] !== undefined) {
    base.passPods = intList("--pass-pods", values["pass-pods"]);
  }
  return base;
}

// ---------------------------------------------------------------------------
// Small helpers

const interrupted = new AbortController();

function progress(line: string): void {
  console.error(`bench: ${line}`);
}

function stopIfInterrupted(): void {
  if (interrupted.signal.aborted) throw new Error("Interrupted");
}

function sleep(ms: number): Promise<void> {
  stopIfInterrupted();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      interrupted.signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    interrupted.signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Calls `probe` until it returns true, `pollDelay` apart (or every `everyMs`); throws after
 * `timeoutMs`. `since` is when the clock started (default: now).
 */
async function poll(
  what: string,
  probe: () => Promise<boolean>,
  { everyMs, timeoutMs = 60_000, since = performance.now() }: {
    everyMs?: number;
    timeoutMs?: number;
    since?: number;
  } = {},
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (true) {
    stopIfInterrupted();
    try {
      if (await probe()) return;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : "";
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${why}`, {
        cause: last,
      });
    }
    await sleep(everyMs ?? pollDelay(performance.now() - since));
  }
}

/** Runs `fn` on each item, at most `width` at once; throws the first error after all stopped. */
async function pool<T, R>(
  items: T[],
  width: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  if (failure) throw failure.error;
  return out;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function sorted(values: number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

function median(values: number[]): number {
  const s = sorted(values);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile: of 10 samples, p95 is the largest. */
function percentile(values: number[], p: number): number {
  const s = sorted(values);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}

function ms(value: number): string {
  if (value >= 100) return `${Math.round(value)} ms`;
  if (value >= 10) return `${value.toFixed(1)} ms`;
  return `${value.toFixed(2)} ms`;
}

/** The median, and the range when there is more than one value. */
function msSpread(values: number[]): string {
  if (values.length < 2) return ms(median(values));
  const s = sorted(values);
  return `${ms(median(values))} (${ms(s[0]!)} to ${ms(s.at(-1)!)})`;
}

function verdict(ok: boolean): string {
  return ok ? "ok" : "MISSED";
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A `v1` Pod that sleeps, leaves at once on SIGTERM, and waits at most 1 s for it anyway. */
function manifest(name: string, image: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  terminationGracePeriodSeconds: ${GRACE_SECONDS}
  containers:
    - name: main
      image: ${image}
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
`;
}

/** "1 pod", "20 pods". */
function pods(n: number): string {
  return n === 1 ? "1 pod" : `${n} pods`;
}

function podName(prefix: string, i: number): string {
  return `${prefix}-${String(i).padStart(3, "0")}`;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

// ---------------------------------------------------------------------------
// The machine

interface Machine {
  cpu: string;
  /** The 1-minute load average when the runtime benchmarks started. */
  loadAtStart: number;
  cores: number;
  memory: string;
  kernel: string;
  containerd: string;
  deno: string;
  clockTicks: number;
}

async function describeMachine(containerd: string): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown CPU";
  const cores = cpuinfo.match(/^processor\s*:/gm)?.length ?? navigator.hardwareConcurrency;
  const kB = Number(/^MemTotal:\s*(\d+) kB/m.exec(meminfo)?.[1] ?? 0);
  return {
    cpu,
    loadAtStart: await loadAverage(),
    cores,
    memory: `${(kB / 1024 / 1024).toFixed(1)} GiB`,
    kernel: Deno.osRelease(),
    containerd,
    deno: `${Deno.version.deno} (V8 ${Deno.version.v8})`,
    clockTicks: await clockTicks(),
  };
}

/** The 1-minute load average: other work on the machine skews every figure. */
async function loadAverage(): Promise<number> {
  const text = await Deno.readTextFile("/proc/loadavg").catch(() => "");
  return Number(text.split(" ")[0] ?? NaN);
}

/** The kernel's clock ticks per second, the unit of utime and stime in /proc/<pid>/stat. */
async function clockTicks(): Promise<number> {
  try {
    const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stderr: "null" }).output();
    const n = Number(new TextDecoder().decode(out.stdout).trim());
    return out.success && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

// ---------------------------------------------------------------------------
// The agent, as a child process whose pid we know

interface Metrics {
  passes: number;
  criCalls: Map<string, number>;
  /** Seconds spent in CRI calls, by method (the latency histogram's sum). */
  criSeconds: Map<string, number>;
}

/** `main.ts` run as users run it, with `--listen` on a free port for its metrics. */
class Agent {
  readonly instance: string;
  readonly port: number;
  readonly #child: Deno.ChildProcess;
  readonly #tail: string[] = [];
  readonly #pumps: Promise<void>;
  #exited = false;

  constructor(instance: string, port: number, args: string[]) {
    this.instance = instance;
    this.port = port;
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...RUN_PERMISSIONS, MAIN, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.#child.status.then(() => this.#exited = true);
    this.#pumps = Promise.all([this.#pump(this.#child.stdout), this.#pump(this.#child.stderr)])
      .then(() => {});
  }

  /** The agent's own pid: `deno run main.ts` is the agent. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Its last log lines, for error messages. */
  get tail(): string {
    return this.#tail.join("\n");
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop() ?? "";
      this.#tail.push(...parts);
      if (this.#tail.length > 200) this.#tail.splice(0, this.#tail.length - 200);
    }
    if (rest) this.#tail.push(rest);
  }

  async metrics(): Promise<Metrics> {
    const res = await fetch(`http://127.0.0.1:${this.port}/metrics`);
    const text = await res.text();
    if (!res.ok) throw new Error(`GET /metrics: ${res.status}`);
    let passes = 0;
    const criCalls = new Map<string, number>();
    const criSeconds = new Map<string, number>();
    for (const line of text.split("\n")) {
      const pass = /^tinylet_passes_total (\S+)$/.exec(line);
      if (pass) passes = Number(pass[1]);
      const call = /^tinylet_cri_calls_total\{method="([^"]+)"\} (\S+)$/.exec(line);
      if (call) criCalls.set(call[1]!, Number(call[2]));
      const sum = /^tinylet_cri_call_duration_seconds_sum\{method="([^"]+)"\} (\S+)$/.exec(line);
      if (sum) criSeconds.set(sum[1]!, Number(sum[2]));
    }
    return { passes, criCalls, criSeconds };
  }

  /** Waits until the agent has run `count` passes in all. */
  async waitForPasses(count: number, timeoutMs = 30_000): Promise<number> {
    let passes = 0;
    await poll(`agent "${this.instance}" to run ${count} passes`, async () => {
      if (this.#exited) {
        throw new Error(`the agent exited; it logged:\n${this.tail}`);
      }
      passes = (await this.metrics()).passes;
      return passes >= count;
    }, { everyMs: 20, timeoutMs });
    return passes;
  }

  /** SIGTERM, then SIGKILL after 15 s; waits for the exit. */
  async stop(): Promise<void> {
    this.#signal("SIGTERM");
    const timer = setTimeout(() => this.#signal("SIGKILL"), 15_000);
    try {
      await this.#child.status;
      await this.#pumps;
    } finally {
      clearTimeout(timer);
    }
  }

  async kill(): Promise<void> {
    this.#signal("SIGKILL");
    await this.#child.status;
    await this.#pumps;
  }

  #signal(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}

/** CRI calls by method, and passes, between two readings of the agent's metrics. */
interface CallCounts {
  passes: number;
  byMethod: Map<string, number>;
  /** Seconds spent in the calls, by method. */
  seconds: Map<string, number>;
}

function callsBetween(before: Metrics, after: Metrics): CallCounts {
  const byMethod = new Map<string, number>();
  const seconds = new Map<string, number>();
  for (const [method, count] of after.criCalls) {
    const delta = count - (before.criCalls.get(method) ?? 0);
    if (delta <= 0) continue;
    byMethod.set(method, delta);
    seconds.set(
      method,
      (after.criSeconds.get(method) ?? 0) - (before.criSeconds.get(method) ?? 0),
    );
  }
  return { passes: after.passes - before.passes, byMethod, seconds };
}

/** "RunPodSandbox 1 (412 ms), ...": calls per pod and their mean latency. */
function describeCalls(c: CallCounts, pods: number): string {
  const per = (count: number) => (count / pods).toFixed(count % pods === 0 ? 0 : 2);
  const total = [...c.byMethod.values()].reduce((a, b) => a + b, 0);
  const methods = [...c.byMethod].sort().map(([m, count]) =>
    `${m} ${per(count)} (${ms(((c.seconds.get(m) ?? 0) * 1000) / count)})`
  );
  const passes = c.passes > 0 ? ` in ${c.passes} passes` : "";
  return `${per(total)} calls per pod${passes}: ${methods.join(", ")}`;
}

/** CPU seconds (user + system, all threads) the process has used. */
async function cpuSeconds(pid: number, ticksPerSecond: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after "(comm)": state is the 3rd field, utime the 14th, stime the 15th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM). */
async function statusBytes(pid: number, field: string): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kB = new RegExp(`^${field}:\\s*(\\d+) kB`, "m").exec(status)?.[1];
  if (kB === undefined) throw new Error(`No ${field} in /proc/${pid}/status`);
  return Number(kB) * 1024;
}

// ---------------------------------------------------------------------------
// The bench's context on one containerd

class Bench {
  readonly rc: RealContainerd;
  readonly cri: GrpcCri;
  readonly options: BenchOptions;
  /** Clock ticks per second of /proc/<pid>/stat. */
  readonly ticks: number;
  readonly agents = new Set<Agent>();
  readonly #hostDns = readHostResolvConf();

  constructor(rc: RealContainerd, cri: GrpcCri, options: BenchOptions, ticks: number) {
    this.rc = rc;
    this.cri = cri;
    this.options = options;
    this.ticks = ticks;
  }

  dirs(instance: string) {
    const base = `${this.rc.dir}/bench/${instance}`;
    return {
      base,
      manifests: `${base}/manifests`,
      root: `${base}/root`,
      logs: `${base}/logs`,
    };
  }

  /** Starts an agent on a fresh manifest directory and waits until it is idle. */
  async startAgent(instance: string, interval: string | undefined): Promise<Agent> {
    const d = this.dirs(instance);
    await Deno.mkdir(d.manifests, { recursive: true });
    const port = freePort();
    const agent = new Agent(instance, port, [
      "--socket",
      this.rc.socket,
      "--manifests",
      d.manifests,
      "--instance",
      instance,
      "--root",
      d.root,
      "--pod-log-root",
      d.logs,
      "--parallel",
      String(PARALLEL),
      "--listen",
      `127.0.0.1:${port}`,
      ...(interval ? ["--interval", interval] : []),
    ]);
    this.agents.add(agent);
    // The first pass, then the one the directory watcher asks for when it is armed.
    await agent.waitForPasses(2);
    return agent;
  }

  async stopAgent(agent: Agent): Promise<void> {
    await agent.stop();
    this.agents.delete(agent);
    await Deno.remove(this.dirs(agent.instance).base, { recursive: true }).catch(() => {});
  }

  /**
   * When the last of the instance's (or the pod's) running containers started, in wall-clock
   * ms: the runtime's own `StartedAt`, so the figure does not depend on when a poll looked.
   */
  async lastStarted(instance: string, pod?: string): Promise<number> {
    let last = 0;
    for (const c of await this.#runningContainers(instance, pod)) {
      last = Math.max(last, (await this.cri.containerStatus(c.id)).startedAt / 1e6);
    }
    if (last === 0) throw new Error(`No running container of "${instance}" has a StartedAt`);
    return last;
  }

  async running(instance: string, pod?: string): Promise<number> {
    return (await this.#runningContainers(instance, pod)).length;
  }

  /** The running containers of the instance, or of one of its pods. */
  #runningContainers(instance: string, pod?: string) {
    const selector = pod ? { ...ownedBy(instance), [KEYS.podName]: pod } : ownedBy(instance);
    return this.cri.listContainers({ labelSelector: selector, state: "CONTAINER_RUNNING" });
  }

  async sandboxes(instance: string): Promise<number> {
    return (await this.cri.listPodSandbox({ labelSelector: ownedBy(instance) })).length;
  }

  /**
   * Writes the files at once; resolves when all `expect` containers run. Returns the ms from
   * just before the first write to the last container's `StartedAt`.
   */
  async writeAndWait(
    instance: string,
    files: { path: string; text: string }[],
    expect: number,
    pod?: string,
  ): Promise<number> {
    const wall0 = wallNow();
    const t0 = performance.now();
    await Promise.all(files.map((f) => Deno.writeTextFile(f.path, f.text)));
    await poll(
      `${expect} containers of "${instance}" RUNNING`,
      async () => await this.running(instance, pod) === expect,
      { timeoutMs: 60_000 + expect * 3_000, since: t0 },
    );
    return await this.lastStarted(instance, pod) - wall0;
  }

  /** Deletes the files at once; resolves when no sandbox of the instance is left. */
  async deleteAndWait(instance: string, paths: string[]): Promise<number> {
    const t0 = performance.now();
    await Promise.all(paths.map((p) => Deno.remove(p)));
    await poll(
      `every sandbox of "${instance}" gone`,
      async () => await this.sandboxes(instance) === 0,
      { timeoutMs: 60_000 + paths.length * 3_000, since: t0 },
    );
    return performance.now() - t0;
  }

  // ---- the bare client ----

  /** Translates `count` pods as tinylet would and prepares their directories, off the clock. */
  async prepareBare(instance: string, prefix: string, count: number): Promise<BarePod[]> {
    const d = this.dirs(instance);
    const options = {
      instance,
      podLogRoot: d.logs,
      root: d.root,
      nodeName: Deno.hostname(),
      hostDns: await this.#hostDns,
    };
    return await Promise.all(
      range(count).map(async (i) => {
        const file = `${d.manifests}/${podName(prefix, i)}.yaml`;
        const m = parseManifest(file, manifest(podName(prefix, i), this.rc.busyboxImage));
        const pod = m.pods[0]?.pod;
        if (!m.valid || !pod) {
          throw new Error(`Bench manifest invalid: ${m.problems.map(formatProblem)}`);
        }
        const desired = await translatePod(pod, file, options);
        await Deno.mkdir(desired.podDir, { recursive: true });
        await Deno.mkdir(podLogDirectory(d.logs, desired.namespace, desired.name, desired.uid), {
          recursive: true,
        });
        // tinylet writes the pod IP in; the bare client skips PodSandboxStatus, so it has none.
        await Deno.writeTextFile(
          hostsFilePath(desired.podDir),
          podHostsFile([], desired.sandbox.hostname ?? desired.name, []),
        );
        const sandbox = sandboxForAttempt(desired, 0);
        const container = buildContainerConfig(desired, "main", { podIPs: [], attempt: 0 });
        return { sandbox, container, image: container.image.image, sandboxId: "", containerId: "" };
      }),
    );
  }

  /**
   * ImageStatus, RunPodSandbox, CreateContainer, StartContainer per pod, `BARE_WIDTH` at once.
   * With `polled`, the bench's own poll (a filtered ListContainers, `pollDelay` apart) runs
   * meanwhile, as it does while tinylet is timed: its cost on the runtime, measured.
   */
  async bareUp(
    instance: string,
    pods: BarePod[],
    polled = false,
  ): Promise<{ ms: number; startedMs: number; calls: CallCounts }> {
    const calls: CallCounts = { passes: 0, byMethod: new Map(), seconds: new Map() };
    const timed = async <T>(method: string, call: () => Promise<T>): Promise<T> => {
      const t = performance.now();
      try {
        return await call();
      } finally {
        calls.byMethod.set(method, (calls.byMethod.get(method) ?? 0) + 1);
        calls.seconds.set(
          method,
          (calls.seconds.get(method) ?? 0) + (performance.now() - t) / 1000,
        );
      }
    };
    let done = false;
    const wall0 = wallNow();
    const t0 = performance.now();
    const poller = polled
      ? (async () => {
        while (!done) {
          await this.running(instance);
          await sleep(pollDelay(performance.now() - t0));
        }
      })()
      : Promise.resolve();
    let ms: number;
    try {
      await pool(pods, BARE_WIDTH, async (p) => {
        const image = await timed("ImageStatus", () => this.cri.imageStatus({ image: p.image }));
        if (!image) throw new Error(`Image "${p.image}" is not in the runtime`);
        p.sandboxId = await timed("RunPodSandbox", () => this.cri.runPodSandbox(p.sandbox));
        const id = await timed(
          "CreateContainer",
          () => this.cri.createContainer(p.sandboxId, p.container, p.sandbox),
        );
        p.containerId = id;
        await timed("StartContainer", () => this.cri.startContainer(id));
      });
      ms = performance.now() - t0;
    } finally {
      done = true;
      await poller;
    }
    return { ms, startedMs: await this.lastStarted(instance) - wall0, calls };
  }

  /**
   * Removes the pods as tinylet does, `BARE_WIDTH` at once: StopContainer with the pods'
   * grace period, StopPodSandbox, RemovePodSandbox. Returns the ms it took.
   */
  async bareDown(instance: string, pods: BarePod[]): Promise<number> {
    const t0 = performance.now();
    try {
      await pool(pods.filter((p) => p.sandboxId), BARE_WIDTH, async (p) => {
        if (p.containerId) await this.cri.stopContainer(p.containerId, GRACE_SECONDS);
        await this.cri.stopPodSandbox(p.sandboxId);
        await this.cri.removePodSandbox(p.sandboxId);
      });
      return performance.now() - t0;
    } finally {
      await Deno.remove(this.dirs(instance).base, { recursive: true }).catch(() => {});
    }
  }

  async bareRun(
    instance: string,
    prefix: string,
    count: number,
    polled = false,
  ): Promise<{ ms: number; startedMs: number; calls: CallCounts; downMs: number }> {
    const pods = await this.prepareBare(instance, prefix, count);
    let up;
    try {
      up = await this.bareUp(instance, pods, polled);
      // As after tinylet's cold start: a quiet second, then the timed removal.
      await sleep(SETTLE_MS);
    } catch (err) {
      await this.bareDown(instance, pods).catch(() => {});
      throw err;
    }
    return { ...up, downMs: await this.bareDown(instance, pods) };
  }
}

interface BarePod {
  sandbox: PodSandboxConfig;
  container: ContainerConfig;
  image: string;
  sandboxId: string;
  containerId: string;
}

// ---------------------------------------------------------------------------
// 1 and 3: cold start and teardown

interface ColdResult {
  pods: number;
  /** First write to the last container's StartedAt. */
  tinylet: number[];
  /** First call to the last container's StartedAt. */
  bare: number[];
  /** First call until the last StartContainer returned. */
  bareReturned: number[];
  /** The bare client while the bench polls, as it polls while timing tinylet (StartedAt). */
  barePolled: number[];
  teardown: number[];
  /** The bare client's removal: StopContainer (1 s grace), StopPodSandbox, RemovePodSandbox. */
  bareTeardown: number[];
  /** The CRI calls tinylet made from the first write until all ran (the last run). */
  calls: CallCounts;
  /** The CRI calls tinylet made from the deletes until 1 s after all were gone (the last run). */
  downCalls: CallCounts;
  /** The bare client's calls (the last unpolled run). */
  bareCalls: CallCounts;
  /** CPU seconds the agent used from the first write until 1 s after all ran. */
  agentCpu: number[];
}

async function coldStart(b: Bench): Promise<ColdResult[]> {
  const results: ColdResult[] = b.options.pods.map((pods) => ({
    pods,
    tinylet: [],
    bare: [],
    bareReturned: [],
    barePolled: [],
    teardown: [],
    bareTeardown: [],
    calls: { passes: 0, byMethod: new Map(), seconds: new Map() },
    downCalls: { passes: 0, byMethod: new Map(), seconds: new Map() },
    bareCalls: { passes: 0, byMethod: new Map(), seconds: new Map() },
    agentCpu: [],
  }));
  const kinds = ["tinylet", "bare", "bare-polled"] as const;
  for (let run = 1; run <= b.options.runs; run++) {
    for (const r of results) {
      const n = r.pods;
      // Rotate which goes first, so none always runs on a machine still busy from another.
      const order = kinds.map((_, i) => kinds[(i + run - 1) % kinds.length]!);
      for (const who of order) {
        if (who !== "tinylet") {
          const polled = who === "bare-polled";
          const { ms: returned, startedMs: t, calls, downMs } = await b.bareRun(
            `bare-${n}-${run}`,
            "bare",
            n,
            polled,
          );
          (polled ? r.barePolled : r.bare).push(t);
          if (!polled) {
            r.bareReturned.push(returned);
            r.bareCalls = calls;
            r.bareTeardown.push(downMs);
          }
          progress(
            `cold start ${pods(n)}, run ${run}/${b.options.runs}: bare client${
              polled ? " (polled)" : ""
            } ${ms(t)}`,
          );
        } else {
          const { up, down, calls, downCalls, cpu } = await tinyletColdRun(b, n, run);
          r.agentCpu.push(cpu);
          r.tinylet.push(up);
          r.teardown.push(down);
          r.calls = calls;
          r.downCalls = downCalls;
          progress(
            `cold start ${pods(n)}, run ${run}/${b.options.runs}: tinylet ${ms(up)}, teardown ${
              ms(down)
            }`,
          );
        }
        await sleep(SETTLE_MS);
      }
    }
  }
  return results;
}

async function tinyletColdRun(
  b: Bench,
  n: number,
  run: number,
): Promise<{ up: number; down: number; calls: CallCounts; downCalls: CallCounts; cpu: number }> {
  const instance = `cold-${n}-${run}`;
  const agent = await b.startAgent(instance, "60s");
  const d = b.dirs(instance);
  const files = range(n).map((i) => ({
    path: `${d.manifests}/${podName("cold", i)}.yaml`,
    text: manifest(podName("cold", i), b.rc.busyboxImage),
  }));
  try {
    const m0 = await agent.metrics();
    const cpu0 = await cpuSeconds(agent.pid, b.ticks);
    const up = await b.writeAndWait(instance, files, n);
    // Let the agent's last pass (the one a finished flight asks for) end first.
    await sleep(SETTLE_MS);
    const cpu = await cpuSeconds(agent.pid, b.ticks) - cpu0;
    const m1 = await agent.metrics();
    const down = await b.deleteAndWait(instance, files.map((f) => f.path));
    await sleep(SETTLE_MS);
    return {
      up,
      down,
      cpu,
      calls: callsBetween(m0, m1),
      downCalls: callsBetween(m1, await agent.metrics()),
    };
  } finally {
    await b.stopAgent(agent);
  }
}

// ---------------------------------------------------------------------------
// 2: reaction

async function reaction(b: Bench): Promise<{ tinylet: number[]; bare: number[] }> {
  const instance = "react";
  const agent = await b.startAgent(instance, "60s");
  const d = b.dirs(instance);
  const tinylet: number[] = [];
  const bare: number[] = [];
  try {
    for (let i = 0; i < b.options.reactionSamples; i++) {
      const name = podName("react", i);
      const path = `${d.manifests}/${name}.yaml`;
      const t = await b.writeAndWait(
        instance,
        [{ path, text: manifest(name, b.rc.busyboxImage) }],
        1,
        name,
      );
      tinylet.push(t);
      await sleep(SETTLE_MS);
      await b.deleteAndWait(instance, [path]);
      await sleep(SETTLE_MS);
      const one = (await b.bareRun(`bare-react-${i}`, "bare", 1)).startedMs;
      bare.push(one);
      progress(
        `reaction sample ${i + 1}/${b.options.reactionSamples}: tinylet ${ms(t)}, bare one pod ${
          ms(one)
        }`,
      );
      await sleep(SETTLE_MS);
    }
  } finally {
    await b.stopAgent(agent);
  }
  return { tinylet, bare };
}

// ---------------------------------------------------------------------------
// 4: idle

interface IdleWindow {
  seconds: number;
  cpuPercent: number;
  rssBytes: number;
  passes: number;
  calls: Map<string, number>;
}

interface IdleResult {
  pods: number;
  /** The same agent before any pod: what the runtime and the loop cost alone. */
  empty: IdleWindow;
  /** The first window after the pods converged (the runtime's and V8's after-work included). */
  first: IdleWindow;
  /** The window after that: the steady state. */
  converged: IdleWindow;
  /** VmHWM: the peak since the agent started, starting the pods included. */
  peakRssBytes: number;
}

/** The agent's CPU, RSS and CRI calls over `seconds` of idling. */
async function idleWindow(b: Bench, agent: Agent, seconds: number): Promise<IdleWindow> {
  const m0 = await agent.metrics();
  const cpu0 = await cpuSeconds(agent.pid, b.ticks);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const cpu1 = await cpuSeconds(agent.pid, b.ticks);
  const elapsed = (performance.now() - t0) / 1000;
  const rssBytes = await statusBytes(agent.pid, "VmRSS");
  const m1 = await agent.metrics(); // after the CPU reading: its own cost stays out
  const counts = callsBetween(m0, m1);
  return {
    seconds: elapsed,
    cpuPercent: ((cpu1 - cpu0) / elapsed) * 100,
    rssBytes,
    passes: counts.passes,
    calls: counts.byMethod,
  };
}

async function idle(b: Bench): Promise<IdleResult> {
  const instance = "idle";
  const n = b.options.idlePods;
  const seconds = b.options.idleSeconds;
  const agent = await b.startAgent(instance, undefined); // the default --interval, 2s
  const d = b.dirs(instance);
  const files = range(n).map((i) => ({
    path: `${d.manifests}/${podName("idle", i)}.yaml`,
    text: manifest(podName("idle", i), b.rc.busyboxImage),
  }));
  try {
    progress(`idle: no pods yet; measuring for ${seconds} s`);
    const empty = await idleWindow(b, agent, seconds);
    progress(`idle: starting ${pods(n)}`);
    await b.writeAndWait(instance, files, n);
    // Converged: two whole passes after every container runs (the first may still fetch statuses).
    const now = (await agent.metrics()).passes;
    await agent.waitForPasses(now + 2);
    progress(`idle: ${pods(n)} converged; measuring for ${seconds} s, twice`);
    const first = await idleWindow(b, agent, seconds);
    const converged = await idleWindow(b, agent, seconds);
    const peakRssBytes = await statusBytes(agent.pid, "VmHWM");
    progress(`idle: removing ${pods(n)}`);
    await b.deleteAndWait(instance, files.map((f) => f.path));
    return { pods: n, empty, first, converged, peakRssBytes };
  } finally {
    await b.stopAgent(agent);
  }
}

// ---------------------------------------------------------------------------
// 5: a pass without a runtime

interface PassResult {
  pods: number;
  cold: number[];
  /** Every file read again, none parsed or translated again. */
  recent: number[];
  warm: number[];
  full: number[];
  /** Actions the timed plan returned (0 when converged, as it should be). */
  actions: number;
}

async function passWithoutRuntime(dir: string, pods: number): Promise<PassResult> {
  const base = `${dir}/pass-${pods}`;
  const manifests = `${base}/manifests`;
  const root = `${base}/root`;
  const podLogRoot = `${base}/logs`;
  const instance = "bench-pass";
  const nodeName = "bench";
  await Deno.mkdir(manifests, { recursive: true });
  await Promise.all(
    range(pods).map((i) => {
      const name = `pass-${String(i).padStart(4, "0")}`;
      return Deno.writeTextFile(`${manifests}/${name}.yaml`, manifest(name, BUSYBOX));
    }),
  );
  const written = Date.now();
  const fake = new FakeCri({ images: [BUSYBOX] });
  const hostDns = await readHostResolvConf();
  const reconciler = new Reconciler({
    cri: fake,
    nodeName,
    source: new ManifestSource(manifests),
    log: silentLogger,
    socket: "fake",
    instance,
    root,
    podLogRoot,
    parallel: pods,
    intervalMs: 2_000,
    readHostDns: () => Promise.resolve(hostDns),
  });
  try {
    // Converge the fake runtime: one pass creates every pod, the next finds nothing to do.
    for (let i = 0; i < 5; i++) {
      if ((await reconciler.pass()).actions.length === 0) break;
    }
    const observed = await new Observer().observe(fake, instance);
    const ctx = { now: Date.now(), restartAllowedAt: () => undefined };
    let actions = 0;
    /**
     * What one pass does before it changes anything: read, parse, translate, plan, with the
     * source and the translation cache the reconciler keeps from pass to pass.
     */
    const once = async (source: ManifestSource, cache: TranslationCache) => {
      const t0 = performance.now();
      const scan = await source.scan();
      const desired = await desiredState(scan, {
        instance,
        podLogRoot,
        root,
        nodeName,
        hostDns: await readHostResolvConf(),
      }, cache);
      const planned = plan(desired, observed, ctx);
      const t = performance.now() - t0;
      actions = planned.actions.length;
      return t;
    };
    const cold: number[] = [];
    for (let i = 0; i < PASS_SAMPLES; i++) {
      cold.push(await once(new ManifestSource(manifests), new TranslationCache()));
    }
    // Files changed within the last 2 s are read every pass (their stat cannot vouch for them
    // yet); a clock stuck at the epoch makes every file look that recent.
    const recentSource = new ManifestSource(manifests, { clock: () => 0 });
    const recentCache = new TranslationCache();
    await once(recentSource, recentCache);
    const recent: number[] = [];
    for (let i = 0; i < PASS_SAMPLES; i++) recent.push(await once(recentSource, recentCache));
    // The steady state: files quiet for more than 2 s, as manifests are between edits.
    await sleep(Math.max(0, written + STAMP_QUIET_MS - Date.now()));
    const source = new ManifestSource(manifests);
    const cache = new TranslationCache();
    await once(source, cache); // reads every file once; the samples below find them unchanged
    const warm: number[] = [];
    for (let i = 0; i < PASS_SAMPLES; i++) warm.push(await once(source, cache));
    const full: number[] = [];
    for (let i = 0; i < PASS_SAMPLES; i++) {
      const t0 = performance.now();
      await reconciler.pass();
      full.push(performance.now() - t0);
    }
    return { pods, cold, recent, warm, full, actions };
  } finally {
    await reconciler.stop();
    fake.close();
  }
}

// ---------------------------------------------------------------------------
// The table

type Line = { title: string } | { note: string } | {
  cells: [string, string, string, string];
};

class Table {
  readonly #lines: Line[] = [];

  section(title: string): void {
    this.#lines.push({ title });
  }

  /** A line of its own under the current section, outside the columns. */
  note(text: string): void {
    this.#lines.push({ note: text });
  }

  row(figure: string, value: string, target = "", result = ""): void {
    this.#lines.push({ cells: [figure, value, target, result] });
  }

  render(): string {
    const header: [string, string, string, string] = ["figure", "value", "target", "verdict"];
    const rows = this.#lines.flatMap((l) => "cells" in l ? [l.cells] : []);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const fmt = (cells: string[]) =>
      ("  " + cells.map((c, i) => c.padEnd(widths[i]!)).join("   ")).trimEnd();
    const out = [fmt(header)];
    for (const l of this.#lines) {
      if ("title" in l) out.push("", l.title);
      else if ("note" in l) out.push(`  ${l.note}`);
      else out.push(fmt(l.cells));
    }
    return out.join("\n");
  }
}

interface Results {
  machine: Machine;
  options: BenchOptions;
  /** The 1-minute load average when the bench ended. */
  loadAtEnd: number;
  cold: ColdResult[];
  reaction: { tinylet: number[]; bare: number[] };
  idle: IdleResult;
  pass: PassResult[];
  totalSeconds: number;
}

/** The report: the machine, then one section per figure group. */
export function report(r: Results): string {
  const o = r.options;
  const m = r.machine;
  const t = new Table();
  t.section(
    `Cold start: N files written at once -> all N containers RUNNING, to the last one's StartedAt (median of ${o.runs}; range in brackets)`,
  );
  for (const c of r.cold) {
    const ratio = median(c.tinylet) / median(c.bare);
    t.row(`${pods(c.pods)}: tinylet`, msSpread(c.tinylet));
    t.row(`${pods(c.pods)}: bare client`, msSpread(c.bare));
    t.row(
      `${pods(c.pods)}: bare client, to the last StartContainer's return`,
      msSpread(c.bareReturned),
    );
    t.row(`${pods(c.pods)}: bare client, bench polling meanwhile`, msSpread(c.barePolled));
    t.row(
      `${pods(c.pods)}: tinylet agent CPU meanwhile`,
      `${msSpread(c.agentCpu.map((s) => s * 1000))} CPU`,
    );
    t.row(
      `${pods(c.pods)}: ratio tinylet / bare`,
      ratio.toFixed(2),
      `<= ${TARGET.coldRatio.toFixed(2)}`,
      verdict(ratio <= TARGET.coldRatio),
    );
  }
  t.section(
    "Cold start: tinylet's CRI calls per pod (mean latency), first write to all running (last run)",
  );
  for (const c of r.cold) t.note(`${pods(c.pods)}: ${describeCalls(c.calls, c.pods)}`);
  t.section("Cold start: the bare client's CRI calls per pod (mean latency, last run)");
  for (const c of r.cold) t.note(`${pods(c.pods)}: ${describeCalls(c.bareCalls, c.pods)}`);
  const react = r.reaction;
  const bareP50 = median(react.bare);
  const limit = bareP50 + TARGET.reactionOverBareMs;
  t.section(
    `Reaction: one file written -> its container RUNNING, to its StartedAt (${react.tinylet.length} samples)`,
  );
  t.row(
    "tinylet p50",
    ms(median(react.tinylet)),
    `<= bare p50 + ${TARGET.reactionOverBareMs} ms = ${ms(limit)}`,
    verdict(median(react.tinylet) <= limit),
  );
  t.row("tinylet p95", ms(percentile(react.tinylet, 95)));
  t.row("bare client one pod p50", ms(bareP50));
  t.row("bare client one pod p95", ms(percentile(react.bare, 95)));
  t.section(`Teardown: N files deleted -> no sandbox left (median of ${o.runs})`);
  for (const c of r.cold) {
    t.row(`${pods(c.pods)}: tinylet`, msSpread(c.teardown));
    t.row(`${pods(c.pods)}: bare client`, msSpread(c.bareTeardown));
    t.row(
      `${pods(c.pods)}: ratio tinylet / bare`,
      (median(c.teardown) / median(c.bareTeardown)).toFixed(2),
    );
  }
  t.section(
    "Teardown: tinylet's CRI calls per pod (mean latency), deletes to 1 s after (last run)",
  );
  for (const c of r.cold) t.note(`${pods(c.pods)}: ${describeCalls(c.downCalls, c.pods)}`);
  const i = r.idle;
  const w = i.converged;
  const perPass = (x: IdleWindow, count: number) => x.passes > 0 ? count / x.passes : NaN;
  const totalOf = (x: IdleWindow) => [...x.calls.values()].reduce((a, b) => a + b, 0);
  const lists = (w.calls.get("ListPodSandbox") ?? 0) + (w.calls.get("ListContainers") ?? 0);
  const callsOk = w.passes > 0 && totalOf(w) === lists &&
    perPass(w, totalOf(w)) <= TARGET.idleListCallsPerPass + 1e-9;
  t.section(
    `Idle: ${pods(i.pods)} converged, --interval 2s, the ${
      w.seconds.toFixed(1)
    } s after the first ${i.first.seconds.toFixed(0)} s (${w.passes} passes)`,
  );
  t.row(
    "agent CPU",
    `${w.cpuPercent.toFixed(2)} % of a core`,
    `<= ${TARGET.idleCpuPercent} %`,
    verdict(w.cpuPercent <= TARGET.idleCpuPercent),
  );
  t.row(
    "agent RSS (VmRSS) at the end",
    `${(w.rssBytes / 1e6).toFixed(1)} MB`,
    `<= ${TARGET.rssMB} MB`,
    verdict(w.rssBytes / 1e6 <= TARGET.rssMB),
  );
  t.row("agent peak RSS (VmHWM), since start", `${(i.peakRssBytes / 1e6).toFixed(1)} MB`);
  t.row(
    "CRI calls per pass",
    w.passes > 0 ? perPass(w, totalOf(w)).toFixed(2) : "n/a (no pass)",
    `${TARGET.idleListCallsPerPass} (the two lists; nothing changes)`,
    verdict(callsOk),
  );
  for (const [method, count] of [...w.calls].sort()) {
    t.row(`  ${method} per pass`, perPass(w, count).toFixed(2));
  }
  const f = i.first;
  t.row(
    `first ${f.seconds.toFixed(0)} s after converging: CPU (${f.passes} passes)`,
    `${f.cpuPercent.toFixed(2)} % of a core`,
  );
  t.row(
    `first ${f.seconds.toFixed(0)} s after converging: CRI calls per pass`,
    f.passes > 0 ? perPass(f, totalOf(f)).toFixed(2) : "n/a (no pass)",
  );
  const e = i.empty;
  t.row(
    `same agent before any pod: CPU (${e.passes} passes)`,
    `${e.cpuPercent.toFixed(2)} % of a core`,
  );
  t.row("same agent before any pod: RSS", `${(e.rssBytes / 1e6).toFixed(1)} MB`);
  t.row(
    "same agent before any pod: CRI calls per pass",
    e.passes > 0 ? perPass(e, totalOf(e)).toFixed(2) : "n/a (no pass)",
  );
  t.section(
    `Pass without a runtime: read + parse + translate + plan, in-process (median of ${PASS_SAMPLES})`,
  );
  for (const p of r.pass) {
    const target = p.pods >= TARGET.passTargetPods ? `<= ${TARGET.passMs} ms` : "";
    const warm = median(p.warm);
    t.row(`${pods(p.pods)}: first (every file parsed)`, ms(median(p.cold)), "(at start only)");
    t.row(
      `${pods(p.pods)}: files changed in the last 2 s (read, not parsed)`,
      ms(median(p.recent)),
    );
    t.row(
      `${pods(p.pods)}: warm (unchanged files: stat only)`,
      ms(warm),
      target,
      target ? verdict(warm <= TARGET.passMs) : "",
    );
    t.row(`${pods(p.pods)}: whole Reconciler.pass() on the fake runtime`, ms(median(p.full)));
    if (p.actions !== 0) t.row(`${pods(p.pods)}: actions planned (expected 0)`, String(p.actions));
  }
  return [
    "tinylet benchmarks",
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memory} memory, Linux ${m.kernel}`,
    `Runtime: containerd ${m.containerd} (private instance, overlayfs or native snapshotter, CNI bridge)`,
    `Deno: ${m.deno}`,
    `Settings: --runs ${o.runs} --reaction-samples ${o.reactionSamples} --idle-seconds ${o.idleSeconds} --idle-pods ${o.idlePods}${
      o.quick ? " --quick" : ""
    }; agents with --parallel ${PARALLEL}; the bench polls the CRI every ${POLL_MS} ms, or ${
      POLL_FRACTION * 100
    } % of the time elapsed when longer (at most ${POLL_MAX_MS} ms)`,
    `Load average (1 min): ${m.loadAtStart} at the start, ${r.loadAtEnd} at the end; took ${
      Math.round(r.totalSeconds)
    } s`,
    "",
    t.render(),
  ].join("\n");
}

// ---------------------------------------------------------------------------
// Main

async function run(options: BenchOptions): Promise<number> {
  const started = performance.now();
  const scratch = await Deno.makeTempDir({ prefix: "tinylet-bench-" });
  let rc: RealContainerd | undefined;
  let cri: GrpcCri | undefined;
  let bench: Bench | undefined;
  let code = 0;
  try {
    const pass: PassResult[] = [];
    for (const n of options.passPods) {
      progress(`pass without a runtime: ${pods(n)}`);
      pass.push(await passWithoutRuntime(scratch, n));
    }
    progress("starting a private containerd");
    rc = await startContainerd({ log: progress });
    cri = connectCri(rc.socket, { timeoutMs: 30_000 });
    const machine = await describeMachine(rc.version);
    bench = new Bench(rc, cri, options, machine.clockTicks);
    if (machine.loadAtStart > machine.cores / 2) {
      progress(
        `the machine is busy (load ${machine.loadAtStart} on ${machine.cores} cores): the figures will show it`,
      );
    }
    // One pod up and down before measuring: the first one pays for cold caches.
    await bench.bareRun("warmup", "warmup", 1);
    const cold = await coldStart(bench);
    const react = await reaction(bench);
    const idleResult = await idle(bench);
    console.log(report({
      machine,
      options,
      cold,
      reaction: react,
      idle: idleResult,
      pass,
      loadAtEnd: await loadAverage(),
      totalSeconds: (performance.now() - started) / 1000,
    }));
  } catch (err) {
    console.error(`bench: failed: ${errorMessage(err)}`);
    for (const agent of bench?.agents ?? []) {
      console.error(`bench: agent "${agent.instance}" logged last:\n${agent.tail}`);
    }
    code = 1;
  } finally {
    for (const agent of bench?.agents ?? []) await agent.kill();
    cri?.close();
    if (rc) {
      progress("stopping the private containerd");
      try {
        await rc.stop();
      } catch (err) {
        console.error(`bench: ${errorMessage(err)}`);
        code = 1;
      }
    }
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
  return code;
}

/** Entry point: returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let options: BenchOptions | undefined;
  try {
    options = parseBenchArgs(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`bench: ${err.message}\n${USAGE}`);
    return 2;
  }
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  const stop = () => {
    progress("interrupted: cleaning up");
    interrupted.abort();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    return await run(options);
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
