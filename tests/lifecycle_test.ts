/**
 * The lifecycle against the fake runtime, with the clock driven by hand:
 * crash-loop and image-pull backoff, init progress and the status they show.
 */
import { type ReconcilerFixture, reconcilerFixture } from "../testing/reconciler_fixture.ts";
import assert from "node:assert/strict";
import type { FakeCri } from "../testing/fake_cri.ts";

const IMAGE = "docker.io/library/busybox:1.35";
const S = 1000;

function setup(parallel = 4): Promise<ReconcilerFixture> {
  return reconcilerFixture({ prefix: "tinylet-life-", parallel, dnsServers: [] });
}

function crashing(policy = "Always"): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  restartPolicy: ${policy}
  containers:
    - name: app
      image: ${IMAGE}
      command: ["sleep", "3600"]
`;
}

async function appInstances(cri: FakeCri) {
  return (await cri.listContainers()).filter((c) => c.metadata.name === "app")
    .map((c) => ({ id: c.id, attempt: c.metadata.attempt, state: c.state }));
}

async function crashLatest(s: ReconcilerFixture, exitCode = 1) {
  const running = (await s.cri.listContainers({ state: "CONTAINER_RUNNING" }))
    .filter((c) => c.metadata.name === "app");
  assert.equal(running.length, 1);
  s.cri.exitContainer(running[0]!.id, exitCode);
}

Deno.test("a crashing container restarts after 10 s, then 20 s, then 40 s, showing CrashLoopBackOff", async () => {
  await using s = await setup();
  await s.write("crash.yaml", crashing());
  await s.reconciler.pass();
  const restartsAt: number[] = [];
  const t0 = s.clock.epochMs();
  for (const delay of [10, 20, 40]) {
    await crashLatest(s);
    const r = await s.reconciler.pass();
    const starts = r.actions.filter((a) => a.type !== "removeContainers");
    assert.deepEqual(starts, [], "no restart before the backoff ends");
    if (r.actions.length === 0) assert.equal(r.wakeAt, s.clock.epochMs() + delay * S);
    const view = r.pods[0]!;
    assert.equal(view.status, "CrashLoopBackOff");
    assert.equal(view.containers[0]?.reason, "CrashLoopBackOff");
    await s.clock.advance(delay * S - 1);
    assert.deepEqual((await s.reconciler.pass()).actions, [], "still waiting 1 ms before");
    await s.clock.advance(1);
    const restart = await s.reconciler.pass();
    assert.deepEqual(restart.actions.map((a) => a.type), ["startContainers"]);
    restartsAt.push((s.clock.epochMs() - t0) / S);
  }
  assert.deepEqual(restartsAt, [10, 30, 70]);
  const instances = await appInstances(s.cri);
  assert.deepEqual(instances.map((i) => [i.attempt, i.state]), [
    [2, "CONTAINER_EXITED"],
    [3, "CONTAINER_RUNNING"],
  ]);
  const view = (await s.reconciler.pass()).pods[0]!;
  assert.equal(view.restarts, 3);
  assert.equal(view.status, "Running");
  assert.equal(view.ready, "1/1");
  assert.ok(
    s.reconciler.events("default/crash").some((e) =>
      e.reason === "BackOff" && /back-off 40 s/.test(e.message)
    ),
  );
});

Deno.test("the crash-loop backoff starts over after 10 minutes without a failure", async () => {
  await using s = await setup();
  await s.write("crash.yaml", crashing());
  await s.reconciler.pass();
  await crashLatest(s);
  await s.reconciler.pass();
  await s.clock.advance(10 * S);
  await s.reconciler.pass(); // restart 1
  await s.clock.advance(11 * 60 * S); // runs for 11 minutes
  await crashLatest(s);
  await s.reconciler.pass();
  await s.clock.advance(10 * S - 1);
  assert.equal(await startsIn(s), 0, "not before 10 s");
  await s.clock.advance(1);
  assert.equal(await startsIn(s), 1, "10 s again, not 20 s");
});

async function startsIn(s: ReconcilerFixture): Promise<number> {
  const r = await s.reconciler.pass();
  return r.actions.filter((a) => a.type === "startContainers").length;
}

Deno.test("OnFailure shows Completed for a container that succeeded and does not restart it", async () => {
  await using s = await setup();
  await s.write("crash.yaml", crashing("OnFailure"));
  await s.reconciler.pass();
  await crashLatest(s, 0);
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions, []);
  assert.equal(r.wakeAt, undefined);
  assert.equal(r.pods[0]?.status, "Completed");
  assert.equal(r.pods[0]?.phase, "Succeeded");
});

Deno.test("an image that cannot be pulled shows ErrImagePull, then ImagePullBackOff without pulling", async () => {
  await using s = await setup();
  await s.write(
    "web.yaml",
    "name: web\ncontainers: [{name: app, image: 'registry.invalid/app:1'}]\n",
  );
  const first = await s.reconciler.pass();
  assert.equal(first.pods[0]?.status, "ErrImagePull");
  assert.equal(first.wakeAt, s.clock.epochMs() + 10 * S);
  assert.match(first.pods[0]?.lastError ?? "", /Failed to pull image "registry\.invalid\/app:1"/);
  s.cri.calls.length = 0;
  await s.clock.advance(5 * S);
  const second = await s.reconciler.pass();
  assert.equal(second.pods[0]?.status, "ImagePullBackOff");
  assert.ok(!s.cri.methods().includes("PullImage"));
  await s.clock.advance(5 * S);
  s.cri.addToRegistry("registry.invalid/app:1");
  const third = await s.reconciler.pass();
  assert.ok(s.cri.methods().includes("PullImage"));
  assert.deepEqual(third.results.map((r) => r.error?.message), [undefined]);
  const errors = s.lines.filter((l) => l.includes("ERROR"));
  assert.equal(errors.length, 1, errors.join("\n"));
});

Deno.test("imagePullPolicy Never fails clearly when the image is absent", async () => {
  await using s = await setup();
  await s.write(
    "web.yaml",
    "name: web\ncontainers: [{name: app, image: 'local/app:1', imagePullPolicy: Never}]\n",
  );
  const r = await s.reconciler.pass();
  assert.match(
    r.results[0]?.error?.message ?? "",
    /^Image "local\/app:1" is not present and its imagePullPolicy is Never: import the image/,
  );
  assert.equal(r.pods[0]?.status, "ErrImageNeverPull");
  assert.ok(!s.cri.methods().includes("PullImage"));
});

Deno.test("an image tagged latest or untagged is pulled every time a container is created", async () => {
  await using s = await setup();
  s.cri.addToRegistry("busybox");
  s.cri.addImage("busybox");
  await s.write("web.yaml", "name: web\ncontainers: [{name: app, image: busybox}]\n");
  await s.reconciler.pass();
  assert.deepEqual(s.cri.methods().filter((m) => m === "PullImage"), ["PullImage"]);
});

Deno.test("two pods needing the same absent image pull it once", async () => {
  await using s = await setup();
  s.cri.addToRegistry("example.org/big:1");
  s.cri.inject("PullImage", { delayMs: 50 });
  await s.write("a.yaml", "name: a\ncontainers: [{name: c, image: 'example.org/big:1'}]\n");
  await s.write("b.yaml", "name: b\ncontainers: [{name: c, image: 'example.org/big:1'}]\n");
  const r = await s.reconciler.pass();
  assert.deepEqual(r.results.map((x) => x.error?.message), [undefined, undefined]);
  assert.deepEqual(s.cri.methods().filter((m) => m === "PullImage"), ["PullImage"]);
});

Deno.test("init containers show Init:N/M while they run, then the pod runs", async () => {
  await using s = await setup();
  await s.write(
    "web.yaml",
    `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  initContainers:
    - {name: first, image: ${IMAGE}, command: [sleep, "5"]}
    - {name: second, image: ${IMAGE}, command: [sleep, "5"]}
  containers:
    - {name: app, image: ${IMAGE}, command: [sleep, "3600"]}
`,
  );
  const r1 = await s.reconciler.pass();
  assert.equal(r1.pods[0]?.status, "Init:0/2");
  assert.equal(r1.pods[0]?.phase, "Pending");
  const first = (await s.cri.listContainers()).find((c) => c.metadata.name === "first")!;
  s.cri.exitContainer(first.id, 0);
  const r2 = await s.reconciler.pass();
  assert.equal(r2.pods[0]?.status, "Init:1/2");
  const second = (await s.cri.listContainers()).find((c) => c.metadata.name === "second")!;
  s.cri.exitContainer(second.id, 0);
  await s.reconciler.pass();
  const r3 = await s.reconciler.pass();
  assert.equal(r3.pods[0]?.status, "Running");
  assert.equal(r3.pods[0]?.ready, "1/1");
});

Deno.test("a failed init container under restartPolicy Never fails the pod: Init:Error", async () => {
  await using s = await setup();
  await s.write(
    "job.yaml",
    `apiVersion: v1
kind: Pod
metadata: {name: job}
spec:
  restartPolicy: Never
  initContainers:
    - {name: check, image: ${IMAGE}, command: [sleep, "5"]}
  containers:
    - {name: app, image: ${IMAGE}}
`,
  );
  await s.reconciler.pass();
  const check = (await s.cri.listContainers())[0]!;
  s.cri.exitContainer(check.id, 2);
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions, []);
  assert.equal(r.pods[0]?.status, "Init:Error");
  assert.equal(r.pods[0]?.phase, "Failed");
  await s.clock.advance(3600 * S);
  assert.deepEqual((await s.reconciler.pass()).actions, []);
});

Deno.test("a conflict never flaps; when the winner's file goes, the other file's pod takes over", async () => {
  await using s = await setup();
  await s.write("a.yaml", crashing().replace("sleep", "sleep"));
  await s.write("b.yaml", crashing().replace('"3600"', '"7200"'));
  await s.reconciler.pass();
  for (let i = 0; i < 3; i++) assert.deepEqual((await s.reconciler.pass()).actions, []);
  const [before] = await s.cri.listPodSandbox();
  assert.equal(before?.annotations["tinylet/source"], `${s.manifests}/a.yaml`);
  await Deno.remove(`${s.manifests}/a.yaml`);
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => a.type), ["deletePod", "createPod"]);
  const [after] = await s.cri.listPodSandbox();
  assert.equal(after?.annotations["tinylet/source"], `${s.manifests}/b.yaml`);
});

Deno.test("the status file says what runs, for the operator commands", async () => {
  await using s = await setup();
  await s.write("crash.yaml", crashing());
  const first = await s.reconciler.pass();
  assert.equal(first.pods[0]?.status, "ContainerCreating");
  assert.equal(
    first.wakeAt,
    s.clock.epochMs(),
    "a pass that changed something asks for another at once",
  );
  await s.reconciler.pass();
  const views = s.reconciler.pods;
  assert.deepEqual(views.map((v) => [v.namespace, v.name, v.status, v.ready]), [
    ["default", "crash", "Running", "1/1"],
  ]);
});
