/**
 * kubelet's resource metrics (`/metrics/resource`), with its names, labels and help, so
 * dashboards and alerts made for kubelet work on tinylet's `/metrics` unchanged:
 *
 * - `container_cpu_usage_seconds_total`, `container_memory_working_set_bytes` and
 *   `container_start_time_seconds`, labelled `container`, `namespace`, `pod`;
 * - `pod_cpu_usage_seconds_total`, `pod_memory_working_set_bytes`, labelled `namespace`, `pod`;
 * - `node_cpu_usage_seconds_total`, `node_memory_working_set_bytes` (the root cgroup);
 * - `resource_scrape_error`: 1 when the runtime's stats could not be read.
 *
 * Collected when scraped, never per pass: one `ListContainerStats` of the agent's containers, one
 * read of the root cgroup. CPU and memory samples carry the time the runtime read them, in
 * milliseconds, as kubelet writes them. A container's start time is the one the agent's pod views
 * know, else the runtime's (`ContainerStatus`), asked once per container and kept while it is
 * listed (the pod views give no start time for a running container yet). A pod's figures are its
 * sandbox's (`ListPodSandboxStats`: its cgroup, the sandbox's own process included) where the
 * runtime gives them, else the sum of its running containers: a runtime that lacks the method
 * (`Unimplemented`) or cannot answer it for tinylet's pods (containerd 1.6 needs a pod cgroup
 * parent, which tinylet does not set) is asked again only an hour later, and costs no error.
 *
 * @module
 */
import type { CallOptions, ContainerStatus } from "../runtime/cri.ts";
import type {
  ContainerStats,
  ContainerStatsFilter,
  PodSandboxStats,
  PodSandboxStatsFilter,
} from "../runtime/stats.ts";
import { KEYS } from "../runtime/labels.ts";
import { familyText, type Sample } from "../base/metrics.ts";
import type { Logger } from "../base/log.ts";
import { newestPerContainer, podUsages, usageOf } from "../node/usage.ts";
import { CriError, isNoPodCgroup } from "../runtime/errors.ts";
import { PodCounters } from "./pod_counters.ts";
import type { NodeUsage } from "../node/node_usage.ts";
import { ownedBy } from "../reconcile/observe.ts";
import type { PodView } from "../reconcile/status.ts";

/** The runtime calls the metrics make. */
export interface StatsRuntime {
  listContainerStats(
    filter?: ContainerStatsFilter,
    opts?: CallOptions,
  ): Promise<ContainerStats[]>;
  listPodSandboxStats(
    filter?: PodSandboxStatsFilter,
    opts?: CallOptions,
  ): Promise<PodSandboxStats[]>;
  /** Asked once for a running container whose start time the pod views do not give. */
  containerStatus(id: string, opts?: CallOptions): Promise<Pick<ContainerStatus, "startedAt">>;
}

/** What {@linkcode ResourceMetrics} reads. */
export interface ResourceMetricsOptions {
  runtime: StatsRuntime;
  /** The agent's `--instance`: only its containers are listed. */
  instance: string;
  /**
   * When each running container started, in Unix seconds, by container id, as far as the agent
   * knows; the runtime is asked for the others.
   */
  startTimes(): ReadonlyMap<string, number>;
  /** The node's figures now. */
  node(): Promise<NodeUsage>;
  /** Unix milliseconds. */
  now(): number;
  log?: Logger;
}

/** How long a runtime that could not give pod stats is left alone: one hour. */
const POD_STATS_RETRY_MS = 3_600_000;

const nsToMs = (ns: number) => ns / 1e6;

/** kubelet's resource metrics, read when scraped. */
export class ResourceMetrics {
  readonly #o: ResourceMetricsOptions;
  /** When pod stats may be asked for again (0: now). */
  #podStatsAt = 0;
  /** Start times the runtime gave, in Unix seconds, by container id. */
  readonly #started = new Map<string, number>();
  /** The pods' CPU counters summed from their containers, kept from going down. */
  readonly #podCounters = new PodCounters();

  constructor(options: ResourceMetricsOptions) {
    this.#o = options;
  }

  /** The families, in the text format, as lines. */
  async render(opts?: CallOptions): Promise<string[]> {
    const o = this.#o;
    const selector = { labelSelector: ownedBy(o.instance) };
    const [listed, sandboxes, node] = await Promise.all([
      o.runtime.listContainerStats(selector, opts).then((s) => s, (err: Error) => err),
      this.#podStats(selector, opts),
      o.node(),
    ]);
    const failed = listed instanceof Error;
    if (failed) o.log?.debug(`Cannot read the containers' stats: ${listed.message}`);
    const all = failed ? [] : listed.flatMap((s) => usageOf(s) ?? []);
    const starts = await this.#startTimes(all, failed, opts);
    // One series per container: a pod whose old sandbox still runs shows its newest instance.
    const usages = newestPerContainer(
      all,
      (a, b) =>
        a.attempt !== b.attempt
          ? a.attempt > b.attempt
          : (starts.get(a.id) ?? 0) > (starts.get(b.id) ?? 0),
    );
    const of = (u: { namespace: string; pod: string }) => ({ namespace: u.namespace, pod: u.pod });
    const cpu: Sample[] = [];
    const memory: Sample[] = [];
    const start: Sample[] = [];
    for (const u of usages) {
      const labels = { container: u.container, ...of(u) };
      if (u.cpu) {
        cpu.push({ labels, value: u.cpu.coreNanoSeconds / 1e9, timestampMs: nsToMs(u.cpu.at) });
      }
      if (u.memory) {
        memory.push({
          labels,
          value: u.memory.workingSetBytes,
          timestampMs: nsToMs(u.memory.at),
        });
      }
      const started = starts.get(u.id);
      if (started !== undefined && started > 0) start.push({ labels, value: started });
    }
    const podCpu: Sample[] = [];
    const podMemory: Sample[] = [];
    const pods = podFigures(usages, sandboxes);
    if (!failed) this.#podCounters.forget(new Set(pods.map((p) => `${p.namespace}/${p.pod}`)));
    for (const p of pods) {
      if (p.cpu) {
        // A sum of containers would drop when one restarts: what the gone ones used stays.
        const ns = p.own ? p.cpu.coreNanoSeconds : this.#podCounters.total(p);
        podCpu.push({ labels: of(p), value: ns / 1e9, timestampMs: nsToMs(p.cpu.at) });
      }
      if (p.memory) {
        podMemory.push({
          labels: of(p),
          value: p.memory.workingSetBytes,
          timestampMs: nsToMs(p.memory.at),
        });
      }
    }
    const now = o.now();
    const nodeSample = (value: number | undefined): Sample[] =>
      value === undefined ? [] : [{ labels: {}, value, timestampMs: now }];
    return [
      ...familyText(
        "container_cpu_usage_seconds_total",
        "Cumulative cpu time consumed by the container in core-seconds",
        "counter",
        cpu,
      ),
      ...familyText(
        "container_memory_working_set_bytes",
        "Current working set of the container in bytes",
        "gauge",
        memory,
      ),
      ...familyText(
        "container_start_time_seconds",
        "Start time of the container since unix epoch in seconds",
        "gauge",
        start,
      ),
      ...familyText(
        "node_cpu_usage_seconds_total",
        "Cumulative cpu time consumed by the node in core-seconds",
        "counter",
        nodeSample(
          node.cpuCoreNanoSeconds === undefined ? undefined : node.cpuCoreNanoSeconds / 1e9,
        ),
      ),
      ...familyText(
        "node_memory_working_set_bytes",
        "Current working set of the node in bytes",
        "gauge",
        nodeSample(node.workingSetBytes),
      ),
      ...familyText(
        "pod_cpu_usage_seconds_total",
        "Cumulative cpu time consumed by the pod in core-seconds",
        "counter",
        podCpu,
      ),
      ...familyText(
        "pod_memory_working_set_bytes",
        "Current working set of the pod in bytes",
        "gauge",
        podMemory,
      ),
      ...familyText(
        "resource_scrape_error",
        "1 if there was an error while getting container metrics, 0 otherwise",
        "gauge",
        [{ labels: {}, value: failed ? 1 : 0 }],
      ),
    ];
  }

  /**
   * The start time of each of `usages`, in Unix seconds: the agent's, else the runtime's, asked
   * once per container (a failed question is asked again at the next scrape). What is kept of
   * containers no longer listed is dropped, unless the listing `failed`.
   */
  async #startTimes(
    usages: readonly { id: string }[],
    failed: boolean,
    opts: CallOptions | undefined,
  ): Promise<Map<string, number>> {
    const known = this.#o.startTimes();
    if (!failed) {
      const listed = new Set(usages.map((u) => u.id));
      for (const id of this.#started.keys()) if (!listed.has(id)) this.#started.delete(id);
    }
    const starts = new Map<string, number>();
    await Promise.all(usages.map(async ({ id }) => {
      let seconds = known.get(id) ?? this.#started.get(id);
      if (seconds === undefined) {
        try {
          const { startedAt } = await this.#o.runtime.containerStatus(id, opts);
          if (startedAt > 0) this.#started.set(id, seconds = startedAt / 1e9);
        } catch (err) {
          this.#o.log?.debug(`Cannot read when container ${id} started: ${(err as Error).message}`);
        }
      }
      if (seconds !== undefined) starts.set(id, seconds);
    }));
    return starts;
  }

  /** The pods' own stats, when the runtime gives them; none while it cannot. */
  async #podStats(
    selector: PodSandboxStatsFilter,
    opts: CallOptions | undefined,
  ): Promise<PodSandboxStats[]> {
    const now = this.#o.now();
    if (now < this.#podStatsAt) return [];
    try {
      return await this.#o.runtime.listPodSandboxStats(selector, opts);
    } catch (err) {
      // The method missing, or containerd's answer for sandboxes without a cgroup parent (all of
      // tinylet's): asked again an hour later. Anything else (a slow runtime): at the next scrape.
      const lasting = (err instanceof CriError && err.kind === "Unimplemented") ||
        isNoPodCgroup(err);
      if (lasting) this.#podStatsAt = now + POD_STATS_RETRY_MS;
      this.#o.log?.debug(
        `The runtime gives no pod stats (${
          (err as Error).message
        }): a pod's figures are the sum of its containers'`,
      );
      return [];
    }
  }
}

/** A pod's figures: its sandbox's, where given, else its containers' sum. */
function podFigures(
  usages: Parameters<typeof podUsages>[0],
  sandboxes: readonly PodSandboxStats[],
): (ReturnType<typeof podUsages>[number] & { own: boolean })[] {
  const own = new Map<string, { cpu?: PodCpu; memory?: PodMemory }>();
  for (const s of sandboxes) {
    const namespace = s.labels[KEYS.podNamespace] ?? s.metadata.namespace;
    const key = `${namespace}/${s.labels[KEYS.podName] ?? s.metadata.name}`;
    const cpu = s.cpu?.usageCoreNanoSeconds === undefined
      ? undefined
      : { coreNanoSeconds: s.cpu.usageCoreNanoSeconds, at: s.cpu.timestamp };
    const memory = s.memory?.workingSetBytes === undefined
      ? undefined
      : { workingSetBytes: s.memory.workingSetBytes, at: s.memory.timestamp };
    if (cpu || memory) own.set(key, { ...(cpu ? { cpu } : {}), ...(memory ? { memory } : {}) });
  }
  return podUsages(usages).map((p) => {
    const o = own.get(`${p.namespace}/${p.pod}`);
    return { ...p, ...o, own: o?.cpu !== undefined };
  });
}

type PodCpu = { coreNanoSeconds: number; at: number };
type PodMemory = { workingSetBytes: number; at: number };

/** When each running container of `pods` started, in Unix seconds, by container id. */
export function startTimesOf(pods: readonly PodView[]): Map<string, number> {
  const starts = new Map<string, number>();
  for (const p of pods) {
    for (const c of p.containers) {
      if (c.state !== "running" || !c.containerId || !c.startedAt) continue;
      const ms = Date.parse(c.startedAt);
      if (Number.isFinite(ms)) starts.set(c.containerId, ms / 1000);
    }
  }
  return starts;
}
