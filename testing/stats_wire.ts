/**
 * The stats calls as a test server speaks them: the answers of a {@linkcode Cri} in their wire
 * form (each figure wrapped, `null` where the runtime leaves one out, as containerd does), and
 * the filters it receives turned back into plain types. The client's side of the same messages
 * is `lib/runtime/grpc_stats.ts`.
 *
 * @module
 */
import type { Cri } from "../lib/runtime/cri.ts";
import type {
  WireContainerStats,
  WireCpuUsage,
  WireMemoryUsage,
  WirePodSandboxStats,
  WireUInt64,
} from "../lib/runtime/grpc_stats.ts";
import type {
  ContainerStats,
  ContainerStatsFilter,
  CpuUsage,
  MemoryUsage,
  PodSandboxStats,
  PodSandboxStatsFilter,
} from "../lib/runtime/stats.ts";

/** A figure wrapped for the wire; `null` when there is none. */
function wrap(value: number | undefined): WireUInt64 {
  return value === undefined ? null : { value };
}

function cpuToWire(c: CpuUsage | undefined): WireCpuUsage | null {
  return c
    ? {
      timestamp: c.timestamp,
      usageCoreNanoSeconds: wrap(c.usageCoreNanoSeconds),
      usageNanoCores: wrap(c.usageNanoCores),
    }
    : null;
}

function memoryToWire(m: MemoryUsage | undefined): WireMemoryUsage | null {
  return m
    ? {
      timestamp: m.timestamp,
      workingSetBytes: wrap(m.workingSetBytes),
      availableBytes: wrap(m.availableBytes),
      usageBytes: wrap(m.usageBytes),
      rssBytes: wrap(m.rssBytes),
      pageFaults: wrap(m.pageFaults),
      majorPageFaults: wrap(m.majorPageFaults),
    }
    : null;
}

/** A container's stats as `ContainerStats` and `ListContainerStats` send them. */
export function containerStatsToWire(s: ContainerStats): WireContainerStats {
  const layer = s.writableLayer;
  return {
    attributes: { id: s.id, metadata: s.metadata, labels: s.labels, annotations: s.annotations },
    cpu: cpuToWire(s.cpu),
    memory: memoryToWire(s.memory),
    writableLayer: layer
      ? {
        timestamp: layer.timestamp,
        fsId: { mountpoint: layer.mountpoint },
        usedBytes: wrap(layer.usedBytes),
        inodesUsed: wrap(layer.inodesUsed),
      }
      : null,
  };
}

/** A pod's stats as `PodSandboxStats` and `ListPodSandboxStats` send them. */
export function podSandboxStatsToWire(s: PodSandboxStats): WirePodSandboxStats {
  const i = s.network?.defaultInterface;
  return {
    attributes: { id: s.id, metadata: s.metadata, labels: s.labels, annotations: s.annotations },
    linux: {
      cpu: cpuToWire(s.cpu),
      memory: memoryToWire(s.memory),
      network: s.network
        ? {
          timestamp: s.network.timestamp,
          defaultInterface: i
            ? {
              name: i.name,
              rxBytes: wrap(i.rxBytes),
              rxErrors: wrap(i.rxErrors),
              txBytes: wrap(i.txBytes),
              txErrors: wrap(i.txErrors),
            }
            : null,
        }
        : null,
      process: s.processCount === undefined
        ? null
        : { timestamp: s.cpu?.timestamp ?? 0, processCount: wrap(s.processCount) },
      containers: s.containers.map(containerStatsToWire),
    },
  };
}

/** A filter as received: empty strings are unset ids; `null` is no filter. */
interface WireFilter {
  id?: string;
  podSandboxId?: string;
  labelSelector?: Record<string, string>;
}

/** `ContainerStatsFilter` as a server receives it; undefined when the client sent none. */
export function containerStatsFilterFromWire(
  f: WireFilter | null | undefined,
): ContainerStatsFilter | undefined {
  if (!f) return undefined;
  return {
    ...(f.id ? { id: f.id } : {}),
    ...(f.podSandboxId ? { podSandboxId: f.podSandboxId } : {}),
    labelSelector: { ...f.labelSelector },
  };
}

/** `PodSandboxStatsFilter` as a server receives it; undefined when the client sent none. */
export function podSandboxStatsFilterFromWire(
  f: WireFilter | null | undefined,
): PodSandboxStatsFilter | undefined {
  if (!f) return undefined;
  return { ...(f.id ? { id: f.id } : {}), labelSelector: { ...f.labelSelector } };
}

// deno-lint-ignore no-explicit-any
type Req = any;
type Handler = (req: Req, opts: { signal: AbortSignal; timeoutMs: number }) => Promise<unknown>;

/** The handlers of the four stats calls for a test server of `cri`. */
export function statsHandlers(cri: Cri): Record<string, Handler> {
  return {
    ContainerStats: async (r, o) => ({
      stats: containerStatsToWire(await cri.containerStats(r.containerId, o)),
    }),
    ListContainerStats: async (r, o) => ({
      stats: (await cri.listContainerStats(containerStatsFilterFromWire(r.filter), o))
        .map(containerStatsToWire),
    }),
    PodSandboxStats: async (r, o) => ({
      stats: podSandboxStatsToWire(await cri.podSandboxStats(r.podSandboxId, o)),
    }),
    ListPodSandboxStats: async (r, o) => ({
      stats: (await cri.listPodSandboxStats(podSandboxStatsFilterFromWire(r.filter), o))
        .map(podSandboxStatsToWire),
    }),
  };
}
