/**
 * kubelet's resource metrics where pods change under them: a pod's summed CPU counter never goes
 * down when a container restarts, a pod whose old sandbox still runs beside its new one gives one
 * series per container (the newest), and a pod stats error other than the runtime's lasting
 * answers is asked again at the next scrape.
 */
import assert from "node:assert/strict";
import { CriError } from "../lib/runtime/errors.ts";
import { familyOf, sampleOf } from "../testing/prometheus_text.ts";
import { scrape, twoPods, world } from "../testing/resource_fixtures.ts";

const WEB = { namespace: "shop", pod: "web" };

Deno.test("a pod's CPU summed from its containers does not go down when one restarts under a new id", async () => {
  const w = world({ podStats: "containerd-1.6" });
  const { web, app } = await twoPods(w);
  const m = w.metrics();
  assert.equal(sampleOf(await scrape(m), "pod_cpu_usage_seconds_total", WEB).value, 3.5);
  // app (2.5 s) exits; its next instance has used 0.2 s.
  await w.fake.stopContainer(app, 0);
  const again = await w.container(web, "app", true, 1);
  w.fake.usage.set(again, { cpuCoreNanoSeconds: 200_000_000, workingSetBytes: 1_048_576 });
  w.advance(1_000);
  const f = await scrape(m);
  assert.equal(sampleOf(f, "pod_cpu_usage_seconds_total", WEB).value, 3.7);
  // The container's own counter starts again, as kubelet's does for a new container.
  assert.equal(
    sampleOf(f, "container_cpu_usage_seconds_total", { container: "app", ...WEB }).value,
    0.2,
  );
});

Deno.test("a pod whose old sandbox still runs beside its new one gives one series per container, the newest", async () => {
  const w = world({ podStats: "containerd-1.6" });
  const { app } = await twoPods(w);
  const newer = await w.container(await w.pod("shop", "web", "default", 1), "app");
  w.fake.usage.set(newer, { cpuCoreNanoSeconds: 300_000_000, workingSetBytes: 3_145_728 });
  w.starts.set(app, 1_800_000_000);
  w.starts.set(newer, 1_800_000_001);
  w.advance(1_000);
  const f = await scrape(w.metrics());
  const cpu = familyOf(f, "container_cpu_usage_seconds_total");
  const apps = cpu.samples.filter((s) => s.labels.container === "app" && s.labels.pod === "web");
  assert.deepEqual(apps.map((s) => s.value), [0.3]);
  const starts = familyOf(f, "container_start_time_seconds").samples
    .filter((s) => s.labels.container === "app" && s.labels.pod === "web");
  assert.deepEqual(starts.map((s) => s.value), [1_800_000_001]);
});

Deno.test("a pod stats error other than Unimplemented or a missing cgroup is asked again at the next scrape", async () => {
  const w = world({ podStats: "sums" });
  await twoPods(w);
  w.fake.inject("ListPodSandboxStats", {
    error: new CriError("DeadlineExceeded", "ListPodSandboxStats", "deadline exceeded"),
  });
  const m = w.metrics();
  // The scrape that failed: the containers' sum (app 2.5 + side 1).
  assert.equal(sampleOf(await scrape(m), "pod_cpu_usage_seconds_total", WEB).value, 3.5);
  const f = await scrape(m);
  assert.equal(w.calls("ListPodSandboxStats"), 2);
  // Asked again: the sandbox's own figure (its own process's 0.5 s included).
  assert.equal(sampleOf(f, "pod_cpu_usage_seconds_total", WEB).value, 4);
});
