/**
 * A new agent (a restart) on the same runtime and directories while a running pod's
 * ConfigMap is gone: it never saw the ConfigMap, so it has no last translation of the pod to
 * keep; the pod must keep running all the same, its crashed containers restarted.
 *
 * @module
 */
import assert from "node:assert/strict";
import { reconcilerFixture } from "../testing/reconciler_fixture.ts";
import {
  cfgDoc,
  filesPod,
  restarted,
  sandboxes,
  view,
  webPod,
} from "../testing/config_fixtures.ts";

Deno.test("an agent started while a running pod's ConfigMap is gone keeps the pod", async () => {
  await using s = await reconcilerFixture();
  await s.write("cfg.yaml", cfgDoc("hello"));
  await s.write("web.yaml", webPod());
  await s.reconciler.pass();
  const before = await sandboxes(s);
  await Deno.remove(`${s.manifests}/cfg.yaml`);
  // A new agent on the same runtime and directories: it never saw the ConfigMap.
  const again = restarted(s);
  try {
    const r = await again.pass();
    assert.deepEqual(r.actions, []);
    assert.deepEqual(await sandboxes(s), before);
    assert.equal(
      view(r.pods, "web").lastError,
      'configmap "cfg" not found: the pod keeps running as it was',
    );
    // The ConfigMap comes back as it was: the pod is the one that runs.
    await s.write("cfg.yaml", cfgDoc("hello"));
    const back = await again.pass();
    assert.deepEqual(back.actions, []);
    assert.deepEqual(await sandboxes(s), before);
    assert.equal(view(back.pods, "web").lastError, null);
  } finally {
    await again.stop();
  }
});

Deno.test("after a restart, a pod whose volume's ConfigMap is gone still has its crashed container restarted", async () => {
  await using s = await reconcilerFixture();
  await s.write("cfg.yaml", cfgDoc("hello"));
  await s.write("files.yaml", filesPod());
  await s.reconciler.pass();
  await Deno.remove(`${s.manifests}/cfg.yaml`);
  const again = restarted(s);
  try {
    const first = await again.pass();
    assert.deepEqual(first.actions, []);
    assert.equal(view(first.pods, "files").status, "Running");
    const [container] = await s.cri.listContainers();
    assert.ok(container);
    s.cri.exitContainer(container.id, 1);
    // A pass sees the exit; the next, past the first restart's backoff, restarts it, as the
    // agent that saw the ConfigMap does (the files are still in the pod's volume).
    assert.deepEqual((await again.pass()).actions, []);
    await s.clock.advance(20_000);
    const r = await again.pass();
    assert.deepEqual(r.actions.map((a) => a.type), ["startContainers"]);
    assert.equal(view((await again.pass()).pods, "files").status, "Running");
  } finally {
    await again.stop();
  }
});
