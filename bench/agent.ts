/**
 * An agent as the bench runs it: `main.ts` in a child process with `--listen` on a free port,
 * its `/metrics` read back (passes, CRI calls and their latency), its CPU time and memory read
 * from /proc.
 *
 * @module
 */
import { type AgentProcess, startAgent } from "../testing/agent_process.ts";
import { ms } from "./stats.ts";
import { poll } from "./run_control.ts";
import { METRICS_POLL_MS } from "./settings.ts";

/**
 * The agent's info line for a pod it started (`Started pod default/web`), or whose containers a
 * later flight started (`Started container app of pod default/web`), as a text line or a JSON one.
 */
const STARTED_POD =
  /(?:^\S+ INFO +|"level":"info","msg":")Started (?:pod|container .* of pod) ([^\s"]+)/;

/** The pods (`namespace/name`) that `lines` of an agent's log say it started. */
export function startedPodsIn(lines: readonly string[]): Set<string> {
  const pods = new Set<string>();
  for (const line of lines) {
    const m = STARTED_POD.exec(line);
    if (m) pods.add(m[1]!);
  }
  return pods;
}

/** What the agent's `/metrics` says about its passes and CRI calls. */
export interface Metrics {
  passes: number;
  criCalls: Map<string, number>;
  /** Seconds spent in CRI calls, by method (the latency histogram's sum). */
  criSeconds: Map<string, number>;
}

/** `main.ts` run as users run it, with `--listen` on a free port for its metrics. */
export class BenchAgent {
  readonly instance: string;
  readonly port: number;
  readonly #process: AgentProcess;

  /** Runs `main` (this tree's `main.ts` when undefined) with `args`. */
  constructor(instance: string, port: number, args: string[], main?: string) {
    this.instance = instance;
    this.port = port;
    this.#process = startAgent(args, main === undefined ? {} : { main });
  }

  /** How many lines the agent has logged so far: a mark for {@linkcode startedPods}. */
  get lineCount(): number {
    return this.#process.lines.length;
  }

  /**
   * The pods (`namespace/name`) the agent logged as started ("Started pod …" once its
   * containers started, or "Started container … of pod …") in the lines after the first `after`.
   */
  startedPods(after: number): Set<string> {
    return startedPodsIn(this.#process.lines.slice(after));
  }

  /** True once the agent process has exited. */
  get exited(): boolean {
    return this.#process.exited;
  }

  /** The agent's own pid: `deno run main.ts` is the agent. */
  get pid(): number {
    return this.#process.pid;
  }

  /** Its last log lines, for error messages. */
  get tail(): string {
    return this.#process.lines.slice(-200).join("\n");
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

  /** Waits until the agent has run `count` passes in all, reading `/metrics` every {@linkcode METRICS_POLL_MS}. */
  async waitForPasses(count: number, timeoutMs = 30_000): Promise<number> {
    let passes = 0;
    await poll(`agent "${this.instance}" to run ${count} passes`, async () => {
      if (this.#process.exited) {
        throw new Error(`the agent exited; it logged:\n${this.tail}`);
      }
      passes = (await this.metrics()).passes;
      return passes >= count;
    }, { everyMs: METRICS_POLL_MS, timeoutMs });
    return passes;
  }

  /** SIGTERM, then SIGKILL after 15 s; waits for the exit. */
  async stop(): Promise<void> {
    const timer = setTimeout(() => this.#process.kill(), 15_000);
    try {
      await this.#process.stop("SIGTERM");
    } finally {
      clearTimeout(timer);
    }
  }

  async kill(): Promise<void> {
    await this.#process.kill();
  }
}

/**
 * The CRI calls a read of `/metrics` makes for the resource metrics, and nothing else makes in
 * the agent: its passes and flights never ask for stats. Every read of the bench is a scrape,
 * and a read's calls are counted after its own text is rendered, so the calls of the read that
 * opens a window land in that window: they are kept apart from the passes' calls.
 */
export const SCRAPE_STATS_METHODS: ReadonlySet<string> = new Set([
  "ListContainerStats",
  "ListPodSandboxStats",
  "ContainerStats",
  "PodSandboxStats",
]);

/** CRI calls by method, and passes, between two readings of the agent's metrics. */
export interface CallCounts {
  passes: number;
  /** The calls of the passes and flights, by method: all but {@linkcode SCRAPE_STATS_METHODS}. */
  byMethod: Map<string, number>;
  /** The stats calls of the reads of `/metrics` (the bench's own included), by method. */
  stats: Map<string, number>;
  /** Seconds spent in the calls, by method. */
  seconds: Map<string, number>;
}

/** The CRI calls and passes between two readings of the metrics. */
export function callsBetween(before: Metrics, after: Metrics): CallCounts {
  const byMethod = new Map<string, number>();
  const stats = new Map<string, number>();
  const seconds = new Map<string, number>();
  for (const [method, count] of after.criCalls) {
    const delta = count - (before.criCalls.get(method) ?? 0);
    if (delta <= 0) continue;
    (SCRAPE_STATS_METHODS.has(method) ? stats : byMethod).set(method, delta);
    seconds.set(
      method,
      (after.criSeconds.get(method) ?? 0) - (before.criSeconds.get(method) ?? 0),
    );
  }
  return { passes: after.passes - before.passes, byMethod, stats, seconds };
}

/**
 * "RunPodSandbox 1 (412 ms), ...": the passes' and flights' calls per pod and their mean
 * latency (the stats calls of the reads of `/metrics` left out).
 */
export function describeCalls(c: CallCounts, pods: number): string {
  const per = (count: number) => (count / pods).toFixed(count % pods === 0 ? 0 : 2);
  const total = [...c.byMethod.values()].reduce((a, b) => a + b, 0);
  const methods = [...c.byMethod].sort().map(([m, count]) =>
    `${m} ${per(count)} (${ms(((c.seconds.get(m) ?? 0) * 1000) / count)})`
  );
  const passes = c.passes > 0 ? ` in ${c.passes} passes` : "";
  return `${per(total)} calls per pod${passes}: ${methods.join(", ")}`;
}

/** CPU seconds (user + system, all threads) the process has used. */
export async function cpuSeconds(pid: number, ticksPerSecond: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after "(comm)": state is the 3rd field, utime the 14th, stime the 15th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM). */
export async function statusBytes(pid: number, field: string): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kB = new RegExp(`^${field}:\\s*(\\d+) kB`, "m").exec(status)?.[1];
  if (kB === undefined) throw new Error(`No ${field} in /proc/${pid}/status`);
  return Number(kB) * 1024;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}
