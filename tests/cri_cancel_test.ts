/**
 * Cancelling runtime calls through the real gRPC client, against the fake
 * served on a unix socket with calls that never answer: the client's own
 * signal (the agent's stop signal), a call's signal, and closing the client.
 */
import assert from "node:assert/strict";
import { CriError } from "../lib/runtime/errors.ts";
import { connectCri } from "../lib/runtime/grpc.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { serveCri } from "../testing/fake_cri_server.ts";
import { waitFor } from "../testing/wait.ts";

/** A call that should end at once ends within this. */
const AT_ONCE_MS = 1_000;

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

/** Awaits `p`, which must reject with a Cancelled CriError within {@linkcode AT_ONCE_MS}. */
async function cancelledAtOnce(p: Promise<unknown>, since: number) {
  await assert.rejects(p, (err) => {
    assert.ok(err instanceof CriError, `not a CriError: ${err}`);
    assert.equal(err.kind, "Cancelled", err.message);
    return true;
  });
  const ms = performance.now() - since;
  assert.ok(ms < AT_ONCE_MS, `cancelled after ${Math.round(ms)} ms`);
}

Deno.test("the client's signal cancels the calls in flight and refuses later ones", async () => {
  await withHungRuntime(async ({ fake, socket }) => {
    const controller = new AbortController();
    using cri = connectCri(socket, { signal: controller.signal });
    const pending = cri.listPodSandbox();
    await waitFor("the call at the runtime", () => fake.methods().includes("ListPodSandbox"));
    const t0 = performance.now();
    controller.abort();
    await cancelledAtOnce(pending, t0);
    const before = fake.calls.length;
    await cancelledAtOnce(cri.version(), performance.now());
    assert.equal(fake.calls.length, before, "a call after the stop is not sent");
  });
});

Deno.test("a call's own signal cancels that call only", async () => {
  await withHungRuntime(async ({ fake, socket }) => {
    using cri = connectCri(socket);
    const controller = new AbortController();
    const pending = cri.listPodSandbox(undefined, { signal: controller.signal });
    await waitFor("the call at the runtime", () => fake.methods().includes("ListPodSandbox"));
    const t0 = performance.now();
    controller.abort();
    await cancelledAtOnce(pending, t0);
    assert.equal((await cri.version()).runtimeName, "fake", "the client still works");
  });
});

Deno.test("closing the client cancels the calls in flight", async () => {
  await withHungRuntime(async ({ fake, socket }) => {
    const cri = connectCri(socket);
    const pending = cri.listPodSandbox();
    await waitFor("the call at the runtime", () => fake.methods().includes("ListPodSandbox"));
    const t0 = performance.now();
    cri.close();
    await cancelledAtOnce(pending, t0);
  });
});

Deno.test("the fake honours cancellation: a hung call ends as Cancelled, an aborted signal is refused", async () => {
  const fake = new FakeCri();
  fake.inject("ListContainers", { hang: true });
  const controller = new AbortController();
  const pending = fake.listContainers(undefined, { signal: controller.signal });
  controller.abort();
  await cancelledAtOnce(pending, performance.now());
  await cancelledAtOnce(fake.version({ signal: controller.signal }), performance.now());
});
