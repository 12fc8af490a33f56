import assert from "node:assert/strict";
import type { ActionResult } from "../lib/reconcile/executor.ts";
import { Flights } from "../lib/reconcile/flights.ts";
import type { Action } from "../lib/reconcile/plan.ts";
import { waitFor } from "../testing/wait.ts";

type ContainerType = "init" | "sidecar" | "regular";

/** A createPod action of pod `key` starting `start`, whose containers have the given types. */
function createPod(key: string, types: Record<string, ContainerType>, start: string[]): Action {
  return {
    type: "createPod",
    key,
    reason: "test",
    attempt: 0,
    start: start.map((name) => ({ name, restartCount: 0 })),
    pod: { key, containers: Object.entries(types).map(([name, type]) => ({ name, type })) },
  } as unknown as Action;
}

function killContainer(key: string): Action {
  return { type: "killContainer", key, reason: "LivenessProbe" } as unknown as Action;
}

/** Flights whose each flight ends when the test says, with or without an error. */
function flights(parallel = 4) {
  const ends = new Map<string, (error?: Error) => void>();
  const done: boolean[] = [];
  const f = new Flights(parallel, (key, group) =>
    new Promise<ActionResult[]>((resolve) => {
      ends.set(key, (error) =>
        resolve(group.map((action) => ({ action, ms: 0, ...(error ? { error } : {}) }))));
    }));
  f.onDone = (later) => done.push(later);
  const end = async (key: string, error?: Error) => {
    const before = done.length;
    ends.get(key)!(error);
    await waitFor(`the flight of ${key} to say it ended`, () => done.length > before, {
      everyMs: 0,
      timeoutMs: 5_000,
    });
    assert.equal(done.length, before + 1, "one flight ended");
    return done.at(-1);
  };
  return { f, end };
}

const REGULAR = { app: "regular" } as const;

Deno.test("a flight that ends while other pods' flights run asks for its pass later; the last one at once", async () => {
  const { f, end } = flights();
  for (const key of ["default/a", "default/b", "default/c"]) {
    void f.launch(key, [createPod(key, REGULAR, ["app"])], undefined);
  }
  assert.equal(await end("default/a"), true, "b and c still run");
  assert.equal(await end("default/b"), true, "c still runs");
  assert.equal(await end("default/c"), false, "the last flight to end");
});

Deno.test("a failed flight asks for a pass at once, though others run", async () => {
  const { f, end } = flights();
  for (const key of ["default/a", "default/b"]) {
    void f.launch(key, [createPod(key, REGULAR, ["app"])], undefined);
  }
  assert.equal(await end("default/a", new Error("boom")), false);
  assert.equal(await end("default/b"), false);
});

Deno.test("a flight after which its pod goes on asks for a pass at once, though others run", async () => {
  const { f, end } = flights();
  const init = { one: "init", two: "init", app: "regular" } as const;
  void f.launch("default/init", [createPod("default/init", init, ["one"])], undefined);
  void f.launch("default/side", [
    createPod("default/side", { s: "sidecar", app: "regular" }, ["s"]),
  ], undefined);
  void f.launch("kill/c1", [killContainer("default/probed")], undefined, { slot: false });
  void f.launch("default/other", [createPod("default/other", REGULAR, ["app"])], undefined);
  assert.equal(await end("default/init"), false, "the next init container starts when one exits");
  assert.equal(await end("default/side"), false, "the regular containers start after the sidecar");
  assert.equal(await end("kill/c1"), false, "the killed container may restart");
});

Deno.test("while flights wait for a slot, a finishing flight asks for its pass later", async () => {
  const { f, end } = flights(1);
  void f.launch("default/a", [createPod("default/a", REGULAR, ["app"])], undefined);
  f.enqueue("default/b", [createPod("default/b", REGULAR, ["app"])]);
  f.enqueue("default/c", [createPod("default/c", REGULAR, ["app"])]);
  assert.equal(await end("default/a"), true, "c still waits for a slot");
  assert.equal(await end("default/b"), true, "c runs");
  assert.equal(await end("default/c"), false);
});

Deno.test("a flight whose pod got more work planned while it ran asks for a pass at once", async () => {
  const { f, end } = flights();
  for (const key of ["default/a", "default/b"]) {
    void f.launch(key, [createPod(key, REGULAR, ["app"])], undefined);
  }
  // A pass planned a's replacement (its file changed) while a's flight ran.
  f.want("default/a");
  assert.equal(await end("default/a"), false, "a's replacement waits for this pass");
  void f.launch("default/a", [createPod("default/a", REGULAR, ["app"])], undefined);
  assert.equal(await end("default/a"), true, "wanted once, not for every later flight");
});

Deno.test("a flight that started a created container asks for a pass at once, though others run", async () => {
  const { f, end } = flights();
  const startCreated = {
    type: "startCreated",
    key: "default/a",
    reason: "test",
    containerId: "c1",
    container: "one",
  } as unknown as Action;
  void f.launch("default/a", [startCreated], undefined);
  void f.launch("default/b", [createPod("default/b", REGULAR, ["app"])], undefined);
  assert.equal(await end("default/a"), false, "it may be an init container the next waits for");
});

Deno.test("a pod's flight is pending while it runs or waits in the queue, not after", async () => {
  const { f, end } = flights(1);
  void f.launch("default/a", [createPod("default/a", REGULAR, ["app"])], undefined);
  f.enqueue("default/b", [createPod("default/b", REGULAR, ["app"])]);
  assert.deepEqual(
    ["default/a", "default/b", "default/c"].map((k) => [f.has(k), f.pending(k)]),
    [[true, true], [false, true], [false, false]],
  );
  await end("default/a");
  assert.deepEqual([f.pending("default/a"), f.has("default/b")], [false, true]);
  await end("default/b");
  assert.equal(f.pending("default/b"), false);
});
