/**
 * Stopping the agent is bounded: a real agent process (`main.ts`) against the
 * fake runtime served over gRPC, on which every call, every exec probe and
 * hook, and an image pull hang, with an HTTP probe against a loopback server
 * that never answers. SIGTERM or SIGINT must give exit 0 within 5 s, with
 * `stoppedAt` in the status file, and must not start stopping any pod.
 */
import assert from "node:assert/strict";
import { LAST_WRITE_MS, STOP_DEADLINE_MS } from "../main.ts";
import { STOP_GRACE_MS } from "../lib/reconcile/loop.ts";
import { readStatusFile, statusFilePath } from "../lib/agent/status_file.ts";
import { startAgent } from "../testing/agent_process.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { serveCri } from "../testing/fake_cri_server.ts";
import { waitFor } from "../testing/wait.ts";

const IMAGE = "docker.io/library/busybox:1.35";
/** What the agent is allowed from the signal to its exit. */
const EXIT_WITHIN_MS = 5_000;
/** How long the test waits for an exit before it kills the agent and fails. */
const GIVE_UP_AFTER_MS = 15_000;

const METHODS = [
  "Version",
  "Status",
  "RunPodSandbox",
  "StopPodSandbox",
  "RemovePodSandbox",
  "PodSandboxStatus",
  "ListPodSandbox",
  "CreateContainer",
  "StartContainer",
  "StopContainer",
  "RemoveContainer",
  "ListContainers",
  "ContainerStatus",
  "ExecSync",
  "ReopenContainerLog",
  "ImageStatus",
  "PullImage",
  "ListImages",
];

/** A pod whose container has an exec liveness probe and an httpGet readiness probe. */
function probedPod(port: number): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  hostNetwork: true
  containers:
    - name: c
      image: ${IMAGE}
      command: [sleep, "3600"]
      livenessProbe:
        exec: {command: [sh, -c, "sleep 3600"]}
        periodSeconds: 1
        timeoutSeconds: 600
      readinessProbe:
        httpGet: {port: ${port}, path: /never}
        periodSeconds: 1
        timeoutSeconds: 600
`;
}

/** A pod with a long grace period and a hook of kind `hook` that never ends. */
function hookedPod(name: string, hook: "postStart" | "preStop"): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 600
  containers:
    - name: c
      image: ${IMAGE}
      command: [sleep, "3600"]
      lifecycle:
        ${hook}: {exec: {command: [sh, -c, "sleep 3600"]}}
`;
}

/** A pod whose image the runtime has to pull. */
function pullingPod(): string {
  return `name: pulling\ncontainers: [{name: c, image: "registry.example/slow:1"}]\n`;
}

/** A TCP server on loopback that accepts connections and never answers. */
function silentServer(): { port: number; accepted: () => number } & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const loop = (async () => {
    try {
      for await (const conn of listener) conns.push(conn);
    } catch {
      // Closed.
    }
  })();
  return {
    port: listener.addr.port,
    accepted: () => conns.length,
    async [Symbol.asyncDispose]() {
      listener.close();
      await loop;
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // The client closed it.
        }
      }
    },
  };
}

/** The ids of the fake's containers, by pod name. */
async function containerIdsByPod(fake: FakeCri): Promise<Map<string, string>> {
  const sandboxes = await fake.listPodSandbox();
  const names = new Map(sandboxes.map((s) => [s.id, s.metadata.name]));
  const ids = new Map<string, string>();
  for (const c of await fake.listContainers({ state: "CONTAINER_RUNNING" })) {
    ids.set(names.get(c.podSandboxId) ?? "", c.id);
  }
  return ids;
}

function execCallsFor(fake: FakeCri, containerId: string | undefined): number {
  return fake.calls.filter((c) =>
    c.method === "ExecSync" && (c.arg as { id: string }).id === containerId
  ).length;
}

async function stopsWithin(signal: Deno.Signal) {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-shutdown-" });
  try {
    const manifests = `${dir}/manifests`;
    await Deno.mkdir(manifests, { mode: 0o755 });
    const fake = new FakeCri({ images: [IMAGE] });
    // Every exec (probes and hooks) and every pull hangs from the start.
    fake.inject("ExecSync", { hang: true, times: Infinity });
    fake.inject("PullImage", { hang: true, times: Infinity });
    await using server = await serveCri(fake, `${dir}/cri.sock`);
    await using silent = silentServer();
    await Deno.writeTextFile(`${manifests}/probed.yaml`, probedPod(silent.port));
    await Deno.writeTextFile(`${manifests}/poststart.yaml`, hookedPod("poststart", "postStart"));
    await Deno.writeTextFile(`${manifests}/prestop.yaml`, hookedPod("prestop", "preStop"));
    await Deno.writeTextFile(`${manifests}/pulling.yaml`, pullingPod());
    await using agent = startAgent([
      "--socket",
      server.socketPath,
      "--manifests",
      manifests,
      "--root",
      `${dir}/root`,
      "--pod-log-root",
      `${dir}/logs`,
      "--interval",
      "500ms",
      "--listen",
      "127.0.0.1:0",
    ]);
    const ids = await waitFor(
      () => `the three pods' containers running; calls: ${fake.methods().join(" ")}`,
      async () => {
        const ids = await containerIdsByPod(fake);
        return ["probed", "poststart", "prestop"].every((n) => ids.has(n)) && ids;
      },
      { timeoutMs: 20_000 },
    );
    // The preStop hook runs when its pod's file goes.
    await Deno.remove(`${manifests}/prestop.yaml`);
    await waitFor(
      () => `probes, hooks and the pull in flight; calls: ${fake.methods().join(" ")}`,
      () =>
        silent.accepted() > 0 &&
        execCallsFor(fake, ids.get("probed")) > 0 &&
        execCallsFor(fake, ids.get("poststart")) > 0 &&
        execCallsFor(fake, ids.get("prestop")) > 0 &&
        fake.methods().includes("PullImage"),
      { timeoutMs: 20_000 },
    );
    // From now on every call hangs; wait until a pass is stuck in one.
    for (const method of METHODS) fake.inject(method, { hang: true, times: Infinity });
    const hungFrom = fake.calls.length;
    await waitFor(
      "a pass waiting on a hung ListPodSandbox",
      () => fake.calls.slice(hungFrom).some((c) => c.method === "ListPodSandbox"),
      { timeoutMs: 10_000 },
    );
    const signalledAt = fake.calls.length;
    const t0 = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const code = await Promise.race([
      agent.stop(signal),
      new Promise<"timeout">((resolve) =>
        timer = setTimeout(() => resolve("timeout"), GIVE_UP_AFTER_MS)
      ),
    ]);
    clearTimeout(timer);
    const ms = Math.round(performance.now() - t0);
    assert.notEqual(code, "timeout", `the agent was still running ${ms} ms after ${signal}`);
    assert.equal(
      code,
      0,
      `exit code after ${signal}; the agent logged:\n${agent.lines.join("\n")}`,
    );
    assert.ok(
      ms < EXIT_WITHIN_MS,
      `the agent exited ${ms} ms after ${signal}; the agent logged:\n${agent.lines.join("\n")}`,
    );
    const status = await readStatusFile(statusFilePath(`${dir}/root`));
    assert.ok(status, "a status file");
    assert.ok(status.agent.stoppedAt, `stoppedAt in ${JSON.stringify(status.agent)}`);
    assert.ok(
      Date.parse(status.agent.stoppedAt) >= Date.now() - ms - 1_000,
      `stoppedAt ${status.agent.stoppedAt} is the time of this stop`,
    );
    // Stopping the agent never stops pods: no stop or remove was sent after the signal.
    const after = fake.calls.slice(signalledAt).map((c) => c.method);
    for (const m of ["StopContainer", "StopPodSandbox", "RemoveContainer", "RemovePodSandbox"]) {
      assert.ok(!after.includes(m), `${m} sent after ${signal}: ${after.join(" ")}`);
    }
    fake.clearInjections();
    const running = await fake.listContainers({ state: "CONTAINER_RUNNING" });
    assert.equal(running.length, 3, "the pods' containers still run");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Makes a FIFO at `path`: opening it waits for a writer forever, and no signal reaches that wait. */
async function mkfifo(path: string) {
  const out = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

/** Sends SIGTERM; the exit code and how long after the signal it came. */
async function stopTimed(agent: ReturnType<typeof startAgent>) {
  const t0 = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const code = await Promise.race([
    agent.stop("SIGTERM"),
    new Promise<"timeout">((resolve) =>
      timer = setTimeout(() => resolve("timeout"), GIVE_UP_AFTER_MS)
    ),
  ]);
  clearTimeout(timer);
  const ms = Math.round(performance.now() - t0);
  assert.notEqual(code, "timeout", `the agent was still running ${ms} ms after SIGTERM`);
  assert.equal(code, 0, `exit code; the agent logged:\n${agent.lines.join("\n")}`);
  assert.ok(ms < EXIT_WITHIN_MS, `the agent exited ${ms} ms after SIGTERM`);
  return ms;
}

function agentFlags(dir: string, socket: string): string[] {
  return [
    "--socket",
    socket,
    "--manifests",
    `${dir}/manifests`,
    "--root",
    `${dir}/root`,
    "--pod-log-root",
    `${dir}/logs`,
  ];
}

Deno.test("a pass held where no signal reaches cannot hold the agent: exit 0 within 5 s, stoppedAt written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-shutdown-" });
  try {
    await Deno.mkdir(`${dir}/manifests`, { mode: 0o755 });
    await Deno.writeTextFile(
      `${dir}/manifests/web.yaml`,
      `name: web\ncontainers: [{name: c, image: "${IMAGE}", command: [sleep, "3600"]}]\n`,
    );
    const fake = new FakeCri({ images: [IMAGE] });
    await using server = await serveCri(fake, `${dir}/cri.sock`);
    // A first agent starts the pod, and stops.
    {
      await using first = startAgent(agentFlags(dir, server.socketPath));
      await first.waitForLine(/Started pod default\/web/);
      assert.equal(await first.stop("SIGTERM"), 0);
    }
    // The next agent reads the pod's recorded source file in its first pass: a FIFO there
    // holds that pass, which the stop signal cannot reach. Only the bound in main ends it.
    const [sandbox] = await fake.listPodSandbox();
    assert.ok(sandbox, "the pod's sandbox");
    await Deno.remove(`${dir}/root/pods/${sandbox.metadata.uid}/source`).catch(() => {});
    await mkfifo(`${dir}/root/pods/${sandbox.metadata.uid}/source`);
    const from = fake.calls.length;
    await using agent = startAgent([...agentFlags(dir, server.socketPath), "--interval", "100ms"]);
    // Held: the loop, which lists the runtime every 100 ms, has not listed it for a second.
    const lists = () => fake.calls.slice(from).filter((c) => c.method === "ListPodSandbox").length;
    let seen = 0;
    let since = performance.now();
    await waitFor("a pass held by the FIFO", () => {
      if (lists() !== seen) {
        seen = lists();
        since = performance.now();
      }
      return seen > 0 && performance.now() - since > 1_000;
    }, { timeoutMs: 10_000 });
    await stopTimed(agent);
    assert.ok(
      agent.lines.some((l) => l.includes("Stopping took longer than")),
      `the agent says it did not wait for the rest; it logged:\n${agent.lines.join("\n")}`,
    );
    const status = await readStatusFile(statusFilePath(`${dir}/root`));
    assert.ok(status?.agent.stoppedAt, `stoppedAt in ${JSON.stringify(status?.agent)}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a flight held where no signal reaches cannot hold the loop: exit 0 within 5 s, stoppedAt written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-shutdown-" });
  try {
    await Deno.mkdir(`${dir}/manifests`, { mode: 0o755 });
    // The init container starts first, and ends; the flight that starts c then pulls its image,
    // reading registry credentials first: a FIFO there holds that flight, past its last
    // runtime call, where the stop signal cannot reach it.
    await Deno.writeTextFile(
      `${dir}/manifests/pulling.yaml`,
      `apiVersion: v1
kind: Pod
metadata: {name: pulling}
spec:
  initContainers: [{name: init, image: "${IMAGE}", command: ["true"]}]
  containers: [{name: c, image: "registry.example/slow:1"}]
`,
    );
    await mkfifo(`${dir}/registry.json`);
    const fake = new FakeCri({ images: [IMAGE], registry: ["registry.example/slow:1"] });
    await using server = await serveCri(fake, `${dir}/cri.sock`);
    await using agent = startAgent([
      ...agentFlags(dir, server.socketPath),
      "--registry-config",
      `${dir}/registry.json`,
    ]);
    await agent.waitForLine(/Pulling image registry.example\/slow:1/);
    const ms = await stopTimed(agent);
    assert.ok(ms >= STOP_GRACE_MS - 100, `exited ${ms} ms after SIGTERM, before the loop's grace`);
    assert.ok(
      !fake.methods().includes("PullImage"),
      "the pull reached the runtime: nothing held the flight, so this test tests nothing",
    );
    assert.ok(
      !agent.lines.some((l) => l.includes("Stopping took longer than")),
      "the loop itself gave up on the flight, before the bound in main",
    );
    const status = await readStatusFile(statusFilePath(`${dir}/root`));
    assert.ok(status?.agent.stoppedAt, `stoppedAt in ${JSON.stringify(status?.agent)}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGTERM while the runtime hangs from the start (the startup version check included): exit 0 at once, stoppedAt written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-shutdown-" });
  try {
    const manifests = `${dir}/manifests`;
    await Deno.mkdir(manifests, { mode: 0o755 });
    const fake = new FakeCri({ images: [IMAGE] });
    for (const method of METHODS) fake.inject(method, { hang: true, times: Infinity });
    await using server = await serveCri(fake, `${dir}/cri.sock`);
    await using agent = startAgent([
      "--socket",
      server.socketPath,
      "--manifests",
      manifests,
      "--root",
      `${dir}/root`,
    ]);
    await waitFor("the version check at the runtime", () => fake.methods().includes("Version"));
    const t0 = performance.now();
    const code = await agent.stop("SIGTERM");
    const ms = Math.round(performance.now() - t0);
    assert.equal(code, 0, `exit code; the agent logged:\n${agent.lines.join("\n")}`);
    // The version check alone waits 5 s for an answer: the signal cuts it short.
    assert.ok(ms < 2_000, `the agent exited ${ms} ms after SIGTERM`);
    const status = await readStatusFile(statusFilePath(`${dir}/root`));
    assert.ok(status?.agent.stoppedAt, `stoppedAt in ${JSON.stringify(status?.agent)}`);
    assert.deepEqual(fake.methods(), ["Version"], "nothing but the version check was asked");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGTERM with every runtime call, probe and hook hanging: exit 0 within 5 s, stoppedAt written", async () => {
  await stopsWithin("SIGTERM");
});

Deno.test("SIGINT with every runtime call, probe and hook hanging: exit 0 within 5 s, stoppedAt written", async () => {
  await stopsWithin("SIGINT");
});

Deno.test("the stop bounds fit in the 5 s promised: the loop's grace, then main's deadline, then the last write", () => {
  assert.ok(
    STOP_GRACE_MS < STOP_DEADLINE_MS,
    `the loop's grace (${STOP_GRACE_MS} ms) ends before main's deadline (${STOP_DEADLINE_MS} ms)`,
  );
  // What is left of the 5 s is for the process itself to start exiting.
  assert.ok(
    STOP_DEADLINE_MS + LAST_WRITE_MS <= EXIT_WITHIN_MS - 1_000,
    `main's deadline and the last write (${STOP_DEADLINE_MS} + ${LAST_WRITE_MS} ms) leave a second of ${EXIT_WITHIN_MS} ms`,
  );
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`tinylet logs ends at once on ${signal} while the runtime's version check hangs`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "tinylet-shutdown-" });
    try {
      const fake = new FakeCri({ images: [IMAGE] });
      fake.inject("Version", { hang: true, times: Infinity });
      await using server = await serveCri(fake, `${dir}/cri.sock`);
      await using logs = startAgent([
        "logs",
        "web",
        "-f",
        "--socket",
        server.socketPath,
        "--root",
        `${dir}/root`,
        "--pod-log-root",
        `${dir}/logs`,
      ]);
      await waitFor("the version check at the runtime", () => fake.methods().includes("Version"));
      const t0 = performance.now();
      const code = await logs.stop(signal);
      const ms = Math.round(performance.now() - t0);
      // The check alone waits 5 s for an answer: the signal cuts it short.
      assert.ok(ms < 2_000, `tinylet logs exited ${ms} ms after ${signal}`);
      assert.equal(
        code,
        signal === "SIGINT" ? 130 : 143,
        `exit code; it wrote:\n${logs.lines.join("\n")}`,
      );
      assert.deepEqual(logs.lines, [], "an interrupted command says nothing");
      assert.deepEqual(fake.methods(), ["Version"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("tinylet logs ends at once on SIGINT while the runtime hangs in listing the pods", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-shutdown-" });
  try {
    const fake = new FakeCri({ images: [IMAGE] });
    fake.inject("ListPodSandbox", { hang: true, times: Infinity });
    await using server = await serveCri(fake, `${dir}/cri.sock`);
    await using logs = startAgent([
      "logs",
      "web",
      "--socket",
      server.socketPath,
      "--root",
      `${dir}/root`,
      "--pod-log-root",
      `${dir}/logs`,
    ]);
    await waitFor("the listing at the runtime", () => fake.methods().includes("ListPodSandbox"));
    const t0 = performance.now();
    const code = await logs.stop("SIGINT");
    const ms = Math.round(performance.now() - t0);
    // The listing alone waits 10 s (the client's deadline): the signal cuts it short.
    assert.ok(ms < 2_000, `tinylet logs exited ${ms} ms after SIGINT`);
    assert.equal(code, 130, `exit code; it wrote:\n${logs.lines.join("\n")}`);
    assert.deepEqual(logs.lines, [], "an interrupted command says nothing");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
