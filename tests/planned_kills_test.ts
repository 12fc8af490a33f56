/**
 * Kills from end to end on the fake runtime: a failed liveness probe or postStart hook is
 * recorded, the next pass plans a `killContainer` action with kubelet's reason, the executor
 * stops the container, and the restart policy starts it again.
 */
import assert from "node:assert/strict";
import { FIXTURE_IMAGE, reconcilerFixture } from "../testing/reconciler_fixture.ts";
import { waitFor } from "../testing/wait.ts";
import type { Action } from "../lib/reconcile/plan.ts";
import type { FakeCri } from "../testing/fake_cri.ts";
import { holdSandbox } from "../testing/held_sandbox.ts";

function podWith(container: string): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
    - name: app
      image: ${FIXTURE_IMAGE}
      command: ["sleep", "3600"]
${container}`;
}

const LIVENESS = podWith(`      livenessProbe:
        exec: {command: ["false"]}
        periodSeconds: 1
        failureThreshold: 1
`);

const POST_START = podWith(`      lifecycle:
        postStart:
          exec: {command: ["false"]}
`);

/** The state of each instance of container app, by attempt. */
async function instances(cri: FakeCri): Promise<string[]> {
  return (await cri.listContainers())
    .sort((a, b) => a.metadata.attempt - b.metadata.attempt)
    .map((c) => `${c.metadata.attempt} ${c.state}`);
}

Deno.test("a failed liveness probe becomes a planned kill with reason LivenessProbe, and the container restarts", async () => {
  await using s = await reconcilerFixture();
  await s.write("web.yaml", LIVENESS);
  await s.reconciler.pass();
  assert.deepEqual(await instances(s.cri), ["0 CONTAINER_RUNNING"]);
  // The probes start once a pass sees the container running; the probe's first run is due at
  // once on the agent's clock, and fails.
  const kill = await waitFor("a pass that kills the container", async () => {
    await s.clock.advance(0);
    const r = await s.reconciler.pass();
    assert.deepEqual(r.results.map((x) => x.error?.message), r.results.map(() => undefined));
    return r.actions.find((a): a is Extract<Action, { type: "killContainer" }> =>
      a.type === "killContainer"
    );
  });
  assert.equal(kill.reason, "LivenessProbe");
  assert.equal(kill.key, "default/web");
  assert.equal(kill.container, "app");
  assert.match(kill.message, /^Container app failed its liveness probe 1 times in a row/);
  assert.deepEqual(await instances(s.cri), ["0 CONTAINER_EXITED"]);
  assert.deepEqual(
    s.reconciler.events("default/web").filter((e) =>
      e.reason === "Unhealthy" || e.reason === "Killing"
    )
      .map((e) => [e.type, e.reason, e.message]),
    [["Warning", "Unhealthy", kill.message], ["Normal", "Killing", "Stopped container app"]],
  );
  // The restart policy (Always) restarts it after the crash-loop backoff's first 10 s.
  await s.clock.advance(10_000);
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => a.type), ["startContainers"]);
  assert.deepEqual(await instances(s.cri), ["0 CONTAINER_EXITED", "1 CONTAINER_RUNNING"]);
});

Deno.test("a failed postStart hook becomes a planned kill with reason FailedPostStartHook, and the container restarts", async () => {
  await using s = await reconcilerFixture();
  await s.write("web.yaml", POST_START);
  const first = await s.reconciler.pass();
  assert.deepEqual(first.actions.map((a) => a.type), ["createPod"]);
  assert.deepEqual(first.results.map((x) => x.error?.message), [undefined]);
  // The hook failed: the container runs until the next pass kills it.
  assert.deepEqual(await instances(s.cri), ["0 CONTAINER_RUNNING"]);
  const second = await s.reconciler.pass();
  assert.deepEqual(
    second.actions.map((a) => [a.type, a.type === "killContainer" ? a.reason : ""]),
    [["killContainer", "FailedPostStartHook"]],
  );
  assert.deepEqual(second.results.map((x) => x.error?.message), [undefined]);
  assert.deepEqual(await instances(s.cri), ["0 CONTAINER_EXITED"]);
  assert.deepEqual(
    s.reconciler.events("default/web").filter((e) => e.type === "Warning").map((e) => e.reason),
    ["FailedPostStartHook"],
  );
  // Nothing more to kill; the restart waits for the crash-loop backoff.
  assert.deepEqual((await s.reconciler.pass()).actions, []);
  await s.clock.advance(10_000);
  const r = await s.reconciler.pass();
  assert.deepEqual(r.actions.map((a) => a.type), ["startContainers"]);
  assert.deepEqual(await instances(s.cri), ["0 CONTAINER_EXITED", "1 CONTAINER_RUNNING"]);
});

Deno.test("a failed postStart hook wakes the loop: its kill runs while another pod's flight still runs", async () => {
  // slow's sandbox is not made until the test ends, so its flight runs all along, and web's
  // flight, ending while it runs, asks for its pass only later (1 s on a clock that stands
  // still): only the kill request's own wake-up brings the pass that kills web's container.
  let slow: ReturnType<typeof holdSandbox> | undefined;
  await using s = await reconcilerFixture({
    cri: (_dir, fake) => (slow = holdSandbox(fake, "slow")).cri,
  });
  await s.write("slow.yaml", podWith("").replace("{name: web}", "{name: slow}"));
  await s.write("web.yaml", POST_START);
  const controller = new AbortController();
  const loop = s.reconciler.run(controller.signal);
  try {
    await waitFor("web's container killed", () => s.cri.methods().includes("StopContainer"), {
      timeoutMs: 5_000,
    });
    assert.equal(s.clock.now(), 0, "no time passed");
    assert.ok(
      s.lines.some((l) => l.includes("PostStart hook of container app")),
      s.lines.join("\n"),
    );
    assert.deepEqual(await instances(s.cri), ["0 CONTAINER_EXITED"], "web's container, killed");
  } finally {
    controller.abort();
    slow?.release();
    await loop;
  }
});
