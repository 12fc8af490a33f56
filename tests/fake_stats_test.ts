import assert from "node:assert/strict";
import type { ContainerConfig, PodSandboxConfig } from "../lib/runtime/cri.ts";
import { CriError } from "../lib/runtime/errors.ts";
import { connectCri } from "../lib/runtime/grpc.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { serveCri } from "../testing/fake_cri_server.ts";

const IMAGE = "docker.io/library/busybox:1.35";
const MiB = 1024 * 1024;
/** The fake's clock at the start of each test, in milliseconds since the epoch. */
const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);

/** A fake on a clock moved by hand, and what the tests make in it. */
function handFake() {
  let now = T0;
  const fake = new FakeCri({ images: [IMAGE], now: () => now });
  return {
    fake,
    /** Moves the fake's clock `ms` forward. */
    advance: (ms: number) => void (now += ms),
    /** A sandbox named `name`, on the host network or not, with `linux` settings. */
    sandbox: async (name: string, hostNetwork = true, cgroupParent?: string) => {
      const config: PodSandboxConfig = {
        metadata: { name, namespace: "stats", uid: `uid-${name}`, attempt: 0 },
        labels: { pod: name },
        linux: {
          ...(cgroupParent ? { cgroupParent } : {}),
          securityContext: { namespaceOptions: { network: hostNetwork ? "NODE" : "POD" } },
        },
      };
      return { config, id: await fake.runPodSandbox(config) };
    },
    /** A container `name` in `pod` running `command`, started unless `start` is false. */
    container: async (
      pod: { config: PodSandboxConfig; id: string },
      name: string,
      command: string[],
      { start = true, linux }: { start?: boolean; linux?: ContainerConfig["linux"] } = {},
    ) => {
      const config: ContainerConfig = {
        metadata: { name, attempt: 0 },
        image: { image: IMAGE },
        command,
        labels: { c: name },
        ...(linux ? { linux } : {}),
      };
      const id = await fake.createContainer(pod.id, config, pod.config);
      if (start) await fake.startContainer(id);
      return id;
    },
  };
}

const SPIN = ["sh", "-c", "while :; do :; done"];
const HALF_A_CORE = { resources: { cpuPeriod: 100_000, cpuQuota: 50_000 } };

/** The error `p` rejects with. */
async function rejection(p: Promise<unknown>): Promise<CriError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof CriError, `expected a CriError, got ${err}`);
  return err;
}

Deno.test("a spinning container's counter grows at its CPU limit, an idle one's stays 0", async () => {
  const { fake, advance, sandbox, container } = handFake();
  const pod = await sandbox("p");
  const limited = await container(pod, "limited", SPIN, { linux: HALF_A_CORE });
  const unlimited = await container(pod, "unlimited", SPIN);
  const idle = await container(pod, "idle", ["sleep", "3600"]);
  advance(2_000);
  const cpu = async (id: string) => (await fake.containerStats(id)).cpu;
  assert.deepEqual(await cpu(limited), {
    timestamp: (T0 + 2_000) * 1e6,
    usageCoreNanoSeconds: 1e9,
    usageNanoCores: 0,
  });
  assert.equal((await cpu(unlimited))?.usageCoreNanoSeconds, 2e9);
  assert.equal((await cpu(idle))?.usageCoreNanoSeconds, 0);
});

Deno.test("usageNanoCores is rated against the previous sample of any call, and a sample at the same time neither rates nor replaces it", async () => {
  const { fake, advance, sandbox, container } = handFake();
  const pod = await sandbox("p");
  const id = await container(pod, "spin", SPIN, { linux: HALF_A_CORE });
  advance(1_000);
  assert.equal((await fake.containerStats(id)).cpu?.usageNanoCores, 0, "first sample");
  advance(2_000);
  const listed = await fake.listContainerStats({ id });
  assert.deepEqual(
    listed.map((s) => [s.cpu?.usageCoreNanoSeconds, s.cpu?.usageNanoCores]),
    [[1.5e9, 5e8]],
  );
  // The counter jumps by 0.1 s at the same instant: no time passed, so no rate, and the
  // previous sample stays the listed one.
  fake.usage.set(id, { cpuCoreNanoSeconds: 1.6e9 });
  const same = await fake.containerStats(id);
  assert.deepEqual([same.cpu?.usageCoreNanoSeconds, same.cpu?.usageNanoCores], [1.6e9, 0]);
  advance(500);
  // (1.6e9 + 0.5 s × 0.5e9 − 1.5e9) / 0.5 s
  assert.equal((await fake.containerStats(id)).cpu?.usageNanoCores, 7e8);
});

Deno.test("a test sets a container's counter, rate and memory; available is the limit minus the working set", async () => {
  const { fake, advance, sandbox, container } = handFake();
  const pod = await sandbox("p");
  const limited = await container(pod, "limited", ["sleep", "3600"], {
    linux: { resources: { memoryLimitInBytes: 64 * MiB } },
  });
  const free = await container(pod, "free", ["sleep", "3600"]);
  fake.usage.set(limited, {
    cpuCoreNanoSeconds: 5e9,
    cpuNanoCores: 2.5e8,
    workingSetBytes: 10 * MiB,
    usageBytes: 12 * MiB,
    rssBytes: 8 * MiB,
    pageFaults: 10,
    majorPageFaults: 1,
  });
  fake.usage.set(free, { workingSetBytes: 3 * MiB });
  advance(4_000);
  const s = await fake.containerStats(limited);
  assert.equal(s.cpu?.usageCoreNanoSeconds, 6e9);
  assert.deepEqual(s.memory, {
    timestamp: (T0 + 4_000) * 1e6,
    workingSetBytes: 10 * MiB,
    availableBytes: 54 * MiB,
    usageBytes: 12 * MiB,
    rssBytes: 8 * MiB,
    pageFaults: 10,
    majorPageFaults: 1,
  });
  const other = await fake.containerStats(free);
  assert.deepEqual([other.memory?.workingSetBytes, other.memory?.availableBytes], [3 * MiB, 0]);
  assert.throws(() => fake.usage.set("container-404", { workingSetBytes: 1 }), /does not exist/);
});

Deno.test("ListContainerStats lists created and exited containers without cpu or memory, and filters by sandbox, label and id", async () => {
  const { fake, sandbox, container } = handFake();
  const pod = await sandbox("p");
  const other = await sandbox("q");
  const created = await container(pod, "created", ["sleep", "3600"], { start: false });
  const running = await container(pod, "running", ["sleep", "3600"]);
  const exited = await container(pod, "exited", ["sh", "-c", "exit 0"]);
  const elsewhere = await container(other, "elsewhere", ["sleep", "3600"]);
  const figures = (await fake.listContainerStats({ podSandboxId: pod.id })).map((s) => [
    s.id,
    s.cpu !== undefined,
    s.memory !== undefined,
    s.writableLayer?.usedBytes,
  ]);
  assert.deepEqual(figures, [
    [created, false, false, 0],
    [running, true, true, 0],
    [exited, false, false, 0],
  ]);
  assert.deepEqual((await fake.listContainerStats()).length, 4);
  const ids = async (filter: Parameters<FakeCri["listContainerStats"]>[0]) =>
    (await fake.listContainerStats(filter)).map((s) => s.id);
  assert.deepEqual(await ids({ labelSelector: { c: "elsewhere" } }), [elsewhere]);
  assert.deepEqual(await ids({ podSandboxId: other.id, labelSelector: { c: "running" } }), []);
  assert.deepEqual(await ids({ id: running }), [running]);
  assert.deepEqual(await ids({ id: "container-404" }), []);
});

Deno.test("ContainerStats refuses a container that does not run as containerd 1.6 does, and an unknown id as NotFound", async () => {
  const { fake, sandbox, container } = handFake();
  const pod = await sandbox("p");
  const created = await container(pod, "created", ["sleep", "3600"], { start: false });
  const exited = await container(pod, "exited", ["sh", "-c", "exit 3"]);
  for (const id of [created, exited]) {
    const err = await rejection(fake.containerStats(id));
    assert.deepEqual(
      [err.kind, err.message],
      ["Other", "ContainerStats: unexpected metrics response: []"],
    );
  }
  const err = await rejection(fake.containerStats("container-404"));
  assert.deepEqual(
    [err.kind, err.message],
    ["NotFound", "ContainerStats: failed to find container: not found"],
  );
});

Deno.test("by default the pod stats calls fail for a sandbox without a cgroup parent and measure one with a parent, as containerd 1.6 does", async () => {
  const { fake, sandbox, container } = handFake();
  const plain = await sandbox("plain");
  const parented = await sandbox("parented", true, "/pods/parented");
  await container(parented, "c", ["sleep", "3600"]);
  const one = await rejection(fake.podSandboxStats(plain.id));
  assert.deepEqual(
    [one.kind, one.message],
    [
      "Other",
      `PodSandboxStats: failed getting metrics for sandbox ${plain.id}: failed to get cgroup metrics for sandbox ${plain.id} because cgroupPath is empty`,
    ],
  );
  const all = await rejection(fake.listPodSandboxStats());
  assert.equal(
    all.message,
    `ListPodSandboxStats: failed to obtain metrics for sandbox "${plain.id}": failed to get cgroup metrics for sandbox ${plain.id} because cgroupPath is empty`,
  );
  assert.equal((await fake.podSandboxStats(parented.id)).id, parented.id);
  const chosen = await fake.listPodSandboxStats({ labelSelector: { pod: "parented" } });
  assert.deepEqual(chosen.map((s) => [s.id, s.containers.length]), [[parented.id, 1]]);
  // With a filter, only ready sandboxes are measured; without one, every sandbox.
  await fake.stopPodSandbox(parented.id);
  assert.deepEqual(await fake.listPodSandboxStats({ labelSelector: { pod: "parented" } }), []);
  const missing = await rejection(fake.podSandboxStats("sandbox-404"));
  assert.equal(missing.kind, "NotFound");
});

Deno.test("in sums mode a pod's figures are its running containers' and its own, with its process count, network and containers", async () => {
  const { fake, advance, sandbox, container } = handFake();
  fake.usage.podStats = "sums";
  const pod = await sandbox("p", false);
  const host = await sandbox("h", true);
  const spin = await container(pod, "spin", SPIN, { linux: HALF_A_CORE });
  const idle = await container(pod, "idle", ["sleep", "3600"]);
  const created = await container(pod, "created", ["sleep", "3600"], { start: false });
  fake.usage.set(idle, { workingSetBytes: 1 * MiB, usageBytes: 2 * MiB, rssBytes: 0 });
  fake.usage.set(spin, { workingSetBytes: 3 * MiB, usageBytes: 3 * MiB, rssBytes: 0 });
  fake.usage.set(pod.id, { cpuCoreNanoSeconds: 1e6, workingSetBytes: 256 * 1024 });
  advance(2_000);
  const s = await fake.podSandboxStats(pod.id);
  const timestamp = (T0 + 2_000) * 1e6;
  assert.deepEqual(s.cpu, { timestamp, usageCoreNanoSeconds: 1e9 + 1e6, usageNanoCores: 0 });
  assert.equal(s.memory?.workingSetBytes, 4 * MiB + 256 * 1024);
  assert.equal(s.memory?.usageBytes, 5 * MiB);
  assert.equal(s.processCount, 2);
  assert.deepEqual(s.network, {
    timestamp,
    defaultInterface: { name: "eth0", rxBytes: 0, rxErrors: 0, txBytes: 0, txErrors: 0 },
  });
  assert.deepEqual(s.containers.map((c) => c.id), [spin, idle, created]);
  advance(1_000);
  assert.equal((await fake.podSandboxStats(pod.id)).cpu?.usageNanoCores, 5e8);
  const [h] = await fake.listPodSandboxStats({ id: host.id });
  assert.deepEqual([h?.id, h?.network, h?.processCount, h?.containers], [
    host.id,
    undefined,
    0,
    [],
  ]);
});

Deno.test("served over gRPC, unimplemented pod stats calls are refused with code 12, and the stats calls take injected errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-fake-" });
  try {
    const { fake, sandbox, container } = handFake();
    await using _server = await serveCri(fake, `${dir}/cri.sock`);
    using cri = connectCri(`${dir}/cri.sock`);
    const pod = await sandbox("p");
    const id = await container(pod, "c", ["sleep", "3600"]);
    fake.usage.podStats = "unimplemented";
    for (const call of [() => cri.podSandboxStats(pod.id), () => cri.listPodSandboxStats()]) {
      const err = await rejection(call());
      assert.equal(err.kind, "Unimplemented");
      assert.equal((err.cause as { code?: number }).code, 12);
    }
    fake.inject("ContainerStats", {
      error: new CriError("Unavailable", "ContainerStats", "ContainerStats: busy"),
    });
    assert.equal((await rejection(cri.containerStats(id))).kind, "Unavailable");
    assert.equal((await cri.containerStats(id)).id, id, "only the next call fails");
    assert.deepEqual(fake.methods().slice(-4), [
      "PodSandboxStats",
      "ListPodSandboxStats",
      "ContainerStats",
      "ContainerStats",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
