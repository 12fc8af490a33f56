/**
 * What the bench ran on: CPU, cores, memory, kernel, containerd, Deno, the load average and
 * the kernel's clock ticks, read from /proc and the host.
 *
 * @module
 */

/** The machine the bench ran on. */
export interface Machine {
  cpu: string;
  /** The 1-minute load average when the runtime benchmarks started. */
  loadAtStart: number;
  cores: number;
  memory: string;
  kernel: string;
  containerd: string;
  deno: string;
  clockTicks: number;
}

/** Describes this machine; `containerd` is the runtime's version. */
export async function describeMachine(containerd: string): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown CPU";
  const cores = cpuinfo.match(/^processor\s*:/gm)?.length ?? navigator.hardwareConcurrency;
  const kB = Number(/^MemTotal:\s*(\d+) kB/m.exec(meminfo)?.[1] ?? 0);
  return {
    cpu,
    loadAtStart: await loadAverage(),
    cores,
    memory: `${(kB / 1024 / 1024).toFixed(1)} GiB`,
    kernel: Deno.osRelease(),
    containerd,
    deno: `${Deno.version.deno} (V8 ${Deno.version.v8})`,
    clockTicks: await clockTicks(),
  };
}

/** The 1-minute load average: other work on the machine skews every figure. */
export async function loadAverage(): Promise<number> {
  const text = await Deno.readTextFile("/proc/loadavg").catch(() => "");
  return Number(text.split(" ")[0] ?? NaN);
}

/** The kernel's clock ticks per second, the unit of utime and stime in /proc/<pid>/stat. */
async function clockTicks(): Promise<number> {
  try {
    const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stderr: "null" }).output();
    const n = Number(new TextDecoder().decode(out.stdout).trim());
    return out.success && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}
