/**
 * kubelet's resource metrics on the fake runtime: a pod's figures from its sandbox's stats, or
 * its containers' sum when the runtime cannot give pod stats (asked again only an hour later),
 * and resource_scrape_error.
 */
import assert from "node:assert/strict";
import { CriError } from "../lib/runtime/errors.ts";
import { connectCri } from "../lib/runtime/grpc.ts";
import { serveCri } from "../testing/fake_cri_server.ts";
import { familyOf, sampleOf } from "../testing/prometheus_text.ts";
import { C, scrape, twoPods, world } from "../testing/resource_fixtures.ts";

Deno.test("a pod's figures are its sandbox's when the runtime gives them (the sandbox's own process included)", async () => {
  const w = world({ podStats: "sums" });
  await twoPods(w);
  const f = await scrape(w.metrics());
  const at = 1_800_000_001_500;
  const cpu = familyOf(f, "pod_cpu_usage_seconds_total");
  assert.equal(cpu.type, "counter");
  assert.equal(cpu.help, "Cumulative cpu time consumed by the pod in core-seconds");
  const web = { namespace: "shop", pod: "web" };
  const db = { namespace: "default", pod: "db" };
  // web: app 2.5 + side 1 + its sandbox's own 0.5; db: main alone, its sandbox idle.
  assert.deepEqual(
    new Set(cpu.samples),
    new Set([
      { name: cpu.name, labels: web, value: 4, timestampMs: at },
      { name: cpu.name, labels: db, value: 0.123456789, timestampMs: at },
    ]),
  );
  const mem = familyOf(f, "pod_memory_working_set_bytes");
  assert.equal(mem.type, "gauge");
  assert.equal(mem.help, "Current working set of the pod in bytes");
  assert.deepEqual(
    new Set(mem.samples),
    new Set([
      { name: mem.name, labels: web, value: 12_682_912, timestampMs: at },
      { name: mem.name, labels: db, value: 393_216, timestampMs: at },
    ]),
  );
  // The runtime gave them: it is asked at every scrape.
  await scrape(w.metrics());
  assert.equal(w.calls("ListPodSandboxStats"), 2);
});

for (
  const [mode, why] of [
    [
      "containerd-1.6",
      "fail as containerd 1.6's do for sandboxes without a cgroup parent (code 2)",
    ],
    ["unimplemented", "are Unimplemented (code 12)"],
  ] as const
) {
  Deno.test(`when pod stats ${why}, a pod is its containers' sum, without an error, and pod stats are asked again only an hour later`, async () => {
    const w = world({ podStats: mode });
    await twoPods(w);
    const dir = await Deno.makeTempDir({ prefix: "tinylet-resource-" });
    try {
      // Through the gRPC client: the runtime's error arrives as a gRPC status code.
      await using _server = await serveCri(w.fake, `${dir}/cri.sock`);
      using cri = connectCri(`${dir}/cri.sock`);
      const refused = await cri.listPodSandboxStats({}).then(() => undefined, (e) => e);
      assert.ok(refused instanceof CriError);
      assert.equal(refused.kind, mode === "unimplemented" ? "Unimplemented" : "Other");
      const before = w.calls("ListPodSandboxStats");
      const m = w.metrics(cri);
      const f = await scrape(m);
      const at = 1_800_000_001_500;
      const web = { namespace: "shop", pod: "web" };
      const db = { namespace: "default", pod: "db" };
      const cpu = familyOf(f, "pod_cpu_usage_seconds_total");
      assert.deepEqual(
        new Set(cpu.samples),
        new Set([
          { name: cpu.name, labels: web, value: 3.5, timestampMs: at },
          { name: cpu.name, labels: db, value: 0.123456789, timestampMs: at },
        ]),
      );
      const mem = familyOf(f, "pod_memory_working_set_bytes");
      assert.deepEqual(
        new Set(mem.samples),
        new Set([
          { name: mem.name, labels: web, value: 12_582_912, timestampMs: at },
          { name: mem.name, labels: db, value: 393_216, timestampMs: at },
        ]),
      );
      assert.equal(sampleOf(f, "resource_scrape_error").value, 0);
      assert.deepEqual(w.lines.filter((l) => / (WARN|ERROR) /.test(l)), []);
      assert.equal(w.calls("ListPodSandboxStats") - before, 1);
      // Scrapes within the hour do not ask again.
      for (let i = 0; i < 4; i++) {
        w.advance(899_000);
        await scrape(m);
      }
      assert.equal(w.calls("ListPodSandboxStats") - before, 1);
      w.advance(5_000); // 3 601 s after the first scrape
      const later = await scrape(m);
      assert.equal(w.calls("ListPodSandboxStats") - before, 2);
      assert.equal(sampleOf(later, "pod_memory_working_set_bytes", web).value, 12_582_912);
      assert.equal(w.calls("ListContainerStats"), 6);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("resource_scrape_error is 1 when ListContainerStats fails, and the rest is still rendered", async () => {
  const w = world({ node: { cpuCoreNanoSeconds: 2_000_000_000, workingSetBytes: 4_096 } });
  await twoPods(w);
  const m = w.metrics();
  assert.equal(sampleOf(await scrape(m), "resource_scrape_error").value, 0);
  const message = "ListContainerStats: connection refused";
  w.fake.inject("ListContainerStats", { error: new CriError("Unavailable", "x", message) });
  const f = await scrape(m);
  assert.equal(sampleOf(f, "resource_scrape_error").value, 1);
  assert.equal(sampleOf(f, "node_cpu_usage_seconds_total").value, 2);
  assert.equal(sampleOf(f, "node_memory_working_set_bytes").value, 4_096);
  for (
    const name of [
      "container_cpu_usage_seconds_total",
      "container_memory_working_set_bytes",
      "container_start_time_seconds",
      "pod_cpu_usage_seconds_total",
      "pod_memory_working_set_bytes",
    ]
  ) {
    assert.deepEqual(familyOf(f, name).samples, [], name);
  }
  // The next scrape, the runtime answering again, has no error.
  const next = await scrape(m);
  assert.equal(sampleOf(next, "resource_scrape_error").value, 0);
  assert.equal(sampleOf(next, "container_cpu_usage_seconds_total", C).value, 2.5);
  // The start times asked before the failure were kept through it.
  assert.equal(familyOf(next, "container_start_time_seconds").samples.length, 3);
  assert.equal(w.calls("ContainerStatus"), 3);
});

Deno.test("a pod stats refusal that is not containerd's no-cgroup answer is asked again at the next scrape, whatever its text", async () => {
  const w = world({ podStats: "sums" });
  await twoPods(w);
  const m = w.metrics();
  // The words containerd uses, in refusals that are not that one: a slow runtime, an error
  // of another layer.
  const text = "ListPodSandboxStats: failed to get cgroup metrics because cgroupPath is empty";
  w.fake.inject("ListPodSandboxStats", {
    error: new CriError("DeadlineExceeded", "ListPodSandboxStats", text),
  });
  w.fake.inject("ListPodSandboxStats", { error: new Error(text) });
  const before = w.calls("ListPodSandboxStats");
  for (const expected of [1, 2, 3]) {
    const f = await scrape(m);
    assert.equal(w.calls("ListPodSandboxStats") - before, expected);
    assert.equal(sampleOf(f, "resource_scrape_error").value, 0);
    w.advance(15_000);
  }
  // Answered again, the pods have their own figures (web's sandbox's 0.5 s included).
  const f = await scrape(m);
  const web = { namespace: "shop", pod: "web" };
  assert.equal(sampleOf(f, "pod_cpu_usage_seconds_total", web).value, 4);
});
