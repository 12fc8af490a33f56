/**
 * Planned kills on the fake runtime, through the reconciler: a kill whose stop failed backs
 * off on its own, a kill that succeeded leaves its pod's failure backoff and error as they
 * are, a kill runs while its pod's flight is busy, and a kill is planned for a container of
 * a pod that is kept without being desired.
 */
import assert from "node:assert/strict";
import { CriError } from "../lib/runtime/errors.ts";
import type { FakeCri } from "../testing/fake_cri.ts";
import { FIXTURE_IMAGE, reconcilerFixture } from "../testing/reconciler_fixture.ts";
import { waitFor } from "../testing/wait.ts";

/** The failure backoff the tests give the reconciler: 10 s first. */
const BACKOFF = { initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 };

/** An image that neither the fake runtime nor its registry has. */
const MISSING_IMAGE = "docker.io/library/missing:1.0";

/** Pod web: container app, whose postStart hook fails, then `more`. */
function hookFails(more = ""): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
    - name: app
      image: ${FIXTURE_IMAGE}
      command: ["sleep", "3600"]
      lifecycle:
        postStart:
          exec: {command: ["false"]}
${more}`;
}

/** A second container whose image must be pulled. */
const SIDE = `    - name: side
      image: ${MISSING_IMAGE}
      command: ["sleep", "3600"]
`;

/** The containers the runtime has, as `name attempt state`, sorted. */
async function containers(cri: FakeCri): Promise<string[]> {
  return (await cri.listContainers())
    .map((c) => `${c.metadata.name} ${c.metadata.attempt} ${c.state}`)
    .sort();
}

function callsOf(cri: FakeCri, method: string): number {
  return cri.methods().filter((m) => m === method).length;
}

Deno.test("a kill whose stop failed is not tried again until its own backoff ends", async () => {
  await using s = await reconcilerFixture({ failureBackoff: BACKOFF });
  await s.write("web.yaml", hookFails());
  const created = await s.reconciler.pass();
  assert.deepEqual(created.results.map((r) => r.error?.message), [undefined]);
  s.cri.inject("StopContainer", {
    error: new CriError("Unavailable", "StopContainer", "runtime busy"),
  });
  const failed = await s.reconciler.pass();
  assert.deepEqual(failed.actions.map((a) => a.type), ["killContainer"]);
  assert.match(failed.results[0]?.error?.message ?? "", /runtime busy/);
  assert.equal(callsOf(s.cri, "StopContainer"), 1);
  const failedAt = s.clock.epochMs();
  assert.equal(failed.wakeAt, failedAt + 10_000, "the pass wakes when the kill's backoff ends");

  // Time stands still: the kill is held, not tried again at once.
  const held = await s.reconciler.pass();
  assert.deepEqual(held.actions, []);
  assert.equal(callsOf(s.cri, "StopContainer"), 1, "no StopContainer while the kill backs off");
  assert.equal(held.wakeAt, failedAt + 10_000);
  assert.deepEqual(await containers(s.cri), ["app 0 CONTAINER_RUNNING"]);
  assert.equal(
    s.lines.filter((l) => l.includes("Failed to kill container app of pod default/web")).length,
    1,
  );

  await s.clock.advance(10_000);
  const retried = await s.reconciler.pass();
  assert.deepEqual(retried.actions.map((a) => a.type), ["killContainer"]);
  assert.deepEqual(retried.results.map((r) => r.error?.message), [undefined]);
  assert.equal(callsOf(s.cri, "StopContainer"), 2);
  assert.deepEqual(await containers(s.cri), ["app 0 CONTAINER_EXITED"]);
});

Deno.test("a kill that succeeded leaves its pod's failure backoff and error as they were", async () => {
  await using s = await reconcilerFixture({ failureBackoff: BACKOFF });
  // app starts and its hook fails (a kill is asked for); side's pull fails: the pod backs off.
  await s.write("web.yaml", hookFails(SIDE));
  const first = await s.reconciler.pass();
  assert.match(first.results[0]?.error?.message ?? "", /missing/);
  const pulls = callsOf(s.cri, "PullImage");
  assert.equal(pulls, 1);
  const killed = await s.reconciler.pass();
  assert.deepEqual(killed.actions.map((a) => a.type), ["killContainer"]);
  assert.deepEqual(killed.results.map((r) => r.error?.message), [undefined]);
  assert.match(killed.pods[0]?.lastError ?? "", /missing/, "the pod's error stays");
  // Still within the pod's backoff: side's start is not tried again.
  const after = await s.reconciler.pass();
  assert.deepEqual(after.actions, []);
  assert.equal(callsOf(s.cri, "PullImage"), pulls, "no pull while the pod backs off");
  assert.match(after.pods[0]?.lastError ?? "", /missing/);
});

Deno.test("a kill runs while its pod's flight waits on a pull", async () => {
  await using s = await reconcilerFixture({ failureBackoff: BACKOFF });
  // The pull of side hangs until the pass's signal aborts: the pod's flight stays busy.
  s.cri.inject("PullImage", { hang: true });
  await s.write("web.yaml", hookFails(SIDE));
  const stop = new AbortController();
  try {
    await s.reconciler.pass(stop.signal, { detach: true });
    await waitFor("the pull of side to hang", () => s.cri.waits.length === 1);
    assert.deepEqual(await containers(s.cri), ["app 0 CONTAINER_RUNNING"]);
    const r = await s.reconciler.pass();
    assert.deepEqual(r.actions.map((a) => [a.type, a.key]), [["killContainer", "default/web"]]);
    assert.deepEqual(r.results.map((x) => x.error?.message), [undefined]);
    assert.deepEqual(await containers(s.cri), ["app 0 CONTAINER_EXITED"]);
    assert.equal(s.cri.waits[0]?.ended, undefined, "the pod's flight is still waiting");
  } finally {
    stop.abort();
    await waitFor("the pull to be cancelled", () => s.cri.waits[0]?.ended === "cancelled");
    await s.clock.settle();
  }
});

Deno.test("a container asked to be killed is killed while its pod is not desired: the manifest directory is gone", async () => {
  await using s = await reconcilerFixture({ failureBackoff: BACKOFF });
  await s.write("web.yaml", hookFails());
  const created = await s.reconciler.pass();
  assert.deepEqual(created.results.map((r) => r.error?.message), [undefined]);
  // The directory goes: no pod is desired, and the running ones are kept.
  await Deno.remove(s.manifests, { recursive: true });
  const r = await s.reconciler.pass();
  assert.deepEqual(
    r.actions.map((a) => [a.type, a.type === "killContainer" ? a.reason : ""]),
    [["killContainer", "FailedPostStartHook"]],
  );
  assert.deepEqual(r.results.map((x) => x.error?.message), [undefined]);
  assert.deepEqual(await containers(s.cri), ["app 0 CONTAINER_EXITED"]);
  assert.equal((await s.cri.listPodSandbox()).length, 1, "the pod itself is kept");
});
