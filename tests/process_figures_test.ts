/**
 * The standard process metrics: their text (read back by the strict parser) from set figures,
 * and this process's figures against what `/proc` says of it.
 */
import assert from "node:assert/strict";
import { countOpenFds, processFigures, processMetricsText } from "../lib/agent/process_figures.ts";
import { parsePrometheus } from "../testing/prometheus_text.ts";
import { waitFor } from "../testing/wait.ts";

Deno.test("the four families, with the names, types and help every exporter uses", () => {
  const f = parsePrometheus(
    processMetricsText({
      cpuSeconds: 1.25,
      residentBytes: 41_943_040,
      startTimeSeconds: 1_800_000_000.125,
      openFds: 23,
    }).join("\n") + "\n",
  );
  assert.deepEqual(
    [...f.values()].map((x) => [x.name, x.type, x.help, x.samples]),
    [
      ["process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", [
        { name: "process_cpu_seconds_total", labels: {}, value: 1.25 },
      ]],
      ["process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", [
        { name: "process_resident_memory_bytes", labels: {}, value: 41_943_040 },
      ]],
      [
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        [{ name: "process_start_time_seconds", labels: {}, value: 1_800_000_000.125 }],
      ],
      ["process_open_fds", "gauge", "Number of open file descriptors.", [
        { name: "process_open_fds", labels: {}, value: 23 },
      ]],
    ],
  );
});

Deno.test("without a count of open files, process_open_fds is left out", () => {
  const f = parsePrometheus(
    processMetricsText({ cpuSeconds: 0, residentBytes: 1, startTimeSeconds: 2 }).join("\n") +
      "\n",
  );
  assert.deepEqual([...f.keys()], [
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
  ]);
});

/** utime + stime (seconds), rss (bytes) and the start (Unix seconds) from `/proc/self/stat`. */
async function procStat() {
  const stat = await Deno.readTextFile("/proc/self/stat");
  // The fields after the command name, which is in parentheses and may hold spaces.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = 100; // USER_HZ on Linux
  const uptime = Number((await Deno.readTextFile("/proc/uptime")).split(" ")[0]);
  const sinceBoot = Number(f[19]) / ticks;
  return {
    cpuSeconds: (Number(f[11]) + Number(f[12])) / ticks,
    residentBytes: Number(f[21]) * 4096,
    startTimeSeconds: Date.now() / 1000 - (uptime - sinceBoot),
  };
}

Deno.test("this process's figures agree with /proc", async () => {
  const before = await procStat();
  const figures = await processFigures();
  const after = await procStat();
  // CPU time: /proc counts in ticks of 10 ms.
  assert.ok(
    before.cpuSeconds - 0.02 <= figures.cpuSeconds && figures.cpuSeconds <= after.cpuSeconds + 0.02,
    `${before.cpuSeconds} ≤ ${figures.cpuSeconds} ≤ ${after.cpuSeconds}`,
  );
  assert.ok(
    Math.abs(figures.residentBytes - after.residentBytes) < after.residentBytes * 0.1,
    `${figures.residentBytes} vs ${after.residentBytes}`,
  );
  // The process's start, not the test worker's: the boot time is in whole seconds.
  const late = figures.startTimeSeconds - after.startTimeSeconds;
  assert.ok(Math.abs(late) < 1.5, `${figures.startTimeSeconds} vs ${after.startTimeSeconds}`);
  // `ls` lists the open files while its spawn's pipes are open, and the test runner opens and
  // closes its own: a few either way (the exact count is checked on a quiet process below).
  const listed = [...Deno.readDirSync(`/proc/${Deno.pid}/fd`)].length;
  assert.ok(
    figures.openFds !== undefined && Math.abs(figures.openFds - listed) <= 6,
    `${figures.openFds} vs ${listed}`,
  );
});

Deno.test("the open files are counted for this process's pid, and left out when they cannot be", async () => {
  const asked: number[] = [];
  const counted = await processFigures((pid) => {
    asked.push(pid);
    return Promise.resolve(7);
  });
  assert.deepEqual(asked, [Deno.pid]);
  assert.equal(counted.openFds, 7);
  const uncounted = await processFigures(() => Promise.resolve(undefined));
  assert.ok(!("openFds" in uncounted));
});

Deno.test("the open files of a process that does not exist are not counted", async () => {
  // Above Linux's largest pid (pid_max is at most 2^22).
  assert.equal(await countOpenFds(4_194_305), undefined);
});

Deno.test("a quiet process's open files are counted exactly", async () => {
  const child = new Deno.Command("sleep", {
    args: ["30"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const direct = () => [...Deno.readDirSync(`/proc/${child.pid}/fd`)].length;
    // Listed directly before and after (the same once the child runs `sleep`).
    const { listed, counted } = await waitFor("a quiet child", async () => {
      const before = direct();
      const counted = await countOpenFds(child.pid);
      return before === direct() && { listed: before, counted };
    });
    assert.ok(listed >= 3);
    assert.equal(counted, listed);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});
