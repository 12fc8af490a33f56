/**
 * What each container and pod costs, from the runtime's stats, pure: who a stats entry belongs
 * to (its pod, namespace and container, from the labels the contract puts on it), the CPU rate
 * between two samples, pods as the sum of their containers, and the figures as `kubectl top`
 * prints them.
 *
 * The CPU rate is tinylet's own: the change of the container's CPU counter (core-nanoseconds)
 * over the change of its timestamp, between two samples of the same container. The runtime's
 * `usageNanoCores` is not used: containerd 1.6 computes it against the previous call of any
 * client and gives 0 on a first one. A counter that went down (the container was recreated under
 * the same id, or the runtime restarted) gives no rate, never a negative one.
 *
 * @module
 */
import type { ContainerStats } from "../runtime/stats.ts";
import { KEYS } from "../runtime/labels.ts";

/** One running container's usage at one time. */
export interface ContainerUsage {
  /** The container's id. */
  id: string;
  namespace: string;
  pod: string;
  container: string;
  /** Its instance (the runtime's attempt): of two of a name, the higher one is the newer. */
  attempt: number;
  /** CPU time used since it started, in core-nanoseconds, and when it was read (Unix ns). */
  cpu?: { coreNanoSeconds: number; at: number };
  /** Memory working set in bytes, and when it was read (Unix ns). */
  memory?: { workingSetBytes: number; at: number };
  /** The CPU rate since the previous sample, in millicores, when there was one. */
  milliCores?: number;
}

/**
 * The usage in one stats entry, with whom it belongs to; undefined for a container that does
 * not run (the runtime gives it no CPU and no memory) or that carries no pod labels.
 */
export function usageOf(s: ContainerStats): ContainerUsage | undefined {
  const namespace = s.labels[KEYS.podNamespace];
  const pod = s.labels[KEYS.podName];
  const container = s.labels[KEYS.containerName] ?? s.metadata.name;
  if (namespace === undefined || pod === undefined) return undefined;
  const cpu = s.cpu?.usageCoreNanoSeconds !== undefined
    ? { coreNanoSeconds: s.cpu.usageCoreNanoSeconds, at: s.cpu.timestamp }
    : undefined;
  const memory = s.memory?.workingSetBytes !== undefined
    ? { workingSetBytes: s.memory.workingSetBytes, at: s.memory.timestamp }
    : undefined;
  if (!cpu && !memory) return undefined;
  return {
    id: s.id,
    namespace,
    pod,
    container,
    attempt: s.metadata.attempt,
    ...(cpu ? { cpu } : {}),
    ...(memory ? { memory } : {}),
  };
}

/**
 * The CPU rate in millicores between two samples of one container: the counter's change over
 * the time's change. Undefined when either lacks CPU, the time did not advance, or the counter
 * went down (a reset).
 */
export function cpuRate(
  before: ContainerUsage["cpu"],
  after: ContainerUsage["cpu"],
): number | undefined {
  if (!before || !after) return undefined;
  const dt = after.at - before.at;
  const used = after.coreNanoSeconds - before.coreNanoSeconds;
  if (dt <= 0 || used < 0) return undefined;
  return (used / dt) * 1000;
}

/**
 * The usages of `after` with their CPU rates since `before` (the earlier sample, by container
 * id); a container not in `before`, or whose counter was reset, has no rate.
 */
export function withRates(
  before: readonly ContainerUsage[],
  after: readonly ContainerUsage[],
): ContainerUsage[] {
  const earlier = new Map(before.map((u) => [u.id, u] as const));
  return after.map((u) => {
    const rate = cpuRate(earlier.get(u.id)?.cpu, u.cpu);
    return rate === undefined ? u : { ...u, milliCores: rate };
  });
}

/** One pod's usage: the sum of its running containers'. */
export interface PodUsage {
  namespace: string;
  pod: string;
  /** Its containers' CPU time, in core-nanoseconds, and the latest time read; when all have it. */
  cpu?: { coreNanoSeconds: number; at: number };
  /** Its containers' working sets, in bytes, and the latest time read; when all have it. */
  memory?: { workingSetBytes: number; at: number };
  /** Its containers' CPU rates, in millicores; when all have one. */
  milliCores?: number;
  containers: ContainerUsage[];
}

/** The pods of `usages` (by namespace, then name), each the sum of its containers. */
export function podUsages(usages: readonly ContainerUsage[]): PodUsage[] {
  const byPod = new Map<string, ContainerUsage[]>();
  for (const u of usages) {
    const key = `${u.namespace}/${u.pod}`;
    byPod.set(key, [...(byPod.get(key) ?? []), u]);
  }
  const sum = <T>(list: ContainerUsage[], get: (u: ContainerUsage) => T | undefined) => {
    const values = list.map(get);
    return values.every((v) => v !== undefined) ? values as T[] : undefined;
  };
  return [...byPod.values()].map((list) => {
    const first = list[0]!;
    const cpu = sum(list, (u) => u.cpu);
    const memory = sum(list, (u) => u.memory);
    const rates = sum(list, (u) => u.milliCores);
    return {
      namespace: first.namespace,
      pod: first.pod,
      ...(cpu
        ? {
          cpu: {
            coreNanoSeconds: cpu.reduce((n, c) => n + c.coreNanoSeconds, 0),
            at: Math.max(...cpu.map((c) => c.at)),
          },
        }
        : {}),
      ...(memory
        ? {
          memory: {
            workingSetBytes: memory.reduce((n, m) => n + m.workingSetBytes, 0),
            at: Math.max(...memory.map((m) => m.at)),
          },
        }
        : {}),
      ...(rates ? { milliCores: rates.reduce((n, r) => n + r, 0) } : {}),
      containers: list,
    };
  }).sort((a, b) =>
    a.namespace === b.namespace ? compare(a.pod, b.pod) : compare(a.namespace, b.namespace)
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A CPU rate in whole millicores, rounded up as a quantity's milli value is; a thousandth of a
 * millicore of slack absorbs the rounding of the runtime's nanosecond timestamps as numbers.
 */
export function wholeMilliCores(milliCores: number): number {
  return Math.ceil(milliCores - 1e-3);
}

/** CPU in millicores as `kubectl top` prints it: `512m`. */
export function formatCpu(milliCores: number | undefined): string {
  return milliCores === undefined ? "-" : `${wholeMilliCores(milliCores)}m`;
}

/**
 * One usage per container of each pod: of two instances of a name listed at once (a pod whose
 * old sandbox still runs beside its new one), the one `newer` says is newer (by default, the
 * higher attempt; then the later in the list). Their series would otherwise be duplicates.
 */
export function newestPerContainer(
  usages: readonly ContainerUsage[],
  newer: (a: ContainerUsage, b: ContainerUsage) => boolean = (a, b) => a.attempt > b.attempt,
): ContainerUsage[] {
  const kept = new Map<string, ContainerUsage>();
  for (const u of usages) {
    const key = `${u.namespace}/${u.pod}/${u.container}`;
    const seen = kept.get(key);
    if (!seen || !newer(seen, u)) kept.set(key, u);
  }
  return [...kept.values()];
}

/** Memory in bytes as `kubectl top` prints it: `34Mi` (whole mebibytes, rounded down). */
export function formatMemory(bytes: number | undefined): string {
  return bytes === undefined ? "-" : `${Math.floor(bytes / 1048576)}Mi`;
}
