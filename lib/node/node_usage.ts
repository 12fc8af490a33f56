/**
 * The node's CPU time and memory working set, as kubelet reports them
 * (`node_cpu_usage_seconds_total`, `node_memory_working_set_bytes`): from the root cgroup, as
 * cAdvisor reads it.
 *
 * - cgroup v1: CPU from `cpuacct/cpuacct.usage` (nanoseconds); memory from
 *   `memory/memory.usage_in_bytes` minus `total_inactive_file` of `memory/memory.stat`.
 * - cgroup v2: CPU from `cpu.stat` `usage_usec`; memory from the root's `memory.stat`, whose root
 *   has no `memory.current`: `anon` plus `file`, minus `inactive_file` (runc's root fallback).
 *
 * Deno refuses to read `/sys` without full permissions, so `cat` reads the files, in one spawn
 * (as for the mount table; one per file when one of them cannot be read). In a container, the
 * root is the container's own cgroup.
 *
 * @module
 */
import { CGROUP_MOUNT_POINT } from "./cgroups.ts";
import { commandOutput } from "../base/command_output.ts";

/** The node's figures at one time; a figure that could not be read is undefined. */
export interface NodeUsage {
  /** CPU time used by the node since boot, in core-nanoseconds. */
  cpuCoreNanoSeconds?: number;
  /** Memory in use minus the inactive file cache, in bytes. */
  workingSetBytes?: number;
}

/** The files to read, in the order {@linkcode parseNodeUsage} expects their text. */
export function nodeUsageFiles(v2: boolean, root = CGROUP_MOUNT_POINT): string[] {
  return v2 ? [`${root}/cpu.stat`, `${root}/memory.stat`] : [
    `${root}/cpuacct/cpuacct.usage`,
    `${root}/memory/memory.usage_in_bytes`,
    `${root}/memory/memory.stat`,
  ];
}

/** The `key value` lines of a cgroup stat file, as numbers. */
function statLines(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) values.set(k, Number(v));
  }
  return values;
}

const count = (v: string | undefined) =>
  v !== undefined && /^\d+$/.test(v.trim()) ? Number(v) : undefined;

/**
 * The figures in `text`: the files of {@linkcode nodeUsageFiles} one after the other. With v1,
 * its first two lines are the two counters and the rest is `memory.stat`; with v2, every line is
 * a `key value` of `cpu.stat` or `memory.stat` (their keys differ).
 */
export function parseNodeUsage(text: string, v2: boolean): NodeUsage {
  const usage: NodeUsage = {};
  if (v2) {
    const stat = statLines(text);
    const usec = stat.get("usage_usec");
    if (usec !== undefined) usage.cpuCoreNanoSeconds = usec * 1000;
    const [anon, file, inactive] = ["anon", "file", "inactive_file"].map((k) => stat.get(k));
    if (anon !== undefined && file !== undefined) {
      usage.workingSetBytes = Math.max(0, anon + file - (inactive ?? 0));
    }
    return usage;
  }
  const [cpu, used, ...rest] = text.split("\n");
  const ns = count(cpu);
  if (ns !== undefined) usage.cpuCoreNanoSeconds = ns;
  const bytes = count(used);
  const inactive = statLines(rest.join("\n")).get("total_inactive_file");
  if (bytes !== undefined) usage.workingSetBytes = Math.max(0, bytes - (inactive ?? 0));
  return usage;
}

/**
 * Reads the node's figures (`cat` of the root cgroup's files, at once); a file that cannot be
 * read (a controller the kernel was booted without) leaves only its own figures out: then each
 * file is read alone. `run` is the spawn (tests give their own).
 */
export async function readNodeUsage(
  v2: boolean,
  run: (files: string[]) => Promise<string> = catFiles,
): Promise<NodeUsage> {
  const files = nodeUsageFiles(v2);
  try {
    return parseNodeUsage(await run(files), v2);
  } catch {
    // An unreadable file reads as one empty line, so the others keep their places.
    const texts = await Promise.all(files.map(async (f) => {
      try {
        return await run([f]);
      } catch {
        return "";
      }
    }));
    return parseNodeUsage(texts.map((t) => t.endsWith("\n") ? t : `${t}\n`).join(""), v2);
  }
}

/** The text of `files`, one after the other, through `cat`; throws when one cannot be read. */
async function catFiles(files: string[]): Promise<string> {
  const out = await commandOutput("cat", { args: files, stderr: "piped" });
  if (!out.success) {
    throw new Error(`cat ${files.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return new TextDecoder().decode(out.stdout);
}
