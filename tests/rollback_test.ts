/**
 * Rollback on the fake runtime with a hand-driven clock: a replacement that fails within its
 * window runs the last good spec again, is not retried until the file changes, survives a
 * restart; a failure after the window is an ordinary failure.
 *
 * @module
 */
import assert from "node:assert/strict";
import { reconcilerFixture } from "../testing/reconciler_fixture.ts";
import { restarted, view } from "../testing/config_fixtures.ts";
import { crashV2, goodV1, lastArgs, running, web } from "../testing/rollback_fixtures.ts";
import { RollbackStore } from "../lib/node/rollback_state.ts";
import { parseCommandLine } from "../lib/cmd/cli.ts";
import { readDeclaredPods } from "../lib/cmd/plan.ts";

Deno.test("a replacement that crashes within its window is rolled back, and stays so", async () => {
  await using s = await reconcilerFixture({ prefix: "tinylet_rollback_test_" });
  await goodV1(s);
  await s.write("web.yaml", web("v2"));
  const replaced = await s.reconciler.pass();
  assert.deepEqual(replaced.actions.map((a) => a.type), ["deletePod", "createPod"]);
  assert.equal(lastArgs(s), "v2");
  const [v2] = await running(s);
  assert.ok(v2);
  await s.clock.advance(2_000);
  s.cri.exitContainer(v2, 1, "Error");
  // The pass that sees the exit decides; the next runs v1 again.
  await s.reconciler.pass();
  const back = await s.reconciler.pass();
  assert.deepEqual(back.actions.map((a) => a.type), ["deletePod", "createPod"]);
  assert.equal(lastArgs(s), "v1");
  const after = await s.reconciler.pass();
  const v = view(after.pods, "web");
  assert.equal(v.status, "RolledBack");
  assert.equal(v.rolledBack?.cause, 'container "app" exited with code 1 (Error)');
  const events = s.reconciler.events("default/web").filter((e) => e.reason === "RolledBack");
  assert.equal(events.length, 1);
  // Another window and more: v2 is not tried again.
  const creates = s.cri.calls.filter((c) => c.method === "CreateContainer").length;
  for (let i = 0; i < 4; i++) {
    await s.clock.advance(5_000);
    assert.deepEqual((await s.reconciler.pass()).actions, []);
  }
  assert.equal(s.cri.calls.filter((c) => c.method === "CreateContainer").length, creates);
  // A restarted agent neither retries v2 nor forgets v1.
  const again = restarted(s);
  try {
    const r = await again.pass();
    assert.deepEqual(r.actions, []);
    assert.equal(view(r.pods, "web").status, "RolledBack");
    // The file changes: its new content runs.
    await s.write("web.yaml", web("v3"));
    const v3 = await again.pass();
    assert.deepEqual(v3.actions.map((a) => a.type), ["deletePod", "createPod"]);
    assert.equal(lastArgs(s), "v3");
  } finally {
    await again.stop();
  }
});

Deno.test("a failure just after the window is not rolled back", async () => {
  await using s = await reconcilerFixture({ prefix: "tinylet_rollback_test_" });
  await goodV1(s);
  await s.write("web.yaml", web("v2"));
  await s.reconciler.pass();
  const [v2] = await running(s);
  assert.ok(v2);
  await s.clock.advance(10_001);
  await s.reconciler.pass();
  s.cri.exitContainer(v2, 1, "Error");
  await s.reconciler.pass();
  await s.clock.advance(20_000);
  const r = await s.reconciler.pass();
  // An ordinary restart of v2, no rollback.
  assert.deepEqual(r.actions.map((a) => a.type), ["startContainers"]);
  assert.equal(lastArgs(s), "v2");
  const state = await new RollbackStore(s.root).read("default/web");
  assert.equal(state?.rolledBack, undefined);
  assert.notEqual(view(r.pods, "web").status, "RolledBack");
});

Deno.test("a first spec that fails has nothing to roll back to: it runs as declared", async () => {
  await using s = await reconcilerFixture({ prefix: "tinylet_rollback_test_" });
  await s.write("web.yaml", web("v1"));
  await s.reconciler.pass();
  const [v1] = await running(s);
  assert.ok(v1);
  s.cri.exitContainer(v1, 1, "Error");
  await s.reconciler.pass();
  await s.clock.advance(20_000);
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => a.type), ["startContainers"]);
  assert.equal(s.reconciler.events("default/web").some((e) => e.reason === "RolledBack"), false);
});

Deno.test("tinylet plan reads the agent's rollbacks: a rolled-back pod is kept on its last good spec", async () => {
  await using s = await reconcilerFixture({ prefix: "tinylet_rollback_test_" });
  await goodV1(s);
  await crashV2(s);
  const parsed = parseCommandLine(["plan", "--manifests", s.manifests, "--root", s.root], {
    cwd: "/",
    hostname: "node1",
  });
  assert.equal(parsed.command, "plan");
  const out: string[] = [];
  const desired = await readDeclaredPods(
    (parsed as { config: Parameters<typeof readDeclaredPods>[0] }).config,
    { out: (l: string) => out.push(l), err: () => {} } as Parameters<typeof readDeclaredPods>[1],
  );
  const d = desired.pods.get("default/web");
  assert.equal(d?.rolledBack?.cause, 'container "app" exited with code 1 (Error)');
  assert.deepEqual(d?.pod.spec.containers[0]?.args, ["v1"]);
});

Deno.test("a pod's rollback state goes with its file, also when the file went while the agent was down", async () => {
  await using s = await reconcilerFixture({ prefix: "tinylet_rollback_test_" });
  await goodV1(s);
  const store = new RollbackStore(s.root);
  assert.deepEqual(await store.list(), ["default/web"]);
  await s.reconciler.stop();
  await Deno.remove(`${s.manifests}/web.yaml`);
  const again = restarted(s);
  try {
    // The first pass removes the pod; its state goes once nothing of it runs.
    await again.pass();
    await again.pass();
    assert.deepEqual(await store.list(), []);
  } finally {
    await again.stop();
  }
});

Deno.test("turning the window off forgets a rollback: on again later, the declared spec runs", async () => {
  await using s = await reconcilerFixture({ prefix: "tinylet_rollback_test_" });
  await goodV1(s);
  await crashV2(s);
  assert.ok((await new RollbackStore(s.root).read("default/web"))?.rolledBack);
  await s.reconciler.stop();
  // The same spec, its annotation kept, under an agent whose --rollback-window is 0 and with
  // the annotation's window off: the rollback is forgotten.
  await s.write("web.yaml", web("v2").replace('"10s"', '"0"'));
  const off = restarted(s);
  try {
    await off.pass();
    assert.equal((await new RollbackStore(s.root).read("default/web"))?.rolledBack, undefined);
  } finally {
    await off.stop();
  }
});

Deno.test("when the last good spec fails too, nothing more is rolled back, and it is said once", async () => {
  await using s = await reconcilerFixture({ prefix: "tinylet_rollback_test_" });
  await goodV1(s);
  await crashV2(s);
  await s.reconciler.pass(); // v1 runs again
  const [v1] = await running(s);
  assert.ok(v1);
  assert.equal(lastArgs(s), "v1");
  s.cri.exitContainer(v1, 1, "Error");
  for (let i = 0; i < 3; i++) {
    await s.clock.advance(1_000);
    await s.reconciler.pass();
  }
  const reasons = s.reconciler.events("default/web").map((e) => e.reason);
  assert.equal(reasons.filter((r) => r === "RollbackFailed").length, 1, reasons.join(", "));
  assert.equal(reasons.filter((r) => r === "RolledBack").length, 1);
  const message = s.reconciler.events("default/web").find((e) => e.reason === "RollbackFailed");
  assert.equal(
    message?.message,
    `The last good spec of pod default/web fails too (container "app"): nothing more is rolled back; fix ${s.manifests}/web.yaml`,
  );
});
