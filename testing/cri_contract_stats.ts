/**
 * The CRI contract's cases on resource usage, in the shared sandbox (on the host network,
 * without a cgroup parent, as tinylet runs its pods): a spinning container's stats, the
 * containers `ListContainerStats` lists and its filters, the errors of `ContainerStats`, and
 * what the pod stats calls do for a sandbox without a cgroup parent (containerd 1.6 cannot
 * measure it).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ContainerState, Cri } from "../lib/runtime/cri.ts";
import { CriError } from "../lib/runtime/errors.ts";
import {
  containerConfig,
  type ContractEnv,
  type ContractPod,
  createSleeper,
  expectNotFound,
  sandboxConfig,
} from "./cri_contract_fixtures.ts";
import { waitFor } from "./wait.ts";

/** A shell loop that never sleeps: it uses all the CPU it may. */
const SPIN = "while :; do :; done";
/** An id no container or sandbox has. */
const MISSING = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/** Asserts that `ns` is a time in Unix nanoseconds within a minute of now. */
function assertNanoseconds(ns: number, what: string): void {
  const offMs = Math.abs(ns / 1e6 - Date.now());
  assert.ok(offMs < 60_000, `${what} ${ns} is not a time in nanoseconds near now`);
}

/** Awaits `p`, which must reject as an `Other` CriError with exactly `message`. */
async function expectOther(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, (err) => {
    assert.ok(err instanceof CriError, `not a CriError: ${err}`);
    assert.equal(err.kind, "Other", err.message);
    assert.equal(err.message, message);
    return true;
  });
}

/** Awaits `p`, which must reject with exactly `message`. */
async function expectMessage(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, (err) => {
    assert.ok(err instanceof Error, `not an Error: ${err}`);
    assert.equal(err.message, message);
    return true;
  });
}

/** Runs the stats cases in the shared sandbox `pod` as steps of `t`. */
export async function statsCases(
  t: Deno.TestContext,
  cri: Cri,
  env: ContractEnv,
  pod: ContractPod,
): Promise<void> {
  const settle = { timeoutMs: env.settleMs };

  await t.step(
    "a spinning container's stats: its cpu counter grows, it has a working set, times are in nanoseconds",
    async () => {
      const config = {
        ...containerConfig("stats-spin", env, ["sh", "-c", SPIN]),
        linux: { resources: { cpuPeriod: 100_000, cpuQuota: 50_000 } },
      };
      const id = await cri.createContainer(pod.id, config, pod.config);
      await cri.startContainer(id);
      const status = await cri.containerStatus(id);
      const first = await cri.containerStats(id);
      assert.equal(first.id, id);
      assert.deepEqual(first.metadata, status.metadata);
      assert.deepEqual(first.labels, status.labels);
      assert.deepEqual(first.annotations, status.annotations);
      const cpu = first.cpu;
      assert.ok(cpu?.usageCoreNanoSeconds !== undefined, "a running container has a cpu counter");
      assertNanoseconds(cpu.timestamp, "cpu.timestamp");
      assert.ok(cpu.timestamp >= status.startedAt, "sampled before the container started");
      // The runtime's rate on a container's first sample: 0 (containerd 1.6) or absent (newer
      // containerd leaves it unset until it has two samples).
      assert.ok(
        cpu.usageNanoCores === 0 || cpu.usageNanoCores === undefined,
        `${cpu.usageNanoCores}`,
      );
      const memory = first.memory;
      assert.ok(memory, "a running container has memory figures");
      assertNanoseconds(memory.timestamp, "memory.timestamp");
      assert.ok((memory.workingSetBytes ?? 0) > 0, `working set ${memory.workingSetBytes}`);
      // Without a memory limit, what is available is 0, not left out.
      assert.equal(memory.availableBytes, 0);
      const start = cpu.usageCoreNanoSeconds;
      const later = await waitFor("the spinning container's cpu counter to grow", async () => {
        const s = await cri.containerStats(id);
        return (s.cpu?.usageCoreNanoSeconds ?? 0) > start && s;
      }, settle);
      assert.ok(later.cpu!.timestamp > cpu.timestamp);
      assert.ok((later.cpu!.usageNanoCores ?? 0) > 0, "no rate once the counter grew");
      await cri.stopContainer(id, 0);
      await cri.removeContainer(id);
    },
  );

  await t.step(
    "ListContainerStats lists created, running and exited containers, figures only for running ones, filtered by sandbox, label and id",
    async () => {
      const created = await createSleeper(cri, env, pod, "stats-created");
      const running = await createSleeper(cri, env, pod, "stats-running");
      await cri.startContainer(running);
      const exited = await cri.createContainer(
        pod.id,
        containerConfig("stats-exited", env, ["sh", "-c", "exit 0"]),
        pod.config,
      );
      await cri.startContainer(exited);
      await waitFor("the container to exit", async () => {
        return (await cri.containerStatus(exited)).state === "CONTAINER_EXITED";
      }, settle);

      const listed = await cri.listContainers({ podSandboxId: pod.id });
      const states = new Map<string, ContainerState>(listed.map((c) => [c.id, c.state]));
      assert.deepEqual(
        [created, running, exited].map((id) => states.get(id)),
        ["CONTAINER_CREATED", "CONTAINER_RUNNING", "CONTAINER_EXITED"],
      );
      const stats = await cri.listContainerStats({ podSandboxId: pod.id });
      assert.deepEqual(stats.map((s) => s.id).sort(), [...states.keys()].sort());
      for (const s of stats) {
        const c = listed.find((c) => c.id === s.id)!;
        assert.deepEqual([s.metadata, s.labels], [c.metadata, c.labels]);
        const runs = c.state === "CONTAINER_RUNNING";
        assert.equal(s.cpu !== undefined, runs, `cpu of ${c.metadata.name} (${c.state})`);
        assert.equal(s.memory !== undefined, runs, `memory of ${c.metadata.name} (${c.state})`);
        assert.ok(s.writableLayer?.mountpoint, `writable layer of ${c.metadata.name}`);
      }

      const byLabel = await cri.listContainerStats({
        labelSelector: { "contract/container": "stats-created" },
      });
      assert.deepEqual(byLabel.map((s) => s.id), [created]);
      const bySandboxAndLabel = await cri.listContainerStats({
        podSandboxId: pod.id,
        labelSelector: { "tinylet": "true", "contract/container": "stats-running" },
      });
      assert.deepEqual(bySandboxAndLabel.map((s) => s.id), [running]);
      const byId = await cri.listContainerStats({ id: running });
      assert.deepEqual(byId.map((s) => [s.id, s.cpu !== undefined]), [[running, true]]);
      assert.deepEqual(
        await cri.listContainerStats({ labelSelector: { "contract/container": "nobody" } }),
        [],
      );
      assert.deepEqual(await cri.listContainerStats({ podSandboxId: MISSING }), []);

      await cri.stopContainer(running, 0);
      for (const id of [created, running, exited]) await cri.removeContainer(id);
    },
  );

  await t.step(
    "ContainerStats refuses a container that does not run, and an unknown id as NotFound",
    async () => {
      const created = await createSleeper(cri, env, pod, "stats-idle");
      const notRunning = "ContainerStats: unexpected metrics response: []";
      await expectOther(cri.containerStats(created), notRunning);
      await cri.startContainer(created);
      await cri.stopContainer(created, 0);
      assert.equal((await cri.containerStatus(created)).state, "CONTAINER_EXITED");
      await expectOther(cri.containerStats(created), notRunning);
      await expectNotFound("ContainerStats", cri.containerStats(MISSING));
      await expectMessage(
        cri.containerStats(MISSING),
        "ContainerStats: failed to find container: not found",
      );
      await cri.removeContainer(created);
    },
  );

  await t.step(
    "PodSandboxStats and ListPodSandboxStats fail for a sandbox without a cgroup parent; a filter chooses only ready sandboxes, no filter every one",
    async () => {
      assert.equal(pod.config.linux?.cgroupParent, undefined);
      const noCgroup = (id: string) =>
        `failed to get cgroup metrics for sandbox ${id} because cgroupPath is empty`;
      await expectOther(
        cri.podSandboxStats(pod.id),
        `PodSandboxStats: failed getting metrics for sandbox ${pod.id}: ${noCgroup(pod.id)}`,
      );
      await expectOther(
        cri.listPodSandboxStats({ id: pod.id }),
        `ListPodSandboxStats: failed to obtain metrics for sandbox "${pod.id}": ${
          noCgroup(pod.id)
        }`,
      );
      // A filter that chooses no sandbox measures none, and fails for none.
      assert.deepEqual(
        await cri.listPodSandboxStats({ labelSelector: { "contract/case": "nobody" } }),
        [],
      );
      await expectNotFound("PodSandboxStats", cri.podSandboxStats(MISSING));
      await expectMessage(
        cri.podSandboxStats(MISSING),
        `PodSandboxStats: an error occurred when trying to find sandbox ${MISSING}: not found`,
      );

      const config = sandboxConfig("stats-stopped", env, true);
      const stopped = await cri.runPodSandbox(config);
      await cri.stopPodSandbox(stopped);
      const chosen = { labelSelector: { "contract/case": "stats-stopped" } };
      assert.deepEqual(
        await cri.listPodSandboxStats(chosen),
        [],
        "a filter chose a stopped sandbox",
      );
      await expectOther(
        cri.podSandboxStats(stopped),
        `PodSandboxStats: failed getting metrics for sandbox ${stopped}: ${noCgroup(stopped)}`,
      );
      // Without a filter every sandbox is measured, the stopped one too: the call fails for
      // whichever comes first.
      await assert.rejects(
        cri.listPodSandboxStats(),
        /^CriError: ListPodSandboxStats: failed to obtain metrics for sandbox "[0-9a-z-]+": failed to get cgroup metrics for sandbox [0-9a-z-]+ because cgroupPath is empty$/,
      );
      await cri.removePodSandbox(stopped);
    },
  );
}
