/**
 * The pass's failure backoff on the fake runtime, through the reconciler: a planned kill is
 * carried out while its pod backs off, and a left-over container whose removal failed backs
 * off while the removal stays planned.
 */
import assert from "node:assert/strict";
import type {
  CallOptions,
  PodSandbox,
  PodSandboxFilter,
  PodSandboxStatus,
} from "../lib/runtime/cri.ts";
import { CriError } from "../lib/runtime/errors.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { FIXTURE_IMAGE, reconcilerFixture } from "../testing/reconciler_fixture.ts";

/** The failure backoff the tests give the reconciler: 10 s first. */
const BACKOFF = { initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 };

/** An image that neither the fake runtime nor its registry has: its pull fails. */
const MISSING_IMAGE = "docker.io/library/missing:1.0";

/** The containers the runtime has, as `name attempt state`, sorted. */
async function containers(cri: FakeCri): Promise<string[]> {
  return (await cri.listContainers())
    .map((c) => `${c.metadata.name} ${c.metadata.attempt} ${c.state}`)
    .sort();
}

function callsOf(cri: FakeCri, method: string): number {
  return cri.methods().filter((m) => m === method).length;
}

Deno.test("a kill planned for a pod that backs off after a failed action is carried out in the next pass", async () => {
  await using s = await reconcilerFixture({ failureBackoff: BACKOFF });
  // app starts and its postStart hook fails (a kill is asked for); side's image cannot be
  // pulled, so the pod's creation fails and the pod backs off.
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
      lifecycle:
        postStart:
          exec: {command: ["false"]}
    - name: side
      image: ${MISSING_IMAGE}
      command: ["sleep", "3600"]
`,
  );
  const first = await s.reconciler.pass();
  assert.deepEqual(first.actions.map((a) => a.type), ["createPod"]);
  assert.equal(first.results.length, 1);
  assert.match(first.results[0]?.error?.message ?? "", /missing/);
  assert.deepEqual(await containers(s.cri), ["app 0 CONTAINER_RUNNING"]);
  // Time stands still: the pod is within its backoff.
  const second = await s.reconciler.pass();
  assert.deepEqual(
    second.actions.map((a) => [a.type, a.type === "killContainer" ? a.reason : ""]),
    [["killContainer", "FailedPostStartHook"]],
    "the kill runs now; the start of side waits for the backoff",
  );
  assert.deepEqual(second.results.map((r) => r.error?.message), [undefined]);
  assert.deepEqual(await containers(s.cri), ["app 0 CONTAINER_EXITED"]);
});

/** A runtime that can lose a sandbox: no longer listed, NotFound when asked about. */
class LosingCri extends FakeCri {
  readonly #lost = new Set<string>();

  /** The runtime forgets sandbox `id` but keeps its containers. */
  lose(id: string): void {
    this.#lost.add(id);
  }

  override async listPodSandbox(
    filter?: PodSandboxFilter,
    opts?: CallOptions,
  ): Promise<PodSandbox[]> {
    return (await super.listPodSandbox(filter, opts)).filter((p) => !this.#lost.has(p.id));
  }

  override async podSandboxStatus(id: string, opts?: CallOptions): Promise<PodSandboxStatus> {
    const status = await super.podSandboxStatus(id, opts);
    if (this.#lost.has(id)) {
      throw new CriError("NotFound", "PodSandboxStatus", `sandbox "${id}" not found`);
    }
    return status;
  }
}

Deno.test("a left-over container whose removal failed is not removed again until its backoff ends", async () => {
  let cri: LosingCri | undefined;
  await using s = await reconcilerFixture({
    failureBackoff: BACKOFF,
    fake: (clock) => {
      cri = new LosingCri({ images: [FIXTURE_IMAGE], now: () => clock.epochMs() });
      return cri;
    },
  });
  assert.ok(cri);
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
`,
  );
  const created = await s.reconciler.pass();
  assert.deepEqual(created.results.map((r) => r.error?.message), [undefined]);
  // The pod is no longer declared and the runtime lost its sandbox: its container is left over.
  await Deno.remove(`${s.manifests}/web.yaml`);
  const [sandbox] = await cri.listPodSandbox();
  const [app] = await cri.listContainers();
  assert.ok(sandbox && app);
  cri.lose(sandbox.id);
  cri.inject("RemoveContainer", {
    error: new CriError("Unavailable", "RemoveContainer", "runtime busy"),
  });
  const failed = await s.reconciler.pass();
  assert.deepEqual(failed.actions.map((a) => [a.type, a.key]), [
    ["removeOrphan", `orphan/${app.id}`],
  ]);
  assert.match(failed.results[0]?.error?.message ?? "", /runtime busy/);
  assert.equal(callsOf(cri, "RemoveContainer"), 1);
  assert.deepEqual(await containers(cri), ["app 0 CONTAINER_RUNNING"]);
  const failedAt = s.clock.epochMs();

  // Within the backoff (time stands still), the removal is not tried again.
  const held = await s.reconciler.pass();
  assert.equal(callsOf(cri, "RemoveContainer"), 1, "no RemoveContainer while backing off");
  assert.deepEqual(held.actions, []);
  assert.deepEqual(await containers(cri), ["app 0 CONTAINER_RUNNING"]);
  assert.equal(held.wakeAt, failedAt + 10_000, "the pass wakes when the backoff ends");

  // Once the backoff ends, the removal is tried again, and succeeds.
  await s.clock.advance(10_000);
  const retried = await s.reconciler.pass();
  assert.deepEqual(retried.actions.map((a) => [a.type, a.key]), [
    ["removeOrphan", `orphan/${app.id}`],
  ]);
  assert.deepEqual(retried.results.map((r) => r.error?.message), [undefined]);
  assert.equal(callsOf(cri, "RemoveContainer"), 2);
  assert.deepEqual(await containers(cri), []);
  assert.equal(s.lines.filter((l) => l.includes("Removed left-over container")).length, 1);
});

Deno.test("a left-over container whose removal backs off does not hold a pod of the same name", async () => {
  let cri: LosingCri | undefined;
  await using s = await reconcilerFixture({
    failureBackoff: BACKOFF,
    fake: (clock) => {
      cri = new LosingCri({ images: [FIXTURE_IMAGE], now: () => clock.epochMs() });
      return cri;
    },
  });
  assert.ok(cri);
  const pod = `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
    - name: app
      image: ${FIXTURE_IMAGE}
      command: ["sleep", "3600"]
`;
  await s.write("web.yaml", pod);
  await s.reconciler.pass();
  const [sandbox] = await cri.listPodSandbox();
  const [app] = await cri.listContainers();
  assert.ok(sandbox && app);
  // The pod is no longer declared and the runtime lost its sandbox; the removal of its
  // container fails and backs off.
  await Deno.remove(`${s.manifests}/web.yaml`);
  cri.lose(sandbox.id);
  cri.inject("RemoveContainer", {
    error: new CriError("Unavailable", "RemoveContainer", "runtime busy"),
  });
  const failed = await s.reconciler.pass();
  assert.deepEqual(failed.actions.map((a) => [a.type, a.key]), [
    ["removeOrphan", `orphan/${app.id}`],
  ]);
  assert.match(failed.results[0]?.error?.message ?? "", /runtime busy/);
  // A pod of the same name is declared again: its creation is not held by the removal's
  // backoff, which is held alone.
  await s.write("web.yaml", pod.replace("3600", "7200"));
  const declared = await s.reconciler.pass();
  assert.deepEqual(declared.actions.map((a) => [a.type, a.key]), [["createPod", "default/web"]]);
  assert.equal(callsOf(cri, "RemoveContainer"), 1, "the removal still backs off");
});
