/**
 * Rollback of auto-updates on the fake runtime with a hand-driven clock: the last good spec's
 * images are kept with it; a new image under its tag that fails within the window is rolled
 * back to those images, pinned by repo digest, and not tried again until the tag names another
 * image or the file changes; one that fails after the window is kept; all of it survives a
 * restart; a last good spec kept without images gets them from what runs.
 *
 * @module
 */
import assert from "node:assert/strict";
import { view } from "../testing/config_fixtures.ts";
import { lastArgs, rollbackState } from "../testing/rollback_fixtures.ts";
import {
  actionTypes as types,
  APP,
  autoWeb,
  checkAndPass,
  crashed,
  createdImages,
  goodV1,
  INTERVAL,
  pullsOfApp,
  repoDigestOf,
  restartedAgent,
  theApp,
  updated,
  updateFixture,
} from "../testing/rollback_update_fixtures.ts";
import { RollbackStore } from "../lib/node/rollback_state.ts";

const REPO_DIGEST = /^registry\.example\.com:5000\/app@sha256:[0-9a-f]{64}$/;

Deno.test("v1 of an auto-updated pod becomes its last good spec with the image it ran", async () => {
  await using s = await updateFixture();
  const v1 = s.cri.pushToRegistry(APP);
  await s.write("web.yaml", autoWeb("v1"));
  await s.reconciler.pass();
  assert.equal((await theApp(s)).imageRef, v1);
  await s.clock.advance(9_000);
  await s.reconciler.pass();
  assert.equal((await rollbackState(s))?.lastGood, undefined, "not before the window's end");
  await s.clock.advance(2_000);
  await s.reconciler.pass();
  const ref1 = await repoDigestOf(s, v1);
  assert.match(ref1, REPO_DIGEST);
  const file = JSON.parse(await Deno.readTextFile(`${s.root}/rollback/default_web.json`));
  assert.deepEqual(file.lastGood.images, { app: { id: v1, ref: ref1 } });
  assert.equal(file.lastGood.since, "2026-11-27T12:00:11.000Z");
  assert.deepEqual(file.lastGood.pod.spec.containers[0].args, ["v1"]);
});

Deno.test("a new image that crashes within the window is rolled back to the last good image, pinned by digest", async () => {
  await using s = await updateFixture();
  const v1 = await goodV1(s);
  const ref1 = await repoDigestOf(s, v1);
  const v2 = await updated(s);
  assert.notEqual(v2, v1);
  assert.equal(createdImages(s).at(-1), APP, "the update runs the tag");
  const back = await crashed(s);
  assert.deepEqual(types(back), ["deletePod", "createPod"]);
  // The pod runs v1 again, named by its repo digest, in the same spec.
  assert.equal(createdImages(s).at(-1), ref1);
  assert.match(createdImages(s).at(-1)!, REPO_DIGEST);
  assert.equal(lastArgs(s), "v1");
  assert.equal((await theApp(s)).imageRef, v1);
  const message =
    `Rolled back to the last good images: container "app" exited with code 1 (Error); the pod goes back to its tags once the tag "${APP}" of container "app" names another image than ${
      v2.slice(0, 19)
    } (the one that failed), or when ${s.dir}/manifests/web.yaml changes (tags are checked every --auto-update-interval, and at once by tinylet auto-update)`;
  const events = s.reconciler.events("default/web").filter((e) => e.reason === "RolledBack");
  assert.deepEqual(events.map((e) => [e.type, e.message]), [["Warning", message]]);
  assert.equal(s.lines.filter((l) => l.includes(`WARN  Pod default/web: ${message}`)).length, 1);
  assert.match(s.metrics.render(), /^tinylet_rollbacks_total 1$/m);
  const st = await rollbackState(s);
  assert.deepEqual(st?.rolledBack?.images, { app: { image: APP, id: v2 } });
  assert.equal(st?.rolledBack?.cause, 'container "app" exited with code 1 (Error)');
  assert.deepEqual(st?.lastGood?.images, { app: { id: v1, ref: ref1 } }, "v1 stays the good one");
  const v = view((await s.reconciler.pass()).pods, "web");
  assert.equal(v.status, "RolledBack");
  assert.deepEqual(v.rolledBack?.failedImages, { app: { image: APP, id: v2 } });
});

Deno.test("a new image that crashes just after the window is kept, and becomes the last good one", async () => {
  await using s = await updateFixture();
  const v1 = await goodV1(s);
  const v2 = await updated(s);
  await s.clock.advance(10_001);
  await s.reconciler.pass();
  s.cri.exitContainer((await theApp(s)).id, 1, "Error");
  await s.reconciler.pass();
  await s.clock.advance(20_000);
  const r = await s.reconciler.pass();
  // An ordinary restart, on v2.
  assert.deepEqual(types(r), ["startContainers"]);
  assert.equal((await theApp(s)).imageRef, v2);
  assert.equal(createdImages(s).at(-1), APP);
  const st = await rollbackState(s);
  assert.equal(st?.rolledBack, undefined);
  assert.deepEqual(st?.lastGood?.images, { app: { id: v2, ref: await repoDigestOf(s, v2) } });
  assert.notEqual(st?.lastGood?.images?.app?.id, v1);
  assert.equal(s.reconciler.events("default/web").some((e) => e.reason === "RolledBack"), false);
  assert.doesNotMatch(s.metrics.render(), /^tinylet_rollbacks_total /m, "none counted");
  assert.notEqual(view(r.pods, "web").status, "RolledBack");
});

Deno.test("the failed image is not tried again while its tag still names it", async () => {
  await using s = await updateFixture();
  const v1 = await goodV1(s);
  const v2 = await updated(s);
  await crashed(s);
  await s.reconciler.pass();
  const pinned = await theApp(s);
  assert.equal(pinned.imageRef, v1);
  const creates = createdImages(s).length;
  const pulls = pullsOfApp(s);
  for (let i = 0; i < 3; i++) {
    await s.clock.advance(INTERVAL);
    assert.deepEqual(types(await checkAndPass(s.reconciler)), [], `check ${i + 1}`);
  }
  // Each check asked the registry for the tag, and found the failed image there.
  assert.equal(pullsOfApp(s), pulls + 3);
  assert.equal(createdImages(s).length, creates, "no container was created");
  const all = await s.cri.listContainers({ state: "CONTAINER_RUNNING" });
  assert.deepEqual(all.map((c) => [c.id, c.imageRef]), [[pinned.id, v1]]);
  assert.deepEqual((await rollbackState(s))?.rolledBack?.images, { app: { image: APP, id: v2 } });
  assert.equal(view((await s.reconciler.pass()).pods, "web").status, "RolledBack");
});

Deno.test("the tag moving to another image releases the rollback: the new image is watched, and kept when good", async () => {
  await using s = await updateFixture();
  await goodV1(s);
  const v2 = await updated(s);
  await crashed(s);
  await s.reconciler.pass();
  const v3 = s.cri.pushToRegistry(APP);
  await s.clock.advance(INTERVAL);
  const r = await checkAndPass(s.reconciler);
  assert.deepEqual(types(r), ["deletePod", "createPod"]);
  assert.equal(createdImages(s).at(-1), APP, "the tag runs again");
  assert.equal((await theApp(s)).imageRef, v3);
  assert.notEqual(v3, v2);
  const retry = `The tag "${APP}" of container "app" names ${v3.slice(0, 19)} now, not ${
    v2.slice(0, 19)
  } that was rolled back: the pod runs its declared spec again`;
  assert.equal(s.lines.filter((l) => l.includes(`INFO  Pod default/web: ${retry}`)).length, 1);
  assert.deepEqual(
    s.reconciler.events("default/web").filter((e) => e.reason === "ImageRetry")
      .map((e) => [e.type, e.message]),
    [["Normal", retry]],
  );
  await s.reconciler.pass(); // the pass that sees the new sandbox watches it
  let st = await rollbackState(s);
  assert.equal(st?.rolledBack, undefined);
  // Its window runs from the creation of its first container on v3: now.
  assert.deepEqual(
    st?.watching && { images: st.watching.images, startedAt: st.watching.startedAt },
    { images: { app: v3 }, startedAt: Date.UTC(2026, 10, 27, 12, 2, 13) },
    "v3 is watched",
  );
  await s.clock.advance(11_000);
  const done = await s.reconciler.pass();
  st = await rollbackState(s);
  assert.equal(st?.watching, undefined);
  assert.deepEqual(st?.lastGood?.images, { app: { id: v3, ref: await repoDigestOf(s, v3) } });
  assert.equal(view(done.pods, "web").status, "Running");
  assert.equal(
    s.reconciler.events("default/web").filter((e) => e.reason === "RolledBack").length,
    1,
  );
});

Deno.test("a restarted agent keeps a pod rolled back from its new image on the pinned image", async () => {
  await using s = await updateFixture();
  const v1 = await goodV1(s);
  const ref1 = await repoDigestOf(s, v1);
  await updated(s);
  await crashed(s);
  await s.reconciler.pass();
  const pinned = await theApp(s);
  assert.equal(createdImages(s).at(-1), ref1);
  await s.reconciler.stop();
  const creates = createdImages(s).length;
  const pulls = pullsOfApp(s);
  const agent = restartedAgent(s);
  try {
    // The restarted agent's first check comes at once, then one per interval.
    assert.deepEqual(types(await checkAndPass(agent)), []);
    await s.clock.advance(INTERVAL);
    const r = await checkAndPass(agent);
    assert.deepEqual(types(r), []);
    assert.equal(view(r.pods, "web").status, "RolledBack");
    assert.equal(pullsOfApp(s), pulls + 2, "the held tag was checked");
    assert.equal(createdImages(s).length, creates, "nothing was created");
    assert.deepEqual(
      (await s.cri.listContainers({ state: "CONTAINER_RUNNING" })).map((c) => [c.id, c.imageRef]),
      [[pinned.id, v1]],
    );
    // It still knows which image failed: another one under the tag is run.
    const v3 = s.cri.pushToRegistry(APP);
    await s.clock.advance(INTERVAL);
    assert.deepEqual(types(await checkAndPass(agent)), ["deletePod", "createPod"]);
    assert.equal((await theApp(s)).imageRef, v3);
    assert.deepEqual(createdImages(s).slice(creates), [APP]);
  } finally {
    await agent.stop();
  }
});

Deno.test("editing the file while rolled back from a new image runs the new spec", async () => {
  await using s = await updateFixture();
  const v1 = await goodV1(s);
  const v2 = await updated(s);
  await crashed(s);
  await s.reconciler.pass();
  assert.equal((await theApp(s)).imageRef, v1);
  await s.write("web.yaml", autoWeb("v1-edited"));
  const r = await s.reconciler.pass();
  assert.deepEqual(types(r), ["deletePod", "createPod"]);
  assert.equal(lastArgs(s), "v1-edited");
  assert.equal(createdImages(s).at(-1), APP, "the edited spec runs its tag");
  // The tag names the image that failed: the file changed, so it is tried (and watched).
  assert.equal((await theApp(s)).imageRef, v2);
  const st = await rollbackState(s);
  assert.equal(st?.rolledBack, undefined);
  assert.ok(st?.watching && st.watching.hash !== st.lastGood?.hash, "the new spec is watched");
  assert.ok(
    s.lines.some((l) =>
      l.includes("Pod default/web changed since it was rolled back: running its new spec")
    ),
  );
  assert.notEqual(view((await s.reconciler.pass()).pods, "web").status, "RolledBack");
});

Deno.test("a last good spec kept without its images gets them from what runs, and a failing update is then rolled back", async () => {
  await using s = await updateFixture();
  const v1 = await goodV1(s);
  const ref1 = await repoDigestOf(s, v1);
  await s.reconciler.stop();
  // As an agent that kept no images wrote it.
  const store = new RollbackStore(s.root);
  const old = (await store.read("default/web"))?.lastGood;
  assert.ok(old);
  await store.write("default/web", {
    lastGood: { hash: old.hash, pod: old.pod, since: old.since },
  });
  const file = `${s.root}/rollback/default_web.json`;
  assert.equal(JSON.parse(await Deno.readTextFile(file)).lastGood.images, undefined);
  const agent = restartedAgent(s);
  try {
    assert.deepEqual(types(await agent.pass()), []);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(file)).lastGood.images, {
      app: { id: v1, ref: ref1 },
    });
    await agent.imageChecksSettled();
    const v2 = await updated(s, agent);
    const back = await crashed(s, agent);
    assert.deepEqual(types(back), ["deletePod", "createPod"]);
    assert.equal(createdImages(s).at(-1), ref1);
    assert.equal((await theApp(s)).imageRef, v1);
    assert.deepEqual((await rollbackState(s))?.rolledBack?.images, {
      app: { image: APP, id: v2 },
    });
  } finally {
    await agent.stop();
  }
});

Deno.test("a failed edit after an image rollback goes back to the last good image, pinned, not to what its tag names now", async () => {
  await using s = await updateFixture();
  const v1 = await goodV1(s);
  const v2 = await updated(s);
  await crashed(s); // rolled back: v1 pinned
  await s.reconciler.pass();
  await s.write("web.yaml", autoWeb("v1-edited")); // runs the tag, which names v2 now
  await s.reconciler.pass();
  assert.equal((await theApp(s)).imageRef, v2);
  await crashed(s); // the edit fails within its window
  await s.reconciler.pass();
  assert.equal((await theApp(s)).imageRef, v1);
  assert.equal(lastArgs(s), "v1");
  assert.match(createdImages(s).at(-1)!, /^registry\.example\.com:5000\/app@sha256:[0-9a-f]{64}$/);
});
