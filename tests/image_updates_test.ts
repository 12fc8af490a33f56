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
