/**
 * The fake runtime's resource usage and its four stats calls, answered as containerd 1.6
 * answers them (measured on 1.6.20):
 *
 * - A container's CPU counter grows from its start: a command that loops without sleeping
 *   (`sh -c "while :; do :; done"`) spins at its CPU limit (`cpuQuota / cpuPeriod`, at most
 *   one core); any other command idles. Its memory has small fixed figures. A test sets any of
 *   them with {@linkcode FakeStats.set}; time is the fake's clock.
 * - `ContainerStats` of a container that does not run fails (`Other`, "unexpected metrics
 *   response: []"); of an unknown id, NotFound ("failed to find container: not found").
 * - `ListContainerStats` lists every container that passes the filter; only running ones carry
 *   `cpu` and `memory`; every one has its writable layer (0 bytes, as before containerd's first
 *   snapshot sync).
 * - `usageNanoCores` is containerd's: the rate since the previous sample of the same container
 *   by any call, 0 on the first sample, and 0 without replacing the previous sample when no
 *   time passed.
 * - `PodSandboxStats` and `ListPodSandboxStats` follow {@linkcode FakeStats.podStats}: by
 *   default containerd 1.6's, which measures only sandboxes with a cgroup parent (tinylet sets
 *   none) and fails (`Other`) for the others; or `Unimplemented`; or always the sums of the pod.
 *
 * @module
 */
import type { Labels } from "../lib/runtime/cri.ts";
import { CriError } from "../lib/runtime/errors.ts";
import type {
  ContainerStats,
  ContainerStatsFilter,
  CpuUsage,
  MemoryUsage,
  PodSandboxStats,
  PodSandboxStatsFilter,
} from "../lib/runtime/stats.ts";
import type { FakeContainer, FakeSandbox } from "./fake_records.ts";

/** What a test sets of a container's (or a pod's own) usage; unset figures stay as they are. */
export interface FakeUsage {
  /** The CPU counter now, in core-nanoseconds; it grows from here at `cpuNanoCores`. */
  cpuCoreNanoSeconds?: number;
  /** How fast the CPU counter grows from now on, in nano-cores (1e9: one core). */
  cpuNanoCores?: number;
  workingSetBytes?: number;
  usageBytes?: number;
  rssBytes?: number;
  pageFaults?: number;
  majorPageFaults?: number;
}

/**
 * How the pod stats calls answer: `containerd-1.6` measures the sandboxes with a cgroup parent
 * and fails for the others, as containerd 1.6 does; `unimplemented` refuses both calls with
 * `Unimplemented` (gRPC code 12), as a runtime without them; `sums` measures every sandbox.
 */
export type PodStatsMode = "containerd-1.6" | "unimplemented" | "sums";

/** What the stats read of the fake: its clock (milliseconds since the epoch) and its records. */
export interface FakeStatsSource {
  now(): number;
  sandboxes: ReadonlyMap<string, FakeSandbox>;
  containers: ReadonlyMap<string, FakeContainer>;
}

/** Where the writable layers live, as containerd names its snapshotter's directory. */
export const FAKE_SNAPSHOTS = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs";

/** A working set near busybox's under containerd, in bytes. */
const WORKING_SET = 393_216;
const RSS = 53_248;
const PAGE_FAULTS = 728;

/**
 * One meter: a CPU counter that grows at a rate from a time (a container's only while it
 * runs), and memory figures.
 */
interface Meter {
  /** The container metered; unset for a sandbox's own meter. */
  container?: FakeContainer;
  /** Core-nanoseconds at `since`. */
  base: number;
  /** Milliseconds since the epoch. */
  since: number;
  nanoCores: number;
  memory: Required<Omit<FakeUsage, "cpuCoreNanoSeconds" | "cpuNanoCores">>;
}

/** The sample containerd keeps per container and per sandbox to compute `usageNanoCores`. */
interface Sample {
  usage: number;
  /** Nanoseconds since the epoch. */
  timestamp: number;
}

/** True when `command` loops without sleeping: a process that spins. */
export function spins(command: string[]): boolean {
  const script = command.join(" ");
  return /\bwhile\b/.test(script) && !/\bsleep\b/.test(script);
}

/** How fast a spinning container's counter grows: its CPU limit, at most one core. */
function spinRate(c: FakeContainer): number {
  const r = c.config.linux?.resources;
  const limit = r?.cpuQuota && r.cpuQuota > 0 && r.cpuPeriod && r.cpuPeriod > 0
    ? r.cpuQuota / r.cpuPeriod * 1e9
    : 1e9;
  return Math.min(1e9, limit);
}

/** True when `labels` hold every pair of `selector`. */
function matches(labels: Labels | undefined, selector: Labels | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

/** The fake's usage figures and its stats calls. */
export class FakeStats {
  /** How `PodSandboxStats` and `ListPodSandboxStats` answer; containerd 1.6's by default. */
  podStats: PodStatsMode = "containerd-1.6";
  readonly #source: FakeStatsSource;
  readonly #meters = new Map<string, Meter>();
  readonly #samples = new Map<string, Sample>();

  constructor(source: FakeStatsSource) {
    this.#source = source;
  }

  /**
   * Sets the usage of the container `id`, or the sandbox `id`'s own (its pause process, which
   * the pod's figures add to its containers'), as of the fake's clock now.
   */
  set(id: string, usage: FakeUsage): void {
    const meter = this.#meter(id);
    const now = this.#source.now();
    if (usage.cpuCoreNanoSeconds !== undefined || usage.cpuNanoCores !== undefined) {
      meter.base = usage.cpuCoreNanoSeconds ?? this.#counter(meter, now);
      meter.since = now;
      meter.nanoCores = usage.cpuNanoCores ?? meter.nanoCores;
    }
    const { cpuCoreNanoSeconds: _c, cpuNanoCores: _r, ...memory } = usage;
    Object.assign(meter.memory, memory);
  }

  /** `ContainerStats` of the container `id`. */
  containerStats(id: string): ContainerStats {
    const c = this.#source.containers.get(id);
    if (!c) {
      const message = "ContainerStats: failed to find container: not found";
      throw new CriError("NotFound", "ContainerStats", message);
    }
    if (c.state !== "CONTAINER_RUNNING") {
      const message = "ContainerStats: unexpected metrics response: []";
      throw new CriError("Other", "ContainerStats", message);
    }
    return this.#containerStats(c, this.#source.now());
  }

  /** `ListContainerStats` with `filter`. */
  listContainerStats(filter?: ContainerStatsFilter): ContainerStats[] {
    const now = this.#source.now();
    return [...this.#source.containers.values()]
      .filter((c) =>
        (!filter?.id || c.id.startsWith(filter.id)) &&
        (!filter?.podSandboxId || c.sandboxId.startsWith(filter.podSandboxId)) &&
        matches(c.config.labels, filter?.labelSelector)
      )
      .map((c) => this.#containerStats(c, now));
  }

  /** `PodSandboxStats` of the sandbox `id`, as {@linkcode podStats} says. */
  podSandboxStats(id: string): PodSandboxStats {
    const method = "PodSandboxStats";
    this.#refuseUnimplemented(method);
    const s = this.#source.sandboxes.get(id);
    if (!s) {
      const message = `${method}: an error occurred when trying to find sandbox ${id}: not found`;
      throw new CriError("NotFound", method, message);
    }
    if (this.#unmeasured(s)) {
      const why = `failed getting metrics for sandbox ${id}: ${this.#noCgroup(s)}`;
      throw new CriError("Other", method, `${method}: ${why}`);
    }
    return this.#podStats(s);
  }

  /**
   * `ListPodSandboxStats` with `filter`, as {@linkcode podStats} says: without a filter every
   * sandbox, with one only the ready ones that pass it (containerd 1.6 chooses so); one that
   * cannot be measured fails the call.
   */
  listPodSandboxStats(filter?: PodSandboxStatsFilter): PodSandboxStats[] {
    const method = "ListPodSandboxStats";
    this.#refuseUnimplemented(method);
    const chosen = [...this.#source.sandboxes.values()].filter((s) =>
      !filter ||
      ((!filter.id || s.id.startsWith(filter.id)) &&
        matches(s.config.labels, filter.labelSelector) && s.state === "SANDBOX_READY")
    );
    const unmeasured = chosen.find((s) => this.#unmeasured(s));
    if (unmeasured) {
      const why = `failed to obtain metrics for sandbox "${unmeasured.id}": ${
        this.#noCgroup(unmeasured)
      }`;
      throw new CriError("Other", method, `${method}: ${why}`);
    }
    return chosen.map((s) => this.#podStats(s));
  }

  // ---- internals ----

  #refuseUnimplemented(method: string): void {
    if (this.podStats !== "unimplemented") return;
    const message = `${method}: unknown method ${method} for service runtime.v1.RuntimeService`;
    throw new CriError("Unimplemented", method, message);
  }

  /** True when containerd 1.6 cannot measure `s`: it has no cgroup parent. */
  #unmeasured(s: FakeSandbox): boolean {
    return this.podStats === "containerd-1.6" && !s.config.linux?.cgroupParent;
  }

  #noCgroup(s: FakeSandbox): string {
    return `failed to get cgroup metrics for sandbox ${s.id} because cgroupPath is empty`;
  }

  /** The meter of `id`, made on first use: a container's from its start, a sandbox's idle. */
  #meter(id: string): Meter {
    const found = this.#meters.get(id);
    if (found) return found;
    const c = this.#source.containers.get(id);
    if (!c && !this.#source.sandboxes.has(id)) {
      throw new Error(`Fake container or sandbox "${id}" does not exist`);
    }
    const command = [...(c?.config.command ?? []), ...(c?.config.args ?? [])];
    const meter: Meter = {
      ...(c ? { container: c } : {}),
      base: 0,
      // A container's counter runs from its start (see #counter).
      since: c ? 0 : this.#source.now(),
      nanoCores: c && spins(command) ? spinRate(c) : 0,
      memory: c
        ? {
          workingSetBytes: WORKING_SET,
          usageBytes: WORKING_SET,
          rssBytes: RSS,
          pageFaults: PAGE_FAULTS,
          majorPageFaults: 0,
        }
        : { workingSetBytes: 0, usageBytes: 0, rssBytes: 0, pageFaults: 0, majorPageFaults: 0 },
    };
    this.#meters.set(id, meter);
    return meter;
  }

  /** The CPU counter of `meter` at `now` (milliseconds), in core-nanoseconds. */
  #counter(meter: Meter, now: number): number {
    const c = meter.container;
    const from = c ? Math.max(meter.since, c.startedAt || Infinity) : meter.since;
    const to = c?.state === "CONTAINER_EXITED" ? Math.min(now, c.finishedAt) : now;
    return Math.round(meter.base + meter.nanoCores * Math.max(0, to - from) / 1000);
  }

  /** containerd's `usageNanoCores` of `id` for a sample, which then becomes the previous one. */
  #rate(id: string, usage: number, timestamp: number): number {
    const previous = this.#samples.get(id);
    if (previous && timestamp - previous.timestamp <= 0) return 0;
    this.#samples.set(id, { usage, timestamp });
    if (!previous) return 0;
    const perSecond = (usage - previous.usage) / (timestamp - previous.timestamp) * 1e9;
    return Math.max(0, Math.floor(perSecond));
  }

  /** The figures of `meters` (added up) at `now`, rated as `id`'s. */
  #measure(
    id: string,
    meters: Meter[],
    now: number,
    limitBytes: number | undefined,
  ): { cpu: CpuUsage; memory: MemoryUsage } {
    const timestamp = now * 1e6;
    const usage = meters.reduce((sum, m) => sum + this.#counter(m, now), 0);
    const total = (key: keyof Meter["memory"]) => meters.reduce((sum, m) => sum + m.memory[key], 0);
    const workingSetBytes = total("workingSetBytes");
    return {
      cpu: {
        timestamp,
        usageCoreNanoSeconds: usage,
        usageNanoCores: this.#rate(id, usage, timestamp),
      },
      memory: {
        timestamp,
        workingSetBytes,
        availableBytes: limitBytes && limitBytes > 0
          ? Math.max(0, limitBytes - workingSetBytes)
          : 0,
        usageBytes: total("usageBytes"),
        rssBytes: total("rssBytes"),
        pageFaults: total("pageFaults"),
        majorPageFaults: total("majorPageFaults"),
      },
    };
  }

  /** A container's stats at `now`: figures only while it runs, its writable layer always. */
  #containerStats(c: FakeContainer, now: number): ContainerStats {
    const running = c.state === "CONTAINER_RUNNING";
    const limit = c.config.linux?.resources?.memoryLimitInBytes;
    return {
      id: c.id,
      metadata: { ...c.config.metadata },
      labels: { ...c.config.labels },
      annotations: { ...c.config.annotations },
      ...(running ? this.#measure(c.id, [this.#meter(c.id)], now, limit) : {}),
      writableLayer: { timestamp: 0, mountpoint: FAKE_SNAPSHOTS, usedBytes: 0, inodesUsed: 0 },
    };
  }

  /** A pod's stats: its own meter and its running containers', added up, and its containers. */
  #podStats(s: FakeSandbox): PodSandboxStats {
    const now = this.#source.now();
    const running = [...this.#source.containers.values()]
      .filter((c) => c.sandboxId === s.id && c.state === "CONTAINER_RUNNING");
    const meters = [this.#meter(s.id), ...running.map((c) => this.#meter(c.id))];
    const limit = s.config.linux?.resources?.memoryLimitInBytes;
    const hostNetwork = s.config.linux?.securityContext?.namespaceOptions?.network === "NODE";
    return {
      id: s.id,
      metadata: { ...s.config.metadata },
      labels: { ...s.config.labels },
      annotations: { ...s.config.annotations },
      ...this.#measure(s.id, meters, now, limit),
      ...(hostNetwork ? {} : {
        network: {
          timestamp: now * 1e6,
          defaultInterface: { name: "eth0", rxBytes: 0, rxErrors: 0, txBytes: 0, txErrors: 0 },
        },
      }),
      processCount: running.length,
      containers: this.listContainerStats({ podSandboxId: s.id }),
    };
  }
}
