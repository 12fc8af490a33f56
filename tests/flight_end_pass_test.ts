/**
 * The pass a flight's end asks for, on the fake runtime with the loop running on a hand clock
 * that stands still: a pod's next step that only a pass can start (its next init container,
 * once the previous one exited) is asked for at once, not after QUEUED_PASS_DELAY_MS, even while
 * other pods' flights still run.
 */
import assert from "node:assert/strict";
import { holdSandbox } from "../testing/held_sandbox.ts";
import { FIXTURE_IMAGE, reconcilerFixture } from "../testing/reconciler_fixture.ts";
import { waitFor } from "../testing/wait.ts";

/** A pod in the full form, named `name`, with `spec` under its `spec:`. */
function pod(name: string, spec: string): string {
  return `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n${spec}`;
}

/** Pod `a-slow`, whose sandbox the test makes slow to start. */
const SLOW = pod(
  "a-slow",
  `  containers:
    - name: slow
      image: ${FIXTURE_IMAGE}
      command: ["sh", "-c", "sleep 3600"]
`,
);

/** Pod `b-chain`: two init containers that exit at once, then its regular container. */
const CHAIN = pod(
  "b-chain",
  `  initContainers:
    - name: one
      image: ${FIXTURE_IMAGE}
      command: ["sh", "-c", "exit 0"]
    - name: two
      image: ${FIXTURE_IMAGE}
      command: ["sh", "-c", "exit 0"]
  containers:
    - name: after
      image: ${FIXTURE_IMAGE}
      command: ["sh", "-c", "sleep 3600"]
`,
);

Deno.test("a pod's next init container starts as soon as the previous one exits, while another pod's flight still runs", async () => {
  // a-slow's sandbox is not made until the test ends: its flight runs all along. The clock
  // never moves, so a pass asked for later (QUEUED_PASS_DELAY_MS on the clock) never comes,
  // and neither does the loop's tick: only a pass asked for at once starts init container two.
  let held: ReturnType<typeof holdSandbox> | undefined;
  await using f = await reconcilerFixture({
    intervalMs: 60_000,
    cri: (_dir, fake) => (held = holdSandbox(fake, "a-slow")).cri,
  });
  await f.write("pods.yaml", `${SLOW}---\n${CHAIN}`);
  const created = async () => (await f.cri.listContainers()).map((c) => c.metadata.name).sort();
  const controller = new AbortController();
  const loop = f.reconciler.run(controller.signal);
  try {
    await waitFor("b-chain's regular container", async () => (await created()).includes("after"), {
      timeoutMs: 5_000,
    });
    assert.deepEqual(await created(), ["after", "one", "two"]);
    assert.equal(f.clock.now(), 0, "no time passed");
    const slow = f.reconciler.pods.find((p) => p.name === "a-slow");
    assert.notEqual(slow?.phase, "Running", "a-slow was no longer starting");
  } finally {
    controller.abort();
    held?.release();
    await loop;
  }
});
