/**
 * kubelet's resource metrics on the fake runtime, read back by the strict Prometheus parser:
 * families, names, help, labels, values, the runtime's timestamps and start times. The pods'
 * figures and the scrape error are in `resource_metrics_pods_test.ts`.
 */
import assert from "node:assert/strict";
import { familyText } from "../lib/base/metrics.ts";
import { ResourceMetrics, startTimesOf, type StatsRuntime } from "../lib/agent/resource_metrics.ts";
import { CriError } from "../lib/runtime/errors.ts";
import { familyOf, sampleOf } from "../testing/prometheus_text.ts";
import { reconcilerFixture } from "../testing/reconciler_fixture.ts";
import { C, D, S, scrape, T0, twoPods, WEB_MANIFEST, world } from "../testing/resource_fixtures.ts";

Deno.test("the containers' families: kubelet's names, help and labels, core-seconds, bytes, the runtime's times in ms", async () => {
  const w = world({
    node: { cpuCoreNanoSeconds: 14_617_900_000_000, workingSetBytes: 753_647_616 },
  });
  await twoPods(w);
  const f = await scrape(w.metrics());
  assert.deepEqual([...f.keys()], [
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    "container_start_time_seconds",
    "node_cpu_usage_seconds_total",
    "node_memory_working_set_bytes",
    "pod_cpu_usage_seconds_total",
    "pod_memory_working_set_bytes",
    "resource_scrape_error",
  ]);
  const cpu = familyOf(f, "container_cpu_usage_seconds_total");
  assert.equal(cpu.type, "counter");
  assert.equal(cpu.help, "Cumulative cpu time consumed by the container in core-seconds");
  // The fake read its figures at T0 + 1.5 s.
  const at = 1_800_000_001_500;
  assert.deepEqual(
    new Set(cpu.samples),
    new Set([
      { name: cpu.name, labels: C, value: 2.5, timestampMs: at },
      { name: cpu.name, labels: S, value: 1, timestampMs: at },
      { name: cpu.name, labels: D, value: 0.123456789, timestampMs: at },
    ]),
  );
  const mem = familyOf(f, "container_memory_working_set_bytes");
  assert.equal(mem.type, "gauge");
  assert.equal(mem.help, "Current working set of the container in bytes");
  assert.deepEqual(
    new Set(mem.samples),
    new Set([
      { name: mem.name, labels: C, value: 10_485_760, timestampMs: at },
      { name: mem.name, labels: S, value: 2_097_152, timestampMs: at },
      { name: mem.name, labels: D, value: 393_216, timestampMs: at },
    ]),
  );
  assert.equal(
    familyOf(f, "container_start_time_seconds").help,
    "Start time of the container since unix epoch in seconds",
  );
  const nodeCpu = familyOf(f, "node_cpu_usage_seconds_total");
  assert.equal(nodeCpu.type, "counter");
  assert.equal(nodeCpu.help, "Cumulative cpu time consumed by the node in core-seconds");
  assert.deepEqual(nodeCpu.samples, [
    { name: nodeCpu.name, labels: {}, value: 14_617.9, timestampMs: at },
  ]);
  const nodeMem = familyOf(f, "node_memory_working_set_bytes");
  assert.equal(nodeMem.type, "gauge");
  assert.equal(nodeMem.help, "Current working set of the node in bytes");
  assert.deepEqual(nodeMem.samples, [
    { name: nodeMem.name, labels: {}, value: 753_647_616, timestampMs: at },
  ]);
  const error = familyOf(f, "resource_scrape_error");
  assert.equal(error.type, "gauge");
  assert.equal(
    error.help,
    "1 if there was an error while getting container metrics, 0 otherwise",
  );
  assert.deepEqual(error.samples, [{ name: error.name, labels: {}, value: 0 }]);
  assert.equal(w.calls("ListContainerStats"), 1);
});

Deno.test("a node figure that could not be read is left out, its family kept", async () => {
  const w = world({ node: { workingSetBytes: 1_000 } });
  await twoPods(w);
  const f = await scrape(w.metrics());
  assert.deepEqual(familyOf(f, "node_cpu_usage_seconds_total").samples, []);
  assert.equal(sampleOf(f, "node_memory_working_set_bytes").value, 1_000);
});

Deno.test("container_start_time_seconds: the agent's time where it knows one, else the runtime's startedAt, asked once per container", async () => {
  const w = world();
  // The containers start at T0 on the fake's clock.
  const { app, side, main } = await twoPods(w);
  w.starts.set(app, 1_799_999_990.25);
  const m = w.metrics();
  // kubelet leaves a start time of 0 or less out.
  const zero = world();
  const z = await twoPods(zero);
  zero.starts.set(z.main, 0);
  const none = familyOf(await scrape(zero.metrics()), "container_start_time_seconds");
  assert.deepEqual(none.samples.map((s) => s.labels.container).sort(), ["app", "side"]);
  for (let i = 0; i < 2; i++) {
    const f = await scrape(m);
    const starts = familyOf(f, "container_start_time_seconds");
    assert.equal(starts.type, "gauge");
    assert.deepEqual(
      new Set(starts.samples),
      new Set([
        { name: starts.name, labels: C, value: 1_799_999_990.25 },
        { name: starts.name, labels: S, value: 1_800_000_000 },
        { name: starts.name, labels: D, value: 1_800_000_000 },
      ]),
    );
    w.advance(15_000);
  }
  assert.deepEqual(
    w.fake.calls.filter((c) => c.method === "ContainerStatus").map((c) => c.arg).sort(),
    [side, main].sort(),
  );
});

Deno.test("a start time the runtime cannot give is left out without an error, and asked again at the next scrape", async () => {
  const w = world();
  await twoPods(w);
  const message = "ContainerStatus: an error occurred when try to find container: not found";
  w.fake.inject("ContainerStatus", { error: new CriError("NotFound", "ContainerStatus", message) });
  const m = w.metrics();
  const first = await scrape(m);
  // Which of the three the injected error hit depends on the order of the calls.
  assert.equal(familyOf(first, "container_start_time_seconds").samples.length, 2);
  assert.equal(sampleOf(first, "resource_scrape_error").value, 0);
  const second = await scrape(m);
  assert.equal(sampleOf(second, "container_start_time_seconds", S).value, 1_800_000_000);
  assert.equal(familyOf(second, "container_start_time_seconds").samples.length, 3);
  assert.equal(w.calls("ContainerStatus"), 4);
});

Deno.test("wired as the agent wires it (start times from the reconciler's pod views), a running container has its start time", async () => {
  await using s = await reconcilerFixture({ epochMs: T0 });
  await s.write("web.yaml", WEB_MANIFEST);
  await s.reconciler.pass();
  await s.clock.advance(30_000);
  const r = await s.reconciler.pass();
  assert.equal(r.pods[0]?.containers[0]?.state, "running");
  const m = new ResourceMetrics({
    runtime: s.cri,
    instance: "default",
    startTimes: () => startTimesOf(s.reconciler.pods),
    node: () => Promise.resolve({}),
    now: () => s.clock.epochMs(),
  });
  const f = await scrape(m);
  // The container started on the fixture's clock, at T0.
  assert.deepEqual(familyOf(f, "container_start_time_seconds").samples, [
    { name: "container_start_time_seconds", labels: C, value: 1_800_000_000 },
  ]);
});

Deno.test("the runtime's nanosecond times become whole milliseconds", async () => {
  const stats = {
    id: "c1",
    metadata: { name: "app", attempt: 0 },
    labels: {
      "io.kubernetes.pod.name": "web",
      "io.kubernetes.pod.namespace": "shop",
      "io.kubernetes.container.name": "app",
    },
    annotations: {},
    // 1 800 000 001 500.999 ms and 1 800 000 001 499.5 ms
    cpu: { timestamp: 1_800_000_001_500_999_000, usageCoreNanoSeconds: 1 },
    memory: { timestamp: 1_800_000_001_499_500_000, workingSetBytes: 2 },
  };
  const runtime: StatsRuntime = {
    listContainerStats: () => Promise.resolve([stats]),
    listPodSandboxStats: () => Promise.resolve([]),
    containerStatus: () => Promise.resolve({ startedAt: 1_799_999_000_123_456_789 }),
  };
  const f = await scrape(
    new ResourceMetrics({
      runtime,
      instance: "default",
      startTimes: () => new Map(),
      node: () => Promise.resolve({}),
      now: () => T0,
    }),
  );
  assert.equal(sampleOf(f, "container_cpu_usage_seconds_total", C).timestampMs, 1_800_000_001_500);
  assert.equal(
    sampleOf(f, "container_memory_working_set_bytes", C).timestampMs,
    1_800_000_001_499,
  );
  // Seconds with their fraction, and no timestamp.
  assert.deepEqual(sampleOf(f, "container_start_time_seconds", C), {
    name: "container_start_time_seconds",
    labels: C,
    value: 1_799_999_000.1234567,
  });
});

Deno.test("familyText: HELP, TYPE, then each sample with its labels sorted and escaped", () => {
  assert.deepEqual(
    familyText("x_total", "Some help.", "counter", [
      { labels: { pod: "a", container: 'say "hi"\\\n' }, value: 1.5, timestampMs: 12.9 },
      { labels: {}, value: 0 },
    ]),
    [
      "# HELP x_total Some help.",
      "# TYPE x_total counter",
      'x_total{container="say \\"hi\\"\\\\\\n",pod="a"} 1.5 12',
      "x_total 0",
    ],
  );
  assert.deepEqual(familyText("g", "G.", "gauge", []), ["# HELP g G.", "# TYPE g gauge"]);
});
