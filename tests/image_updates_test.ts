/**
 * Auto-update in the agent, on the fake runtime and a hand-moved clock: a push under a tag
 * moves the annotated pod to the new image within one check, pulled before the pod is
 * replaced; pods without the annotation keep their containers; a failing check says so once.
 */
import assert from "node:assert/strict";
import { AgentMetrics } from "../lib/base/metrics.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { FIXTURE_IMAGE, reconcilerFixture } from "../testing/reconciler_fixture.ts";
import type { Container } from "../lib/runtime/cri.ts";
import { waitFor } from "../testing/wait.ts";

const APP = "registry.example.com:5000/app:1";
const OTHER = "registry.example.com:5000/other:1";
const INTERVAL = 60_000;

function manifest(name: string, image: string, annotated: boolean): string {
  return [
    "apiVersion: v1",
    "kind: Pod",
    "metadata:",
    `  name: ${name}`,
    ...(annotated ? ["  annotations:", '    tinylet.dev/auto-update: "registry"'] : []),
    "spec:",
    "  terminationGracePeriodSeconds: 0",
    "  containers:",
    `  - {name: main, image: "${image}", command: [sleep, "3600"]}`,
    "",
  ].join("\n");
}

async function running(cri: FakeCri, pod: string): Promise<Container[]> {
  const containers = await cri.listContainers({ state: "CONTAINER_RUNNING" });
  return containers.filter((c) => c.labels["io.kubernetes.pod.name"] === pod);
}

Deno.test("auto-update: a new image under the tag replaces only the annotated pod, once", async () => {
  const metrics = new AgentMetrics();
  await using f = await reconcilerFixture({
    autoUpdateIntervalMs: INTERVAL,
    metrics,
    fake: (clock) =>
      new FakeCri({
        images: [FIXTURE_IMAGE],
        registry: [APP, OTHER],
        now: () => clock.epochMs(),
      }),
  });
  await f.write("auto.yaml", manifest("auto", APP, true));
  await f.write("same.yaml", manifest("same", APP, false));
  await f.write("other.yaml", manifest("other", OTHER, false));
  await f.reconciler.pass();
  const before = {
    auto: await running(f.cri, "auto"),
    same: await running(f.cri, "same"),
    other: await running(f.cri, "other"),
  };
  assert.equal(before.auto.length, 1);
  const oldId = before.auto[0]!.imageRef;

  // The first check comes with the next pass: the tag still names the image that runs.
  await f.reconciler.pass();
  await f.reconciler.imageChecksSettled();
  assert.deepEqual((await f.reconciler.pass()).actions, []);

  const newId = f.cri.pushToRegistry(APP);
  f.cri.pushToRegistry(OTHER);
  const pullsBefore = f.cri.calls.filter((c) => c.method === "PullImage").length;
  // Within the interval nothing is checked.
  await f.clock.advance(INTERVAL - 1_000);
  await f.reconciler.pass();
  await f.reconciler.imageChecksSettled();
  assert.equal(f.cri.calls.filter((c) => c.method === "PullImage").length, pullsBefore);

  await f.clock.advance(1_000);
  await f.reconciler.pass(); // starts the check
  await f.reconciler.imageChecksSettled();
  const pulls = f.cri.calls.slice(0).filter((c) => c.method === "PullImage").slice(pullsBefore);
  assert.deepEqual(pulls.map((c) => (c.arg as { image: string }).image), [APP]);
  const replaced = await f.reconciler.pass();
  assert.deepEqual(
    replaced.actions.map((a) => `${a.type} ${a.key}`),
    ["deletePod default/auto", "createPod default/auto"],
  );
  assert.match(replaced.actions[0]!.reason, /^replace: image "registry\.example\.com:5000\/app:1"/);
  assert.ok(replaced.results.every((r) => !r.error), String(replaced.results.map((r) => r.error)));

  const after = await running(f.cri, "auto");
  assert.equal(after.length, 1);
  assert.equal(after[0]!.imageRef, newId);
  assert.notEqual(after[0]!.podSandboxId, before.auto[0]!.podSandboxId);
  assert.notEqual(newId, oldId);
  // The unannotated pods keep their containers, on the image they started with.
  assert.deepEqual(
    (await running(f.cri, "same")).map((c) => [c.id, c.imageRef]),
    before.same.map((c) => [c.id, c.imageRef]),
  );
  assert.deepEqual((await running(f.cri, "other")).map((c) => c.id), before.other.map((c) => c.id));

  assert.equal(f.lines.filter((l) => l.includes("Updating pod default/auto")).length, 1);
  assert.match(metrics.render(), /^tinylet_image_updates_total 1$/m);
  assert.ok(
    f.reconciler.events("default/auto").some((e) => e.reason === "ImageUpdate"),
    JSON.stringify(f.reconciler.events("default/auto")),
  );
  // Settled: the next passes and the next check change nothing.
  assert.deepEqual((await f.reconciler.pass()).actions, []);
  await f.clock.advance(INTERVAL);
  await f.reconciler.pass();
  await f.reconciler.imageChecksSettled();
  assert.deepEqual((await f.reconciler.pass()).actions, []);
  assert.match(metrics.render(), /^tinylet_image_updates_total 1$/m);
});

Deno.test("auto-update: a check that fails is said once, replaces nothing, and is tried again next interval", async () => {
  await using f = await reconcilerFixture({
    autoUpdateIntervalMs: INTERVAL,
    fake: (clock) =>
      new FakeCri({ images: [FIXTURE_IMAGE], registry: [APP], now: () => clock.epochMs() }),
  });
  await f.write("auto.yaml", manifest("auto", APP, true));
  await f.reconciler.pass();
  const id = (await running(f.cri, "auto"))[0]!.id;
  f.cri.pushToRegistry(APP);
  const unauthorized = "failed to resolve reference: 401 Unauthorized";
  for (let i = 0; i < 2; i++) {
    f.cri.inject("PullImage", { error: new Error(unauthorized) });
    if (i > 0) await f.clock.advance(INTERVAL);
    await f.reconciler.pass();
    await f.reconciler.imageChecksSettled();
    assert.deepEqual((await f.reconciler.pass()).actions, []);
  }
  assert.equal(
    f.lines.filter((l) => l.includes(`Cannot check image ${APP} for updates`)).length,
    1,
    f.lines.join("\n"),
  );
  assert.equal((await running(f.cri, "auto"))[0]!.id, id);
  // Once the registry answers, the next check moves the pod.
  await f.clock.advance(INTERVAL);
  await f.reconciler.pass();
  await f.reconciler.imageChecksSettled();
  const r = await f.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => a.type), ["deletePod", "createPod"]);
  assert.ok(f.lines.some((l) => l.includes(`Checking image ${APP} for updates works again`)));
});

Deno.test("auto-update: a container stopped by the replacement is no crash (no back-off)", async () => {
  await using f = await reconcilerFixture({
    time: "system",
    fake: () => new FakeCri({ images: [FIXTURE_IMAGE], registry: [APP] }),
  });
  await f.write("auto.yaml", manifest("auto", APP, true));
  await f.reconciler.pass();
  await f.reconciler.pass(); // the first check
  await f.reconciler.imageChecksSettled();
  const old = (await running(f.cri, "auto"))[0]!;
  const newId = f.cri.pushToRegistry(APP);
  f.reconciler.checkImagesNow();
  await f.reconciler.pass();
  await f.reconciler.imageChecksSettled();
  // The old sandbox stays listed, its container stopped, while its sandbox takes long to stop.
  f.cri.inject("StopPodSandbox", { delayMs: 500 });
  await f.reconciler.pass(undefined, { detach: true });
  await waitFor("the old container stopped, its sandbox still listed", async () => {
    const [c] = await f.cri.listContainers({ id: old.id });
    return c?.state === "CONTAINER_EXITED";
  });
  await f.reconciler.pass(undefined, { detach: true });
  await waitFor("the pod on the new image", async () => {
    return (await running(f.cri, "auto"))[0]?.imageRef === newId;
  });
  const events = f.reconciler.events("default/auto").map((e) => `${e.reason}: ${e.message}`);
  assert.ok(events.some((e) => e.startsWith("ImageUpdate")), events.join("\n"));
  assert.ok(!events.some((e) => e.startsWith("BackOff")), events.join("\n"));
});

Deno.test("auto-update: asked again while the replacement runs, the update is said and counted once", async () => {
  const metrics = new AgentMetrics();
  await using f = await reconcilerFixture({
    metrics,
    time: "system",
    fake: () => new FakeCri({ images: [FIXTURE_IMAGE], registry: [APP] }),
  });
  await f.write("auto.yaml", manifest("auto", APP, true));
  await f.reconciler.pass();
  await f.reconciler.pass();
  await f.reconciler.imageChecksSettled();
  f.cri.pushToRegistry(APP);
  f.reconciler.checkImagesNow();
  await f.reconciler.pass();
  await f.reconciler.imageChecksSettled();
  // `tinylet auto-update` while the replacement is planned; were a check to start now, on this
  // listing, it would answer after the replacement.
  f.reconciler.checkImagesNow();
  f.cri.inject("PullImage", { delayMs: 300 });
  const r = await f.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => a.type), ["deletePod", "createPod"]);
  await f.reconciler.pass(); // lists the pod replaced
  await f.reconciler.imageChecksSettled();
  await f.reconciler.pass(); // the check asked for has run, or runs now: the pod is current
  await f.reconciler.imageChecksSettled();
  assert.deepEqual((await f.reconciler.pass()).actions, []);
  assert.equal(f.lines.filter((l) => l.includes("Updating pod")).length, 1, f.lines.join("\n"));
  assert.ok(!f.lines.some((l) => l.includes("still differs")), f.lines.join("\n"));
  assert.match(metrics.render(), /^tinylet_image_updates_total 1$/m);
});

/** A runtime that names a container's image otherwise than `PullImage` does. */
class RenamingCri extends FakeCri {
  override async listContainers(...args: Parameters<FakeCri["listContainers"]>) {
    const list = await super.listContainers(...args);
    return list.map((c) => ({ ...c, imageRef: `registry.example.com:5000/app@${c.imageRef}` }));
  }
}

Deno.test("auto-update: a pod its replacement did not bring to the resolved image is not replaced again until the tag moves", async () => {
  await using f = await reconcilerFixture({
    autoUpdateIntervalMs: INTERVAL,
    fake: (clock) =>
      new RenamingCri({ images: [FIXTURE_IMAGE], registry: [APP], now: () => clock.epochMs() }),
  });
  await f.write("auto.yaml", manifest("auto", APP, true));
  await f.reconciler.pass();
  const replacements = async () => {
    await f.reconciler.pass();
    await f.reconciler.imageChecksSettled();
    const r = await f.reconciler.pass();
    return r.actions.filter((a) => a.type === "createPod").length;
  };
  // The ids never compare equal: the first check replaces the pod once...
  assert.equal(await replacements(), 1);
  // ...and the next checks, finding the same, do not.
  for (let i = 0; i < 3; i++) {
    await f.clock.advance(INTERVAL);
    assert.equal(await replacements(), 0);
  }
  assert.equal(
    f.lines.filter((l) => l.includes("still differs from the images its replacement was for"))
      .length,
    1,
    f.lines.join("\n"),
  );
  // A tag that moves on is an update again.
  f.cri.pushToRegistry(APP);
  await f.clock.advance(INTERVAL);
  assert.equal(await replacements(), 1);
});
