/**
 * The standard process metrics every Prometheus exporter has (`process_cpu_seconds_total`,
 * `process_resident_memory_bytes`, `process_start_time_seconds`, `process_open_fds`), read
 * without extra permissions where Deno allows: the CPU time from the runtime's own counters, the
 * resident set from `Deno.memoryUsage`, the start from the time origin. Deno does not read
 * `/proc` under plain read permission, so the open files are counted by `ls /proc/<pid>/fd`.
 *
 * @module
 */
import process from "node:process";
import { familyText } from "../base/metrics.ts";

/** The process's figures; `openFds` is undefined when they could not be counted. */
export interface ProcessFigures {
  /** User and system CPU time since the process started, in seconds. */
  cpuSeconds: number;
  residentBytes: number;
  /** When the process started, in Unix seconds. */
  startTimeSeconds: number;
  openFds?: number;
}

/** The number of entries `ls -1 /proc/<pid>/fd` lists, or undefined when it fails. */
export async function countOpenFds(pid: number): Promise<number | undefined> {
  try {
    const out = await new Deno.Command("ls", {
      args: ["-1", `/proc/${pid}/fd`],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!out.success) return undefined;
    return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").length;
  } catch {
    return undefined;
  }
}

/** This process's figures now. */
export async function processFigures(
  openFds: (pid: number) => Promise<number | undefined> = countOpenFds,
): Promise<ProcessFigures> {
  const cpu = process.cpuUsage();
  const fds = await openFds(Deno.pid);
  return {
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    residentBytes: Deno.memoryUsage().rss,
    startTimeSeconds: performance.timeOrigin / 1000,
    ...(fds === undefined ? {} : { openFds: fds }),
  };
}

/** The four families of `f`, in the text format (`process_open_fds` only when counted). */
export function processMetricsText(f: ProcessFigures): string[] {
  const one = (value: number) => [{ labels: {}, value }];
  return [
    ...familyText(
      "process_cpu_seconds_total",
      "Total user and system CPU time spent in seconds.",
      "counter",
      one(f.cpuSeconds),
    ),
    ...familyText(
      "process_resident_memory_bytes",
      "Resident memory size in bytes.",
      "gauge",
      one(f.residentBytes),
    ),
    ...familyText(
      "process_start_time_seconds",
      "Start time of the process since unix epoch in seconds.",
      "gauge",
      one(f.startTimeSeconds),
    ),
    ...(f.openFds === undefined ? [] : familyText(
      "process_open_fds",
      "Number of open file descriptors.",
      "gauge",
      one(f.openFds),
    )),
  ];
}
