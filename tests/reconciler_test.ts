import { type ReconcilerFixture, reconcilerFixture } from "../testing/reconciler_fixture.ts";
import assert from "node:assert/strict";
import { CriError } from "../lib/runtime/errors.ts";
import { createLogger } from "../lib/base/log.ts";
import { AgentMetrics } from "../lib/base/metrics.ts";
import { Reconciler } from "../lib/reconcile/reconciler.ts";
import { isFinished } from "../lib/reconcile/watcher.ts";
import { ManifestSource } from "../lib/manifest/source.ts";
import { readStatusFile, type StatusFile, writeStatusFile } from "../lib/agent/status_file.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { waitFor } from "../testing/wait.ts";

const IMAGE = "docker.io/library/busybox:1.35";

const HELLO = `# the original short form
name: hello
containers:
  - name: hello
    image: ${IMAGE}
    command: ["sh", "-c", "sleep 3600"]
`;

function setup(instance = "default"): Promise<ReconcilerFixture> {
  return reconcilerFixture({ instance });
}

async function runningPods(cri: FakeCri): Promise<string[]> {
  const sandboxes = await cri.listPodSandbox({ state: "SANDBOX_READY" });
  return sandboxes.map((s) => `${s.metadata.namespace}/${s.metadata.name}`).sort();
}

/** How many times each method was called. */
function counts(methods: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of methods) out[m] = (out[m] ?? 0) + 1;
  return out;
}

/** Asserts that each of `names` was called, each (first) call after the first call of the one before. */
function assertInOrder(methods: string[], names: string[]) {
  let from = 0;
  for (const name of names) {
    const at = methods.indexOf(name, from);
    assert.ok(
      at >= 0,
      `no ${name} after ${names.slice(0, names.indexOf(name)).join(", ")}: ${methods.join(" ")}`,
    );
    from = at + 1;
  }
}

Deno.test("a short-form file becomes a running pod with the contract's labels", async () => {
  await using s = await setup();
  await s.write("hello.yaml", HELLO);
  const r = await s.reconciler.pass();
  assert.deepEqual(r.results.map((x) => x.error?.message), [undefined]);
  // One listing, one look at the image (present: no pull), one sandbox and its container.
  assert.deepEqual(counts(s.cri.methods()), {
    ListPodSandbox: 1,
    ListContainers: 1,
    ImageStatus: 1,
    RunPodSandbox: 1,
    PodSandboxStatus: 1,
    CreateContainer: 1,
    StartContainer: 1,
  });
  assertInOrder(s.cri.methods(), [
    "ListPodSandbox",
    "RunPodSandbox",
    "CreateContainer",
    "StartContainer",
  ]);
  const [sandbox] = await s.cri.listPodSandbox();
  assert.ok(sandbox);
  assert.equal(sandbox.labels["tinylet"], "true");
  assert.equal(sandbox.labels["tinylet/instance"], "default");
  assert.equal(sandbox.labels[KEYS.podName], "hello");
  assert.equal(sandbox.labels[KEYS.podNamespace], "default");
  assert.equal(sandbox.labels[KEYS.podUid], sandbox.metadata.uid);
  assert.equal(sandbox.annotations[KEYS.source], `${s.manifests}/hello.yaml`);
  assert.equal(sandbox.annotations[KEYS.configSource], "file");
  assert.match(sandbox.annotations[KEYS.specHash] ?? "", /^v1:[0-9a-f]{64}$/);
  const [container] = await s.cri.listContainers();
  assert.ok(container);
  assert.equal(container.state, "CONTAINER_RUNNING");
  assert.equal(container.labels[KEYS.containerName], "hello");
  assert.equal(container.annotations[KEYS.restartCount], "0");
  assert.equal(container.annotations[KEYS.gracePeriod], "30");
  assert.equal(container.annotations[KEYS.containerType], "regular");
  const status = await s.cri.containerStatus(container.id);
  assert.equal(
    status.logPath,
    `${s.dir}/logs/default_hello_${sandbox.metadata.uid}/hello/0.log`,
  );
  assert.ok((await Deno.stat(`${s.root}/pods/${sandbox.metadata.uid}`)).isDirectory);
});

Deno.test("a pass over a converged system makes the two list calls only", async () => {
  await using s = await setup();
  await s.write("hello.yaml", HELLO);
  await s.reconciler.pass();
  s.cri.calls.length = 0;
  // The next pass sees the new container once: one status call. The sandbox's IP is known
  // from its creation.
  await s.reconciler.pass();
  assert.deepEqual(counts(s.cri.methods()), {
    ListPodSandbox: 1,
    ListContainers: 1,
    ContainerStatus: 1,
  });
  s.cri.calls.length = 0;
  for (let i = 0; i < 3; i++) {
    const r = await s.reconciler.pass();
    assert.deepEqual(r.actions, []);
  }
  assert.deepEqual(counts(s.cri.methods()), { ListPodSandbox: 3, ListContainers: 3 });
});

Deno.test("an image that is absent is pulled once, then the pod starts", async () => {
  await using s = await setup();
  s.cri.addToRegistry("docker.io/library/nginx:1.25");
  await s.write(
    "web.yaml",
    "name: web\ncontainers:\n  - name: a\n    image: nginx:1.25\n  - name: b\n    image: nginx:1.25\n",
  );
  await s.reconciler.pass();
  // The two containers share one lookup and one pull.
  assert.deepEqual(s.cri.methods().filter((m) => m.includes("Image")), [
    "ImageStatus",
    "PullImage",
  ]);
  assert.deepEqual(await runningPods(s.cri), ["default/web"]);
});

Deno.test("a pull carries the registry credentials for the image's host", async () => {
  await using s = await setup();
  s.cri.addToRegistry("registry.example.com:5000/team/app:2");
  const asked: string[] = [];
  const withAuth = new Reconciler({
    cri: s.cri,
    source: new ManifestSource(s.manifests),
    log: createLogger({ write: () => {} }),
    socket: "/run/fake.sock",
    nodeName: "node1",
    readHostDns: () => Promise.resolve({ servers: [], searches: [], options: [] }),
    registryAuth: (image) => {
      asked.push(image);
      return Promise.resolve([{ username: "alice", password: "s3cret" }]);
    },
    instance: "default",
    root: `${s.dir}/root`,
    podLogRoot: `${s.dir}/logs`,
    parallel: 4,
    intervalMs: 2000,
  });
  await s.write(
    "app.yaml",
    "name: app\ncontainers: [{name: a, image: 'registry.example.com:5000/team/app:2'}]\n",
  );
  await withAuth.pass();
  assert.deepEqual(asked, ["registry.example.com:5000/team/app:2"]);
  assert.deepEqual(s.cri.calls.find((c) => c.method === "PullImage")?.arg, {
    image: "registry.example.com:5000/team/app:2",
    auth: { username: "alice", password: "s3cret" },
  });
  assert.deepEqual(await runningPods(s.cri), ["default/app"]);
});

Deno.test("editing the spec replaces the pod: the old sandbox goes first", async () => {
  await using s = await setup();
  await s.write("hello.yaml", HELLO);
  await s.reconciler.pass();
  await s.reconciler.pass(); // learns the new container's and sandbox's status
  const [before] = await s.cri.listPodSandbox();
  s.cri.calls.length = 0;
  await s.write("hello.yaml", HELLO.replace("sleep 3600", "sleep 7200"));
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => a.type), ["deletePod", "createPod"]);
  assert.deepEqual(counts(s.cri.methods()), {
    ListPodSandbox: 1,
    ListContainers: 1,
    StopContainer: 1,
    StopPodSandbox: 1,
    RemovePodSandbox: 1,
    // One to see the removal took effect, one for the new sandbox.
    PodSandboxStatus: 2,
    ImageStatus: 1,
    RunPodSandbox: 1,
    CreateContainer: 1,
    StartContainer: 1,
  });
  // The old sandbox is stopped, removed and seen gone before the new one runs.
  const methods = s.cri.methods();
  assertInOrder(methods, [
    "StopContainer",
    "StopPodSandbox",
    "RemovePodSandbox",
    "PodSandboxStatus",
    "RunPodSandbox",
    "CreateContainer",
    "StartContainer",
  ]);
  const after = await s.cri.listPodSandbox();
  assert.equal(after.length, 1);
  assert.notEqual(after[0]!.metadata.uid, before!.metadata.uid);
  await assert.rejects(Deno.stat(`${s.root}/pods/${before!.metadata.uid}`), Deno.errors.NotFound);
});

Deno.test("a cosmetic edit (comments, key order, quoting, flow style) changes nothing", async () => {
  await using s = await setup();
  await s.write("hello.yaml", HELLO);
  await s.reconciler.pass();
  await s.reconciler.pass();
  s.cri.calls.length = 0;
  await s.write(
    "hello.yaml",
    `containers: [{command: [sh, '-c', "sleep 3600"], image: "${IMAGE}", name: hello}] # same pod
name: "hello"
`,
  );
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions, []);
  assert.deepEqual(counts(s.cri.methods()), { ListPodSandbox: 1, ListContainers: 1 });
});

Deno.test("renaming a file with unchanged content changes nothing", async () => {
  await using s = await setup();
  await s.write("hello.yaml", HELLO);
  await s.reconciler.pass();
  await Deno.rename(`${s.manifests}/hello.yaml`, `${s.manifests}/greeting.yml`);
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions, []);
});

Deno.test("deleting the file stops and removes the pod, with its state directory", async () => {
  await using s = await setup();
  await s.write("hello.yaml", HELLO);
  await s.reconciler.pass();
  const [sandbox] = await s.cri.listPodSandbox();
  const [container] = await s.cri.listContainers();
  await Deno.remove(`${s.manifests}/hello.yaml`);
  s.cri.calls.length = 0;
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => [a.type, a.reason]), [
    ["deletePod", `its file ${s.manifests}/hello.yaml was deleted`],
  ]);
  assert.deepEqual(s.cri.calls.filter((c) => c.method === "StopContainer").map((c) => c.arg), [
    { id: container!.id, timeoutSeconds: 30 },
  ]);
  assert.equal(s.cri.sandboxCount, 0);
  assert.equal(s.cri.containerCount, 0);
  await assert.rejects(Deno.stat(`${s.root}/pods/${sandbox!.metadata.uid}`), Deno.errors.NotFound);
});

Deno.test("an invalid edit keeps the pod running and is logged once", async () => {
  await using s = await setup();
  await s.write("hello.yaml", HELLO);
  await s.reconciler.pass();
  await s.write("hello.yaml", HELLO.replace(`image: ${IMAGE}`, "image: ''"));
  for (let i = 0; i < 3; i++) {
    const r = await s.reconciler.pass();
    assert.deepEqual(r.actions, []);
  }
  assert.deepEqual(await runningPods(s.cri), ["default/hello"]);
  const errors = s.lines.filter((l) => l.includes("ERROR") && l.includes("hello.yaml:5:"));
  assert.equal(errors.length, 1, s.lines.join("\n"));
  assert.match(
    errors[0]!,
    /hello\.yaml:5:5: error: Set "image": it is empty \(field containers\[0\]\.image\)/,
  );
});

Deno.test("an emptied file keeps its pods", async () => {
  await using s = await setup();
  await s.write("hello.yaml", HELLO);
  await s.reconciler.pass();
  await s.write("hello.yaml", "# nothing here yet\n");
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions, []);
  assert.deepEqual(await runningPods(s.cri), ["default/hello"]);
});

Deno.test("a failing call is recorded, and the next pass converges", async () => {
  await using s = await setup();
  await s.write("hello.yaml", HELLO);
  s.cri.inject("RunPodSandbox", { error: new CriError("Unavailable", "RunPodSandbox", "boom") });
  const first = await s.reconciler.pass();
  assert.equal(first.results.length, 1);
  assert.match(first.results[0]!.error?.message ?? "", /boom/);
  assert.equal(s.cri.sandboxCount, 0);
  assert.ok(
    s.lines.some((l) => l.includes("Failed to start pod default/hello: boom")),
  );
  // The pod backs off instead of looping hot: 10 s before the next try.
  assert.equal(first.wakeAt, s.clock.epochMs() + 10_000);
  const held = await s.reconciler.pass();
  assert.deepEqual(held.actions, []);
  assert.equal(s.cri.methods().filter((m) => m === "RunPodSandbox").length, 1);
  await s.clock.advance(10_000);
  const second = await s.reconciler.pass();
  assert.deepEqual(second.results.map((x) => x.error), [undefined]);
  assert.deepEqual(await runningPods(s.cri), ["default/hello"]);
});

Deno.test("a container that failed to start is started by the next pass", async () => {
  await using s = await setup();
  await s.write("hello.yaml", HELLO);
  s.cri.inject("StartContainer", { error: new Error("start failed") });
  await s.reconciler.pass();
  const [created] = await s.cri.listContainers();
  assert.equal(created?.state, "CONTAINER_CREATED");
  await s.clock.advance(10_000);
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => a.type), ["startCreated"]);
  assert.equal((await s.cri.listContainers())[0]?.state, "CONTAINER_RUNNING");
});

Deno.test("a start the runtime accepts but does not carry out fails and backs off instead of being planned again at once", async () => {
  await using s = await setup();
  await s.write("hello.yaml", HELLO);
  s.cri.inject("StartContainer", { error: new Error("start failed") });
  await s.reconciler.pass();
  s.cri.startContainer = () => Promise.resolve(); // accepted, not done
  await s.clock.advance(10_000);
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => a.type), ["startCreated"]);
  assert.equal(
    r.results[0]?.error?.message,
    "Cannot start container hello of pod default/hello: the runtime accepted the start but the container is still created",
  );
  const held = await s.reconciler.pass();
  assert.deepEqual(held.actions, []);
  assert.deepEqual(held.wakeAt, s.clock.epochMs() + 20_000);
});

Deno.test("sandboxes without this instance's labels are never touched", async () => {
  await using s = await setup("mine");
  const foreign = await s.cri.runPodSandbox({
    metadata: { name: "hello", namespace: "default", uid: "u1", attempt: 0 },
    labels: { app: "someone-else" },
  });
  const otherInstance = await s.cri.runPodSandbox({
    metadata: { name: "hello", namespace: "default", uid: "u2", attempt: 0 },
    labels: { "tinylet": "true", "tinylet/instance": "theirs" },
  });
  await s.write("other.yaml", "name: other\ncontainers: [{name: c, image: busybox:1.35}]\n");
  await s.reconciler.pass();
  await s.reconciler.pass();
  const touched = s.cri.calls.filter((c) => c.arg === foreign || c.arg === otherInstance);
  assert.deepEqual(touched, []);
  assert.equal(s.cri.sandboxCount, 3);
});

Deno.test("an unreachable runtime is logged once, changes nothing, and recovery is logged", async () => {
  await using s = await setup();
  await s.write("hello.yaml", HELLO);
  s.cri.inject("ListPodSandbox", {
    error: new CriError("Unavailable", "ListPodSandbox", "connection refused"),
    times: 3,
  });
  for (let i = 0; i < 3; i++) {
    const r = await s.reconciler.pass();
    assert.equal(r.runtimeReachable, false);
  }
  assert.equal(s.lines.filter((l) => l.includes("Cannot reach the container runtime")).length, 1);
  const r = await s.reconciler.pass();
  assert.equal(r.runtimeReachable, true);
  assert.ok(s.lines.some((l) => l.includes("answers again")));
  assert.deepEqual(await runningPods(s.cri), ["default/hello"]);
});

Deno.test("the same pod in two files: the lexically first wins and both are told", async () => {
  await using s = await setup();
  await s.write("a.yaml", HELLO);
  await s.write("b.yaml", HELLO.replace("sleep 3600", "sleep 1"));
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => a.type === "createPod" && a.pod.source), [
    `${s.manifests}/a.yaml`,
  ]);
  assert.ok(s.lines.some((l) => l.includes(`${s.manifests}/b.yaml:2:1: error:`)));
  assert.ok(s.lines.some((l) => l.includes(`${s.manifests}/a.yaml:2:1: warning:`)));
  const again = await s.reconciler.pass();
  assert.deepEqual(again.actions, []);
});

Deno.test("a missing manifest directory keeps every pod and is logged once", async () => {
  await using s = await setup();
  await s.write("hello.yaml", HELLO);
  await s.reconciler.pass();
  await Deno.remove(s.manifests, { recursive: true });
  await s.reconciler.pass();
  await s.reconciler.pass();
  assert.deepEqual(await runningPods(s.cri), ["default/hello"]);
  assert.equal(s.lines.filter((l) => l.includes("Waiting for the manifest directory")).length, 1);
});

Deno.test("a renamed file that later breaks keeps its pods, also for a restarted agent", async () => {
  await using s = await setup();
  await s.write("hello.yaml", HELLO);
  await s.reconciler.pass();
  const [before] = await s.cri.listPodSandbox();
  await Deno.rename(`${s.manifests}/hello.yaml`, `${s.manifests}/greeting.yaml`);
  assert.deepEqual((await s.reconciler.pass()).actions, []);
  await s.write("greeting.yaml", "containers: [\n");
  assert.deepEqual((await s.reconciler.pass()).actions, []);
  const restarted = new Reconciler({
    cri: s.cri,
    source: new ManifestSource(s.manifests),
    log: createLogger({ write: () => {} }),
    socket: "/run/fake.sock",
    nodeName: "node1",
    readHostDns: () => Promise.resolve({ servers: [], searches: [], options: [] }),
    instance: "default",
    root: `${s.dir}/root`,
    podLogRoot: `${s.dir}/logs`,
    parallel: 4,
    intervalMs: 2000,
  });
  assert.deepEqual((await restarted.pass()).actions, []);
  const [after] = await s.cri.listPodSandbox();
  assert.equal(after?.id, before?.id);
  // Deleting the new file does remove the pod.
  await Deno.remove(`${s.manifests}/greeting.yaml`);
  const r = await restarted.pass();
  assert.deepEqual(r.actions.map((a) => [a.type, a.reason]), [
    ["deletePod", `its file ${s.manifests}/greeting.yaml was deleted`],
  ]);
});

Deno.test("a file that breaks stands for its last valid content: a pod it dropped still goes", async () => {
  await using s = await setup();
  const two =
    `name: p1\ncontainers: [{name: c, image: "${IMAGE}"}]\n---\nname: p2\ncontainers: [{name: c, image: "${IMAGE}"}]\n`;
  await s.write("pods.yaml", two);
  await s.reconciler.pass();
  assert.deepEqual(await runningPods(s.cri), ["default/p1", "default/p2"]);
  // A valid edit drops p2, but removing it fails this time.
  s.cri.inject("StopPodSandbox", { error: new CriError("Unavailable", "StopPodSandbox", "busy") });
  await s.write("pods.yaml", two.split("---")[0]!);
  await s.reconciler.pass();
  assert.deepEqual(await runningPods(s.cri), ["default/p1", "default/p2"]);
  // The file breaks before the next try: p1 stays, p2 still goes.
  await s.write("pods.yaml", "containers: [\n");
  await s.clock.advance(10_000);
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => [a.type, a.key]), [["deletePod", "default/p2"]]);
  assert.deepEqual(await runningPods(s.cri), ["default/p1"]);
});

Deno.test("renaming a file that is invalid keeps its pods", async () => {
  await using s = await setup();
  await s.write("a.yaml", HELLO);
  await s.reconciler.pass();
  await s.write("a.yaml", "# broken for now\n");
  await s.reconciler.pass();
  await Deno.rename(`${s.manifests}/a.yaml`, `${s.manifests}/b.yaml`);
  assert.deepEqual((await s.reconciler.pass()).actions, []);
  assert.deepEqual(await runningPods(s.cri), ["default/hello"]);
});

Deno.test("logs are checked for rotation once per log check interval, not every pass", async () => {
  await using s = await setup();
  await s.write("hello.yaml", HELLO);
  await s.reconciler.pass();
  await s.reconciler.pass(); // fetches the container's status, with its log path
  const [container] = await s.cri.listContainers();
  assert.ok(container);
  const logPath = (await s.cri.containerStatus(container.id)).logPath;
  await Deno.mkdir(logPath.slice(0, logPath.lastIndexOf("/")), { recursive: true });
  const rotatedNames = async () => {
    const names: string[] = [];
    for await (const e of Deno.readDir(logPath.slice(0, logPath.lastIndexOf("/")))) {
      if (e.name !== "0.log") names.push(e.name);
    }
    return names.sort();
  };
  // The first check was at the first pass; a log past 10Mi waits for the next check, 10 s later.
  await Deno.writeTextFile(logPath, "x".repeat(10 * 1024 * 1024));
  await s.clock.advance(9_000);
  await s.reconciler.pass();
  assert.deepEqual(await rotatedNames(), []);
  await s.clock.advance(1_000);
  await s.reconciler.pass();
  assert.deepEqual(await rotatedNames(), ["0.log.20261127-120010"]);
  assert.ok(s.cri.methods().includes("ReopenContainerLog"));
});

Deno.test("in the loop, a finishing flight starts the next queued pod without waiting for a pass", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-rec-" });
  const manifests = `${dir}/manifests`;
  await Deno.mkdir(manifests);
  const cri = new FakeCri({ images: [IMAGE] });
  let launchedByPasses = 0;
  cri.inject("RunPodSandbox", { delayMs: 300, times: Infinity });
  for (const name of ["a", "b", "c", "d"]) {
    await Deno.writeTextFile(
      `${manifests}/${name}.yaml`,
      HELLO.replace("name: hello", `name: ${name}`),
    );
  }
  const reconciler = new Reconciler({
    cri,
    source: new ManifestSource(manifests),
    // Each pass logs how many actions it launched itself: queued ones are not among them.
    log: createLogger({
      format: "json",
      level: "debug",
      write: (line) => {
        const entry = JSON.parse(line);
        if (entry.msg === "Pass done") launchedByPasses += entry.actions;
      },
    }),
    socket: "/run/fake.sock",
    nodeName: "node1",
    readHostDns: () => Promise.resolve({ servers: [], searches: [], options: [] }),
    instance: "default",
    root: `${dir}/root`,
    podLogRoot: `${dir}/logs`,
    parallel: 2,
    intervalMs: 60_000,
  });
  const controller = new AbortController();
  const loop = reconciler.run(controller.signal);
  try {
    await waitFor("the four pods to start", async () => (await runningPods(cri)).length >= 4, {
      timeoutMs: 10_000,
    });
    const methods = cri.methods();
    assert.equal(methods.filter((m) => m === "RunPodSandbox").length, 4, methods.join(" "));
    // Two slots: the passes launched a and b; c and d were taken from the queue by the
    // finishing flights, whenever the passes ran.
    assert.equal(launchedByPasses, 2, methods.join(" "));
  } finally {
    controller.abort();
    await loop;
    cri.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a pass whose listing was taken before a pod's flight ended does not plan that pod again", async () => {
  await using s = await setup();
  await s.write("hello.yaml", HELLO);
  s.cri.inject("RunPodSandbox", { delayMs: 200 });
  const first = await s.reconciler.pass(undefined, { detach: true });
  assert.equal(first.actions.length, 1);
  // The next pass lists the sandboxes at once, before the flight has made one, and its
  // container listing answers only after the flight has ended.
  s.cri.inject("ListContainers", { delayMs: 800 });
  const second = await s.reconciler.pass(undefined, { detach: true });
  assert.deepEqual(second.actions, [], s.cri.methods().join(" "));
  const third = await s.reconciler.pass();
  assert.deepEqual(third.actions, []);
  assert.equal(s.cri.methods().filter((m) => m === "RunPodSandbox").length, 1);
  assert.deepEqual(await runningPods(s.cri), ["default/hello"]);
  assert.deepEqual(s.lines.filter((l) => /\b(ERROR|WARN)\b/.test(l)), []);
});

Deno.test("a finished write, a rename into place and a delete are acted on at once; a write in progress waits", () => {
  const event = (kind: Deno.FsEvent["kind"]) => ({ kind, paths: ["/m/a.yaml"] });
  assert.equal(isFinished(event("access")), true);
  assert.equal(isFinished(event("rename")), true);
  assert.equal(isFinished(event("remove")), true);
  assert.equal(isFinished(event("create")), false);
  assert.equal(isFinished(event("modify")), false);
});

Deno.test("stopping the loop cancels hooks, probes and pulls that hang: it ends at once, writes stoppedAt and stops no container", async () => {
  await using s = await reconcilerFixture({ statusFile: true, intervalMs: 100 });
  // Every exec (the hook and the probe) and every pull waits until it is cancelled.
  s.cri.inject("ExecSync", { hang: true, times: Infinity });
  s.cri.inject("PullImage", { hang: true, times: Infinity });
  await s.write(
    "hooked.yaml",
    `apiVersion: v1
kind: Pod
metadata: {name: hooked}
spec:
  terminationGracePeriodSeconds: 600
  containers:
    - name: c
      image: ${IMAGE}
      lifecycle:
        postStart: {exec: {command: [sh, -c, "sleep 3600"]}}
`,
  );
  await s.write(
    "probed.yaml",
    `apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  terminationGracePeriodSeconds: 600
  containers:
    - name: c
      image: ${IMAGE}
      livenessProbe: {exec: {command: [sh, -c, "sleep 3600"]}, periodSeconds: 1, timeoutSeconds: 600}
`,
  );
  await s.write(
    "pulling.yaml",
    `name: pulling\ncontainers: [{name: c, image: "registry.example/slow:1"}]\n`,
  );
  const controller = new AbortController();
  const loop = s.reconciler.run(controller.signal);
  /** The methods of the injected hangs still waiting. */
  const hanging = () =>
    s.cri.waits.filter((w) => w.ended === undefined).map((w) => w.method).sort();
  try {
    // The postStart hook of hooked, the liveness probe of probed, and the pull are all in
    // flight; the loop's clock moves a tick at each look.
    await waitFor(
      () => `a hook, a probe and a pull in flight: ${s.cri.methods()}`,
      async () => {
        const methods = hanging();
        if (methods.filter((m) => m === "ExecSync").length >= 2 && methods.includes("PullImage")) {
          return true;
        }
        await s.clock.advance(100);
        return false;
      },
      { timeoutMs: 10_000 },
    );
    const from = s.cri.calls.length;
    const waits = s.cri.waits.length;
    // From here the loop's clock stands still: the grace it gives work to unwind (on that
    // clock) never runs out, so the loop ends only once the cancelled work has unwound.
    controller.abort();
    assert.ok(
      await endsWithin(loop, 10_000),
      `the loop did not end without waiting out its grace; still hanging: ${hanging()}`,
    );
    assert.deepEqual(
      s.cri.waits.slice(0, waits).map((w) => [w.method, w.ended]),
      s.cri.waits.slice(0, waits).map((w) => [w.method, "cancelled"]),
      "each hook, probe and pull in flight was cancelled",
    );
    const after = s.cri.calls.slice(from).map((c) => c.method);
    assert.ok(!after.includes("StopContainer"), `a container was stopped: ${after}`);
    const status = JSON.parse(await Deno.readTextFile(s.statusFile));
    assert.ok(status.agent.stoppedAt, JSON.stringify(status.agent));
    assert.deepEqual(
      s.lines.filter((l) => /ERROR|WARN/.test(l)),
      [],
      "a stop is no failure: nothing is reported as one",
    );
  } finally {
    controller.abort();
    await endsWithin(loop, 10_000);
  }
});

Deno.test("a status write in progress when the agent stops lands first: the stopped write is never overtaken", async () => {
  /** The `stoppedAt` of each write, in the order they landed. */
  const landed: (string | null)[] = [];
  let writes = 0;
  let release = () => {};
  const released = new Promise<void>((resolve) => release = resolve);
  await using s = await reconcilerFixture({
    // The first write is slow (a busy disk): it lands when the test releases it, after the
    // stop came while it was in progress.
    statusFile: async (file: string, status: StatusFile) => {
      if (++writes === 1) await released;
      await writeStatusFile(file, status);
      landed.push(status.agent.stoppedAt);
    },
  });
  await s.write("hello.yaml", HELLO);
  const { reconciler, statusFile } = s;
  const pass = reconciler.pass();
  await waitFor("the pass's status write in progress", () => writes === 1);
  const stopped = reconciler.publishStopped();
  // The stop has had its turn (its write is queued when it is asked for): it waits.
  await s.clock.settle();
  assert.equal(writes, 1, "the stopped write started while the first was in progress");
  release();
  await Promise.all([stopped, pass]);
  assert.deepEqual(landed.map((at) => at === null ? "running" : "stopped"), [
    "running",
    "stopped",
  ]);
  // A pass after the stop writes nothing that takes stoppedAt out.
  await s.clock.advance(20_000);
  await reconciler.pass();
  const status = await readStatusFile(statusFile);
  assert.ok(status?.agent.stoppedAt, `stoppedAt in ${JSON.stringify(status?.agent)}`);
  assert.equal(landed.length, 2);
  assert.deepEqual(s.lines.filter((l) => /ERROR|WARN/.test(l)), []);
});

Deno.test("a failed status write is logged once and the next write still lands", async () => {
  let writes = 0;
  await using s = await reconcilerFixture({
    statusFile: (file: string, status: StatusFile) =>
      ++writes === 1
        ? Promise.reject(new Error("No space left on device"))
        : writeStatusFile(file, status),
  });
  await s.write("hello.yaml", HELLO);
  const { reconciler, statusFile } = s;
  await reconciler.pass();
  await reconciler.publishStopped();
  assert.equal(writes, 2);
  assert.ok((await readStatusFile(statusFile))?.agent.stoppedAt);
  assert.deepEqual(s.lines.filter((l) => /ERROR|WARN/.test(l)).length, 1);
  assert.match(s.lines.join("\n"), /Cannot write the status file .*: No space left on device/);
});

Deno.test("a pull cancelled by the stop is no failure: no backoff, no ErrImagePull, and the next run pulls at once", async () => {
  await using s = await setup();
  const image = "registry.example/slow:1";
  s.cri.addToRegistry(image);
  s.cri.inject("PullImage", { hang: true });
  await s.write("pulling.yaml", `name: pulling\ncontainers: [{name: c, image: "${image}"}]\n`);
  const controller = new AbortController();
  const loop = s.reconciler.run(controller.signal);
  try {
    await waitFor("the pull in flight", () => s.cri.methods().includes("PullImage"));
  } finally {
    controller.abort();
    assert.ok(await endsWithin(loop, 10_000), "the loop was still running 10 s after the stop");
  }
  // The same clock: a failed pull would wait out its backoff (ImagePullBackOff) here.
  s.cri.calls.length = 0;
  const r = await s.reconciler.pass();
  assert.ok(s.cri.methods().includes("PullImage"), `no pull: ${s.cri.methods().join(" ")}`);
  assert.deepEqual(r.results.map((x) => x.error?.message), [undefined]);
  assert.deepEqual(r.pods.map((p) => [p.name, p.status, p.lastError]), [[
    "pulling",
    "ContainerCreating",
    null,
  ]]);
  const next = await s.reconciler.pass();
  assert.deepEqual(next.pods.map((p) => [p.name, p.status]), [["pulling", "Running"]]);
  assert.deepEqual(s.lines.filter((l) => /ERROR|WARN|ErrImagePull|Failed to pull/.test(l)), []);
});

/** Whether `p` settles within `ms`. */
async function endsWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ended = await Promise.race([
    p.then(() => true, () => true),
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms)),
  ]);
  clearTimeout(timer);
  return ended;
}

// ---- paths from the runtime, and removals that do not take effect ----

/** Runs a sandbox of `instance` on the runtime, as if for pod `default/<name>` with `uid`. */
async function runtimePod(cri: FakeCri, name: string, uid: string, instance = "default") {
  return await cri.runPodSandbox({
    metadata: { name, namespace: "default", uid, attempt: 0 },
    labels: {
      "tinylet": "true",
      "tinylet/instance": instance,
      [KEYS.podName]: name,
      [KEYS.podNamespace]: "default",
      [KEYS.podUid]: uid,
    },
  });
}

Deno.test("a sandbox with tinylet's labels and the UID ../../victim is removed through the runtime only: nothing outside --root goes, and it is said once", async () => {
  await using s = await setup();
  await Deno.mkdir(`${s.root}/pods`, { recursive: true });
  // <root>/pods/../../victim
  await Deno.mkdir(`${s.dir}/victim`);
  await Deno.writeTextFile(`${s.dir}/victim/precious`, "keep me");
  await runtimePod(s.cri, "evil", "../../victim");
  const r = await s.reconciler.pass();
  assert.deepEqual(r.results.map((x) => [x.action.type, x.error?.message]), [
    ["deletePod", undefined],
  ]);
  for (let i = 0; i < 3; i++) await s.reconciler.pass();
  assert.deepEqual(await s.cri.listPodSandbox(), []);
  assert.equal(await Deno.readTextFile(`${s.dir}/victim/precious`), "keep me");
  assert.equal(s.lines.filter((l) => l.includes("Leaving the host directories")).length, 1);
  assert.equal(s.lines.filter((l) => l.includes("Removed pod default/evil")).length, 1);
});

Deno.test("a sandbox whose labels disagree with a real pod's UID in its metadata gets none of that pod's preStop hooks", async () => {
  await using s = await setup();
  const real = "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0";
  // The state directory of a real pod, with a preStop hook for a container named "app".
  await Deno.mkdir(`${s.root}/pods/${real}`, { recursive: true });
  const spec = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "default" },
    spec: {
      containers: [{
        name: "app",
        image: IMAGE,
        lifecycle: { preStop: { exec: { command: ["sh", "-c", "echo hooked"] } } },
      }],
    },
  };
  await Deno.writeTextFile(`${s.root}/pods/${real}/pod.json`, JSON.stringify(spec));
  // A forged sandbox: the real pod's UID in its metadata, another one in its labels.
  const config = {
    metadata: { name: "web", namespace: "default", uid: real, attempt: 0 },
    labels: {
      "tinylet": "true",
      "tinylet/instance": "default",
      [KEYS.podName]: "web",
      [KEYS.podNamespace]: "default",
      [KEYS.podUid]: "11111111-2222-4333-8444-555555555555",
    },
  };
  const forged = await s.cri.runPodSandbox(config);
  const app = await s.cri.createContainer(forged, {
    metadata: { name: "app", attempt: 0 },
    image: { image: IMAGE },
    labels: config.labels,
  }, config);
  await s.cri.startContainer(app);
  s.cri.calls.length = 0;
  const r = await s.reconciler.pass();
  assert.deepEqual(r.results.map((x) => [x.action.type, x.error?.message]), [
    ["deletePod", undefined],
  ]);
  assert.deepEqual(await s.cri.listPodSandbox(), []);
  assert.equal(s.cri.methods().includes("ExecSync"), false, s.cri.methods().join(" "));
  assert.ok(await Deno.stat(`${s.root}/pods/${real}/pod.json`));
});

Deno.test("a removal the runtime accepts but does not carry out backs off like a failure and is logged once", async () => {
  await using s = await setup();
  await runtimePod(s.cri, "stuck", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
  const remove = s.cri.removePodSandbox.bind(s.cri);
  s.cri.removePodSandbox = () => Promise.resolve(); // accepted, not done
  const removals = () => s.cri.methods().filter((m) => m === "StopPodSandbox").length;
  const first = await s.reconciler.pass();
  assert.match(
    first.results[0]?.error?.message ?? "",
    /the runtime accepted its removal but still/,
  );
  // Passes during the backoff plan the removal again but hold it.
  for (let i = 0; i < 5; i++) {
    await s.clock.advance(1_000);
    const r = await s.reconciler.pass();
    assert.deepEqual(r.actions, []);
  }
  assert.equal(removals(), 1);
  await s.clock.advance(5_000); // 10 s after the failure: one more try, failing the same way
  await s.reconciler.pass();
  assert.equal(removals(), 2);
  const failed = s.lines.filter((l) => l.includes("Failed to remove pod default/stuck"));
  assert.equal(failed.length, 1, s.lines.join("\n"));
  assert.equal(s.lines.filter((l) => l.includes("Removed pod")).length, 0);
  // The runtime carries removals out again: the next try after the doubled backoff succeeds.
  s.cri.removePodSandbox = remove;
  await s.clock.advance(20_000);
  await s.reconciler.pass();
  assert.deepEqual(await s.cri.listPodSandbox(), []);
  assert.equal(s.lines.filter((l) => l.includes("Removed pod default/stuck")).length, 1);
});

Deno.test("log rotation follows only log paths below --pod-log-root where tinylet put them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-rec-" });
  try {
    await Deno.mkdir(`${dir}/manifests`);
    await Deno.writeTextFile(`${dir}/manifests/hello.yaml`, HELLO);
    const cri = new FakeCri({ images: [IMAGE] });
    // A sandbox with tinylet's labels and a valid identity, logging outside the root.
    const uid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    const config = {
      metadata: { name: "stray", namespace: "default", uid, attempt: 0 },
      labels: {
        "tinylet": "true",
        "tinylet/instance": "default",
        [KEYS.podName]: "stray",
        [KEYS.podNamespace]: "default",
        [KEYS.podUid]: uid,
      },
      annotations: { [KEYS.source]: `${dir}/manifests/hello.yaml` },
      logDirectory: `${dir}/elsewhere/default_stray_${uid}`,
    };
    const stray = await cri.runPodSandbox(config);
    const strayContainer = await cri.createContainer(stray, {
      metadata: { name: "app", attempt: 0 },
      image: { image: IMAGE },
      logPath: "app/0.log",
      labels: config.labels,
    }, config);
    await cri.startContainer(strayContainer);
    const strayLog = `${dir}/elsewhere/default_stray_${uid}/app/0.log`;
    await Deno.mkdir(`${dir}/elsewhere/default_stray_${uid}/app`, { recursive: true });
    await Deno.writeTextFile(strayLog, "x".repeat(4096));
    const lines: string[] = [];
    const reconciler = new Reconciler({
      cri,
      source: new ManifestSource(`${dir}/manifests`),
      log: createLogger({ write: (l) => lines.push(l) }),
      socket: "/run/fake.sock",
      nodeName: "node1",
      readHostDns: () => Promise.resolve({ servers: [], searches: [], options: [] }),
      instance: "default",
      root: `${dir}/root`,
      podLogRoot: `${dir}/logs`,
      parallel: 4,
      intervalMs: 2000,
      logRotation: { maxSizeBytes: 1024, maxFiles: 2 },
      logCheckIntervalMs: 0,
    });
    await reconciler.pass();
    // The declared pod's log, where tinylet put it, is rotated.
    const hello = (await cri.listContainers()).find((c) => c.metadata.name === "hello");
    const helloLog = (await cri.containerStatus(hello!.id)).logPath;
    assert.ok(helloLog.startsWith(`${dir}/logs/default_hello_`), helloLog);
    await Deno.mkdir(helloLog.slice(0, helloLog.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(helloLog, "x".repeat(4096));
    await reconciler.pass();
    const names = (d: string) => [...Deno.readDirSync(d)].map((e) => e.name).sort();
    const helloDir = helloLog.slice(0, helloLog.lastIndexOf("/"));
    assert.equal(names(helloDir).filter((n) => n.startsWith("0.log.")).length, 1);
    assert.deepEqual(names(`${dir}/elsewhere/default_stray_${uid}/app`), ["0.log"]);
    assert.equal((await Deno.stat(strayLog)).size, 4096);
    assert.equal(lines.filter((l) => l.includes("Leaving the log files of container")).length, 1);
    await reconciler.stop();
    cri.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("in the loop, a sandbox that stays listed after its removal is tried once, not in a hot loop", async () => {
  const metrics = new AgentMetrics();
  await using s = await reconcilerFixture({ intervalMs: 100, metrics });
  await runtimePod(s.cri, "stuck", "../../victim");
  s.cri.removePodSandbox = () => Promise.resolve();
  const controller = new AbortController();
  const loop = s.reconciler.run(controller.signal);
  try {
    await waitFor(
      () => `the failed removal reported: ${s.lines.join("\n")}`,
      () => s.lines.some((l) => l.includes("Failed to remove pod")),
      { timeoutMs: 10_000 },
    );
    // Ten ticks of the interval: each looks again, none may act before the backoff ends.
    for (let tick = 1; tick <= 10; tick++) {
      const passes = metrics.passes.get();
      await s.clock.advance(100);
      await waitFor(`the pass of tick ${tick}`, async () => {
        await s.clock.advance(0);
        return metrics.passes.get() > passes;
      }, { timeoutMs: 10_000 });
    }
    assert.equal(s.cri.methods().filter((m) => m === "StopPodSandbox").length, 1);
    assert.equal(s.lines.filter((l) => l.includes("Removed pod")).length, 0);
    assert.equal(s.lines.filter((l) => l.includes("Failed to remove pod")).length, 1);
    assert.equal(s.lines.filter((l) => l.includes("Leaving the host directories")).length, 1);
    assert.ok(s.lines.length <= 3, s.lines.join("\n"));
  } finally {
    controller.abort();
    await loop;
  }
});
