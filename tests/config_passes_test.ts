/**
 * ConfigMaps and Secrets through full passes of the reconciler on the fake runtime, over a
 * temporary manifest directory: a pod missing an object waits and starts once it is written,
 * a change to env it reads replaces the pod, a change to volume data rewrites the files in
 * place, and a waiting pod keeps what runs of it. Secrets: `config_secret_passes_test.ts`; an
 * agent restarted: `config_restart_test.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  cfgDoc,
  configFixture,
  created,
  filesPod,
  IMAGE,
  sandboxes,
  view,
  webPod,
} from "../testing/config_fixtures.ts";

/** The fixture, its pods' volumes unmounted before its directory goes. */
const setup = () => configFixture("tinylet_config_passes_test_");

Deno.test("a pod missing its ConfigMap waits, then starts as soon as the file is written", async () => {
  await using s = await setup();
  await s.write("web.yaml", webPod());
  const waiting = await s.reconciler.pass();
  assert.deepEqual(waiting.actions, []);
  assert.equal(s.cri.methods().includes("RunPodSandbox"), false);
  assert.equal(s.cri.sandboxCount, 0);
  const v = view(waiting.pods, "web");
  assert.equal(v.status, "CreateContainerConfigError");
  assert.equal(v.lastError, 'configmap "cfg" not found');
  assert.equal(v.sandboxId, null);
  assert.deepEqual(
    v.containers.map((c) => [c.name, c.state, c.reason, c.message]),
    [["app", "waiting", "CreateContainerConfigError", 'configmap "cfg" not found']],
  );
  assert.deepEqual(
    waiting.problems.map((p) => [p.file, p.severity, p.field, p.message]),
    [[
      `${s.manifests}/web.yaml`,
      "warning",
      "spec.containers[0].env[0].valueFrom.configMapKeyRef",
      'Pod "default/web" waits (CreateContainerConfigError): configmap "cfg" not found: Add the ConfigMap "cfg" in namespace "default" to the manifest directory, or mark the reference optional (it starts as soon as this is fixed; what runs of it meanwhile keeps running as it is)',
    ]],
  );
  // Another pass changes nothing.
  assert.deepEqual((await s.reconciler.pass()).actions, []);
  await s.write("cfg.yaml", cfgDoc("hello"));
  const started = await s.reconciler.pass();
  assert.deepEqual(started.results.map((r) => r.error?.message), [undefined]);
  assert.equal((await sandboxes(s)).length, 1);
  assert.deepEqual(created(s).map((c) => c.envs), [[{ key: "G", value: "hello" }]]);
  const after = view((await s.reconciler.pass()).pods, "web");
  assert.equal(after.status, "Running");
  assert.equal(after.lastError, null);
});

Deno.test("a change to a value the env reads replaces the pod", async () => {
  await using s = await setup();
  await s.write("cfg.yaml", cfgDoc("hello"));
  await s.write("web.yaml", webPod());
  await s.reconciler.pass();
  const [old] = await sandboxes(s);
  assert.ok(old);
  assert.deepEqual(created(s).map((c) => c.envs), [[{ key: "G", value: "hello" }]]);
  const [oldContainer] = await s.cri.listContainers();
  assert.ok(oldContainer);
  await s.write("cfg.yaml", cfgDoc("hi"));
  s.cri.calls.length = 0;
  const r = await s.reconciler.pass();
  assert.deepEqual(r.results.map((x) => x.error?.message), r.results.map(() => undefined));
  assert.deepEqual(r.actions.map((a) => a.type), ["deletePod", "createPod"]);
  // The usual graceful stop first: the container with the pod's grace period, then the sandbox.
  const stops = s.cri.calls.filter((c) =>
    /^(StopContainer|StopPodSandbox|RunPodSandbox)$/.test(c.method)
  );
  assert.deepEqual(stops.map((c) => c.method), [
    "StopContainer",
    "StopPodSandbox",
    "RunPodSandbox",
  ]);
  assert.deepEqual(stops[0]?.arg, { id: oldContainer.id, timeoutSeconds: 1 });
  assert.equal(stops[1]?.arg, old.id);
  const now = await sandboxes(s);
  assert.equal(now.length, 1);
  assert.notEqual(now[0]?.id, old.id);
  // The same spec: the same UID, a new attempt.
  assert.equal(now[0]?.uid, old.uid);
  assert.deepEqual(
    (await s.cri.listPodSandbox()).map((x) => x.id).includes(old.id),
    false,
    "the old sandbox is removed",
  );
  // The new container has the new value.
  assert.deepEqual(created(s).map((c) => c.envs), [[{ key: "G", value: "hi" }]]);
  // Its state directory stays, as its UID is still desired.
  assert.ok((await Deno.lstat(`${s.root}/pods/${old.uid}`)).isDirectory);
});

Deno.test("a change to volume data rewrites the files in place, restarting nothing", async () => {
  await using s = await setup();
  await s.write("cfg.yaml", cfgDoc("hello"));
  await s.write("files.yaml", filesPod());
  await s.reconciler.pass();
  await s.reconciler.pass();
  const [sandbox] = await sandboxes(s);
  assert.ok(sandbox);
  const [container] = await s.cri.listContainers();
  assert.ok(container);
  const dir = `${s.root}/pods/${sandbox.uid}/volumes/kubernetes.io~configmap/conf`;
  assert.equal(await Deno.readTextFile(`${dir}/greeting`), "hello");
  // Mounted read-only, as kubelet mounts a configMap volume.
  assert.deepEqual(
    created(s)[0]?.mounts?.filter((m) => m.containerPath === "/etc/app")
      .map((m) => [m.hostPath, m.readonly]),
    [[dir, true]],
  );
  await s.write("cfg.yaml", cfgDoc("hi"));
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions, []);
  assert.equal(await Deno.readTextFile(`${dir}/greeting`), "hi");
  assert.deepEqual(await sandboxes(s), [sandbox]);
  assert.deepEqual((await s.cri.listContainers()).map((c) => [c.id, c.state]), [
    [container.id, "CONTAINER_RUNNING"],
  ]);
  assert.equal(created(s).length, 1);
  assert.equal(
    s.lines.filter((l) => l.includes('Updated the files of volume "conf" of pod default/files'))
      .length,
    1,
  );
});

Deno.test("a pod whose ConfigMap is deleted keeps running with the data it had", async () => {
  await using s = await setup();
  await s.write("cfg.yaml", cfgDoc("hello"));
  await s.write("web.yaml", webPod());
  await s.reconciler.pass();
  const before = await sandboxes(s);
  await Deno.remove(`${s.manifests}/cfg.yaml`);
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions, []);
  assert.deepEqual(await sandboxes(s), before);
  assert.deepEqual(
    r.problems.map((p) => [p.severity, p.message]),
    [[
      "warning",
      'Pod "default/web" keeps running with the ConfigMap and Secret data it had: configmap "cfg" not found: Add the ConfigMap "cfg" in namespace "default" to the manifest directory, or mark the reference optional',
    ]],
  );
});

Deno.test("a waiting pod whose older sandbox runs keeps it: no deletion is planned", async () => {
  await using s = await setup();
  await s.write("cfg.yaml", cfgDoc("hello"));
  await s.write("web.yaml", webPod());
  await s.reconciler.pass();
  const before = await sandboxes(s);
  assert.equal(before.length, 1);
  // A new spec that the missing ConfigMap keeps from starting.
  await Deno.remove(`${s.manifests}/cfg.yaml`);
  await s.write("web.yaml", webPod("\n        - name: PLAIN\n          value: x"));
  for (let i = 0; i < 2; i++) {
    const r = await s.reconciler.pass();
    assert.deepEqual(r.actions, []);
    assert.deepEqual(await sandboxes(s), before);
    const v = view(r.pods, "web");
    assert.equal(v.sandboxId, before[0]?.id);
    assert.equal(v.stale, true);
    assert.equal(v.lastError, 'configmap "cfg" not found: the pod keeps running as it was');
  }
  // The ConfigMap is back: the new spec replaces the old sandbox.
  await s.write("cfg.yaml", cfgDoc("hello"));
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => a.type), ["deletePod", "createPod"]);
  assert.deepEqual(created(s).at(-1)?.envs, [
    { key: "G", value: "hello" },
    { key: "PLAIN", value: "x" },
  ]);
});

Deno.test("a kept pod's crashed container restarts with the env it had", async () => {
  await using s = await setup();
  await s.write("cfg.yaml", cfgDoc("hello"));
  await s.write("web.yaml", webPod());
  await s.reconciler.pass();
  await Deno.remove(`${s.manifests}/cfg.yaml`);
  await s.reconciler.pass();
  const [container] = await s.cri.listContainers();
  assert.ok(container);
  s.cri.exitContainer(container.id, 1);
  // A pass sees the exit; the next, past the first restart's backoff, restarts it.
  assert.deepEqual((await s.reconciler.pass()).actions, []);
  await s.clock.advance(20_000);
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => a.type), ["startContainers"]);
  assert.deepEqual(r.results.map((x) => x.error?.message), [undefined]);
  assert.deepEqual(created(s).map((c) => c.envs), [
    [{ key: "G", value: "hello" }],
    [{ key: "G", value: "hello" }],
  ]);
});

Deno.test("a pod with an init container whose app lacks its ConfigMap shows CreateContainerConfigError", async () => {
  await using s = await setup();
  await s.write(
    "web.yaml",
    webPod().replace(
      "  containers:\n",
      `  initContainers:\n    - name: init\n      image: ${IMAGE}\n  containers:\n`,
    ),
  );
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions, []);
  const v = view(r.pods, "web");
  // Nothing runs, the init container included: the pod waits for the app's ConfigMap.
  assert.equal(v.lastError, 'configmap "cfg" not found');
  assert.equal(v.containers.find((c) => c.name === "app")?.reason, "CreateContainerConfigError");
  assert.equal(v.status, "CreateContainerConfigError");
});
