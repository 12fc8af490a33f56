/**
 * The standard process metrics every Prometheus exporter has (`process_cpu_seconds_total`,
 * `process_resident_memory_bytes`, `process_start_time_seconds`, `process_open_fds`), read
 * without extra permissions where Deno allows: the CPU time from the runtime's own counters, the
 * resident set from `Deno.memoryUsage`. Deno does not read `/proc` under plain read permission,
 * so the open files are counted by `ls /proc/<pid>/fd`, and the start is read once by `cat`
 * (the process's start in clock ticks after boot, and the boot time), as exporters read it.
 *
 * @module
 */
import process from "node:process";
import { familyText } from "../base/metrics.ts";
import { commandOutput } from "../base/command_output.ts";

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
    const out = await commandOutput("ls", { args: ["-1", `/proc/${pid}/fd`] });
    if (!out.success) return undefined;
    return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").length;
  } catch {
    return undefined;
  }
}

/** Linux's clock ticks per second for /proc (`USER_HZ`, 100 on every architecture it runs on). */
const USER_HZ = 100;

/**
 * When process `pid` started, in Unix seconds: its start in clock ticks after boot (field 22 of
 * `/proc/<pid>/stat`) plus the boot time (`btime` of `/proc/stat`), read by `cat`. Undefined
 * when they cannot be read.
 */
export async function readStartTime(pid: number): Promise<number | undefined> {
  try {
    const out = await commandOutput("cat", { args: [`/proc/${pid}/stat`, "/proc/stat"] });
    if (!out.success) return undefined;
    const text = new TextDecoder().decode(out.stdout);
    // The command's name may hold spaces and parentheses: the fields follow its last ")".
    const stat = text.split("\n")[0] ?? "";
    const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
    const ticks = Number(fields[19]);
    const boot = Number(/^btime (\d+)$/m.exec(text)?.[1]);
    return Number.isFinite(ticks) && Number.isFinite(boot) ? boot + ticks / USER_HZ : undefined;
  } catch {
    return undefined;
  }
}

let started: Promise<number | undefined> | undefined;

/** This process's figures now. */
export async function processFigures(
  openFds: (pid: number) => Promise<number | undefined> = countOpenFds,
  startTime: () => Promise<number | undefined> = () => started ??= readStartTime(Deno.pid),
): Promise<ProcessFigures> {
  const cpu = process.cpuUsage();
  const [fds, start] = await Promise.all([openFds(Deno.pid), startTime()]);
  return {
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    residentBytes: Deno.memoryUsage().rss,
    // The time origin is the runtime's own start (in a worker, the worker's): the fallback.
    startTimeSeconds: start ?? performance.timeOrigin / 1000,
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
