/**
 * Rollback's edge cases on the fake runtime: an old spec's error never fails a new one, a
 * slow pull never makes a spec good, a container that cannot be created fails the window, a
 * replacement for a new env is not a restart, readiness unknown after a restart is not a
 * failure, an invalid file after a restart keeps the state, a hand-edited state stops nothing.
 *
 * @module
 */
import assert from "node:assert/strict";
import { reconcilerFixture } from "../testing/reconciler_fixture.ts";
import { restarted, view } from "../testing/config_fixtures.ts";
import { crashV2, goodV1, lastArgs, rollbackState, web } from "../testing/rollback_fixtures.ts";
import { RollbackStore } from "../lib/node/rollback_state.ts";
import { CriError } from "../lib/runtime/errors.ts";

const setup = () => reconcilerFixture({ prefix: "tinylet_rollback_cases_test_" });
const state = rollbackState;

Deno.test("a pull error of a rolled-back spec never fails the next edit", async () => {
  await using s = await setup();
  await goodV1(s);
  await s.write("web.yaml", web("v2", { image: "registry.example/app:2" }));
  await s.reconciler.pass(); // the pre-pull fails: v1 keeps running
  await s.reconciler.pass(); // rolled back
  assert.match((await state(s))?.rolledBack?.cause ?? "", /^image pull failed: /);
  await s.write("web.yaml", web("v3"));
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => a.type), ["deletePod", "createPod"]);
  assert.equal(lastArgs(s), "v3");
  for (let i = 0; i < 3; i++) assert.deepEqual((await s.reconciler.pass()).actions, []);
  assert.equal((await state(s))?.rolledBack, undefined);
  assert.equal(view((await s.reconciler.pass()).pods, "web").status, "Running");
});

Deno.test("a pull slower than the window that fails never makes its spec good", async () => {
  await using s = await setup();
  await goodV1(s);
  // The pull of v2 hangs past the window, then fails.
  s.cri.inject("PullImage", { delayMs: 15_000, times: 1 });
  await s.write("web.yaml", web("v2", { image: "registry.example/app:2" }));
  const pass = s.reconciler.pass();
  await s.clock.advance(16_000);
  await pass;
  await s.reconciler.pass();
  const st = await state(s);
  assert.notEqual(st?.lastGood?.pod && JSON.stringify(st.lastGood.pod).includes("app:2"), true);
  assert.match(st?.rolledBack?.cause ?? "", /^image pull failed: /);
});

Deno.test("a container that cannot be created within the window is rolled back", async () => {
  await using s = await setup();
  await goodV1(s);
  s.cri.inject("CreateContainer", {
    error: new CriError("Other", "CreateContainer", "failed to create containerd container: boom"),
    times: 1,
  });
  await s.write("web.yaml", web("v2"));
  await s.reconciler.pass();
  await s.reconciler.pass();
  assert.equal(
    (await state(s))?.rolledBack?.cause,
    "a container could not be created (CreateContainerError): failed to create containerd container: boom",
  );
});

Deno.test("a readiness probe not yet run after a restart is not a failure", async () => {
  await using s = await setup();
  const probe = `
      readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}`;
  // Probes run on the hand clock: it moves a second at a time.
  const step = async (agent = s.reconciler) => {
    await s.clock.advance(1_000);
    await agent.pass();
  };
  await s.write("web.yaml", web("v1", { extra: probe }));
  await s.reconciler.pass();
  for (let i = 0; i < 12; i++) await step();
  assert.ok((await state(s))?.lastGood, "v1 ran its window, ready");
  await s.write("web.yaml", web("v2", { extra: probe }));
  await s.reconciler.pass();
  for (let i = 0; i < 5; i++) await step();
  await s.reconciler.stop();
  await s.clock.advance(6_000);
  const again = restarted(s);
  try {
    await again.pass();
    assert.equal((await state(s))?.rolledBack, undefined, "not rolled back on unknown readiness");
    for (let i = 0; i < 4; i++) await step(again);
    const st = await state(s);
    assert.equal(st?.rolledBack, undefined);
    assert.deepEqual(
      (st?.lastGood?.pod as { spec: { containers: { args: string[] }[] } })
        ?.spec.containers[0]?.args,
      ["v2"],
    );
  } finally {
    await again.stop();
  }
});

Deno.test("an agent restarted while the pod's file is invalid keeps its rollback", async () => {
  await using s = await setup();
  await goodV1(s);
  await crashV2(s);
  await s.reconciler.stop();
  await s.write("web.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: [}\n");
  const again = restarted(s);
  try {
    await again.pass();
    assert.ok((await state(s))?.rolledBack, "the state is kept");
    await s.write("web.yaml", web("v2"));
    assert.deepEqual((await again.pass()).actions, []);
  } finally {
    await again.stop();
  }
});

Deno.test("a hand-edited state whose last good spec is not a pod stops nothing", async () => {
  await using s = await setup();
  await goodV1(s);
  await crashV2(s);
  const store = new RollbackStore(s.root);
  const st = await store.read("default/web");
  assert.ok(st?.lastGood && st.rolledBack);
  await store.write("default/web", { ...st, lastGood: { ...st.lastGood, pod: { kind: "Pod" } } });
  await s.reconciler.stop();
  const lines: string[] = [];
  const again = restarted(s, lines);
  try {
    const r = await again.pass();
    assert.equal(r.runtimeReachable, true);
    assert.equal(lines.some((l) => l.includes("Forgetting the last good spec")), true);
  } finally {
    await again.stop();
  }
});
