import assert from "node:assert/strict";
import { connectCri, DEFAULT_TIMEOUT_MS } from "../lib/runtime/grpc.ts";
import { CriError, isNotFound } from "../lib/runtime/errors.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { serveCri } from "../testing/fake_cri_server.ts";
import { HandDrivenTime } from "../testing/hand_time.ts";
import { waitFor } from "../testing/wait.ts";

async function withServedFake(fn: (fake: FakeCri, socket: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-fake-" });
  try {
    const fake = new FakeCri();
    await using _server = await serveCri(fake, `${dir}/cri.sock`);
    await fn(fake, `${dir}/cri.sock`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a delay past the call's deadline is DeadlineExceeded, and the next call is not delayed", async () => {
  await withServedFake(async (fake, socket) => {
    using cri = connectCri(socket, { timeoutMs: 100 });
    fake.inject("ListPodSandbox", { delayMs: 3_000 });
    const err = await cri.listPodSandbox().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof CriError, String(err));
    assert.equal(err.kind, "DeadlineExceeded");
    assert.equal(err.method, "ListPodSandbox");
    // The deadline cut the delay: the fake's wait ended at the deadline or by the client's
    // cancel, never by running its 3 s out.
    const wait = await waitFor("the fake's delay to end", () => fake.waits[0]?.ended);
    assert.notEqual(wait, "elapsed");
    assert.ok(
      fake.waits[0]!.timeoutMs <= 100,
      `the fake waited up to ${fake.waits[0]!.timeoutMs} ms`,
    );
    // The next call is not delayed (a generous deadline: the machine may be busy).
    assert.deepEqual(await cri.listPodSandbox(undefined, { timeoutMs: 10_000 }), []);
  });
});

Deno.test("an injected error crosses gRPC with its kind and keeps the transport error as cause", async () => {
  await withServedFake(async (fake, socket) => {
    using cri = connectCri(socket);
    fake.inject("StopPodSandbox", {
      error: new CriError("NotFound", "StopPodSandbox", "gone"),
      times: 2,
    });
    for (let i = 0; i < 2; i++) {
      const err = await cri.stopPodSandbox("x").then(() => undefined, (e: unknown) => e);
      assert.ok(isNotFound(err));
      assert.ok(err instanceof CriError && err.cause instanceof Error);
      assert.equal((err.cause as { code?: number }).code, 5);
    }
    assert.deepEqual(fake.methods(), ["StopPodSandbox", "StopPodSandbox"]);
  });
});

Deno.test("every error kind of the fake reaches the real client over gRPC as the same kind", async () => {
  await withServedFake(async (fake, socket) => {
    using cri = connectCri(socket);
    const kinds = [
      "NotFound",
      "Unavailable",
      "DeadlineExceeded",
      "AlreadyExists",
      "Cancelled",
      "Unimplemented",
      "Other",
    ] as const;
    for (const kind of kinds) {
      fake.inject("RemoveContainer", { error: new CriError(kind, "RemoveContainer", "refused") });
      const err = await cri.removeContainer("c").then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof CriError, String(err));
      assert.equal(err.kind, kind);
    }
  });
});

Deno.test("an aborted signal cancels a call in flight", async () => {
  await withServedFake(async (fake, socket) => {
    using cri = connectCri(socket);
    fake.inject("Version", { hang: true });
    const controller = new AbortController();
    const p = cri.version({ signal: controller.signal });
    // Aborted once the call waits at the fake, not before it was sent.
    await waitFor("the call to wait at the fake", () => fake.waits.length === 1);
    controller.abort();
    const err = await p.then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof CriError);
    assert.equal(err.kind, "Cancelled");
    // The cancel crossed gRPC: the fake's wait ended by it.
    assert.equal(await waitFor("the fake's wait to end", () => fake.waits[0]!.ended), "cancelled");
  });
});

Deno.test("a closed client rejects calls instead of hanging", async () => {
  await withServedFake(async (_fake, socket) => {
    const cri = connectCri(socket);
    cri.close();
    await assert.rejects(cri.version(), (e) => e instanceof CriError && e.kind === "Cancelled");
  });
});

Deno.test("isNotFound walks the cause chain", () => {
  const inner = new CriError("NotFound", "ContainerStatus", "missing");
  assert.ok(isNotFound(new Error("wrapped", { cause: inner })));
  assert.ok(!isNotFound(new Error("plain")));
  assert.ok(
    !isNotFound(
      new Error("wrapped", { cause: new CriError("Unavailable", "ContainerStatus", "down") }),
    ),
  );
});

Deno.test("the fake makes a running container exit on demand and reports why", async () => {
  const fake = new FakeCri({ images: ["busybox:1.35"] });
  const sb = await fake.runPodSandbox({
    metadata: { name: "p", namespace: "n", uid: "u", attempt: 0 },
  });
  const id = await fake.createContainer(sb, {
    metadata: { name: "c", attempt: 0 },
    image: { image: "busybox:1.35" },
    command: ["sleep", "3600"],
  }, { metadata: { name: "p", namespace: "n", uid: "u", attempt: 0 } });
  await fake.startContainer(id);
  fake.exitContainer(id, 137, "OOMKilled");
  const s = await fake.containerStatus(id);
  assert.deepEqual([s.state, s.exitCode, s.reason], ["CONTAINER_EXITED", 137, "OOMKilled"]);
  fake.killSandbox(sb);
  assert.equal((await fake.podSandboxStatus(sb)).state, "SANDBOX_NOTREADY");
});

// ---- deadlines: the fake gives up where the real client does ----

/** The error `p` rejects with, or undefined while it is pending or when it resolves. */
function watched(p: Promise<unknown>): { error: unknown; settled: boolean } {
  const w: { error: unknown; settled: boolean } = { error: undefined, settled: false };
  p.then(
    () => w.settled = true,
    (e: unknown) => {
      w.error = e;
      w.settled = true;
    },
  );
  return w;
}

Deno.test("a hang on a call that sets no deadline ends as DeadlineExceeded at the real client's default deadline", async () => {
  using time = new HandDrivenTime();
  const fake = new FakeCri();
  fake.inject("ListPodSandbox", { hang: true });
  const call = watched(fake.listPodSandbox());
  await time.advance(DEFAULT_TIMEOUT_MS - 1);
  assert.equal(call.settled, false, "the hang ended before the deadline");
  await time.advance(1);
  assert.ok(call.error instanceof CriError, String(call.error));
  assert.equal(call.error.kind, "DeadlineExceeded");
  assert.equal(call.error.method, "ListPodSandbox");
});

Deno.test("a hang or a delay ends at the call's own deadline when it sets one, and an abort ends it as Cancelled", async () => {
  using time = new HandDrivenTime();
  const fake = new FakeCri();
  fake.inject("Version", { hang: true });
  fake.inject("Status", { delayMs: 3 * DEFAULT_TIMEOUT_MS });
  const long = DEFAULT_TIMEOUT_MS * 2;
  const hung = watched(fake.version({ timeoutMs: long }));
  const delayed = watched(fake.status({ timeoutMs: long }));
  await time.advance(long - 1);
  assert.deepEqual([hung.settled, delayed.settled], [false, false]);
  await time.advance(1);
  for (const call of [hung, delayed]) {
    assert.ok(call.error instanceof CriError, String(call.error));
    assert.equal(call.error.kind, "DeadlineExceeded");
  }
  fake.inject("Version", { hang: true });
  fake.inject("Status", { delayMs: 1_000 });
  const controller = new AbortController();
  const calls = [
    watched(fake.version({ signal: controller.signal })),
    watched(fake.status({ signal: controller.signal })),
  ];
  await time.advance(10);
  controller.abort(new Error("stopping"));
  await time.advance(0);
  for (const call of calls) {
    assert.ok(call.error instanceof CriError, String(call.error));
    assert.equal(call.error.kind, "Cancelled");
  }
});

Deno.test("served over gRPC, a hang ends at the client's deadline, also one past the default", async () => {
  await withServedFake(async (fake, socket) => {
    using cri = connectCri(socket);
    fake.inject("ListContainers", { hang: true });
    const timeoutMs = DEFAULT_TIMEOUT_MS + 1_000;
    const err = await cri.listContainers(undefined, { timeoutMs }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof CriError, String(err));
    assert.equal(err.kind, "DeadlineExceeded");
    // The fake waited until the client's deadline, past its own default, not until the default.
    const wait = fake.waits[0];
    assert.ok(wait, "the hang was injected");
    assert.ok(
      wait.timeoutMs > DEFAULT_TIMEOUT_MS && wait.timeoutMs <= timeoutMs,
      `the fake's hang had a deadline of ${wait.timeoutMs} ms`,
    );
  });
});
