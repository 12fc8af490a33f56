/**
 * Rollback of auto-updates on the fake runtime with a hand clock, the cases a review found: a
 * container kept on its image and created before the new one is judged too (its readiness
 * keeps an update, its exit fails it); an update whose container cannot be created is rolled
 * back, one whose pull fails is not (the old pod stays); of two updated containers only the one
 * that failed is held; a changed image without a repo digest leaves the last good images once,
 * without a write at every pass; new images first seen after their window are adopted; a held
 * tag that cannot be checked is said on its pod, annotated or not.
 *
 * @module
 */
import assert from "node:assert/strict";
import { rollbackState } from "../testing/rollback_fixtures.ts";
import { CriError } from "../lib/runtime/errors.ts";
import {
  actionTypes as types,
  APP,
  autoWeb,
  checkAndPass,
  crashed,
  createdImages,
  goodV1,
  INTERVAL,
  repoDigestOf,
  restartedAgent,
  runningOf,
  runningWeb,
  SIDE,
  theApp,
  updated,
  type UpdateFixture,
  updateFixture,
} from "../testing/rollback_update_fixtures.ts";

const UNAVAILABLE = "failed to resolve reference: 503 Service Unavailable";
const CHECK_FAILED =
  "Cannot check image registry.example.com:5000/app:1 for updates: failed to resolve reference: 503 Service Unavailable";

/**
 * Pod web with "side" (ready by its probe) before "app" runs its window on SIDE and APP's
 * first images: returns their ids.
 */
async function goodPair(
  s: UpdateFixture,
  side: "plain" | "probe" = "probe",
): Promise<{ app: string; side: string }> {
  const ids = { side: s.cri.pushToRegistry(SIDE), app: s.cri.pushToRegistry(APP) };
  await s.write("web.yaml", autoWeb("v1", { side }));
  await s.reconciler.pass();
  await seconds(s, 11);
  await checkAndPass(s.reconciler);
  return ids;
}

/** A new image pushed under APP, taken by the next check; "app" is created a second after "side". */
async function appUpdated(s: UpdateFixture): Promise<string> {
  const id = s.cri.pushToRegistry(APP);
  await s.clock.advance(INTERVAL);
  s.beforeCreate = async (name) => {
    if (name === "app") await s.clock.advance(1_000);
  };
  try {
    assert.deepEqual(types(await checkAndPass(s.reconciler)), ["deletePod", "createPod"]);
  } finally {
    delete s.beforeCreate;
  }
  assert.equal((await runningOf(s, "app")).imageRef, id);
  return id;
}

/** `n` seconds, a pass after each (the probes run on the hand clock). */
async function seconds(s: UpdateFixture, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await s.clock.advance(1_000);
    await s.reconciler.pass();
  }
}

Deno.test("an update of one container is kept when a container kept on its image, created before it, stays ready", async () => {
  await using s = await updateFixture();
  const v1 = await goodPair(s);
  const app2 = await appUpdated(s);
  const side = await runningOf(s, "side");
  assert.equal(side.imageRef, v1.side);
  // "side" was created a second before "app" ran its new image.
  assert.equal(side.createdAt, Date.UTC(2026, 10, 27, 12, 1, 11) * 1e6);
  assert.equal((await runningOf(s, "app")).createdAt, Date.UTC(2026, 10, 27, 12, 1, 12) * 1e6);
  await seconds(s, 11);
  const st = await rollbackState(s);
  assert.equal(st?.rolledBack, undefined, JSON.stringify(st?.rolledBack));
  assert.equal(st?.watching, undefined);
  assert.deepEqual(st?.lastGood?.images, {
    side: { id: v1.side, ref: await repoDigestOf(s, v1.side) },
    app: { id: app2, ref: await repoDigestOf(s, app2) },
  });
  assert.equal((await runningOf(s, "app")).imageRef, app2);
  assert.equal(s.reconciler.events("default/web").some((e) => e.reason === "RolledBack"), false);
  assert.equal(
    s.lines.filter((l) => l.includes("Pod default/web ran its rollback window with its new images"))
      .length,
    1,
  );
});

Deno.test("an update is rolled back when a container kept on its image, created before it, exits with an error within the window", async () => {
  await using s = await updateFixture();
  const v1 = await goodPair(s);
  const app2 = await appUpdated(s);
  await seconds(s, 3);
  s.cri.exitContainer((await runningOf(s, "side")).id, 1, "Error");
  await seconds(s, 2);
  const st = await rollbackState(s);
  assert.equal(st?.rolledBack?.cause, 'container "side" exited with code 1 (Error)');
  assert.equal(st?.rolledBack?.at, "2026-11-27T12:01:16.000Z");
  // The failure names no changed container: the changed image is the one held.
  assert.deepEqual(st?.rolledBack?.images, { app: { image: APP, id: app2 } });
  assert.equal((await runningOf(s, "app")).imageRef, v1.app);
  assert.equal(createdImages(s).at(-1), await repoDigestOf(s, v1.app));
});

Deno.test("an update whose new image's container cannot be created is rolled back to v1 pinned, within the window", async () => {
  await using s = await updateFixture();
  const v1 = await goodV1(s);
  const ref1 = await repoDigestOf(s, v1);
  const v2 = s.cri.pushToRegistry(APP);
  await s.clock.advance(INTERVAL);
  s.cri.inject("CreateContainer", {
    error: new CriError("Other", "CreateContainer", "failed to create containerd container: boom"),
  });
  assert.deepEqual(types(await checkAndPass(s.reconciler)), ["deletePod", "createPod"]);
  assert.equal(createdImages(s).at(-1), APP, "the update's container was asked for");
  assert.deepEqual((await rollbackState(s))?.watching?.images, { app: v2 });
  await s.clock.advance(2_000);
  await s.reconciler.pass();
  assert.deepEqual(types(await s.reconciler.pass()), ["deletePod", "createPod"]);
  const st = await rollbackState(s);
  assert.equal(
    st?.rolledBack?.cause,
    "a container could not be created (CreateContainerError): failed to create containerd container: boom",
  );
  // Within the window of the update asked for at 12:01:11.
  assert.equal(st?.rolledBack?.at, "2026-11-27T12:01:13.000Z");
  assert.deepEqual(st?.rolledBack?.images, { app: { image: APP, id: v2 } });
  assert.equal(createdImages(s).at(-1), ref1);
  assert.equal((await theApp(s)).imageRef, v1);
  assert.equal(
    s.reconciler.events("default/web").filter((e) => e.reason === "RolledBack").length,
    1,
  );
});

Deno.test("an update whose pull fails after the check is no rollback: the old pod stays", async () => {
  await using s = await updateFixture();
  const v1 = s.cri.pushToRegistry(APP);
  await s.write("web.yaml", autoWeb("v1", { pullPolicy: "Always" }));
  await s.reconciler.pass();
  await s.clock.advance(11_000);
  await checkAndPass(s.reconciler);
  const old = await theApp(s);
  assert.equal(old.imageRef, v1);
  const v2 = s.cri.pushToRegistry(APP);
  await s.clock.advance(INTERVAL);
  // The check's pull works; the update's own pull fails.
  s.cri.inject("PullImage", {});
  s.cri.inject("PullImage", {
    error: new CriError("Other", "PullImage", UNAVAILABLE),
    times: 3,
  });
  await checkAndPass(s.reconciler);
  assert.ok(s.lines.some((l) => l.includes("503 Service Unavailable (next try in 10 s)")));
  await seconds(s, 12); // past the window of the update, and the pull's next try
  const st = await rollbackState(s);
  assert.equal(st?.rolledBack, undefined);
  // The update is still asked for: its watch waits for its sandbox, judging nothing yet.
  assert.deepEqual(st?.watching?.images, { app: v2 });
  assert.equal(st?.watching?.failed, undefined);
  assert.deepEqual(st?.lastGood?.images, { app: { id: v1, ref: await repoDigestOf(s, v1) } });
  assert.equal(s.reconciler.events("default/web").some((e) => e.reason === "RolledBack"), false);
  assert.deepEqual((await runningWeb(s)).map((c) => c.id), [old.id], "the old pod stays");
});

Deno.test("of two containers updated at once, only the one that failed is held: the other's tag moving releases nothing, its own does", async () => {
  await using s = await updateFixture();
  const v1 = await goodPair(s, "plain");
  const side2 = s.cri.pushToRegistry(SIDE);
  const app2 = s.cri.pushToRegistry(APP);
  await s.clock.advance(INTERVAL);
  assert.deepEqual(types(await checkAndPass(s.reconciler)), ["deletePod", "createPod"]);
  assert.equal((await runningOf(s, "side")).imageRef, side2);
  assert.equal((await runningOf(s, "app")).imageRef, app2);
  await s.clock.advance(2_000);
  s.cri.exitContainer((await runningOf(s, "app")).id, 1, "Error");
  await s.reconciler.pass();
  assert.deepEqual(types(await s.reconciler.pass()), ["deletePod", "createPod"]);
  assert.deepEqual((await rollbackState(s))?.rolledBack?.images, { app: { image: APP, id: app2 } });
  // Both run their last good images again, pinned.
  assert.deepEqual(createdImages(s).slice(-2), [
    await repoDigestOf(s, v1.side),
    await repoDigestOf(s, v1.app),
  ]);
  const creates = createdImages(s).length;
  s.cri.pushToRegistry(SIDE);
  await s.clock.advance(INTERVAL);
  assert.deepEqual(types(await checkAndPass(s.reconciler)), []);
  assert.equal(createdImages(s).length, creates, "side's tag moving alone tries nothing");
  assert.deepEqual((await rollbackState(s))?.rolledBack?.images, { app: { image: APP, id: app2 } });
  assert.equal((await runningOf(s, "app")).imageRef, v1.app);
  const app3 = s.cri.pushToRegistry(APP);
  await s.clock.advance(INTERVAL);
  assert.deepEqual(types(await checkAndPass(s.reconciler)), ["deletePod", "createPod"]);
  assert.deepEqual(createdImages(s).slice(creates), [SIDE, APP]);
  assert.equal((await runningOf(s, "app")).imageRef, app3);
  assert.equal((await rollbackState(s))?.rolledBack, undefined);
});

Deno.test("a changed image without a repo digest that ran its window is compared no more, and the state is not written again at each pass", async () => {
  await using s = await updateFixture();
  const v1 = s.cri.pushToRegistry(APP);
  await s.write("web.yaml", autoWeb("v1", { autoUpdate: false }));
  await s.reconciler.pass();
  await s.clock.advance(11_000);
  await s.reconciler.pass();
  const ref1 = await repoDigestOf(s, v1);
  assert.deepEqual((await rollbackState(s))?.lastGood?.images, { app: { id: v1, ref: ref1 } });
  // An image imported under the tag, never pulled: it has no repo digest.
  s.cri.addImage(APP);
  const imported = (await s.cri.listImages()).find((i) => i.repoTags.includes(APP));
  assert.ok(imported && imported.id !== v1);
  assert.deepEqual(imported.repoDigests, []);
  s.cri.exitContainer((await theApp(s)).id, 0, "Completed");
  await seconds(s, 11); // restarted after its back-off, on the imported image
  assert.equal((await theApp(s)).imageRef, imported.id);
  assert.deepEqual((await rollbackState(s))?.watching?.images, { app: imported.id });
  await seconds(s, 10);
  const file = `${s.root}/rollback/default_web.json`;
  const text = await Deno.readTextFile(file);
  const st = JSON.parse(text);
  assert.equal(st.watching, undefined);
  assert.equal(st.rolledBack, undefined);
  assert.deepEqual(st.lastGood.images, {}, "the container is no longer compared");
  await seconds(s, 3);
  assert.equal(await Deno.readTextFile(file), text, "not written again");
  const line = "Pod default/web ran its rollback window with its new images";
  assert.equal(s.lines.filter((l) => l.includes(line)).length, 1);
});

Deno.test("new images first seen by a watch after their window are adopted as good, not judged", async () => {
  await using s = await updateFixture();
  const on = () => restartedAgent(s, { rollbackWindowMs: 10_000 });
  const v1 = s.cri.pushToRegistry(APP);
  await s.write("web.yaml", autoWeb("v1", { window: null }));
  const first = on();
  try {
    await first.pass();
    await s.clock.advance(11_000);
    await checkAndPass(first);
  } finally {
    await first.stop();
  }
  assert.equal((await rollbackState(s))?.lastGood?.images?.app?.id, v1);
  // An agent with the window off (the fixture's) takes an update that crashes at once.
  const v2 = await updated(s);
  await crashed(s);
  await s.clock.advance(10_000);
  await s.reconciler.pass();
  const restartedApp = await theApp(s);
  assert.equal(restartedApp.imageRef, v2);
  await s.reconciler.stop();
  // An hour later, an agent with the window on.
  await s.clock.advance(3_600_000);
  const later = on();
  try {
    await later.pass();
    await later.pass();
  } finally {
    await later.stop();
  }
  const st = await rollbackState(s);
  assert.equal(st?.rolledBack, undefined, JSON.stringify(st?.rolledBack));
  assert.deepEqual(st?.lastGood?.images, { app: { id: v2, ref: await repoDigestOf(s, v2) } });
  assert.deepEqual((await runningWeb(s)).map((c) => c.id), [restartedApp.id]);
  assert.equal(
    s.lines.filter((l) =>
      l.includes(
        "INFO  Pod default/web runs new images never watched, first seen after its rollback window ended: taken as good",
      )
    ).length,
    1,
  );
});

/** The ImageUpdateCheckFailed events of pod web, as [type, message]. */
const checkFailures = (s: UpdateFixture) =>
  s.reconciler.events("default/web").filter((e) => e.reason === "ImageUpdateCheckFailed")
    .map((e) => [e.type, e.message]);

Deno.test("a held tag that cannot be checked is said on its rolled-back pod", async () => {
  await using s = await updateFixture();
  await goodV1(s);
  await updated(s);
  await crashed(s);
  await s.reconciler.pass();
  assert.deepEqual(checkFailures(s), []);
  s.cri.inject("PullImage", { error: new CriError("Other", "PullImage", UNAVAILABLE) });
  await s.clock.advance(INTERVAL);
  assert.deepEqual(types(await checkAndPass(s.reconciler)), []);
  assert.deepEqual(checkFailures(s), [["Warning", CHECK_FAILED]]);
});

Deno.test("a held tag that cannot be checked is said on its rolled-back pod without the auto-update annotation", async () => {
  await using s = await updateFixture();
  const v1 = s.cri.pushToRegistry(APP);
  await s.write("web.yaml", autoWeb("v1", { autoUpdate: false, pullPolicy: "Always" }));
  await s.reconciler.pass();
  await seconds(s, 11);
  assert.equal((await rollbackState(s))?.lastGood?.images?.app?.id, v1);
  // Its restart pulls the tag, which names a new image, that crashes at once.
  const v2 = s.cri.pushToRegistry(APP);
  s.cri.exitContainer((await theApp(s)).id, 0, "Completed");
  await seconds(s, 10);
  assert.equal((await theApp(s)).imageRef, v2);
  await s.clock.advance(2_000);
  s.cri.exitContainer((await theApp(s)).id, 1, "Error");
  await s.reconciler.pass();
  assert.deepEqual((await rollbackState(s))?.rolledBack?.images, { app: { image: APP, id: v2 } });
  // The held tag is checked from the next pass on: the registry fails.
  s.cri.inject("PullImage", { error: new CriError("Other", "PullImage", UNAVAILABLE) });
  await checkAndPass(s.reconciler);
  assert.equal((await theApp(s)).imageRef, v1);
  assert.deepEqual(checkFailures(s), [["Warning", CHECK_FAILED]]);
  assert.equal(s.lines.filter((l) => l.includes(`WARN  ${CHECK_FAILED}`)).length, 1);
});
