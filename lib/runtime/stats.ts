/**
 * The resource usage the runtime reports (CRI `ContainerStats`, `ListContainerStats`,
 * `PodSandboxStats`, `ListPodSandboxStats`), as tinylet reads it. Times are Unix nanoseconds,
 * as on the wire. A figure the runtime leaves out is `undefined`, never 0: a present 0 (a
 * container that used nothing yet, `usageNanoCores` before the runtime has two samples) stays 0.
 *
 * @module
 */
import type { ContainerMetadata, Labels, PodSandboxMetadata } from "./metadata.ts";

/** CPU time used, and the runtime's own rate when it gives one. */
export interface CpuUsage {
  /** When the figures were read, in Unix nanoseconds. */
  timestamp: number;
  /** CPU time used since the container (or pod) started, in core-nanoseconds: a counter. */
  usageCoreNanoSeconds?: number;
  /**
   * The runtime's rate, in nano-cores. containerd 1.6 computes it against the previous call
   * of anyone, and gives 0 on a first call: tinylet computes its own rate from two samples.
   */
  usageNanoCores?: number;
}

/** Memory in use. */
export interface MemoryUsage {
  /** When the figures were read, in Unix nanoseconds. */
  timestamp: number;
  /** Memory in use minus the inactive file cache, in bytes: what the OOM killer weighs. */
  workingSetBytes?: number;
  /** The limit minus the working set, in bytes (0 without a limit). */
  availableBytes?: number;
  usageBytes?: number;
  rssBytes?: number;
  pageFaults?: number;
  majorPageFaults?: number;
}

/** The writable layer of a container. */
export interface FilesystemUsage {
  timestamp: number;
  /** Where the filesystem is mounted, when the runtime says. */
  mountpoint: string;
  usedBytes?: number;
  inodesUsed?: number;
}

/** One container's usage, as `ContainerStats` and `ListContainerStats` give it. */
export interface ContainerStats {
  /** The container's id. */
  id: string;
  metadata: ContainerMetadata;
  labels: Labels;
  annotations: Labels;
  /** Absent for a container that does not run (created, exited). */
  cpu?: CpuUsage;
  /** Absent for a container that does not run (created, exited). */
  memory?: MemoryUsage;
  writableLayer?: FilesystemUsage;
}

/** The filter of `ListContainerStats`: every field set must match. */
export interface ContainerStatsFilter {
  id?: string;
  podSandboxId?: string;
  labelSelector?: Labels;
}

/** A network interface's counters. */
export interface NetworkInterfaceUsage {
  name: string;
  rxBytes?: number;
  rxErrors?: number;
  txBytes?: number;
  txErrors?: number;
}

/** One pod's usage, as `PodSandboxStats` and `ListPodSandboxStats` give it (Linux). */
export interface PodSandboxStats {
  /** The sandbox's id. */
  id: string;
  metadata: PodSandboxMetadata;
  labels: Labels;
  annotations: Labels;
  /** The pod's cgroup: its containers and its sandbox's own process. */
  cpu?: CpuUsage;
  memory?: MemoryUsage;
  /** The pod's default interface, when it has a network of its own. */
  network?: { timestamp: number; defaultInterface?: NetworkInterfaceUsage };
  /** How many processes run in the pod. */
  processCount?: number;
  /** Its containers' usage, as `ListContainerStats` gives it. */
  containers: ContainerStats[];
}

/** The filter of `ListPodSandboxStats`: every field set must match. */
export interface PodSandboxStatsFilter {
  id?: string;
  labelSelector?: Labels;
}
