/**
 * When a process started, as Linux counts it (clock ticks since boot, field 22 of
 * `/proc/PID/stat`): with its PID, it names one process for good, since a PID is reused only by
 * a process that starts later.
 *
 * @module
 */

/** The start time of process `pid` (`"self"`: this one), or null when it cannot be read. */
export function processStartTime(pid: number | "self"): string | null {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces and ")": the fields that
  // follow start after the last ")". Field 3 is the first of them, so field 22 is the 20th.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const start = rest[19];
  return start !== undefined && /^\d+$/.test(start) ? start : null;
}
