/**
 * The node's figures from the root cgroup: the files read on cgroup v1 and v2, their texts
 * parsed (literal texts in the kernel's formats), a reader that fails, and the real read on this
 * host against the files themselves.
 */
import assert from "node:assert/strict";
import { nodeUsageFiles, parseNodeUsage, readNodeUsage } from "../lib/node/node_usage.ts";

/** cgroup v1's root `cpuacct.usage`, `memory.usage_in_bytes` and `memory.stat`, one after the other. */
const V1 = `15265976899631
1838202880
cache 9568256
rss 4882432
inactive_file 16384
active_file 380928
hierarchical_memory_limit 9223372036854771712
total_cache 1335984128
total_rss 502505472
total_inactive_anon 497528832
total_active_anon 1605632
total_inactive_file 562458624
total_active_file 773525504
total_unevictable 12521472
`;

/** cgroup v2's root `cpu.stat` and `memory.stat`, one after the other. */
const V2 = `usage_usec 14617900123
user_usec 9000000000
system_usec 5617900123
nr_periods 0
nr_throttled 0
throttled_usec 0
anon 500000000
file 600000000
kernel 80000000
kernel_stack 5000000
shmem 9170944
file_mapped 119779328
anon_thp 0
inactive_anon 499000000
active_anon 1000000
inactive_file 365223936
active_file 234776064
unevictable 12521472
`;

Deno.test("the files read: the root cgroup's, per controller on v1, unified on v2", () => {
  assert.deepEqual(nodeUsageFiles(false), [
    "/sys/fs/cgroup/cpuacct/cpuacct.usage",
    "/sys/fs/cgroup/memory/memory.usage_in_bytes",
    "/sys/fs/cgroup/memory/memory.stat",
  ]);
  assert.deepEqual(nodeUsageFiles(true), [
    "/sys/fs/cgroup/cpu.stat",
    "/sys/fs/cgroup/memory.stat",
  ]);
});

Deno.test("cgroup v1: cpuacct.usage in ns; the working set is usage_in_bytes minus total_inactive_file", () => {
  // 1 838 202 880 − 562 458 624 (total_inactive_file, not the root's own inactive_file)
  assert.deepEqual(parseNodeUsage(V1, false), {
    cpuCoreNanoSeconds: 15_265_976_899_631,
    workingSetBytes: 1_275_744_256,
  });
});

Deno.test("cgroup v2: usage_usec × 1000; the working set is anon + file − inactive_file", () => {
  // 500 000 000 + 600 000 000 − 365 223 936
  assert.deepEqual(parseNodeUsage(V2, true), {
    cpuCoreNanoSeconds: 14_617_900_123_000,
    workingSetBytes: 734_776_064,
  });
});

Deno.test("a working set never goes below 0, and a figure missing from the text is left out", () => {
  assert.deepEqual(parseNodeUsage("5\n100\ntotal_inactive_file 200\n", false), {
    cpuCoreNanoSeconds: 5,
    workingSetBytes: 0,
  });
  assert.deepEqual(parseNodeUsage("usage_usec 7\nfile 10\ninactive_file 2\n", true), {
    cpuCoreNanoSeconds: 7_000,
  });
  assert.deepEqual(parseNodeUsage("anon 1\nfile 2\n", true), { workingSetBytes: 3 });
  assert.deepEqual(parseNodeUsage("\n2048\n", false), { workingSetBytes: 2_048 });
  assert.deepEqual(parseNodeUsage("max\nabc\n", false), {});
  assert.deepEqual(parseNodeUsage("usage_usec abc\n", true), {});
  assert.deepEqual(parseNodeUsage("", true), {});
});

Deno.test("readNodeUsage with a reader that fails gives no figure and no error", async () => {
  const asked: string[][] = [];
  const usage = await readNodeUsage(false, (files) => {
    asked.push(files);
    return Promise.reject(new Error("cat: /sys/fs/cgroup/cpuacct/cpuacct.usage: No such file"));
  });
  assert.deepEqual(usage, {});
  // Once all at once, then each alone.
  assert.equal(asked.length, 4);
  const thrown = await readNodeUsage(true, () => {
    throw new Error("spawn refused");
  });
  assert.deepEqual(thrown, {});
});

Deno.test("readNodeUsage reads the files at once, and parses what they say", async () => {
  const asked: string[][] = [];
  const usage = await readNodeUsage(true, (files) => {
    asked.push(files);
    return Promise.resolve(V2);
  });
  assert.deepEqual(asked, [["/sys/fs/cgroup/cpu.stat", "/sys/fs/cgroup/memory.stat"]]);
  assert.equal(usage.cpuCoreNanoSeconds, 14_617_900_123_000);
});

Deno.test("a file that cannot be read leaves only its own figures out (v1 without the memory controller)", async () => {
  const texts: Record<string, string> = {
    "/sys/fs/cgroup/cpuacct/cpuacct.usage": "15265976899631\n",
  };
  const read = (files: string[]) => {
    const missing = files.find((f) => !(f in texts));
    if (missing) return Promise.reject(new Error(`cat: ${missing}: No such file or directory`));
    return Promise.resolve(files.map((f) => texts[f]).join(""));
  };
  assert.deepEqual(await readNodeUsage(false, read), { cpuCoreNanoSeconds: 15_265_976_899_631 });
  // Without the CPU controller, the memory figures keep their places.
  delete texts["/sys/fs/cgroup/cpuacct/cpuacct.usage"];
  texts["/sys/fs/cgroup/memory/memory.usage_in_bytes"] = "1838202880"; // no final newline
  texts["/sys/fs/cgroup/memory/memory.stat"] = "total_inactive_file 562458624\n";
  assert.deepEqual(await readNodeUsage(false, read), { workingSetBytes: 1_275_744_256 });
});

Deno.test("on this host, the figures lie between two direct reads of the root cgroup", async () => {
  const v2 = await Deno.stat("/sys/fs/cgroup/cgroup.controllers").then(() => true, () => false);
  const cpu = async () => {
    if (!v2) return Number(await Deno.readTextFile("/sys/fs/cgroup/cpuacct/cpuacct.usage"));
    const stat = await Deno.readTextFile("/sys/fs/cgroup/cpu.stat");
    return Number(/^usage_usec (\d+)$/m.exec(stat)?.[1]) * 1000;
  };
  const before = await cpu();
  const usage = await readNodeUsage(v2);
  const after = await cpu();
  assert.ok(usage.cpuCoreNanoSeconds !== undefined, JSON.stringify(usage));
  assert.ok(
    before <= usage.cpuCoreNanoSeconds && usage.cpuCoreNanoSeconds <= after,
    `${before} ≤ ${usage.cpuCoreNanoSeconds} ≤ ${after}`,
  );
  const total = Deno.systemMemoryInfo().total;
  assert.ok(
    usage.workingSetBytes !== undefined && usage.workingSetBytes > 0 &&
      usage.workingSetBytes < total,
    `${usage.workingSetBytes} of ${total}`,
  );
});
