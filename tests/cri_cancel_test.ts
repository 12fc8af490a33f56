/**
 * Cancelling runtime calls through the real gRPC client, against the fake
 * served on a unix socket with calls that never answer: the client's own
 * signal (the agent's stop signal), a call's signal, and closing the client.
 * A call ended by cancellation rejects as Cancelled (a hang that ran out would be
 * DeadlineExceeded), and the fake records that its hang was cut by the cancel.
 */
import assert from "node:assert/strict";
import { CriError } from "../lib/runtime/errors.ts";
import { connectCri } from "../lib/runtime/grpc.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { serveCri } from "../testing/fake_cri_server.ts";
import { waitFor } from "../testing/wait.ts";

async function withHungRuntime(
  fn: (s: { fake: FakeCri; socket: string }) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-cancel-" });
  try {
    const fake = new FakeCri();
    fake.inject("ListPodSandbox", { hang: true, times: Infinity });
    await using server = await serveCri(fake, `${dir}/cri.sock`);
    await fn({ fake, socket: server.socketPath });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Awaits `p`, which must reject with a Cancelled CriError. */
async function cancelled(p: Promise<unknown>) {
  await assert.rejects(p, (err) => {
    assert.ok(err instanceof CriError, `not a CriError: ${err}`);
    assert.equal(err.kind, "Cancelled", err.message);
    return true;
  });
}

/**
 * Waits, polling with a deadline, until the fake's one hang has ended, and asserts that the
 * cancel ended it: not its deadline (the client's default, far off), not an answer.
 */
async function hangCutByCancel(fake: FakeCri) {
  const ended = await waitFor("the fake's hang to end", () => fake.waits[0]?.ended);
  assert.equal(ended, "cancelled");
  assert.equal(fake.waits.length, 1, "one call hung");
}

Deno.test("the client's signal cancels the calls in flight and refuses later ones", async () => {
  await withHungRuntime(async ({ fake, socket }) => {
    const controller = new AbortController();
    using cri = connectCri(socket, { signal: controller.signal });
    const pending = cri.listPodSandbox();
    await waitFor("the call at the runtime", () => fake.methods().includes("ListPodSandbox"));
    controller.abort();
    await cancelled(pending);
    await hangCutByCancel(fake);
    const before = fake.calls.length;
    await cancelled(cri.version());
    assert.equal(fake.calls.length, before, "a call after the stop is not sent");
  });
});

Deno.test("a call's own signal cancels that call only", async () => {
  await withHungRuntime(async ({ fake, socket }) => {
    using cri = connectCri(socket);
    const controller = new AbortController();
    const pending = cri.listPodSandbox(undefined, { signal: controller.signal });
    await waitFor("the call at the runtime", () => fake.methods().includes("ListPodSandbox"));
    controller.abort();
    await cancelled(pending);
    await hangCutByCancel(fake);
    assert.equal((await cri.version()).runtimeName, "fake", "the client still works");
  });
});

Deno.test("closing the client cancels the calls in flight", async () => {
  await withHungRuntime(async ({ fake, socket }) => {
    const cri = connectCri(socket);
    const pending = cri.listPodSandbox();
    await waitFor("the call at the runtime", () => fake.methods().includes("ListPodSandbox"));
    cri.close();
    await cancelled(pending);
    await hangCutByCancel(fake);
  });
});

Deno.test("the fake honours cancellation: a hung call ends as Cancelled, an aborted signal is refused", async () => {
  const fake = new FakeCri();
  fake.inject("ListContainers", { hang: true });
  const controller = new AbortController();
  const pending = fake.listContainers(undefined, { signal: controller.signal });
  controller.abort();
  await cancelled(pending);
  assert.deepEqual(fake.waits.map((w) => [w.method, w.ended]), [["ListContainers", "cancelled"]]);
  await cancelled(fake.version({ signal: controller.signal }));
  assert.equal(fake.waits.length, 1, "the refused call waited on nothing");
});
