/**
 * What `tinylet top` and `tinylet describe` read of resource usage: two samples of the
 * runtime's `ListContainerStats` a second apart (tinylet's own CPU rate between them, see
 * `lib/node/usage.ts`), each container's restarts as its newest instance records them, and the
 * requests and limits the manifests declare, with `describe`'s lines for a container.
 *
 * Only running containers have usage: one that is not running at the second sample has none,
 * one whose counter went down between the samples (it was recreated) or that started between
 * them has memory but no CPU rate.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { Cri } from "../runtime/cri.ts";
import type { ContainerStats, ContainerStatsFilter } from "../runtime/stats.ts";
import { KEYS } from "../runtime/labels.ts";
import {
  type ContainerUsage,
  formatCpu,
  formatMemory,
  newestPerContainer,
  usageOf,
  withRates,
} from "../node/usage.ts";
import { cpuMillis, memoryBytes } from "../manifest/quantity.ts";
import type { DesiredState } from "../reconcile/desired.ts";
import type { ContainerType } from "../translate/desired_pod.ts";
import type { ContainerView, PodView } from "../reconcile/status.ts";
import { ownedBy } from "../reconcile/observe.ts";
import type { AgentConfig } from "./cli.ts";
import { readDeclaredPods } from "./plan.ts";

/** How far apart the two samples are: the CPU rate is taken over this time. */
export const SAMPLE_INTERVAL_MS = 1_000;

/** Two samples of the runtime's stats, read together. */
export interface UsageSample {
  /** The containers running at the second sample, with their CPU rates since the first. */
  usages: ContainerUsage[];
  /** Restarts by pod (`namespace/name`), then container: its newest instance's restart count. */
  restarts: Map<string, Map<string, number>>;
}

/**
 * Lists the stats of the containers that pass `filter`, waits {@linkcode SAMPLE_INTERVAL_MS}
 * on `clock`, and lists them again. Without a running container at the first listing there is
 * nothing to rate: it returns at once. Runtime errors are thrown.
 */
export async function sampleUsage(
  cri: Cri,
  filter: ContainerStatsFilter,
  clock: Clock,
): Promise<UsageSample> {
  const first = await cri.listContainerStats(filter, { timeoutMs: STATS_TIMEOUT_MS });
  const before = usagesOf(first);
  if (before.length === 0) return { usages: [], restarts: restartsOf(first) };
  await new Promise<void>((resolve) => clock.schedule(resolve, SAMPLE_INTERVAL_MS));
  const second = await cri.listContainerStats(filter, { timeoutMs: STATS_TIMEOUT_MS });
  return { usages: withRates(before, usagesOf(second)), restarts: restartsOf(second) };
}

/** How long each stats listing may take: a slow runtime costs a few seconds, not twenty. */
const STATS_TIMEOUT_MS = 3_000;

function usagesOf(stats: readonly ContainerStats[]): ContainerUsage[] {
  return newestPerContainer(stats.map(usageOf).filter((u): u is ContainerUsage => u !== undefined));
}

/** Each container's restarts: the highest restart count among its instances listed. */
function restartsOf(stats: readonly ContainerStats[]): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const s of stats) {
    const namespace = s.labels[KEYS.podNamespace];
    const pod = s.labels[KEYS.podName];
    if (namespace === undefined || pod === undefined) continue;
    const name = s.labels[KEYS.containerName] ?? s.metadata.name;
    const annotated = Number(s.annotations[KEYS.restartCount]);
    const count = Number.isInteger(annotated) && annotated >= 0 ? annotated : s.metadata.attempt;
    const key = `${namespace}/${pod}`;
    const byName = out.get(key) ?? new Map<string, number>();
    byName.set(name, Math.max(byName.get(name) ?? 0, count));
    out.set(key, byName);
  }
  return out;
}

/** CPU in millicores and memory in bytes; a figure not declared is undefined. */
export interface Figures {
  milliCores?: number;
  memoryBytes?: number;
}

/** One declared container's requests and limits. */
export interface DeclaredResources {
  type: ContainerType;
  requests: Figures;
  limits: Figures;
}

/** The requests and limits the manifests declare: by pod (`namespace/name`), then container. */
export function declaredResources(
  desired: DesiredState,
): Map<string, Map<string, DeclaredResources>> {
  const out = new Map<string, Map<string, DeclaredResources>>();
  for (const d of desired.pods.values()) {
    out.set(
      d.key,
      new Map(d.containers.map((c) => {
        const r = c.spec.resources;
        return [c.name, {
          type: c.type,
          requests: figures(r?.requests),
          limits: figures(r?.limits),
        }];
      })),
    );
  }
  return out;
}

function figures(list: Record<string, string | number> | undefined): Figures {
  const out: Figures = {};
  // A manifest the agent took has valid quantities; one that is not is left out.
  try {
    if (list?.cpu !== undefined) out.milliCores = cpuMillis(list.cpu);
  } catch { /* not declared, as far as the figures go */ }
  try {
    if (list?.memory !== undefined) out.memoryBytes = memoryBytes(list.memory);
  } catch { /* not declared, as far as the figures go */ }
  return out;
}

/**
 * A pod's limits: the sum of those of the containers that run side by side (the regular ones
 * and the sidecars; init containers run before them), each figure only when every one of them
 * declares it.
 */
export function podLimits(containers: ReadonlyMap<string, DeclaredResources> | undefined): Figures {
  const running = [...containers?.values() ?? []].filter((c) => c.type !== "init");
  const sum = (get: (f: Figures) => number | undefined) => {
    const values = running.map((c) => get(c.limits));
    return running.length > 0 && values.every((v) => v !== undefined)
      ? values.reduce((n: number, v) => n + v!, 0)
      : undefined;
  };
  const out: Figures = {};
  const cpu = sum((f) => f.milliCores);
  const memory = sum((f) => f.memoryBytes);
  if (cpu !== undefined) out.milliCores = cpu;
  if (memory !== undefined) out.memoryBytes = memory;
  return out;
}

/** A CPU request or limit as the commands print it: `500m`; `-` when not declared. */
export function formatMillis(milliCores: number | undefined): string {
  return milliCores === undefined ? "-" : `${milliCores}m`;
}

/**
 * `describe`'s lines for container `c`: its CPU and memory now (from `usage`: the pod's running
 * containers, or `"unknown"` when the runtime gave no stats) next to its requests and limits.
 */
export function usageLines(
  c: Pick<ContainerView, "name">,
  usage: readonly ContainerUsage[] | "unknown",
  declared: DeclaredResources | undefined,
): string[] {
  const u = usage === "unknown" ? undefined : usage.find((x) => x.container === c.name);
  const now = (figure: string) =>
    usage === "unknown" ? "<unknown>" : u === undefined ? "<not running>" : figure;
  const said = (request: string | undefined, limit: string | undefined) => {
    const parts = [
      ...(request === undefined ? [] : [`request ${request}`]),
      ...(limit === undefined ? [] : [`limit ${limit}`]),
    ];
    return parts.length === 0 ? "no request or limit" : parts.join(", ");
  };
  const cpu = (m: number | undefined) => m === undefined ? undefined : formatMillis(m);
  const mem = (b: number | undefined) => b === undefined ? undefined : formatMemory(b);
  return [
    `    CPU:            ${now(formatCpu(u?.milliCores))} (${
      said(cpu(declared?.requests.milliCores), cpu(declared?.limits.milliCores))
    })`,
    `    Memory:         ${now(formatMemory(u?.memory?.workingSetBytes))} (${
      said(mem(declared?.requests.memoryBytes), mem(declared?.limits.memoryBytes))
    })`,
  ];
}

/**
 * For `describe` of pod `v`: each container's usage lines, from two samples of the pod's
 * containers (none taken when none runs) and its requests and limits in the manifests. A
 * runtime that gives no stats makes the figures `<unknown>`; manifests that cannot be read
 * leave the requests and limits out. Neither is said otherwise: `describe` goes on.
 */
export async function containerUsage(
  config: AgentConfig,
  cri: Cri,
  v: PodView,
  clock: Clock,
): Promise<(c: ContainerView) => string[]> {
  let usage: ContainerUsage[] | "unknown" = [];
  if (v.sandboxId && v.containers.some((c) => c.state === "running")) {
    try {
      const filter = { podSandboxId: v.sandboxId, labelSelector: ownedBy(config.instance) };
      usage = (await sampleUsage(cri, filter, clock)).usages;
    } catch {
      usage = "unknown";
    }
  }
  const quiet = { out: () => {}, err: () => {} };
  const declared = await readDeclaredPods(config, quiet).then(
    (d) => declaredResources(d).get(`${v.namespace}/${v.name}`),
    () => undefined,
  );
  return (c) => usageLines(c, usage, declared?.get(c.name));
}
