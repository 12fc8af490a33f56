/**
 * The reconcile layer's time comes from the clock it is given: probe timers fire when the
 * hand-driven clock reaches them, a pod deletion counts the grace left after a preStop hook
 * on the executor's clock, and a pass stopped before it plans leaves the log check due for
 * the next pass.
 */
import assert from "node:assert/strict";
import type { CallOptions, Container, ContainerFilter } from "../lib/runtime/cri.ts";
import type { DeletePod } from "../lib/reconcile/actions.ts";
import { execute } from "../lib/reconcile/executor.ts";
import { ImagePuller } from "../lib/node/images.ts";
import { createLogger } from "../lib/base/log.ts";
import { podSpecFile } from "../lib/reconcile/executor_options.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { FIXTURE_IMAGE, reconcilerFixture } from "../testing/reconciler_fixture.ts";

Deno.test("a probe's first run waits for its initial delay on the agent's clock", async () => {
  await using s = await reconcilerFixture();
  await s.write(
    "web.yaml",
    `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
    - name: app
      image: ${FIXTURE_IMAGE}
      command: ["sleep", "3600"]
      livenessProbe:
        exec: {command: ["true"]}
        initialDelaySeconds: 5
        periodSeconds: 60
`,
  );
  await s.reconciler.pass();
  await s.reconciler.pass(); // sees the container running: its probe is armed
  const execs = () => s.cri.methods().filter((m) => m === "ExecSync").length;
  await s.clock.advance(4_999);
  assert.equal(execs(), 0, "not before the initial delay");
  await s.clock.advance(1);
  for (let i = 0; i < 10 && execs() === 0; i++) await s.clock.settle();
  assert.equal(execs(), 1, "once the agent's clock reaches it");
});

Deno.test("a pod deletion gives what is left of the grace period after a preStop hook, on the executor's clock", async () => {
  const root = await Deno.makeTempDir({ prefix: "tinylet-clock-" });
  try {
    const uid = "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0";
    const cri = new FakeCri({ images: [FIXTURE_IMAGE] });
    const sandboxId = await cri.runPodSandbox({
      metadata: { name: "web", namespace: "default", uid, attempt: 0 },
      labels: { tinylet: "true", "tinylet/instance": "default" },
    });
    const id = await cri.createContainer(sandboxId, {
      metadata: { name: "app", attempt: 0 },
      image: { image: FIXTURE_IMAGE },
    }, { metadata: { name: "web", namespace: "default", uid, attempt: 0 } });
    await cri.startContainer(id);
    await Deno.mkdir(`${root}/pods/${uid}`, { recursive: true });
    await Deno.writeTextFile(
      podSpecFile(`${root}/pods/${uid}`),
      JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "web" },
        spec: {
          containers: [{
            name: "app",
            image: FIXTURE_IMAGE,
            lifecycle: { preStop: { exec: { command: ["drain"] } } },
          }],
        },
      }),
    );
    const time = { now: Date.UTC(2026, 10, 27, 12, 0, 0) };
    const action: DeletePod = {
      type: "deletePod",
      key: "default/web",
      reason: "its file was deleted",
      sandboxId,
      namespace: "default",
      name: "web",
      uid,
      stopGroups: [[id]],
      containerNames: { [id]: "app" },
      gracePeriodSeconds: 30,
      removeState: false,
      hostPaths: true,
    };
    cri.calls.length = 0;
    const [r] = await execute([action], {
      cri,
      log: createLogger({ write: () => {} }),
      images: new ImagePuller({ cri, now: () => time.now }),
      root,
      podLogRoot: `${root}/logs`,
      parallel: 1,
      now: () => time.now,
      hook: () => {
        time.now += 25_400; // the hook takes 25.4 s of the 30
        return Promise.resolve({ ok: true, output: "" });
      },
    });
    assert.equal(r?.error, undefined);
    assert.deepEqual(
      cri.calls.filter((c) => c.method === "StopContainer").map((c) => c.arg),
      [{ id, timeoutSeconds: 5 }],
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/** A fake runtime that calls `afterList` once its containers are listed. */
class ListingCri extends FakeCri {
  afterList: (() => void) | undefined;

  override async listContainers(
    filter?: ContainerFilter,
    opts?: CallOptions,
  ): Promise<Container[]> {
    const list = await super.listContainers(filter, opts);
    this.afterList?.();
    return list;
  }
}

Deno.test("a pass stopped after listing leaves the log check due for the next pass", async () => {
  let cri: ListingCri | undefined;
  await using s = await reconcilerFixture({
    logRotation: { maxSizeBytes: 1024, maxFiles: 2 },
    logCheckIntervalMs: 10_000,
    fake: (clock) => {
      cri = new ListingCri({ images: [FIXTURE_IMAGE], now: () => clock.epochMs() });
      return cri;
    },
  });
  assert.ok(cri);
  await s.write(
    "hello.yaml",
    `apiVersion: v1
kind: Pod
metadata: {name: hello}
spec:
  containers:
    - name: hello
      image: ${FIXTURE_IMAGE}
      command: ["sleep", "3600"]
`,
  );
  await s.reconciler.pass();
  await s.reconciler.pass(); // the observer has the container's status: it asks no more
  const [hello] = await cri.listContainers();
  assert.ok(hello);
  const log = (await cri.containerStatus(hello.id)).logPath;
  const dir = log.slice(0, log.lastIndexOf("/"));
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(log, "x".repeat(4096));
  // The next check is due 10 s after the first pass's.
  await s.clock.advance(10_000);
  // The agent stops while the pass lists the runtime: that pass plans nothing.
  const stop = new AbortController();
  cri.afterList = () => stop.abort();
  const stopped = await s.reconciler.pass(stop.signal);
  assert.deepEqual(stopped.actions, []);
  cri.afterList = undefined;
  // The next pass, at the same instant, checks the logs: the check was not spent.
  await s.reconciler.pass();
  const rotated = [...Deno.readDirSync(dir)].filter((e) => e.name.startsWith("0.log.")).length;
  assert.equal(rotated, 1, "the log was rotated");
});
