/**
 * `tinylet top`: what each running pod (or, with `--containers`, each container) of this agent
 * instance uses now, as `kubectl top` shows it (CPU in millicores, memory working set), with
 * its limits from the manifests and its restarts.
 *
 * The CPU figure is tinylet's own rate over the second between two `ListContainerStats`
 * samples (`usage_sample.ts`), not the runtime's `usageNanoCores`. Only running containers
 * have usage: a pod shows the containers that run, and a pod with none is not shown.
 *
 * What it prints goes through `printableIo`, and `-o json` through `terminalJson`, so names
 * from the runtime or the manifests show their control characters escaped.
 *
 * @module
 */
import type { AgentConfig } from "./cli.ts";
import type { Io } from "./io.ts";
import type { Cri } from "../runtime/cri.ts";
import { type Clock, SYSTEM_CLOCK } from "../base/clock.ts";
import { printableIo, terminalJson } from "../base/escape.ts";
import { ownedBy } from "../reconcile/observe.ts";
import { formatCpu, formatMemory, podUsages, wholeMilliCores } from "../node/usage.ts";
import { KEYS } from "../runtime/labels.ts";
import { readDeclaredPods } from "./plan.ts";
import { table } from "./pods.ts";
import {
  declaredResources,
  type Figures,
  formatMillis,
  podLimits,
  sampleUsage,
  type UsageSample,
} from "./usage_sample.ts";

/** What `tinylet top` was asked for. */
export interface TopOptions {
  namespace: string | undefined;
  output: "table" | "json";
  /** One row per container instead of per pod. */
  containers: boolean;
  /** Heaviest first by this figure; by namespace and name otherwise. */
  sortBy: "cpu" | "memory" | undefined;
  /** Times the second between the two samples (the system's clock by default). */
  clock?: Clock;
}

/** A row's figures, as `-o json` prints them: numbers, `null` when there is none. */
export interface TopFigures {
  /** CPU over the second between the samples, in millicores (rounded up, as printed). */
  milliCores: number | null;
  workingSetBytes: number | null;
  /** The limits declared in the manifest (a pod's: the sum of its containers'). */
  limits: { milliCores: number | null; memoryBytes: number | null };
  restarts: number;
}

/** One running container. */
export interface TopContainer extends TopFigures {
  namespace: string;
  pod: string;
  name: string;
}

/** One pod: the sum of its running containers, and its restarts those of all its containers. */
export interface TopPod extends TopFigures {
  namespace: string;
  name: string;
  containers: TopContainer[];
}

/** The pods of `sample` with their limits from `declared`, by namespace and name. */
export function topPods(
  sample: UsageSample,
  declared: ReturnType<typeof declaredResources>,
): TopPod[] {
  return podUsages(sample.usages).map((p) => {
    const key = `${p.namespace}/${p.pod}`;
    const restarts = sample.restarts.get(key) ?? new Map<string, number>();
    const specs = declared.get(key);
    const containers = p.containers.map((u) => ({
      namespace: p.namespace,
      pod: p.pod,
      name: u.container,
      milliCores: milli(u.milliCores),
      workingSetBytes: u.memory?.workingSetBytes ?? null,
      limits: limitsOf(specs?.get(u.container)?.limits ?? {}),
      restarts: restarts.get(u.container) ?? 0,
    })).sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    return {
      namespace: p.namespace,
      name: p.pod,
      milliCores: milli(p.milliCores),
      workingSetBytes: p.memory?.workingSetBytes ?? null,
      limits: limitsOf(podLimits(specs)),
      restarts: [...restarts.values()].reduce((n, r) => n + r, 0),
      containers,
    };
  });
}

function milli(rate: number | undefined): number | null {
  // Rounded as formatCpu prints it, so the JSON and the table agree.
  return rate === undefined ? null : wholeMilliCores(rate);
}

function limitsOf(f: Figures): TopFigures["limits"] {
  return { milliCores: f.milliCores ?? null, memoryBytes: f.memoryBytes ?? null };
}

/** Heaviest first by `by` (rows without the figure last), the order kept among equals. */
export function sortRows<T extends TopFigures>(rows: T[], by: "cpu" | "memory" | undefined): T[] {
  if (!by) return rows;
  const get = (r: T) => (by === "cpu" ? r.milliCores : r.workingSetBytes) ?? -1;
  return [...rows].sort((a, b) => get(b) - get(a));
}

/** The table of `rows`: pods, or containers with their pod. */
export function topTable(rows: (TopPod | TopContainer)[], containers: boolean): string[] {
  const head = ["NAMESPACE", ...(containers ? ["POD"] : []), "NAME"];
  return table([
    [...head, "CPU(cores)", "MEMORY(bytes)", "CPU LIMIT", "MEMORY LIMIT", "RESTARTS"],
    ...rows.map((r) => [
      r.namespace,
      ...("pod" in r ? [r.pod] : []),
      r.name,
      formatCpu(r.milliCores ?? undefined),
      formatMemory(r.workingSetBytes ?? undefined),
      formatMillis(r.limits.milliCores ?? undefined),
      formatMemory(r.limits.memoryBytes ?? undefined),
      String(r.restarts),
    ]),
  ]);
}

/** `tinylet top [--containers] [--sort-by cpu|memory] [-n NAMESPACE] [-o json]`. */
export async function topCommand(
  config: AgentConfig,
  cri: Cri,
  options: TopOptions,
  raw: Io,
): Promise<number> {
  const io = printableIo(raw);
  let sample: UsageSample;
  try {
    sample = await sampleUsage(
      cri,
      {
        labelSelector: {
          ...ownedBy(config.instance),
          ...(options.namespace ? { [KEYS.podNamespace]: options.namespace } : {}),
        },
      },
      options.clock ?? SYSTEM_CLOCK,
    );
  } catch (err) {
    io.err(`Cannot read the runtime's stats: ${(err as Error).message}`);
    return 1;
  }
  const declared = declaredResources(await readDeclaredPods(config, io));
  const pods = topPods(sample, declared)
    .filter((p) => !options.namespace || p.namespace === options.namespace);
  const rows = sortRows<TopPod | TopContainer>(
    options.containers ? pods.flatMap((p) => p.containers) : pods,
    options.sortBy,
  );
  if (options.output === "json") {
    raw.out(terminalJson(rows, 2));
    return 0;
  }
  if (rows.length === 0) {
    io.err(
      `No pods of instance ${config.instance} run${
        options.namespace ? ` in namespace ${options.namespace}` : ""
      }`,
    );
    return 0;
  }
  for (const line of topTable(rows, options.containers)) io.out(line);
  return 0;
}
