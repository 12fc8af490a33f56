/**
 * The executor's kills, removals of left-over containers and log rotations, on the fake
 * runtime: the calls they make, in order, the events they emit, and NotFound counting as done.
 */
import assert from "node:assert/strict";
import { execute } from "../lib/reconcile/executor.ts";
import type { ExecutorOptions, PodEvent } from "../lib/reconcile/executor_options.ts";
import type { KillContainer, RemoveOrphan, RotateLogs } from "../lib/reconcile/actions.ts";
import { ImagePuller } from "../lib/node/images.ts";
import { createLogger } from "../lib/base/log.ts";
import { CriError } from "../lib/runtime/errors.ts";
import { FakeCri } from "../testing/fake_cri.ts";

const IMAGE = "docker.io/library/busybox:1.35";
const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);

interface World {
  cri: FakeCri;
  options: ExecutorOptions;
  events: PodEvent[];
  lines: string[];
  /** The executor's wall clock, moved by hand. */
  time: { now: number };
}

function world(edit: Partial<ExecutorOptions> = {}): World {
  const cri = new FakeCri({ images: [IMAGE] });
  const events: PodEvent[] = [];
  const lines: string[] = [];
  const time = { now: NOW };
  return {
    cri,
    events,
    lines,
    time,
    options: {
      cri,
      log: createLogger({ write: (l) => lines.push(l) }),
      images: new ImagePuller({ cri, now: () => time.now }),
      root: "/nonexistent/root",
      podLogRoot: "/nonexistent/logs",
      parallel: 1,
      onEvent: (e) => events.push(e),
      now: () => time.now,
      ...edit,
    },
  };
}

/** A sandbox with one running container `app`; its log goes to `logDirectory` when given. */
async function running(
  cri: FakeCri,
  logDirectory?: string,
): Promise<{ sandboxId: string; containerId: string }> {
  const sandboxConfig = {
    metadata: { name: "web", namespace: "default", uid: "u1", attempt: 0 },
    labels: { tinylet: "true", "tinylet/instance": "default" },
    ...(logDirectory ? { logDirectory } : {}),
  };
  const sandboxId = await cri.runPodSandbox(sandboxConfig);
  const containerId = await cri.createContainer(sandboxId, {
    metadata: { name: "app", attempt: 0 },
    image: { image: IMAGE },
    command: ["sleep", "3600"],
    labels: { tinylet: "true", "tinylet/instance": "default" },
    logPath: "app/0.log",
  }, sandboxConfig);
  await cri.startContainer(containerId);
  return { sandboxId, containerId };
}

function kill(containerId: string, edit: Partial<KillContainer> = {}): KillContainer {
  return {
    type: "killContainer",
    key: "default/web",
    containerId,
    container: "app",
    reason: "LivenessProbe",
    message: "Container app failed its liveness probe 3 times in a row (no); it will be restarted",
    gracePeriodSeconds: 30,
    ...edit,
  };
}

async function stateOf(cri: FakeCri, id: string): Promise<string> {
  return (await cri.containerStatus(id)).state;
}

Deno.test("a probe kill runs the preStop hook, then stops the container with the grace left, and says so", async () => {
  const hooks: string[] = [];
  const w = world({
    hook: (handler, target, timeout) => {
      hooks.push(`${handler.exec?.command.join(" ")} in ${target.containerId} within ${timeout}`);
      w.time.now += 25_400; // the hook takes 25.4 s of the 30
      return Promise.resolve({ ok: true, output: "" });
    },
  });
  const { containerId } = await running(w.cri);
  w.cri.calls.length = 0;
  const [r] = await execute([
    kill(containerId, {
      preStop: { exec: { command: ["drain"] } },
      target: { containerId, host: "", namedPorts: {} },
    }),
  ], w.options);
  assert.equal(r?.error, undefined);
  assert.deepEqual(hooks, [`drain in ${containerId} within 30`]);
  assert.deepEqual(w.cri.calls, [
    { method: "StopContainer", arg: { id: containerId, timeoutSeconds: 5 } },
  ]);
  assert.equal(await stateOf(w.cri, containerId), "CONTAINER_EXITED");
  const message =
    "Container app failed its liveness probe 3 times in a row (no); it will be restarted";
  assert.deepEqual(w.events, [
    { pod: "default/web", type: "Warning", reason: "Unhealthy", message },
    { pod: "default/web", type: "Normal", reason: "Killing", message: "Stopped container app" },
  ]);
  assert.ok(w.lines.some((l) => l.includes(message)), "the kill's reason is logged");
});

Deno.test("a probe kill gives at least 2 s after a preStop hook that used up the grace period", async () => {
  const w = world({
    hook: () => {
      w.time.now += 40_000;
      return Promise.resolve({ ok: false, output: "hook failed" });
    },
  });
  const { containerId } = await running(w.cri);
  w.cri.calls.length = 0;
  const [r] = await execute([
    kill(containerId, {
      reason: "StartupProbe",
      preStop: { exec: { command: ["drain"] } },
      target: { containerId, host: "", namedPorts: {} },
    }),
  ], w.options);
  assert.equal(r?.error, undefined, "a failed preStop hook does not keep the container running");
  assert.deepEqual(w.cri.calls, [
    { method: "StopContainer", arg: { id: containerId, timeoutSeconds: 2 } },
  ]);
});

Deno.test("a kill whose container the runtime no longer has is done", async () => {
  const w = world();
  const { containerId } = await running(w.cri);
  w.cri.inject("StopContainer", {
    error: new CriError("NotFound", "StopContainer", "container not found"),
  });
  const [r] = await execute([kill(containerId)], w.options);
  assert.equal(r?.error, undefined);
  assert.deepEqual(w.events.map((e) => e.reason), ["Unhealthy", "Killing"]);
});

Deno.test("a kill the runtime refuses for another reason fails, for the next pass to retry", async () => {
  const w = world();
  const { containerId } = await running(w.cri);
  w.cri.inject("StopContainer", {
    error: new CriError("Unavailable", "StopContainer", "busy"),
  });
  const [r] = await execute([kill(containerId)], w.options);
  assert.match(r?.error?.message ?? "", /busy/);
  assert.equal(await stateOf(w.cri, containerId), "CONTAINER_RUNNING");
});

Deno.test("a kill after a failed postStart hook stops the container with the pod's grace period, with no probe event", async () => {
  const w = world();
  const { containerId } = await running(w.cri);
  w.cri.calls.length = 0;
  const [r] = await execute([
    kill(containerId, {
      reason: "FailedPostStartHook",
      message: "Container app: hook failed",
      gracePeriodSeconds: 0,
    }),
  ], w.options);
  assert.equal(r?.error, undefined);
  assert.deepEqual(w.cri.calls, [
    { method: "StopContainer", arg: { id: containerId, timeoutSeconds: 0 } },
  ]);
  assert.deepEqual(w.events, []);
  assert.equal(await stateOf(w.cri, containerId), "CONTAINER_EXITED");
});

function orphan(containerId: string, sandboxId: string): RemoveOrphan {
  return {
    type: "removeOrphan",
    key: "default/web",
    reason: "its sandbox is not listed",
    containerId,
    sandboxId,
  };
}

Deno.test("a left-over container is removed once the runtime says its sandbox is gone", async () => {
  const w = world();
  const { containerId } = await running(w.cri);
  w.cri.calls.length = 0;
  const [r] = await execute([orphan(containerId, "sandbox-gone")], w.options);
  assert.equal(r?.error, undefined);
  assert.deepEqual(w.cri.methods(), ["PodSandboxStatus", "RemoveContainer"]);
  assert.deepEqual(await w.cri.listContainers(), []);
  assert.equal(w.lines.filter((l) => l.includes("Removed left-over container")).length, 1);
});

Deno.test("a container whose sandbox the runtime still has is left alone", async () => {
  const w = world();
  const { sandboxId, containerId } = await running(w.cri);
  w.cri.calls.length = 0;
  const [r] = await execute([orphan(containerId, sandboxId)], w.options);
  assert.equal(r?.error, undefined);
  assert.deepEqual(w.cri.methods(), ["PodSandboxStatus"]);
  assert.equal(await stateOf(w.cri, containerId), "CONTAINER_RUNNING");
});

Deno.test("a left-over container the runtime no longer has is removed already", async () => {
  const w = world();
  const { containerId } = await running(w.cri);
  w.cri.inject("RemoveContainer", {
    error: new CriError("NotFound", "RemoveContainer", "container not found"),
  });
  const [r] = await execute([orphan(containerId, "sandbox-gone")], w.options);
  assert.equal(r?.error, undefined);
  assert.deepEqual(
    w.lines.filter((l) => l.includes("Removed left-over container")),
    [],
    "nothing was removed: nothing is logged as removed",
  );
});

Deno.test("a left-over container is kept when the runtime cannot say whether its sandbox is gone", async () => {
  const w = world();
  const { containerId } = await running(w.cri);
  w.cri.inject("PodSandboxStatus", {
    error: new CriError("Unavailable", "PodSandboxStatus", "busy"),
  });
  const [r] = await execute([orphan(containerId, "sandbox-gone")], w.options);
  assert.match(r?.error?.message ?? "", /busy/);
  assert.equal(await stateOf(w.cri, containerId), "CONTAINER_RUNNING");
});

async function logWorld(): Promise<World & { dir: string; log: string; containerId: string }> {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-exec-rot-" });
  const w = world({ logRotation: { maxSizeBytes: 10, maxFiles: 2 } });
  const { containerId } = await running(w.cri, dir);
  const log = `${dir}/app/0.log`;
  await Deno.mkdir(`${dir}/app`);
  await Deno.writeTextFile(log, "more than ten bytes\n");
  return { ...w, dir, log, containerId };
}

function rotation(containerId: string, logPath: string): RotateLogs {
  return {
    type: "rotateLogs",
    key: "default/web",
    reason: "the log check is due",
    logs: [{ containerId, logPath }],
  };
}

/** The rotated name of a log at {@linkcode NOW}: kubelet's `20060102-150405`, in UTC. */
const ROTATED_SUFFIX = ".20261127-120000";

Deno.test("a log over the limit is renamed and the runtime asked to reopen it", async () => {
  const w = await logWorld();
  try {
    w.cri.calls.length = 0;
    const [r] = await execute([rotation(w.containerId, w.log)], w.options);
    assert.equal(r?.error, undefined);
    assert.deepEqual(w.cri.calls, [{ method: "ReopenContainerLog", arg: w.containerId }]);
    assert.equal(await Deno.readTextFile(`${w.log}${ROTATED_SUFFIX}`), "more than ten bytes\n");
  } finally {
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("a log whose container the runtime no longer has stays rotated: the reopen is done", async () => {
  const w = await logWorld();
  try {
    w.cri.inject("ReopenContainerLog", {
      error: new CriError("NotFound", "ReopenContainerLog", "container not found"),
    });
    const [r] = await execute([rotation(w.containerId, w.log)], w.options);
    assert.equal(r?.error, undefined);
    assert.equal(await Deno.readTextFile(`${w.log}${ROTATED_SUFFIX}`), "more than ten bytes\n");
    assert.ok(!w.lines.some((l) => l.includes("Cannot rotate")), w.lines.join("\n"));
  } finally {
    await Deno.remove(w.dir, { recursive: true });
  }
});

Deno.test("a log the runtime fails to reopen is renamed back and the failure logged, not failed", async () => {
  const w = await logWorld();
  try {
    w.cri.inject("ReopenContainerLog", {
      error: new CriError("Unavailable", "ReopenContainerLog", "busy"),
    });
    const [r] = await execute([rotation(w.containerId, w.log)], w.options);
    assert.equal(r?.error, undefined);
    assert.equal(await Deno.readTextFile(w.log), "more than ten bytes\n");
    assert.ok(
      w.lines.some((l) => l.includes(`Cannot rotate the log of container ${w.containerId}`)),
      w.lines.join("\n"),
    );
  } finally {
    await Deno.remove(w.dir, { recursive: true });
  }
});
