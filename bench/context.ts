/**
 * The bench's context on one private containerd: its CRI client, the agents it started, their
 * directories, and timing a batch of manifest writes or deletes against the runtime.
 *
 * @module
 */
import type { GrpcCri } from "../lib/runtime/grpc.ts";
import { ownedBy } from "../lib/reconcile/observe.ts";
import { readHostResolvConf } from "../lib/translate/dns.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import type { RealContainerd } from "../testing/containerd_harness.ts";
import { agentFlags } from "../testing/agent_args.ts";
import type { BenchOptions } from "./flags.ts";
import { BenchAgent, freePort } from "./agent.ts";
import { LOG_CHECK_MS, LOG_WAIT_MS, PARALLEL, wallNow } from "./settings.ts";
import { interrupted, poll, progress } from "./run_control.ts";

/** One containerd, its CRI client, the options, and the agents running on it. */
export class Bench {
  readonly rc: RealContainerd;
  readonly cri: GrpcCri;
  readonly options: BenchOptions;
  /** Clock ticks per second of /proc/<pid>/stat. */
  readonly ticks: number;
  readonly agents = new Set<BenchAgent>();
  /** The host's resolv.conf, as the agent reads it. */
  readonly hostDns = readHostResolvConf();

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
  async startAgent(instance: string, interval: string | undefined): Promise<BenchAgent> {
    const d = this.dirs(instance);
    await Deno.mkdir(d.manifests, { recursive: true });
    const port = freePort();
    const agent = new BenchAgent(
      instance,
      port,
      agentFlags({
        socket: this.rc.socket,
        manifests: d.manifests,
        instance,
        root: d.root,
        podLogRoot: d.logs,
        listen: `127.0.0.1:${port}`,
        ...(interval ? { interval } : {}),
        extra: ["--parallel", String(PARALLEL)],
      }),
      this.options.agent,
    );
    this.agents.add(agent);
    // The first pass, then the one the directory watcher asks for when it is armed.
    await agent.waitForPasses(2);
    return agent;
  }

  async stopAgent(agent: BenchAgent): Promise<void> {
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
   * Writes the files at once; resolves when all `expect` containers (of `pod` only, when given)
   * run. Returns the ms from just before the first write to the last container's `StartedAt`.
   *
   * With `agent`, the bench learns that they run from the agent's log (its "Started" lines,
   * checked in the bench's memory every {@linkcode LOG_CHECK_MS}), so nothing polls the runtime
   * while the agent starts the pods, as nothing does while the bare client starts them; one
   * listing then confirms them. Without it, when the log does not say so within
   * {@linkcode LOG_WAIT_MS} and a second per pod, or when that listing disagrees, it polls the
   * runtime. The bench's pods have one container each, so `expect` counts pods too.
   */
  async writeAndWait(
    instance: string,
    files: { path: string; text: string }[],
    expect: number,
    { pod, agent }: { pod?: string; agent?: BenchAgent } = {},
  ): Promise<number> {
    const wall0 = wallNow();
    const t0 = performance.now();
    const mark = agent?.lineCount ?? 0;
    await Promise.all(files.map((f) => Deno.writeTextFile(f.path, f.text)));
    const timeoutMs = 60_000 + expect * 3_000;
    if (agent && !await this.#logSaysStarted(agent, mark, expect, pod, t0)) {
      progress(
        `the agent of "${instance}" did not log ${expect} started pods; polling the runtime`,
      );
    }
    if (!agent || await this.running(instance, pod) !== expect) {
      await poll(
        `${expect} containers of "${instance}" RUNNING`,
        async () => await this.running(instance, pod) === expect,
        { timeoutMs, since: t0 },
      );
    }
    return await this.lastStarted(instance, pod) - wall0;
  }

  /**
   * Whether the agent logged `expect` pods (or `pod`) started after its first `mark` lines
   * within {@linkcode LOG_WAIT_MS} and a second per pod; throws if it exited or on Ctrl-C.
   */
  async #logSaysStarted(
    agent: BenchAgent,
    mark: number,
    expect: number,
    pod: string | undefined,
    since: number,
  ): Promise<boolean> {
    const started = () => {
      const pods = [...agent.startedPods(mark)];
      return pod === undefined ? pods.length : pods.filter((p) => p.endsWith(`/${pod}`)).length;
    };
    try {
      await poll(`the agent to log ${expect} started pods`, () => {
        if (agent.exited) throw new Error(`the agent exited; it logged:\n${agent.tail}`);
        return Promise.resolve(started() >= expect);
      }, { everyMs: LOG_CHECK_MS, timeoutMs: LOG_WAIT_MS + expect * 1_000, since });
      return true;
    } catch (err) {
      if (agent.exited || interrupted.signal.aborted) throw err;
      return false;
    }
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
}
