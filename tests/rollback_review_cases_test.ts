/**
 * Rollback on the fake runtime with a hand clock, the cases of a second review: a watch known
 * before an agent restart is judged after its window, not adopted (a new spec whose sandbox
 * started after it was planned, an update whose container was created after it was asked
 * for); a first spec that failed is not taken as good by the next agent; an update whose old
 * pod stops slower than the window is watched from its new sandbox; a create error blames the
 * first new image not created; a tag retried after a rollback is watched from the retry.
 *
 * @module
 */
import assert from "node:assert/strict";
import { CriError } from "../lib/runtime/errors.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import type { Reconciler } from "../lib/reconcile/reconciler.ts";
import { goodV1 as goodSpec, lastArgs, rollbackState, web } from "../testing/rollback_fixtures.ts";
import {
  actionTypes as types,
  APP,
  autoWeb,
  checkAndPass,
  crashed,
  createdImages,
  goodV1,
  ignoringTerm,
  INTERVAL,
  repoDigestOf,
  restartedAgent,
  runningOf,
  SIDE,
  theApp,
  updated,
  type UpdateFixture,
  updateFixture,
} from "../testing/rollback_update_fixtures.ts";

/** Wall time on the fixtures' hand clock, which starts at 2026-11-27 12:00:00 UTC. */
const at = (minute: number, second: number) => Date.UTC(2026, 10, 27, 12, minute, second);
const BOOM = "failed to create containerd container: boom";
const CREATE_FAILED = `a container could not be created (CreateContainerError): ${BOOM}`;
const EXITED = 'container "app" exited with code 1 (Error)';
/** The log line of a watch that found its spec or images first after their window. */
const ADOPTED = "never watched, first seen after its rollback window ended: taken as good";

/** The next CreateContainer call fails as containerd's does. */
function createFails(s: UpdateFixture): void {
  s.cri.inject("CreateContainer", { error: new CriError("Other", "CreateContainer", BOOM) });
}

/** `n` seconds, a pass of `agent` after each. */
async function seconds(
  s: UpdateFixture,
  n: number,
  agent: Reconciler = s.reconciler,
): Promise<void> {
  for (let i = 0; i < n; i++) {
    await s.clock.advance(1_000);
    await agent.pass();
  }
}

/** The newest sandbox of pod web: when it was created (epoch ms), and its spec hash. */
async function newestSandbox(s: UpdateFixture): Promise<{ createdMs: number; hash: string }> {
  const list = (await s.cri.listPodSandbox()).filter((x) => x.metadata.name === "web");
  const sandbox = list.sort((a, b) => a.createdAt - b.createdAt).at(-1);
  assert.ok(sandbox, "pod web has a sandbox");
  const hash = sandbox.annotations[KEYS.specHash];
  assert.ok(hash);
  return { createdMs: sandbox.createdAt / 1e6, hash };
}

Deno.test("a new spec whose agent was killed after its sandbox started late is judged by the next agent after its window, and rolled back", async () => {
  await using s = await updateFixture();
  await goodSpec(s);
  const good = (await rollbackState(s))?.lastGood?.hash;
  assert.ok(good);
  await s.write("web.yaml", web("v2"));
  // The sandbox takes 3 s to start: the window runs from its start, not from the plan.
  s.beforeCall = async (method) => {
    if (method === "runPodSandbox") await s.clock.advance(3_000);
  };
  assert.deepEqual(types(await s.reconciler.pass()), ["deletePod", "createPod"]);
  delete s.beforeCall;
  assert.equal(lastArgs(s), "v2");
  const v2 = await newestSandbox(s);
  assert.notEqual(v2.hash, good);
  assert.equal(v2.createdMs, at(0, 14));
  // The pass that planned v2 watches it, from then.
  assert.deepEqual((await rollbackState(s))?.watching, {
    hash: v2.hash,
    startedAt: at(0, 11),
    windowMs: 10_000,
  });
  // The agent is killed; v2 crashes 2 s into its window; a new agent starts after it ended.
  await s.reconciler.stop();
  await s.clock.advance(2_000);
  s.cri.exitContainer((await theApp(s)).id, 1, "Error");
  await s.clock.advance(10_000);
  const again = restartedAgent(s);
  try {
    await again.pass();
    assert.deepEqual(types(await again.pass()), ["deletePod", "createPod"]);
    assert.equal(lastArgs(s), "v1");
    assert.equal(again.events("default/web").filter((e) => e.reason === "RolledBack").length, 1);
  } finally {
    await again.stop();
  }
  const st = await rollbackState(s);
  assert.deepEqual(st?.rolledBack, {
    hash: v2.hash,
    cause: EXITED,
    at: "2026-11-27T12:00:26.000Z",
    from: good,
  });
  assert.equal(st?.lastGood?.hash, good);
  assert.equal(s.lines.some((l) => l.includes(ADOPTED)), false);
});

Deno.test("an update whose agent was killed after its container was created is judged by the next agent after its window, and rolled back to v1 pinned", async () => {
  await using s = await updateFixture();
  const v1 = await goodV1(s);
  const ref1 = await repoDigestOf(s, v1);
  const v2 = s.cri.pushToRegistry(APP);
  await s.clock.advance(INTERVAL);
  // The check asks for the update: watched from then, before its sandbox exists.
  await s.reconciler.pass();
  await s.reconciler.imageChecksSettled();
  assert.deepEqual((await rollbackState(s))?.watching?.images, { app: v2 });
  assert.equal((await rollbackState(s))?.watching?.startedAt, at(1, 11));
  // The old container takes its grace period (1 s) to stop: the new one starts a second later.
  ignoringTerm(s);
  assert.deepEqual(types(await s.reconciler.pass()), ["deletePod", "createPod"]);
  delete s.beforeCall;
  const app2 = await theApp(s);
  assert.equal(app2.imageRef, v2);
  assert.equal(app2.createdAt / 1e6, at(1, 12));
  await s.reconciler.stop();
  await s.clock.advance(2_000);
  s.cri.exitContainer(app2.id, 1, "Error");
  await s.clock.advance(10_000); // its window ended at 12:01:22
  const again = restartedAgent(s);
  try {
    // The pass that judges it may restart the container still; the next runs v1 again.
    const r = await checkAndPass(again);
    assert.deepEqual(types(r).slice(-2), ["deletePod", "createPod"]);
    assert.equal(again.events("default/web").filter((e) => e.reason === "RolledBack").length, 1);
  } finally {
    await again.stop();
  }
  const st = await rollbackState(s);
  assert.equal(st?.rolledBack?.cause, EXITED);
  assert.equal(st?.rolledBack?.at, "2026-11-27T12:01:24.000Z");
  assert.deepEqual(st?.rolledBack?.images, { app: { image: APP, id: v2 } });
  assert.deepEqual(st?.lastGood?.images, { app: { id: v1, ref: ref1 } });
  assert.equal(createdImages(s).at(-1), ref1);
  assert.equal((await theApp(s)).imageRef, v1);
  assert.equal(s.lines.some((l) => l.includes(ADOPTED)), false);
});

Deno.test("a first spec that failed within its window is not taken as good by the next agent; an edit is watched as usual", async () => {
  await using s = await updateFixture();
  await s.write("web.yaml", web("v1"));
  await s.reconciler.pass();
  const v1 = await newestSandbox(s);
  await s.clock.advance(2_000);
  s.cri.exitContainer((await theApp(s)).id, 1, "Error");
  await s.reconciler.pass();
  // It crash-loops: restarted after its back-off, it fails again.
  await seconds(s, 10);
  s.cri.exitContainer((await theApp(s)).id, 1, "Error");
  await seconds(s, 2);
  const failed = { hash: v1.hash, startedAt: at(0, 0), windowMs: 10_000, failed: true };
  let st = await rollbackState(s);
  assert.deepEqual(st?.watching, failed);
  assert.equal(st?.lastGood, undefined);
  const warned = "Pod default/web failed within its rollback window (container";
  assert.equal(s.lines.filter((l) => l.includes(warned)).length, 1);
  await s.reconciler.stop();
  await s.clock.advance(60_000);
  const again = restartedAgent(s);
  let v2 = v1;
  try {
    await seconds(s, 3, again);
    st = await rollbackState(s);
    assert.equal(st?.lastGood, undefined, JSON.stringify(st?.lastGood));
    assert.deepEqual(st?.watching, failed);
    assert.equal(s.lines.some((l) => l.includes("ran its rollback window")), false);
    assert.equal(s.lines.some((l) => l.includes(ADOPTED)), false);
    assert.equal(s.lines.filter((l) => l.includes(warned)).length, 1, "not judged again");
    // An edit is a new spec, watched from its start; it runs its window and is kept as good.
    await s.write("web.yaml", web("v2"));
    assert.deepEqual(types(await again.pass()), ["deletePod", "createPod"]);
    v2 = await newestSandbox(s);
    assert.notEqual(v2.hash, v1.hash);
    assert.deepEqual((await rollbackState(s))?.watching, {
      hash: v2.hash,
      startedAt: at(1, 17),
      windowMs: 10_000,
    });
    await seconds(s, 11, again);
  } finally {
    await again.stop();
  }
  st = await rollbackState(s);
  assert.equal(st?.lastGood?.hash, v2.hash);
  assert.equal(st?.watching, undefined);
  const kept = s.lines.filter((l) => l.includes("INFO  Pod default/web ran its rollback window"));
  assert.equal(kept.length, 1, kept.join("\n"));
});

Deno.test("an update whose old pod stops slower than its window, and whose container cannot be created, is rolled back to v1 pinned", async () => {
  await using s = await updateFixture();
  const v1 = await goodV1(s, { grace: 30 });
  const ref1 = await repoDigestOf(s, v1);
  const v2 = s.cri.pushToRegistry(APP);
  await s.clock.advance(INTERVAL);
  // The old container ignores SIGTERM: it stops when its 30 s grace period ends.
  ignoringTerm(s);
  createFails(s);
  assert.deepEqual(types(await checkAndPass(s.reconciler)), ["deletePod", "createPod"]);
  delete s.beforeCall;
  assert.equal((await newestSandbox(s)).createdMs, at(1, 41));
  assert.equal(createdImages(s).at(-1), APP, "the update's container was asked for");
  assert.deepEqual((await rollbackState(s))?.watching?.images, { app: v2 });
  await s.clock.advance(2_000);
  await s.reconciler.pass();
  assert.deepEqual(types(await s.reconciler.pass()), ["deletePod", "createPod"]);
  const st = await rollbackState(s);
  assert.equal(st?.rolledBack?.cause, CREATE_FAILED);
  assert.equal(st?.rolledBack?.at, "2026-11-27T12:01:43.000Z");
  assert.deepEqual(st?.rolledBack?.images, { app: { image: APP, id: v2 } });
  assert.deepEqual(st?.lastGood?.images, { app: { id: v1, ref: ref1 } });
  assert.equal(createdImages(s).at(-1), ref1);
  assert.equal((await theApp(s)).imageRef, v1);
});

Deno.test("of two containers updated at once, the first not created is the one held: the other's tag moving releases nothing", async () => {
  await using s = await updateFixture();
  const v1 = { side: s.cri.pushToRegistry(SIDE), app: s.cri.pushToRegistry(APP) };
  await s.write("web.yaml", autoWeb("v1", { side: "plain" }));
  await s.reconciler.pass();
  await seconds(s, 11);
  await checkAndPass(s.reconciler);
  const side2 = s.cri.pushToRegistry(SIDE);
  const app2 = s.cri.pushToRegistry(APP);
  await s.clock.advance(INTERVAL);
  // "side" is created; "app" is not.
  s.cri.inject("CreateContainer", {});
  createFails(s);
  assert.deepEqual(types(await checkAndPass(s.reconciler)), ["deletePod", "createPod"]);
  assert.deepEqual(createdImages(s).slice(-2), [SIDE, APP]);
  assert.equal((await runningOf(s, "side")).imageRef, side2);
  await s.clock.advance(2_000);
  await s.reconciler.pass();
  assert.deepEqual(types(await s.reconciler.pass()), ["deletePod", "createPod"]);
  let st = await rollbackState(s);
  assert.equal(st?.rolledBack?.cause, CREATE_FAILED);
  assert.deepEqual(st?.rolledBack?.images, { app: { image: APP, id: app2 } });
  const pinned = [await repoDigestOf(s, v1.side), await repoDigestOf(s, v1.app)];
  assert.deepEqual(createdImages(s).slice(-2), pinned);
  const creates = createdImages(s).length;
  s.cri.pushToRegistry(SIDE);
  await s.clock.advance(INTERVAL);
  assert.deepEqual(types(await checkAndPass(s.reconciler)), []);
  assert.equal(createdImages(s).length, creates, "side's tag moving alone tries nothing");
  st = await rollbackState(s);
  assert.deepEqual(st?.rolledBack?.images, { app: { image: APP, id: app2 } });
  assert.equal((await runningOf(s, "side")).imageRef, v1.side);
  assert.equal((await runningOf(s, "app")).imageRef, v1.app);
});

Deno.test("a tag retried after a rollback whose container cannot be created is rolled back again", async () => {
  await using s = await updateFixture();
  const v1 = await goodV1(s);
  const ref1 = await repoDigestOf(s, v1);
  const v2 = await updated(s);
  await crashed(s);
  assert.deepEqual((await rollbackState(s))?.rolledBack?.images, { app: { image: APP, id: v2 } });
  assert.equal((await theApp(s)).imageRef, v1);
  const v3 = s.cri.pushToRegistry(APP);
  await s.clock.advance(INTERVAL);
  createFails(s);
  // The check finds the tag on v3: the declared spec runs again, watched from the retry.
  assert.deepEqual(types(await checkAndPass(s.reconciler)), ["deletePod", "createPod"]);
  assert.equal(createdImages(s).at(-1), APP, "the retry's container was asked for");
  let st = await rollbackState(s);
  assert.equal(st?.rolledBack, undefined);
  assert.deepEqual(st?.watching?.images, { app: v3 });
  assert.equal(st?.watching?.startedAt, at(2, 13));
  assert.equal(
    s.reconciler.events("default/web").filter((e) => e.reason === "ImageRetry").length,
    1,
  );
  await s.clock.advance(2_000);
  await s.reconciler.pass();
  assert.deepEqual(types(await s.reconciler.pass()), ["deletePod", "createPod"]);
  st = await rollbackState(s);
  assert.equal(st?.rolledBack?.cause, CREATE_FAILED);
  assert.equal(st?.rolledBack?.at, "2026-11-27T12:02:15.000Z");
  assert.deepEqual(st?.rolledBack?.images, { app: { image: APP, id: v3 } });
  assert.equal(createdImages(s).at(-1), ref1);
  assert.equal((await theApp(s)).imageRef, v1);
  assert.equal(
    s.reconciler.events("default/web").filter((e) => e.reason === "RolledBack").length,
    2,
  );
});
