import assert from "node:assert/strict";
import { meteredCri } from "../lib/agent/metered_cri.ts";
import { AgentMetrics } from "../lib/base/metrics.ts";
import type { CallOptions } from "../lib/runtime/cri.ts";
import { connectCri } from "../lib/runtime/grpc.ts";
import {
  containerStatsFilterToWire,
  fromWireContainerStats,
  fromWirePodSandboxStats,
  podSandboxStatsFilterToWire,
} from "../lib/runtime/grpc_stats.ts";
import type { ContainerStats, PodSandboxStats } from "../lib/runtime/stats.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { serveCri } from "../testing/fake_cri_server.ts";

const absent = null;

Deno.test("a container's stats off the wire: absent wrappers are left out, present zeros stay 0", () => {
  const stats = fromWireContainerStats({
    attributes: {
      id: "c1",
      metadata: { name: "web", attempt: 2 },
      labels: { app: "web" },
      annotations: { note: "n" },
    },
    cpu: {
      timestamp: 1_795_967_547_618_944_000,
      usageCoreNanoSeconds: { value: 0 },
      usageNanoCores: absent,
    },
    memory: {
      timestamp: 1_795_967_547_618_944_000,
      workingSetBytes: { value: 475_136 },
      availableBytes: { value: 0 },
      usageBytes: absent,
      rssBytes: absent,
      pageFaults: absent,
      majorPageFaults: { value: 0 },
    },
    writableLayer: { timestamp: 0, fsId: absent, usedBytes: { value: 8192 }, inodesUsed: absent },
  });
  assert.deepEqual(stats, {
    id: "c1",
    metadata: { name: "web", attempt: 2 },
    labels: { app: "web" },
    annotations: { note: "n" },
    cpu: { timestamp: 1_795_967_547_618_944_000, usageCoreNanoSeconds: 0 },
    memory: {
      timestamp: 1_795_967_547_618_944_000,
      workingSetBytes: 475_136,
      availableBytes: 0,
      majorPageFaults: 0,
    },
    writableLayer: { timestamp: 0, mountpoint: "", usedBytes: 8192 },
  });
  assert.ok(!("usageNanoCores" in stats.cpu!), "an absent rate is not a key");
});

Deno.test("a container that does not run comes off the wire without cpu or memory", () => {
  const stats = fromWireContainerStats({
    attributes: { id: "c2", metadata: { name: "init", attempt: 0 }, labels: {}, annotations: {} },
    cpu: absent,
    memory: absent,
    writableLayer: absent,
  });
  assert.deepEqual(stats, {
    id: "c2",
    metadata: { name: "init", attempt: 0 },
    labels: {},
    annotations: {},
  });
});

Deno.test("a pod's stats off the wire: its Linux figures, network interface, process count and containers", () => {
  const container = {
    attributes: { id: "c1", metadata: { name: "web", attempt: 0 }, labels: {}, annotations: {} },
    cpu: absent,
    memory: absent,
    writableLayer: absent,
  };
  const stats = fromWirePodSandboxStats({
    attributes: {
      id: "s1",
      metadata: { name: "web", uid: "u1", namespace: "default", attempt: 1 },
      labels: { tinylet: "true" },
      annotations: {},
    },
    linux: {
      cpu: { timestamp: 5, usageCoreNanoSeconds: { value: 9 }, usageNanoCores: { value: 0 } },
      memory: absent,
      network: {
        timestamp: 5,
        defaultInterface: {
          name: "eth0",
          rxBytes: { value: 100 },
          rxErrors: { value: 0 },
          txBytes: absent,
          txErrors: absent,
        },
      },
      process: { timestamp: 5, processCount: { value: 1 } },
      containers: [container],
    },
  });
  const expected: PodSandboxStats = {
    id: "s1",
    metadata: { name: "web", uid: "u1", namespace: "default", attempt: 1 },
    labels: { tinylet: "true" },
    annotations: {},
    cpu: { timestamp: 5, usageCoreNanoSeconds: 9, usageNanoCores: 0 },
    network: { timestamp: 5, defaultInterface: { name: "eth0", rxBytes: 100, rxErrors: 0 } },
    processCount: 1,
    containers: [{
      id: "c1",
      metadata: { name: "web", attempt: 0 },
      labels: {},
      annotations: {},
    }],
  };
  assert.deepEqual(stats, expected);
  // An empty answer comes off as an empty record: nothing measured, no error.
  const bare = fromWirePodSandboxStats({ attributes: null, linux: null });
  assert.deepEqual(bare, {
    id: "",
    metadata: { name: "", uid: "", namespace: "", attempt: 0 },
    labels: {},
    annotations: {},
    containers: [],
  });
});

Deno.test("the stats filters on the wire: null for none, empty strings for unset ids", () => {
  assert.equal(containerStatsFilterToWire(undefined), null);
  assert.deepEqual(containerStatsFilterToWire({ podSandboxId: "s1" }), {
    id: "",
    podSandboxId: "s1",
    labelSelector: {},
  });
  assert.equal(podSandboxStatsFilterToWire(undefined), null);
  assert.deepEqual(podSandboxStatsFilterToWire({ labelSelector: { a: "b" } }), {
    id: "",
    labelSelector: { a: "b" },
  });
});

/** A fake whose `ContainerStats` answers `stats` as given. */
class Answering extends FakeCri {
  constructor(readonly stats: ContainerStats) {
    super();
  }
  override containerStats(_id: string, _opts?: CallOptions): Promise<ContainerStats> {
    return Promise.resolve(this.stats);
  }
}

Deno.test("through gRPC, a figure the runtime leaves out arrives as undefined, a present 0 as 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-fake-" });
  try {
    const fake = new Answering({
      id: "c1",
      metadata: { name: "web", attempt: 0 },
      labels: {},
      annotations: {},
      cpu: { timestamp: 1_795_967_547_618_944_000, usageCoreNanoSeconds: 0 },
      writableLayer: { timestamp: 0, mountpoint: "/snapshots", usedBytes: 0 },
    });
    await using _server = await serveCri(fake, `${dir}/cri.sock`);
    using cri = connectCri(`${dir}/cri.sock`);
    const stats = await cri.containerStats("c1");
    assert.deepEqual(stats, fake.stats);
    assert.ok(!("usageNanoCores" in stats.cpu!) && !("memory" in stats));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the metered runtime counts and classifies the stats calls by method", async () => {
  const metrics = new AgentMetrics();
  const fake = new FakeCri();
  const cri = meteredCri(fake, metrics);
  assert.deepEqual(await cri.listContainerStats(), []);
  assert.deepEqual(await cri.listPodSandboxStats(), []);
  await assert.rejects(cri.containerStats("c1"));
  fake.usage.podStats = "unimplemented";
  await assert.rejects(cri.podSandboxStats("s1"));
  for (const method of ["ListContainerStats", "ListPodSandboxStats", "ContainerStats"]) {
    assert.equal(metrics.criCalls.get({ method }), 1, method);
  }
  assert.equal(metrics.criErrors.get({ method: "ContainerStats", kind: "NotFound" }), 1);
  assert.equal(metrics.criErrors.get({ method: "PodSandboxStats", kind: "Unimplemented" }), 1);
});
