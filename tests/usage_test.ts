/**
 * Resource usage, pure: whose a stats entry is, the CPU rate between two samples (none across a
 * counter reset or without time passing), pods as the sum of their containers, and the figures
 * as `kubectl top` prints them.
 */
import assert from "node:assert/strict";
import {
  type ContainerUsage,
  cpuRate,
  formatCpu,
  formatMemory,
  newestPerContainer,
  podUsages,
  usageOf,
  withRates,
} from "../lib/node/usage.ts";
import type { ContainerStats } from "../lib/runtime/stats.ts";

const T0 = 1_790_000_000_000_000_000; // Unix ns
const SECOND = 1_000_000_000;

function stats(id: string, pod: string, container: string, extra: Partial<ContainerStats>) {
  return {
    id,
    metadata: { name: container, attempt: 0 },
    labels: {
      "io.kubernetes.pod.name": pod,
      "io.kubernetes.pod.namespace": "shop",
      "io.kubernetes.container.name": container,
    },
    annotations: {},
    ...extra,
  } satisfies ContainerStats;
}

Deno.test("usageOf: a running container's CPU counter and working set, with its pod and container from the labels", () => {
  const s = stats("c1", "web", "app", {
    cpu: { timestamp: T0, usageCoreNanoSeconds: 2_500_000_000, usageNanoCores: 0 },
    memory: { timestamp: T0 + 5, workingSetBytes: 35_651_584 },
  });
  assert.deepEqual(usageOf(s), {
    id: "c1",
    namespace: "shop",
    pod: "web",
    container: "app",
    attempt: 0,
    cpu: { coreNanoSeconds: 2_500_000_000, at: T0 },
    memory: { workingSetBytes: 35_651_584, at: T0 + 5 },
  });
});

Deno.test("usageOf: a container that does not run (no CPU, no memory) or has no pod labels is left out", () => {
  assert.equal(usageOf(stats("c1", "web", "app", {})), undefined);
  const unlabelled = { ...stats("c2", "web", "app", { cpu: { timestamp: T0 } }), labels: {} };
  assert.equal(usageOf(unlabelled), undefined);
  // A CPU entry without its counter is no figure either.
  assert.equal(usageOf(stats("c3", "web", "app", { cpu: { timestamp: T0 } })), undefined);
});

Deno.test("cpuRate: the counter's change over the time's change, in millicores", () => {
  const before = { coreNanoSeconds: 1_000_000_000, at: T0 };
  assert.equal(cpuRate(before, { coreNanoSeconds: 1_500_000_000, at: T0 + SECOND }), 500);
  assert.equal(cpuRate(before, { coreNanoSeconds: 1_000_000_000, at: T0 + SECOND }), 0);
  assert.equal(cpuRate(before, { coreNanoSeconds: 5_000_000_000, at: T0 + 2 * SECOND }), 2000);
});

Deno.test("cpuRate: no rate across a counter reset, without time passing, or without a sample", () => {
  const before = { coreNanoSeconds: 9_000_000_000, at: T0 };
  assert.equal(cpuRate(before, { coreNanoSeconds: 100_000_000, at: T0 + SECOND }), undefined);
  assert.equal(cpuRate(before, { coreNanoSeconds: 9_100_000_000, at: T0 }), undefined);
  assert.equal(cpuRate(undefined, { coreNanoSeconds: 1, at: T0 }), undefined);
  assert.equal(cpuRate(before, undefined), undefined);
});

const usage = (id: string, pod: string, cpuNs: number, at: number, ws: number): ContainerUsage => ({
  id,
  namespace: "shop",
  pod,
  container: id,
  attempt: 0,
  cpu: { coreNanoSeconds: cpuNs, at },
  memory: { workingSetBytes: ws, at },
});

Deno.test("withRates: each container's rate since its earlier sample; a new one has none", () => {
  const before = [usage("a", "web", 1_000_000_000, T0, 1)];
  const after = [
    usage("a", "web", 1_250_000_000, T0 + SECOND, 1),
    usage("b", "web", 7_000_000_000, T0 + SECOND, 1),
  ];
  const rated = withRates(before, after);
  assert.equal(rated[0]!.milliCores, 250);
  assert.equal("milliCores" in rated[1]!, false);
});

Deno.test("podUsages: each pod the sum of its containers, sorted by namespace and name; a rate only when all have one", () => {
  const list = [
    { ...usage("z1", "zeta", 3_000_000_000, T0 + 7, 2_097_152), milliCores: 120 },
    { ...usage("w1", "web", 1_000_000_000, T0, 1_048_576), milliCores: 100 },
    { ...usage("w2", "web", 2_000_000_000, T0 + 9, 3_145_728), milliCores: 50 },
    usage("z2", "zeta", 1_000_000_000, T0, 1_048_576),
  ];
  const pods = podUsages(list);
  assert.deepEqual(pods.map((p) => [p.pod, p.cpu, p.memory, p.milliCores]), [
    ["web", { coreNanoSeconds: 3_000_000_000, at: T0 + 9 }, {
      workingSetBytes: 4_194_304,
      at: T0 + 9,
    }, 150],
    ["zeta", { coreNanoSeconds: 4_000_000_000, at: T0 + 7 }, {
      workingSetBytes: 3_145_728,
      at: T0 + 7,
    }, undefined],
  ]);
  assert.deepEqual(pods[0]!.containers.map((c) => c.id), ["w1", "w2"]);
});

Deno.test("formatCpu and formatMemory: kubectl top's figures (millicores up, mebibytes down)", () => {
  assert.equal(formatCpu(497.2573), "498m");
  assert.equal(formatCpu(0), "0m");
  assert.equal(formatCpu(0.2), "1m");
  // Timestamps in Unix ns lose up to 256 ns as numbers: an exact 500m stays 500m.
  assert.equal(formatCpu(500.0003), "500m");
  assert.equal(formatCpu(undefined), "-");
  assert.equal(formatMemory(35_651_584), "34Mi");
  assert.equal(formatMemory(1_048_575), "0Mi");
  assert.equal(formatMemory(undefined), "-");
});

Deno.test("newestPerContainer: one usage per container of a pod, the higher attempt, else the later listed or the newer by the given rule", () => {
  const a0 = { ...usage("a0", "web", 1, T0, 1), container: "app" };
  const a1 = { ...usage("a1", "web", 2, T0, 1), container: "app", attempt: 1 };
  const s0 = { ...usage("s0", "web", 3, T0, 1), container: "side" };
  assert.deepEqual(newestPerContainer([a1, s0, a0]).map((u) => u.id), ["a1", "s0"]);
  const b0 = { ...usage("b0", "web", 4, T0, 1), container: "app" };
  assert.deepEqual(newestPerContainer([a0, b0]).map((u) => u.id), ["b0"]);
  assert.deepEqual(newestPerContainer([a0, b0], (x) => x.id === "a0").map((u) => u.id), ["a0"]);
});
