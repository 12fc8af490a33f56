/**
 * The stats messages of the CRI (`ContainerStats`, `ListContainerStats`, `PodSandboxStats`,
 * `ListPodSandboxStats`) as they come off the wire, turned into the plain types of `stats.ts`,
 * and their filters turned into their wire form. Every figure on the wire is wrapped
 * (`UInt64Value`): a wrapper the runtime left out decodes as `null` and becomes `undefined`;
 * a present 0 stays 0. {@linkcode statsCalls} makes the four calls for `grpc.ts`.
 *
 * @module
 */
import type { CallOptions, ContainerMetadata, Cri, Labels, PodSandboxMetadata } from "./cri.ts";
import { CriError } from "./errors.ts";
import type {
  ContainerStats,
  ContainerStatsFilter,
  CpuUsage,
  FilesystemUsage,
  MemoryUsage,
  NetworkInterfaceUsage,
  PodSandboxStats,
  PodSandboxStatsFilter,
} from "./stats.ts";

/** A wrapped figure on the wire: `null` when the runtime left it out. */
export type WireUInt64 = { value: number } | null;

/** `CpuUsage` on the wire. */
export interface WireCpuUsage {
  timestamp: number;
  usageCoreNanoSeconds: WireUInt64;
  usageNanoCores: WireUInt64;
}

/** `MemoryUsage` on the wire. */
export interface WireMemoryUsage {
  timestamp: number;
  workingSetBytes: WireUInt64;
  availableBytes: WireUInt64;
  usageBytes: WireUInt64;
  rssBytes: WireUInt64;
  pageFaults: WireUInt64;
  majorPageFaults: WireUInt64;
}

/** `FilesystemUsage` on the wire. */
export interface WireFilesystemUsage {
  timestamp: number;
  fsId: { mountpoint: string } | null;
  usedBytes: WireUInt64;
  inodesUsed: WireUInt64;
}

/** `ContainerStats` on the wire: which container in `attributes`, then its figures. */
export interface WireContainerStats {
  attributes: {
    id: string;
    metadata: ContainerMetadata | null;
    labels: Labels;
    annotations: Labels;
  } | null;
  cpu: WireCpuUsage | null;
  memory: WireMemoryUsage | null;
  writableLayer: WireFilesystemUsage | null;
}

/** `NetworkInterfaceUsage` on the wire. */
export interface WireNetworkInterfaceUsage {
  name: string;
  rxBytes: WireUInt64;
  rxErrors: WireUInt64;
  txBytes: WireUInt64;
  txErrors: WireUInt64;
}

/** `PodSandboxStats` on the wire: which sandbox in `attributes`, its figures in `linux`. */
export interface WirePodSandboxStats {
  attributes: {
    id: string;
    metadata: PodSandboxMetadata | null;
    labels: Labels;
    annotations: Labels;
  } | null;
  linux: {
    cpu: WireCpuUsage | null;
    memory: WireMemoryUsage | null;
    network: { timestamp: number; defaultInterface: WireNetworkInterfaceUsage | null } | null;
    process: { timestamp: number; processCount: WireUInt64 } | null;
    containers: WireContainerStats[];
  } | null;
}

/** `{ [key]: n }` when the wire carried the figure, else `{}`: for spreading into a result. */
function figure<K extends string>(key: K, wrapped: WireUInt64 | undefined): { [P in K]?: number } {
  return wrapped ? { [key]: Number(wrapped.value) } as { [P in K]?: number } : {};
}

function fromWireCpu(c: WireCpuUsage): CpuUsage {
  return {
    timestamp: Number(c.timestamp),
    ...figure("usageCoreNanoSeconds", c.usageCoreNanoSeconds),
    ...figure("usageNanoCores", c.usageNanoCores),
  };
}

function fromWireMemory(m: WireMemoryUsage): MemoryUsage {
  return {
    timestamp: Number(m.timestamp),
    ...figure("workingSetBytes", m.workingSetBytes),
    ...figure("availableBytes", m.availableBytes),
    ...figure("usageBytes", m.usageBytes),
    ...figure("rssBytes", m.rssBytes),
    ...figure("pageFaults", m.pageFaults),
    ...figure("majorPageFaults", m.majorPageFaults),
  };
}

function fromWireFilesystem(f: WireFilesystemUsage): FilesystemUsage {
  return {
    timestamp: Number(f.timestamp),
    mountpoint: f.fsId?.mountpoint ?? "",
    ...figure("usedBytes", f.usedBytes),
    ...figure("inodesUsed", f.inodesUsed),
  };
}

function fromWireInterface(i: WireNetworkInterfaceUsage): NetworkInterfaceUsage {
  return {
    name: i.name,
    ...figure("rxBytes", i.rxBytes),
    ...figure("rxErrors", i.rxErrors),
    ...figure("txBytes", i.txBytes),
    ...figure("txErrors", i.txErrors),
  };
}

/** A `ContainerStats`, copied; the figures the runtime left out are left out. */
export function fromWireContainerStats(s: WireContainerStats): ContainerStats {
  const a = s.attributes;
  return {
    id: a?.id ?? "",
    metadata: { name: a?.metadata?.name ?? "", attempt: a?.metadata?.attempt ?? 0 },
    labels: { ...a?.labels },
    annotations: { ...a?.annotations },
    ...(s.cpu ? { cpu: fromWireCpu(s.cpu) } : {}),
    ...(s.memory ? { memory: fromWireMemory(s.memory) } : {}),
    ...(s.writableLayer ? { writableLayer: fromWireFilesystem(s.writableLayer) } : {}),
  };
}

/** A `PodSandboxStats` (its Linux figures), copied; the figures left out are left out. */
export function fromWirePodSandboxStats(s: WirePodSandboxStats): PodSandboxStats {
  const a = s.attributes;
  const linux = s.linux;
  const network = linux?.network;
  const process = linux?.process;
  return {
    id: a?.id ?? "",
    metadata: {
      name: a?.metadata?.name ?? "",
      uid: a?.metadata?.uid ?? "",
      namespace: a?.metadata?.namespace ?? "",
      attempt: a?.metadata?.attempt ?? 0,
    },
    labels: { ...a?.labels },
    annotations: { ...a?.annotations },
    ...(linux?.cpu ? { cpu: fromWireCpu(linux.cpu) } : {}),
    ...(linux?.memory ? { memory: fromWireMemory(linux.memory) } : {}),
    ...(network
      ? {
        network: {
          timestamp: Number(network.timestamp),
          ...(network.defaultInterface
            ? { defaultInterface: fromWireInterface(network.defaultInterface) }
            : {}),
        },
      }
      : {}),
    ...figure("processCount", process?.processCount),
    containers: (linux?.containers ?? []).map(fromWireContainerStats),
  };
}

/** `ContainerStatsFilter` on the wire; null when there is no filter. */
export function containerStatsFilterToWire(filter: ContainerStatsFilter | undefined): unknown {
  return filter
    ? {
      id: filter.id ?? "",
      podSandboxId: filter.podSandboxId ?? "",
      labelSelector: filter.labelSelector ?? {},
    }
    : null;
}

/** `PodSandboxStatsFilter` on the wire; null when there is no filter. */
export function podSandboxStatsFilterToWire(filter: PodSandboxStatsFilter | undefined): unknown {
  return filter ? { id: filter.id ?? "", labelSelector: filter.labelSelector ?? {} } : null;
}

/** One unary call of the runtime service, with the client's deadline and error mapping. */
export type RuntimeCall = (
  method: string,
  request: unknown,
  opts?: CallOptions,
) => Promise<unknown>;

/** The stats calls of {@linkcode Cri}. */
export type StatsCalls = Pick<
  Cri,
  "containerStats" | "listContainerStats" | "podSandboxStats" | "listPodSandboxStats"
>;

/** The answer `method` gave for `id` without its stats: a runtime that broke the protocol. */
function withoutStats(method: string, id: string): CriError {
  return new CriError("Other", method, `${method}: the runtime answered without stats for "${id}"`);
}

/** The four stats calls, made through `call`. */
export function statsCalls(call: RuntimeCall): StatsCalls {
  return {
    async containerStats(id, opts) {
      const r = await call("ContainerStats", { containerId: id }, opts) as {
        stats: WireContainerStats | null;
      };
      if (!r.stats) throw withoutStats("ContainerStats", id);
      return fromWireContainerStats(r.stats);
    },
    async listContainerStats(filter, opts) {
      const request = { filter: containerStatsFilterToWire(filter) };
      const r = await call("ListContainerStats", request, opts) as { stats: WireContainerStats[] };
      return r.stats.map(fromWireContainerStats);
    },
    async podSandboxStats(id, opts) {
      const r = await call("PodSandboxStats", { podSandboxId: id }, opts) as {
        stats: WirePodSandboxStats | null;
      };
      if (!r.stats) throw withoutStats("PodSandboxStats", id);
      return fromWirePodSandboxStats(r.stats);
    },
    async listPodSandboxStats(filter, opts) {
      const request = { filter: podSandboxStatsFilterToWire(filter) };
      const r = await call("ListPodSandboxStats", request, opts) as {
        stats: WirePodSandboxStats[];
      };
      return r.stats.map(fromWirePodSandboxStats);
    },
  };
}
